"""Train HAN or MGN on an LLP-format dataset with the official recipe (or any override of it).

Examples::

    # MGN, official recipe (Adam 3e-4, StepLR 10 / 0.1, 40 epochs, batch 16), on real LLP in data/
    python -m training.train --model mgn --data data --out runs/mgn
    # HAN; MGN with MA's contrastive loss (C); overrides as key=value
    python -m training.train --model han --data data --out runs/han
    python -m training.train --model mgn --data data --out runs/mgn_c --contrastive
    python -m training.train --model mgn --data data --out runs/mgn_small epochs=10 lr=1e-3 model.dim=64
    # MGN with modality-aware labels from training.refine_labels (R); C and R combine
    python -m training.train --model mgn --data data --out runs/mgn_cr --contrastive --refined-labels labels.npz
    # resume a killed run where its last.safetensors left off
    python -m training.train --resume runs/mgn
    # several processes (DDP; gloo on CPU, nccl on GPU), e.g. 4 GPUs of one machine
    torchrun --nproc_per_node=4 -m training.train --model mgn --data data --out runs/mgn_ddp

A run directory holds config.json (the resolved config), metrics.jsonl (one line per epoch), best.safetensors
(best validation segment-level Type@AV, ties to the later epoch), last.safetensors (weights + optimizer, scheduler,
RNG and progress, for --resume) and test_results.json (the best checkpoint on the test split).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from training.config import ConfigError, TrainConfig, apply_overrides, load_config_file
from training.loop import TrainingDiverged, train

__all__ = ["build_config", "main", "parse_args"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train HAN or MGN on LLP-format data (official recipes by default).",
        epilog="Overrides: any TrainConfig field as key=value (lr=1e-3 epochs=5 seed=2 amp=bf16 gate=modality ...), "
        "model fields as model.<field>=value (model.dim=64 model.unimodal_assign=hard), file layout fields as "
        "layout.<field>=value (layout.audio_dir=feats/vggish).",
    )
    parser.add_argument("--model", choices=("han", "mgn"), help="architecture (default: mgn)")
    parser.add_argument("--data", help="dataset root in the official LLP layout (CSV files and feats/)")
    parser.add_argument("--out", help="run directory to create")
    parser.add_argument("--contrastive", action="store_true", help="add MA's audio-visual contrastive loss (C)")
    parser.add_argument("--refined-labels", help="modality-aware labels (.npz from training.refine_labels) (R)")
    parser.add_argument("--config", help="settings file (.json or .toml) applied before the key=value overrides")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.safetensors")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    return parser.parse_intermixed_args(argv)  # overrides may come before and after the flags


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The run's config: defaults < --config file < flags < key=value overrides."""
    config = TrainConfig()
    if args.config:
        config = apply_overrides(config, load_config_file(args.config))
    flags = {"model": args.model, "data": args.data, "out": args.out, "refined_labels": args.refined_labels}
    config = apply_overrides(config, {key: value for key, value in flags.items() if value is not None})
    if args.contrastive:
        config = replace(config, contrastive=True)
    return apply_overrides(config, args.overrides)


def _resume_config(run_dir: Path) -> TrainConfig:
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume {run_dir}: {path.name} not found (is it a run directory?)")
    return apply_overrides(TrainConfig(), {**json.loads(path.read_text()), "out": str(run_dir)})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.resume:
            if args.model or args.data or args.out or args.overrides or args.config or args.contrastive:
                raise ConfigError("--resume continues a run with its saved config.json; give no other settings")
            config = _resume_config(Path(args.resume))
        else:
            config = build_config(args)
            if not Path(config.data).is_dir():
                raise FileNotFoundError(f"data directory not found: {config.data}")
        result = train(config, resume=bool(args.resume), progress=not args.no_progress)
    except (ConfigError, FileNotFoundError, FileExistsError, TrainingDiverged, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"best epoch {result.best_epoch} (val segment Type@AV {result.best_score:.2f}); run in {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
