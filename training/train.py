"""Train HAN or MGN on an LLP-format dataset with the official recipe (or any override of it).

Examples::

    # MGN, official recipe (Adam 3e-4, StepLR 10 / 0.1, 40 epochs, batch 16), on real LLP in data/
    python -m training.train --model mgn --data data --out runs/mgn
    # HAN; MGN with MA's contrastive loss (C); overrides as key=value
    python -m training.train --model han --data data --out runs/han
    python -m training.train --model mgn --data data --out runs/mgn_c --contrastive
    python -m training.train --model mgn --data data --out runs/mgn_small epochs=10 lr=1e-3 model.dim=64
    # a named recipe (training.config.RECIPES), e.g. MGN whose segment predictions vary within a clip; key=value
    # overrides still win over its values
    python -m training.train --model mgn --recipe mgn-localise --data data --out runs/mgn_localise
    # MGN with modality-aware labels from training.refine_labels (R); C and R combine
    python -m training.train --model mgn --data data --out runs/mgn_cr --contrastive --refined-labels labels.npz
    # resume a killed run where its last.safetensors left off
    python -m training.train --resume runs/mgn
    # several processes (DDP; gloo on CPU, nccl on GPU), e.g. 4 GPUs of one machine
    torchrun --nproc_per_node=4 -m training.train --model mgn --data data --out runs/mgn_ddp

A run directory holds config.json (the resolved config), metrics.jsonl (one line per epoch), best.safetensors
(best validation segment-level Type@AV, ties to the later epoch), last.safetensors (weights + optimizer, scheduler,
RNG and progress, for --resume) and test_results.json (the best checkpoint on the test split).

Every input is checked before config.json is written. Ctrl-C saves last.safetensors at the next step and exits with
status 130; ``--resume`` continues from there. A run that stopped before its first checkpoint is restarted by
``--resume`` or by the same command. Errors are one ``error: ...`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from mgn.models import ARCHITECTURES
from training.cli import EXIT_INTERRUPTED, ArgumentParser, fail
from training.config import RECIPES, ConfigError, TrainConfig, apply_overrides, apply_recipe, load_config_file
from training.loop import TrainingDiverged, TrainingInterrupted, train
from training.rundir import RunFiles, RunLockedError

__all__ = ["build_config", "main", "parse_args"]

_RESUME = "python -m training.train --resume"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="python -m training.train",
        description="Train HAN or MGN on LLP-format data (official recipes by default).",
        epilog="Overrides: any TrainConfig field as key=value (lr=1e-3 epochs=5 seed=2 amp=bf16 gate=modality ...), "
        "model fields as model.<field>=value (model.dim=64 model.unimodal_assign=hard), file layout fields as "
        "layout.<field>=value (layout.audio_dir=feats/vggish).",
    )
    parser.add_argument("--model", choices=sorted(ARCHITECTURES), help="architecture (default: mgn)")
    parser.add_argument("--data", help="dataset root in the official LLP layout (CSV files and feats/)")
    parser.add_argument("--out", help="run directory to create")
    parser.add_argument("--contrastive", action="store_true", help="add MA's audio-visual contrastive loss (C)")
    parser.add_argument("--refined-labels", help="modality-aware labels (.npz from training.refine_labels) (R)")
    parser.add_argument("--recipe", help=f"named recipe applied over the defaults ({', '.join(sorted(RECIPES))})")
    parser.add_argument("--config", help="settings file (.json or .toml) applied before the key=value overrides")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.safetensors")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    return parser.parse_intermixed_args(argv)  # overrides may come before and after the flags


def build_config(args: argparse.Namespace) -> TrainConfig:
    """The run's config: defaults < recipe < --config file < flags < key=value overrides.

    The recipe is ``--recipe``, else the ``recipe`` a --config file names.
    """
    config = TrainConfig()
    settings = load_config_file(args.config) if args.config else {}
    recipe = args.recipe or settings.get("recipe")
    if recipe is not None:
        config = apply_recipe(config, recipe)
    config = apply_overrides(config, settings)
    if args.recipe:
        config = apply_overrides(config, {"recipe": args.recipe})
    flags = {"model": args.model, "data": args.data, "out": args.out, "refined_labels": args.refined_labels}
    config = apply_overrides(config, {key: value for key, value in flags.items() if value is not None})
    if args.contrastive:
        config = replace(config, contrastive=True)
    return apply_overrides(config, args.overrides)


def _resume_config(run_dir: Path) -> TrainConfig:
    """The saved config of the run in ``run_dir`` (its ``out`` set to ``run_dir``)."""
    if not run_dir.is_dir():
        raise FileNotFoundError(f"cannot resume {run_dir}: no such run directory")
    path = RunFiles(run_dir).config
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume {run_dir}: {path.name} not found (is it a run directory?)")
    try:
        return apply_overrides(TrainConfig(), {**load_config_file(path), "out": str(run_dir)})
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def _interrupted_message(out: str) -> str:
    """What a Ctrl-C outside the training steps (loading, evaluation) left behind, and how to go on."""
    files = RunFiles(Path(out))
    if files.last.is_file():
        return f"interrupted; {files.last} holds the last checkpoint: resume with {_RESUME} {out}"
    if files.config.is_file():
        return f"interrupted before the first checkpoint; restart with {_RESUME} {out}"
    return "interrupted before the run started; nothing was written"


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0, 2 on an error, 130 on Ctrl-C)."""
    args = parse_args(argv)
    config = None
    try:
        if args.resume:
            settings = (args.model, args.data, args.out, args.config, args.recipe, args.refined_labels)
            if any(settings) or args.contrastive or args.overrides:
                raise ConfigError("--resume continues a run with its saved config.json; give no other settings")
            config = _resume_config(Path(args.resume))
        else:
            config = build_config(args)
        result = train(config, resume=bool(args.resume), progress=not args.no_progress)
    except TrainingInterrupted as stop:
        print(stop, file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(_interrupted_message(config.out) if config else "interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ConfigError, TrainingDiverged, RunLockedError, ValueError, OSError) as error:
        return fail(error)  # ValueError: bad settings, data, checkpoints; OSError: files and folders
    print(f"best epoch {result.best_epoch} (val segment Type@AV {result.best_score:.2f}); run in {result.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
