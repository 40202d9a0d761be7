"""Estimate modality-aware training labels with MA's swap test (R), from a trained HAN or MGN.

Example (the "MGN w R" recipe: a base MGN without C, then retraining with the refined labels)::

    python -m training.train --model mgn --data data --out runs/mgn_base
    python -m training.refine_labels --checkpoint runs/mgn_base/best.safetensors --data data --out runs/labels.npz
    python -m training.train --model mgn --data data --out runs/mgn_r --refined-labels runs/labels.npz

The partner draws are random (MA seeds them with 2); the per-class removal counts are printed and stored in the
file, with the swapped probabilities and thresholds for auditing. If the dataset root holds the synthetic
generator's ``synthetic_truth.npz``, the accuracy of the refined labels against the true modalities is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from mgn.checkpoint import load_any_checkpoint
from mgn.data.llp import LLPLayout, Split, load_split
from mgn.data.synthetic.dataset import TRUTH_FILENAME, read_truth
from mgn.device import resolve_device
from mgn.labels import CLASSES
from mgn.models import ARCHITECTURES
from training.cli import EXIT_INTERRUPTED, MAX_BATCH_SIZE, ArgumentParser, check_int_range, check_output_file, fail
from training.refinement import draw_partners, estimate_modality_labels, save_refined_labels, swap_test

__all__ = ["main", "refine", "truth_agreement"]

MAX_SEED = 2**32 - 1  # numpy's default_rng accepts any non-negative int; a bound keeps typos visible


def refine(
    model, split: Split, *, seed: int = 2, batch_size: int = 256, device: str = "auto", progress: bool = True
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(audio_labels, visual_labels, audit arrays) for ``split`` from ``model``'s swap test."""
    target = resolve_device(device)
    partners = draw_partners(split.labels, np.random.default_rng(seed))
    test = swap_test(model.to(target), split, partners, batch_size=batch_size, device=target, progress=progress)
    audio_labels, visual_labels, thresholds = estimate_modality_labels(test, split.labels)
    audit = {name: np.asarray(value) for name, value in vars(test).items()} | thresholds
    return audio_labels, visual_labels, audit


def truth_agreement(truth_path: Path, split: Split, audio_labels: np.ndarray, visual_labels: np.ndarray) -> dict | None:
    """Agreement of refined modality labels with the synthetic generator's true modalities (weak-label pairs only)."""
    truth = read_truth(truth_path).get(split.name)
    if truth is None:
        return None
    rows = {name: index for index, name in enumerate(truth["filenames"].tolist())}
    order = np.array([rows[name] for name in split.filenames.tolist()])
    true_audio = truth["gt_audio"][order].any(axis=2)  # (N, C) audible somewhere
    true_visual = truth["gt_visual"][order].any(axis=2)
    weak = split.labels > 0.5
    result = {}
    for name, refined, truth in (("audio", audio_labels > 0, true_audio), ("visual", visual_labels > 0, true_visual)):
        result[name] = {
            "weak_label_accuracy": float((weak == truth)[weak].mean()),  # before refinement
            "refined_accuracy": float((refined == truth)[weak].mean()),
            "removed": int((weak & ~refined).sum()),
            "correctly_removed": int((weak & ~refined & ~truth).sum()),
            "truly_absent": int((weak & ~truth).sum()),
        }
    return result


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="python -m training.refine_labels", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="trained model (.safetensors, or an official .pt)")
    parser.add_argument("--data", required=True, help="dataset root in the official LLP layout")
    parser.add_argument("--out", required=True, help="refined labels file to write (.npz)")
    parser.add_argument("--split", default="train", choices=("train",), help="the split to refine")
    parser.add_argument("--seed", type=int, default=2, help=f"partner draws (MA: torch seed 2; 0..{MAX_SEED})")
    parser.add_argument("--arch", choices=sorted(ARCHITECTURES))
    parser.add_argument("--batch-size", type=int, default=256, help=f"clips per forward pass (1..{MAX_BATCH_SIZE})")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--no-progress", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (0, 2 on an error, 130 on Ctrl-C)."""
    args = _parse_args(argv)
    out = Path(args.out)
    layout = LLPLayout(root=Path(args.data))
    try:
        check_output_file(out, "--out", force=args.force, example="labels.npz")
        check_int_range("--batch-size", args.batch_size, 1, MAX_BATCH_SIZE)
        check_int_range("--seed", args.seed, 0, MAX_SEED)
        if not layout.root.is_dir():
            raise FileNotFoundError(f"data directory not found: {layout.root}")
        model = load_any_checkpoint(args.checkpoint, args.arch)
        split = load_split(layout, args.split, pooled_visual=True, progress=not args.no_progress)
        audio_labels, visual_labels, audit = refine(
            model, split, seed=args.seed, batch_size=args.batch_size, device=args.device, progress=not args.no_progress
        )
        info = _summary(args, layout, split, audio_labels, visual_labels)
        save_refined_labels(out, split, audio_labels, visual_labels, extra=audit, info=info)
    except KeyboardInterrupt:
        print(f"interrupted; {out} was not written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, OSError) as error:  # bad flags, data, checkpoints (ValueError); files and folders (OSError)
        return fail(error)
    _print_summary(split, info, out)
    return 0


def _summary(args, layout: LLPLayout, split: Split, audio_labels: np.ndarray, visual_labels: np.ndarray) -> dict:
    """What the labels file records about its making: checkpoint, seed, removals per class, synthetic agreement."""
    weak = split.labels > 0.5
    info = {
        "checkpoint": str(args.checkpoint),
        "seed": args.seed,
        "removed_audio": (weak & (audio_labels == 0)).sum(axis=0).tolist(),  # (C,) per class
        "removed_visual": (weak & (visual_labels == 0)).sum(axis=0).tolist(),
    }
    truth = layout.resolve(TRUTH_FILENAME)
    if truth.is_file():
        info["synthetic_truth_agreement"] = truth_agreement(truth, split, audio_labels, visual_labels)
    return info


def _print_summary(split: Split, info: dict, out: Path) -> None:
    weak = split.labels > 0.5
    removed_audio, removed_visual = np.array(info["removed_audio"]), np.array(info["removed_visual"])
    print(f"{'class':<24} {'weak':>6} {'-> audio-only':>14} {'-> visual-only':>15}")
    for index, name in enumerate(CLASSES):
        counts = (int(weak[:, index].sum()), int(removed_visual[index]), int(removed_audio[index]))
        print(f"{name:<24} {counts[0]:>6} {counts[1]:>14} {counts[2]:>15}")
    print(
        f"total: {int(weak.sum())} weak labels, {int(removed_visual.sum())} judged audio-only, "
        f"{int(removed_audio.sum())} judged visual-only -> {out}"
    )
    if "synthetic_truth_agreement" in info:
        print("agreement with the synthetic ground truth:", json.dumps(info["synthetic_truth_agreement"]))


if __name__ == "__main__":
    sys.exit(main())
