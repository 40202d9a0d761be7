"""Sampling of synthetic LLP annotations: weak label sets and dense audio / visual segment rows.

A pure function of a ``numpy.random.Generator`` (no feature synthesis, no I/O), so statistics can be checked on tens
of thousands of clips in seconds. The model, per clip:

1. draw a label set (``profiles.TRAIN_LABEL_SET_CELLS`` for train, ``EVAL_LABEL_SET_CELLS`` for val/test);
2. for each class in it, draw its modality (audible only / visible only / both, per-class shares);
3. draw the row of each present modality: one full 10 s event with a per-class probability, otherwise 1-4 runs with
   per-class lengths (uniform / geometric mixture), placed at random, the first run pinned to segment 0 with a set
   probability;
4. for "both" pairs, tie the two rows: identical, audio strictly inside visual, visual strictly inside audio, or
   independent, with per-class shares.

The weak label of every clip (train, val and test) is the set of classes with any event in either modality.
Rows are handled as 10-bit integers (bit t = segment t) while sampling.

Notation: N clips, C = 25 classes, T = 10 one-second segments.
"""

from __future__ import annotations

import bisect
from itertools import accumulate
from typing import Literal, NamedTuple

import numpy as np

from mgn.data.synthetic.config import SyntheticConfig
from mgn.data.synthetic.profiles import (
    AUDIO_RUNS_PER_PARTIAL_ROW,
    CLASS_PAIR_WEIGHTS,
    CLASS_PROFILES,
    EVAL_LABEL_SET_CELLS,
    SPEECH,
    TRAIN_LABEL_SET_CELLS,
    VISUAL_RUNS_PER_PARTIAL_ROW,
    ClassProfile,
)
from mgn.labels import CLASS_TO_INDEX, NUM_CLASSES, NUM_SEGMENTS

__all__ = ["AnnotationKind", "rows_from_codes", "sample_annotations", "weak_labels"]

AnnotationKind = Literal["train", "eval"]  # train label sets (LLP train) or the richer val/test ones

_FULL_ROW = (1 << NUM_SEGMENTS) - 1  # all 10 segments on
_MAX_PARTIAL_LENGTH = NUM_SEGMENTS - 1  # a run that is not the full clip lasts 1..9 s
_MAX_FULL_PROB = 0.98  # keep some partial rows for every class
_SUBSET_TRIES = 8  # draws of the other modality's row before falling back to a random strict sub-run
_FIT_TRIES = 20  # draws of run lengths before a partial row gives up one of its runs
_UNIFORM_LENGTH_SHARE = 0.3  # partial runs: this share of lengths uniform on 1..9 (real LLP has a flat tail)
_AUDIO_ONLY, _VISUAL_ONLY, _BOTH = 0, 1, 2
_SAME, _AUDIO_IN_VISUAL, _VISUAL_IN_AUDIO, _INDEPENDENT = 0, 1, 2, 3
_SPEECH_INDEX = CLASS_TO_INDEX[SPEECH]


class _RowModel(NamedTuple):
    """How one modality's row of one class is drawn."""

    full_prob: float  # P(one full 10 s event)
    length_cdf: list[float]  # lengths 1..9 of a partial run
    runs_cdf: list[float]  # 1..4 runs in a partial row
    onset_at_zero: float  # P(the first run of a partial row starts at segment 0)


class _Tables(NamedTuple):
    cells: dict[str, tuple[list[tuple[bool, int]], list[float]]]  # kind -> (cells, cdf)
    solo_cdf: list[float]
    with_speech_cdf: list[float]
    multi_cdf: list[float]
    pairs: list[tuple[int, int] | None]
    pair_cdf: list[float]
    modality_cdf: list[list[float]]  # per class: audio only, visual only, both
    relation_cdf: list[list[float]]  # per class: same, audio in visual, visual in audio, independent
    audio_rows: list[_RowModel]
    visual_rows: list[_RowModel]


def _cdf(weights: list[float] | tuple[float, ...]) -> list[float]:
    total = float(sum(weights))
    if total <= 0:
        raise ValueError(f"weights must have a positive sum, got {weights}")
    return [value / total for value in accumulate(weights)]


def _draw(rng: np.random.Generator, cdf: list[float]) -> int:
    """Index drawn with the probabilities whose cumulative sums are ``cdf``."""
    return min(bisect.bisect_right(cdf, rng.random()), len(cdf) - 1)


def _partial_lengths(mean_length: float) -> list[float]:
    """Weights of run lengths 1..9: a share ``_UNIFORM_LENGTH_SHARE`` uniform, the rest proportional to
    ratio**(length-1), with the ratio set by bisection so that the mean is ``mean_length`` (where reachable)."""
    lengths = np.arange(1, _MAX_PARTIAL_LENGTH + 1)
    uniform = np.full(len(lengths), 1 / len(lengths))
    low, high = 1e-3, 1e3
    for _ in range(60):
        ratio = np.sqrt(low * high)
        geometric = ratio ** (lengths - 1)
        weights = _UNIFORM_LENGTH_SHARE * uniform + (1 - _UNIFORM_LENGTH_SHARE) * geometric / geometric.sum()
        if (weights * lengths).sum() < mean_length:
            low = ratio
        else:
            high = ratio
    return list(weights)


def _runs_per_partial_row(runs: tuple[float, ...]) -> float:
    return sum((index + 1) * weight for index, weight in enumerate(runs)) / sum(runs)


def _full_row_share(full_share: float, runs: tuple[float, ...]) -> float:
    """Share of rows that are one full event, given the share ``full_share`` of *events* that are full."""
    # A full row holds one event, a partial row `runs_per_partial_row` events on average.
    runs_per_row = _runs_per_partial_row(runs)
    return full_share * runs_per_row / (1 - full_share + full_share * runs_per_row)


def _row_model(
    full_prob: float,
    mean_s: float,
    full_share: float,
    runs: tuple[float, ...],
    onset_at_zero: float,
    fragmentation: float,
    length_stretch: float,
) -> _RowModel:
    """Row model drawing a full row with ``full_prob``, else partial runs whose mean length matches the profile.

    The number of runs follows ``runs`` tilted by ``fragmentation`` per extra run (see ``SyntheticConfig``).
    """
    partial_mean = length_stretch * (mean_s - NUM_SEGMENTS * full_share) / (1 - full_share)
    fragmented = [weight * fragmentation**index for index, weight in enumerate(runs)]
    return _RowModel(full_prob, _cdf(_partial_lengths(partial_mean)), _cdf(fragmented), onset_at_zero)


def _free_full_probs(profile: ClassProfile) -> tuple[float, float]:
    """P(full row) of a *freely drawn* audio and visual row such that all rows of the class hit the profile.

    Not every row is drawn freely: a row strictly inside the other modality's is never full, and an identical pair
    copies the visual draw into audio. Solve the two mixtures for the free probabilities (clipped to [0, 0.98]).
    """
    total = profile.audio_only + profile.visual_only + profile.both
    audio_only, visual_only, both = (share / total for share in (profile.audio_only, profile.visual_only, profile.both))
    same, audio_inside, visual_inside = profile.same_extent, profile.audio_in_visual, profile.visual_in_audio
    independent = max(1 - same - audio_inside - visual_inside, 0.0)
    audio_target = _full_row_share(profile.audio_full, AUDIO_RUNS_PER_PARTIAL_ROW) * (audio_only + both)
    visual_target = _full_row_share(profile.visual_full, VISUAL_RUNS_PER_PARTIAL_ROW) * (visual_only + both)
    visual_free = visual_target / (visual_only + both * (same + audio_inside + independent))
    visual_free = min(max(visual_free, 0.0), _MAX_FULL_PROB)
    audio_free = (audio_target - visual_free * both * same) / max(
        audio_only + both * (visual_inside + independent), 1e-9
    )
    return min(max(audio_free, 0.0), _MAX_FULL_PROB), visual_free


def _tables(config: SyntheticConfig) -> _Tables:
    profiles = CLASS_PROFILES
    free_full = [_free_full_probs(profile) for profile in profiles]
    pairs = [
        None if pair is None else (CLASS_TO_INDEX[pair[0]], CLASS_TO_INDEX[pair[1]]) for pair, _ in CLASS_PAIR_WEIGHTS
    ]
    return _Tables(
        cells={
            kind: ([(speech, count) for speech, count, _ in table], _cdf([share for *_, share in table]))
            for kind, table in (("train", TRAIN_LABEL_SET_CELLS), ("eval", EVAL_LABEL_SET_CELLS))
        },
        solo_cdf=_cdf([p.solo_weight for p in profiles]),
        with_speech_cdf=_cdf([p.with_speech_weight for p in profiles]),
        multi_cdf=_cdf([p.multi_weight for p in profiles]),
        pairs=pairs,
        pair_cdf=_cdf([weight for _, weight in CLASS_PAIR_WEIGHTS]),
        modality_cdf=[_cdf([p.audio_only, p.visual_only, p.both]) for p in profiles],
        relation_cdf=[
            _cdf(
                [
                    p.same_extent,
                    p.audio_in_visual,
                    p.visual_in_audio,
                    max(1 - p.same_extent - p.audio_in_visual - p.visual_in_audio, 0.0),
                ]
            )
            for p in profiles
        ],
        audio_rows=[
            _row_model(
                full[0],
                p.audio_mean_s,
                p.audio_full,
                AUDIO_RUNS_PER_PARTIAL_ROW,
                config.audio_onset_at_zero,
                config.audio_fragmentation,
                config.length_stretch,
            )
            for p, full in zip(profiles, free_full)
        ],
        visual_rows=[
            _row_model(
                full[1],
                p.visual_mean_s,
                p.visual_full,
                VISUAL_RUNS_PER_PARTIAL_ROW,
                config.visual_onset_at_zero,
                config.visual_fragmentation,
                config.length_stretch,
            )
            for p, full in zip(profiles, free_full)
        ],
    )


def _composition(rng: np.random.Generator, total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` non-negative integers (cut points drawn uniformly)."""
    if parts == 1:
        return [total]
    cuts = sorted(rng.integers(0, total + 1, size=parts - 1).tolist())
    bounds = [0, *cuts, total]
    return [bounds[index + 1] - bounds[index] for index in range(parts)]


def _sample_row(rng: np.random.Generator, model: _RowModel) -> int:
    """One non-empty row as a 10-bit mask."""
    if rng.random() < model.full_prob:
        return _FULL_ROW
    runs = 1 + _draw(rng, model.runs_cdf)
    for attempt in range(_FIT_TRIES * runs):
        if attempt and attempt % _FIT_TRIES == 0:
            runs -= 1  # these runs keep not fitting: one fewer (a single run of <= 9 segments always fits)
        lengths = [1 + _draw(rng, model.length_cdf) for _ in range(runs)]
        slack = NUM_SEGMENTS - sum(lengths) - (runs - 1)  # free segments beyond the one-segment gaps between runs
        if slack >= 0:
            break
    if rng.random() < model.onset_at_zero:
        extra_gaps = [0, *_composition(rng, slack, runs)]
    else:
        extra_gaps = _composition(rng, slack, runs + 1)
    mask, position = 0, extra_gaps[0]
    for index, length in enumerate(lengths):
        mask |= ((1 << length) - 1) << position
        position += length + 1 + extra_gaps[index + 1]
    return mask


def _strict_subset(rng: np.random.Generator, mask: int) -> int:
    """A random non-empty strict subset of ``mask`` made of one run or part of one (``mask`` has >= 2 segments)."""
    runs = _runs_of(mask)
    onset, length = runs[int(rng.integers(len(runs)))]
    if length == 1:  # then there are other runs: this one alone is a strict subset
        return 1 << onset
    sub_length = int(rng.integers(1, length))
    sub_onset = onset + int(rng.integers(0, length - sub_length + 1))
    return ((1 << sub_length) - 1) << sub_onset


def _runs_of(mask: int) -> list[tuple[int, int]]:
    """(onset, length) of each maximal run of set bits."""
    runs, segment = [], 0
    while segment < NUM_SEGMENTS:
        if mask >> segment & 1:
            start = segment
            while segment < NUM_SEGMENTS and mask >> segment & 1:
                segment += 1
            runs.append((start, segment - start))
        segment += 1
    return runs


def _nested(rng: np.random.Generator, outer: _RowModel, inner: _RowModel) -> tuple[int, int]:
    """(outer row, inner row strictly inside it); the inner row keeps its own fragmentation where possible."""
    outer_mask = _sample_row(rng, outer)
    if outer_mask.bit_count() < 2:
        return outer_mask, outer_mask  # a one-segment row has no non-empty strict subset
    for _ in range(_SUBSET_TRIES):
        inner_mask = _sample_row(rng, inner) & outer_mask
        if inner_mask and inner_mask != outer_mask:
            return outer_mask, inner_mask
    return outer_mask, _strict_subset(rng, outer_mask)


def _sample_class_rows(rng: np.random.Generator, class_index: int, tables: _Tables) -> tuple[int, int]:
    """(audio mask, visual mask) of one class in one clip; at least one is non-empty."""
    audio_model, visual_model = tables.audio_rows[class_index], tables.visual_rows[class_index]
    modality = _draw(rng, tables.modality_cdf[class_index])
    if modality == _AUDIO_ONLY:
        return _sample_row(rng, audio_model), 0
    if modality == _VISUAL_ONLY:
        return 0, _sample_row(rng, visual_model)
    relation = _draw(rng, tables.relation_cdf[class_index])
    if relation == _SAME:
        mask = _sample_row(rng, visual_model)
        return mask, mask
    if relation == _AUDIO_IN_VISUAL:
        visual_mask, audio_mask = _nested(rng, visual_model, audio_model)
        return audio_mask, visual_mask
    if relation == _VISUAL_IN_AUDIO:
        return _nested(rng, audio_model, visual_model)
    return _sample_row(rng, audio_model), _sample_row(rng, visual_model)


def _distinct_draws(rng: np.random.Generator, cdf: list[float], chosen: list[int], count: int) -> None:
    """Append ``count`` classes drawn from ``cdf`` that are not in ``chosen`` yet (rejection sampling)."""
    target = len(chosen) + count
    while len(chosen) < target:
        class_index = _draw(rng, cdf)
        if class_index not in chosen:
            chosen.append(class_index)


def _sample_label_set(rng: np.random.Generator, kind: AnnotationKind, tables: _Tables) -> list[int]:
    cells, cells_cdf = tables.cells[kind]
    speech, others = cells[_draw(rng, cells_cdf)]
    classes = [_SPEECH_INDEX] if speech else []
    if others == 1:
        classes.append(_draw(rng, tables.with_speech_cdf if speech else tables.solo_cdf))
    elif others >= 2:
        pair = tables.pairs[_draw(rng, tables.pair_cdf)]
        if pair is None:
            _distinct_draws(rng, tables.solo_cdf, classes, 2)
        else:
            classes.extend(pair)
        _distinct_draws(rng, tables.multi_cdf, classes, others - 2)
    return classes


def rows_from_codes(codes: np.ndarray) -> np.ndarray:
    """10-bit row codes (bit t = segment t), any shape S, to 0/1 rows of shape ``S + (T,)``, uint8."""
    return ((np.asarray(codes)[..., None] >> np.arange(NUM_SEGMENTS)) & 1).astype(np.uint8)


def sample_annotations(
    rng: np.random.Generator, num_clips: int, kind: AnnotationKind, config: SyntheticConfig = SyntheticConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Dense ground truth of ``num_clips`` synthetic clips.

    Args:
        rng: the only source of randomness; the result is a pure function of its state and the other arguments.
        num_clips: N >= 0.
        kind: ``"train"`` (LLP train label-set statistics) or ``"eval"`` (the richer val/test ones).
        config: the annotation knobs (``*_onset_at_zero``) are used; feature knobs are ignored.

    Returns:
        ``(gt_audio, gt_visual)``, each ``(N, C, T)`` uint8 ``[clip, class, segment]``. Every class with a 1 in
        either array is in the clip's weak label (``weak_labels``) and vice versa.
    """
    if kind not in ("train", "eval"):
        raise ValueError(f"unknown annotation kind {kind!r}; expected 'train' or 'eval'")
    if num_clips < 0:
        raise ValueError(f"num_clips must be >= 0, got {num_clips}")
    tables = _tables(config)
    audio_codes = np.zeros((num_clips, NUM_CLASSES), dtype=np.int64)  # (N, C) 10-bit rows
    visual_codes = np.zeros((num_clips, NUM_CLASSES), dtype=np.int64)
    for clip in range(num_clips):
        for class_index in _sample_label_set(rng, kind, tables):
            audio_codes[clip, class_index], visual_codes[clip, class_index] = _sample_class_rows(
                rng, class_index, tables
            )
    return rows_from_codes(audio_codes), rows_from_codes(visual_codes)  # (N, C, T) each


def weak_labels(gt_audio: np.ndarray, gt_visual: np.ndarray) -> np.ndarray:
    """Video-level labels: classes with any event in either modality. ``(N, C, T)`` x 2 -> ``(N, C)`` float32."""
    return (gt_audio.any(axis=-1) | gt_visual.any(axis=-1)).astype(np.float32)
