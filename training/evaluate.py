"""Evaluate a checkpoint (ours, or an official .pt) or prediction CSVs on an LLP split, as in Table 1.

Examples::

    python -m training.evaluate --checkpoint runs/mgn/best.safetensors --data data --split test --json test.json
    python -m training.evaluate --checkpoint MGN_Net.pt --arch mgn --data data --split test      # official weights
    python -m training.evaluate --checkpoint runs/mgn/best.safetensors --data data --split test --csv-dir preds
    python -m training.evaluate --predictions preds --data data --split test                     # score CSVs back
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import get_args

from mgn.checkpoint import load_any_checkpoint
from mgn.data.llp import DENSE_SPLITS, LLPLayout, load_annotations, load_split
from mgn.device import resolve_device
from mgn.export import PREDICTION_FILES, read_prediction_csvs, write_prediction_csvs
from mgn.inference import Gate, predict
from mgn.io import write_text_atomic
from mgn.metrics import Scores, avvp_scores, format_table
from mgn.models import ARCHITECTURES
from training.cli import (
    EXIT_INTERRUPTED,
    MAX_BATCH_SIZE,
    ArgumentParser,
    UsageError,
    check_int_range,
    check_output_dir,
    check_output_file,
    fail,
)
from training.config import parse_json_object

__all__ = ["evaluate_checkpoint", "main"]


def evaluate_checkpoint(
    model,
    layout: LLPLayout,
    split: str,
    *,
    gate: str = "global",
    batch_size: int = 256,
    device: str = "auto",
    csv_dir: str | Path | None = None,
    progress: bool = True,
) -> Scores:
    """Official scores of ``model`` on ``split``; optionally write prediction CSVs."""
    target = resolve_device(device)
    data = load_split(layout, split, pooled_visual=True, progress=progress)
    if data.gt_audio is None:
        raise ValueError(f"split {split!r} has no dense ground truth: evaluate on val or test")
    predictions = predict(model.to(target), data, batch_size=batch_size, device=target, progress=progress)
    pred_a, pred_v = predictions.binarize(gate)
    if csv_dir is not None:
        write_prediction_csvs(csv_dir, data.filenames, pred_a, pred_v)
    return avvp_scores(pred_a, pred_v, data.gt_audio, data.gt_visual)


def _score_prediction_csvs(directory: str | Path, layout: LLPLayout, split: str) -> Scores:
    annotations = load_annotations(layout, split)
    if annotations.gt_audio is None:
        raise ValueError(f"split {split!r} has no dense ground truth: evaluate on val or test")
    pred_a, pred_v = read_prediction_csvs(directory, annotations.filenames)
    return avvp_scores(pred_a, pred_v, annotations.gt_audio, annotations.gt_visual)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m training.evaluate", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="our .safetensors checkpoint or an official MGN_Net.pt / MMIL_Net.pt")
    source.add_argument("--predictions", help="a folder with predicted_eval_audio.csv / predicted_eval_visual.csv")
    parser.add_argument("--data", required=True, help="dataset root in the official LLP layout")
    parser.add_argument(
        "--labels",
        help="folder whose AVVP_eval_audio.csv / AVVP_eval_visual.csv replace the data's (e.g. corrected labels from "
        "python -m mgn.annotations export)",
    )
    parser.add_argument("--split", choices=DENSE_SPLITS, default="test")
    parser.add_argument("--json", help="write the scores as JSON to this file")
    parser.add_argument("--csv-dir", help="write the predictions in the official eval-CSV format into this folder")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --json file or --csv-dir CSVs")
    parser.add_argument(
        "--gate",
        choices=get_args(Gate),
        default="global",
        help="segment gate: global_prob (HAN, MGN; official) or a_prob / v_prob (MA)",
    )
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        help="architecture of an official .pt file (default: read from its keys)",
    )
    parser.add_argument(
        "--official-config",
        default="{}",
        help='official MGN arguments as JSON, e.g. \'{"dim": 128, "unimodal_assign": "soft"}\'',
    )
    parser.add_argument("--batch-size", type=int, default=256, help=f"clips per forward pass (1..{MAX_BATCH_SIZE})")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def _check_args(args: argparse.Namespace) -> None:
    """Every flag that can be checked before any work (UsageError / ConfigError / FileNotFoundError)."""
    if not Path(args.data).is_dir():
        raise FileNotFoundError(f"data directory not found: {args.data}")
    check_int_range("--batch-size", args.batch_size, 1, MAX_BATCH_SIZE)
    parse_json_object(args.official_config, "--official-config")
    if args.json:
        check_output_file(args.json, "--json", force=args.force)
    if args.csv_dir:
        if args.predictions:
            raise UsageError("--csv-dir writes the predictions of a --checkpoint; give it without --predictions")
        check_output_dir(args.csv_dir, "--csv-dir", list(PREDICTION_FILES.values()), force=args.force)
    if args.predictions and not Path(args.predictions).is_dir():
        raise FileNotFoundError(f"--predictions {args.predictions}: no such folder")
    if args.labels:
        for name in (LLPLayout.eval_audio_csv, LLPLayout.eval_visual_csv):
            if not (Path(args.labels) / name).is_file():
                raise FileNotFoundError(f"--labels {args.labels}: {name} not found there")


def _layout(args: argparse.Namespace) -> LLPLayout:
    """The data's layout, with the dense labels of ``--labels`` when given."""
    if not args.labels:
        return LLPLayout(root=Path(args.data))
    labels = Path(args.labels).resolve()
    return LLPLayout(
        root=Path(args.data),
        eval_audio_csv=str(labels / LLPLayout.eval_audio_csv),
        eval_visual_csv=str(labels / LLPLayout.eval_visual_csv),
    )


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0, 2 on an error, 130 on Ctrl-C)."""
    args = parse_args(argv)
    try:
        _check_args(args)
        layout = _layout(args)
        if args.predictions:
            scores = _score_prediction_csvs(args.predictions, layout, args.split)
            title = f"{args.predictions} on {args.split}"
        else:
            official = parse_json_object(args.official_config, "--official-config")
            model = load_any_checkpoint(args.checkpoint, args.arch, official)
            scores = evaluate_checkpoint(
                model,
                layout,
                args.split,
                gate=args.gate,
                batch_size=args.batch_size,
                device=args.device,
                csv_dir=args.csv_dir,
                progress=not args.no_progress,
            )
            title = f"{args.checkpoint} on {args.split} (gate {args.gate})"
        print(format_table(scores, title=title))
        if args.json:
            write_text_atomic(args.json, json.dumps(scores.to_json(), indent=2) + "\n")  # creates missing folders
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:  # bad flags, data, checkpoints (ValueError); files and folders (OSError)
        return fail(error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
