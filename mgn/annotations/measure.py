"""Measure the label-error ranking on synthetic data with known wrong labels; prints JSON.

    python -m mgn.annotations measure --train 400 --test 300 --seed 0 [--flip-fraction 0.02] [--noise plausible]

Recipe (deterministic from the seed):

1. a synthetic LLP-format dataset (``mgn.data.synthetic.synthesize_splits``): ``train`` clips with their clean dense
   labels, ``test`` clips to check;
2. model-like probabilities without training a network: a linear probe per modality (standardised segment
   features, projected on the train split's per-class mean differences, then a multi-label logistic regression),
   fitted on the train split and applied to the test split: ``(N, T, C)`` probabilities;
3. known label errors: ``round(flip_fraction * positives)`` positive test cells flipped to 0 and as many negative
   cells flipped to 1, drawn at random. ``noise="plausible"`` draws the negative cells among the classes of the
   clip's own video-level labels (an event extended or put in the wrong modality, which the weak labels cannot
   give away); ``"uniform"`` among all negative cells;
4. ``rank_label_errors`` (calibrated, thresholded) and the baselines ``rank_by_confidence`` (raw ``|p - label|``)
   and the uncalibrated thresholded ranking, scored by precision and recall at k = half, once and twice the number
   of flips; chance is the share of flipped cells.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from mgn.annotations.label_errors import precision_recall_at_k, rank_by_confidence, rank_label_errors
from mgn.annotations.validation import EDITABLE_MODALITIES
from mgn.data.synthetic import SyntheticConfig, synthesize_splits
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS

__all__ = ["MeasureConfig", "add_arguments", "config_from_args", "flip_cells", "linear_probe", "measure"]

NOISE_MODELS = ("plausible", "uniform")
_PROBE_L2 = 1e-2  # L2 weight of the probe's logistic regression (per cell, on standardised projections)
_PROBE_ITERATIONS = 200
_STD_FLOOR = 1e-6


@dataclass(frozen=True)
class MeasureConfig:
    """One measurement: sizes, noise and thresholds."""

    train_clips: int = 400  # clips the probe is fitted on (clean dense labels)
    test_clips: int = 300  # clips whose labels are corrupted and checked
    seed: int = 0  # data, flips: everything follows from it
    flip_fraction: float = 0.02  # flips per direction, as a share of the test split's positive cells
    noise: str = "plausible"  # 'plausible' or 'uniform' (see the module docstring)
    high: float = 0.9  # rank_label_errors thresholds
    low: float = 0.1
    prior_strength: float = 1.0  # rank_label_errors calibration prior, in cells

    def __post_init__(self) -> None:
        for name in ("train_clips", "test_clips", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise ValueError(f"{name} must be an integer >= {0 if name == 'seed' else 1}, got {value!r}")
        if not 0 < self.flip_fraction < 1:
            raise ValueError(f"flip_fraction must be in (0, 1), got {self.flip_fraction!r}")
        if self.noise not in NOISE_MODELS:
            raise ValueError(f"noise must be one of {NOISE_MODELS}, got {self.noise!r}")
        for name in ("high", "low"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray) -> np.ndarray:
    """Segment probabilities from a linear probe. ``(S, D)``, ``(S, C)`` 0/1, ``(S', D)`` -> ``(S', C)`` float32.

    Features are standardised (train statistics) and projected on the C directions from the mean of a class's
    negative segments to the mean of its positive ones; a multi-label logistic regression (L-BFGS, L2) on the C
    projections and a bias gives the probabilities. Deterministic.
    """
    from scipy.optimize import minimize  # imported here: only the measurement needs scipy (0.5 s to import)

    mean, std = train_x.mean(0), np.maximum(train_x.std(0), _STD_FLOOR)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std  # (S, D)
    y = train_y.astype(np.float64)
    positives = y.sum(0)  # (C,)
    directions = np.zeros((train_x.shape[1], y.shape[1]))  # (D, C)
    seen = (positives > 0) & (positives < len(y))
    directions[:, seen] = (train_x.T @ y[:, seen]) / positives[seen] - (train_x.T @ (1 - y[:, seen])) / (
        len(y) - positives[seen]
    )
    directions /= np.maximum(np.linalg.norm(directions, axis=0), _STD_FLOOR)

    def design(x: np.ndarray) -> np.ndarray:
        return np.concatenate([x @ directions, np.ones((len(x), 1))], axis=1)  # (S, C + 1)

    train_z = design(train_x)
    shape = (train_z.shape[1], y.shape[1])  # (C + 1, C)

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        weights = flat.reshape(shape)
        logits = train_z @ weights  # (S, C)
        value = (np.logaddexp(0.0, logits) - y * logits).sum() / len(y) + 0.5 * _PROBE_L2 * (weights[:-1] ** 2).sum()
        residual = 1.0 / (1.0 + np.exp(-logits)) - y
        gradient = train_z.T @ residual / len(y)
        gradient[:-1] += _PROBE_L2 * weights[:-1]
        return value, gradient.ravel()

    fit = minimize(loss, np.zeros(np.prod(shape)), jac=True, method="L-BFGS-B", options={"maxiter": _PROBE_ITERATIONS})
    logits = design(test_x) @ fit.x.reshape(shape)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def flip_cells(
    labels: np.ndarray, weak: np.ndarray, fraction: float, noise: str, rng: np.random.Generator
) -> np.ndarray:
    """Which cells to flip: a bool mask like ``labels``.

    Args:
        labels: ``(M, N, C, T)`` 0/1 clean labels.
        weak: ``(N, C)`` 0/1 video-level labels (for ``noise="plausible"``).
        fraction: flips per direction, as a share of the positive cells.
        noise: 'plausible' (0 -> 1 flips only in classes of the clip's weak labels) or 'uniform'.
    """
    positives = np.flatnonzero(labels == 1)
    negative_mask = labels == 0
    if noise == "plausible":
        negative_mask &= weak.astype(bool)[None, :, :, None]
    negatives = np.flatnonzero(negative_mask)
    count = int(round(fraction * positives.size))
    if count < 1 or count > negatives.size:
        raise ValueError(
            f"cannot flip {count} cells each way ({positives.size} positive, {negatives.size} eligible negative); "
            "change flip_fraction or the split size"
        )
    chosen = np.concatenate([rng.choice(positives, count, replace=False), rng.choice(negatives, count, replace=False)])
    mask = np.zeros(labels.size, dtype=bool)
    mask[chosen] = True
    return mask.reshape(labels.shape)


def _segments(array: np.ndarray) -> np.ndarray:
    return array.reshape(-1, array.shape[-1])  # (N, T, X) -> (N * T, X)


def measure(config: MeasureConfig = MeasureConfig()) -> dict:
    """Run the recipe of the module docstring; returns a JSON-ready dict (config, sizes, scores per ranking).

    BLAS runs single-threaded inside: the matrices are small, and on a busy 2-core machine threaded BLAS was 10x
    slower (oversubscription).
    """
    with threadpool_limits(limits=1):
        return _measure(config)


def _measure(config: MeasureConfig) -> dict:
    started = time.perf_counter()
    data_seed, flip_seed = np.random.SeedSequence(config.seed).spawn(2)
    splits = synthesize_splits(
        {"train": config.train_clips, "test": config.test_clips},
        int(data_seed.generate_state(1)[0]),
        SyntheticConfig(),
        pooled_visual=True,
    )
    train, test = splits["train"], splits["test"]

    def visual(split) -> np.ndarray:
        return np.concatenate([_segments(split.visual), _segments(split.visual_st)], axis=1)  # (N * T, 2560)

    shape = (config.test_clips, NUM_SEGMENTS, NUM_CLASSES)
    prob_audio = linear_probe(
        _segments(train.audio), _segments(train.gt_audio.transpose(0, 2, 1)), _segments(test.audio)
    ).reshape(shape)  # (N, T, C)
    prob_visual = linear_probe(visual(train), _segments(train.gt_visual.transpose(0, 2, 1)), visual(test)).reshape(
        shape
    )
    clean = np.stack([test.gt_audio, test.gt_visual])  # (M, N, C, T)
    flips = flip_cells(clean, test.labels, config.flip_fraction, config.noise, np.random.default_rng(flip_seed))
    noisy = np.where(flips, 1 - clean, clean).astype(np.uint8)
    modality, clip, class_index, segment = np.nonzero(flips)
    errors = {
        (str(test.filenames[c]), CLASSES[k], EDITABLE_MODALITIES[m], int(t))
        for m, c, k, t in zip(modality, clip, class_index, segment)
    }
    flipped = len(errors)
    ks = sorted({max(1, flipped // 2), flipped, 2 * flipped})
    arguments = (prob_audio, prob_visual, noisy[0], noisy[1], test.filenames)
    rankings = {
        "ranking": rank_label_errors(
            *arguments, high=config.high, low=config.low, prior_strength=config.prior_strength
        ),
        "ranking_uncalibrated": rank_label_errors(*arguments, high=config.high, low=config.low, calibrated=False),
        "ranking_no_threshold": rank_label_errors(*arguments, high=0.0, low=1.0, prior_strength=config.prior_strength),
        "baseline": rank_by_confidence(*arguments),
    }
    scores = {}
    for name, ranking in rankings.items():
        at_k = precision_recall_at_k(ranking, errors, ks)
        scores[name] = {
            "flagged": len(ranking),
            **{f"precision@{k}": round(at_k[k]["precision"], 4) for k in ks},
            **{f"recall@{k}": round(at_k[k]["recall"], 4) for k in ks},
        }
    cells = clean.size
    return {
        "config": asdict(config),
        "cells": cells,
        "positive_cells": int(clean.sum()),
        "flipped": {
            "total": flipped,
            "to_0": int((flips & (clean == 1)).sum()),
            "to_1": int((flips & (clean == 0)).sum()),
        },
        "ks": ks,
        "chance_precision": round(flipped / cells, 6),
        "probe_mean_abs_error": round(
            float(np.abs(np.stack([prob_audio, prob_visual]).transpose(0, 1, 3, 2) - clean).mean()), 4
        ),
        "scores": scores,
        "seconds": round(time.perf_counter() - started, 1),
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The measure command's flags (shared with ``python -m mgn.annotations measure``)."""
    defaults = MeasureConfig()
    parser.add_argument("--train", type=int, default=defaults.train_clips, help="synthetic train clips (probe fit)")
    parser.add_argument("--test", type=int, default=defaults.test_clips, help="synthetic test clips (checked)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--flip-fraction", type=float, default=defaults.flip_fraction)
    parser.add_argument("--noise", choices=NOISE_MODELS, default=defaults.noise)
    parser.add_argument("--high", type=float, default=defaults.high)
    parser.add_argument("--low", type=float, default=defaults.low)


def config_from_args(args: argparse.Namespace) -> MeasureConfig:
    return MeasureConfig(
        train_clips=args.train,
        test_clips=args.test,
        seed=args.seed,
        flip_fraction=args.flip_fraction,
        noise=args.noise,
        high=args.high,
        low=args.low,
    )
