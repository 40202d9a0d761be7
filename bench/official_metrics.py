"""A plain restatement of the official AVVP metrics, one clip and one class at a time, and synthetic clips.

The oracle (``oracle_*``) restates ``design/REFERENCE.md`` 2.1-2.4 literally, like the official
``utils/eval_metrics.py`` and the official test loop, with code independent of the vectorised :mod:`mgn.metrics`.
``tests/test_metrics.py`` checks it against the official fixture and checks :mod:`mgn.metrics` against it;
``bench/metrics_speed.py`` and ``bench/train_speed.py`` time it beside ours.

The generators make LLP-like clips (:func:`realistic_clips`), dense edge-case clips (:func:`edge_case_clips`) and
probabilities that binarise to given predictions (:func:`probabilities_for`). Everything is ``(N, C, T)``
[clip, class, segment] for binary matrices and, like the models' outputs, ``(N, T, C)`` for frame probabilities.
This module depends on the package only (``mgn.labels``), never on the tests.
"""

from __future__ import annotations

import numpy as np

from mgn.labels import NUM_CLASSES, NUM_SEGMENTS

__all__ = [
    "EDGE_CASE_ROWS",
    "edge_case_clips",
    "oracle_avvp_scores",
    "oracle_binarize",
    "oracle_clip_f",
    "oracle_clip_scores",
    "oracle_event_counts",
    "oracle_iou",
    "oracle_runs",
    "oracle_segment_counts",
    "probabilities_for",
    "random_intervals",
    "realistic_clips",
]

# ---------------------------------------------------------------------------------------------------------------------
# the oracle: one clip, one class at a time


def oracle_binarize(global_prob, a_frame_prob, v_frame_prob, threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The official test loop's binarisation, one clip at a time (batch size 1): ``(N, C, T)`` int matrices.

    ``o = global_prob >= 0.5``; ``Pa = (a_frame_prob >= 0.5) * repeat(o, 10)``, likewise ``Pv``; transposed to
    class-major (REFERENCE 2.1). Comparisons are made in the input's dtype, as numpy does for a Python float.
    """
    pred_a, pred_v = [], []
    for n in range(len(global_prob)):
        o = (np.asarray(global_prob[n : n + 1]) >= threshold).astype(np.int_)  # (1, C)
        gate = np.repeat(o, repeats=NUM_SEGMENTS, axis=0)  # (T, C)
        pa = (np.asarray(a_frame_prob[n]) >= threshold).astype(np.int_) * gate
        pv = (np.asarray(v_frame_prob[n]) >= threshold).astype(np.int_) * gate
        pred_a.append(np.transpose(pa))
        pred_v.append(np.transpose(pv))
    return np.array(pred_a), np.array(pred_v)


def oracle_runs(row: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of 1s in a 0/1 row, as half-open segment intervals ``[start, end)``."""
    runs = []
    start = None
    for t, value in enumerate(row):
        if value == 1 and start is None:
            start = t
        elif value == 0 and start is not None:
            runs.append((start, t))
            start = None
    if start is not None:
        runs.append((start, len(row)))
    return runs


def oracle_iou(a: tuple[int, int], b: tuple[int, int]) -> float:
    """Intersection over union of two segment intervals."""
    intersection = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    union = (a[1] - a[0]) + (b[1] - b[0]) - intersection
    return intersection / union


def oracle_event_counts(pred_row: np.ndarray, gt_row: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) events of one class row: a predicted event is a TP when some GT event has IoU >= 0.5."""
    pred_events, gt_events = oracle_runs(pred_row), oracle_runs(gt_row)
    tp = sum(any(oracle_iou(p, g) >= 0.5 for g in gt_events) for p in pred_events)
    fn = sum(not any(oracle_iou(g, p) >= 0.5 for p in pred_events) for g in gt_events)
    return tp, len(pred_events) - tp, fn


def oracle_segment_counts(pred_row: np.ndarray, gt_row: np.ndarray) -> tuple[int, int, int]:
    """(TP, FP, FN) segments of one class row."""
    tp = sum(1 for p, g in zip(pred_row, gt_row) if p == 1 and g == 1)
    fp = sum(1 for p, g in zip(pred_row, gt_row) if p == 1 and g == 0)
    fn = sum(1 for p, g in zip(pred_row, gt_row) if p == 0 and g == 1)
    return tp, fp, fn


def oracle_clip_f(class_counts: list[tuple[int, int, int]]) -> float:
    """Mean F over the active classes of one clip; 1.0 when no class is active.

    The scores are added one at a time in class order, as the official ``sum()`` does over its numpy float64
    scores. (Python's own ``sum()`` of ``float`` objects is compensated since Python 3.12, so it is not used here.)
    """
    scores = [2 * tp / (2 * tp + fp + fn) for tp, fp, fn in class_counts if tp + fp > 0 or tp + fn > 0]
    if not scores:
        return 1.0
    total = 0.0
    for score in scores:
        total += score
    return total / len(scores)


def oracle_clip_scores(pred_a, pred_v, gt_a, gt_v, count_fn) -> tuple[float, float, float, float]:
    """(f_a, f_v, f pooled, f_av) of one clip's ``(C, T)`` matrices, like the official per-clip functions."""
    pred_av, gt_av = pred_a * pred_v, gt_a * gt_v
    counts_a = [count_fn(pred_a[c], gt_a[c]) for c in range(NUM_CLASSES)]
    counts_v = [count_fn(pred_v[c], gt_v[c]) for c in range(NUM_CLASSES)]
    counts_av = [count_fn(pred_av[c], gt_av[c]) for c in range(NUM_CLASSES)]
    pooled = [tuple(x + y for x, y in zip(a, v)) for a, v in zip(counts_a, counts_v)]
    return oracle_clip_f(counts_a), oracle_clip_f(counts_v), oracle_clip_f(pooled), oracle_clip_f(counts_av)


def oracle_avvp_scores(pred_a, pred_v, gt_a, gt_v) -> dict:
    """``{level: {metric: %}, "per_clip": {level: (N, 4)}}``, computed clip by clip.

    The keys follow ``mgn.metrics`` (``Scores.to_json()`` for the percentages, ``per_clip`` columns
    (audio, visual, pooled event, audio-visual) as ``LevelScores.per_clip``).
    """
    pred_a, pred_v, gt_a, gt_v = (np.asarray(m, dtype=np.int64) for m in (pred_a, pred_v, gt_a, gt_v))
    result: dict = {"per_clip": {}}
    for level, count_fn in (("segment", oracle_segment_counts), ("event", oracle_event_counts)):
        per_clip = np.array(
            [oracle_clip_scores(pred_a[n], pred_v[n], gt_a[n], gt_v[n], count_fn) for n in range(len(pred_a))]
        )
        audio, visual, pooled, audio_visual = (100 * per_clip[:, i].mean() for i in range(4))
        result[level] = {
            "audio": audio,
            "visual": visual,
            "audio_visual": audio_visual,
            "type": (audio + visual + audio_visual) / 3,
            "event": pooled,
        }
        result["per_clip"][level] = per_clip
    return result


# ---------------------------------------------------------------------------------------------------------------------
# synthetic clips


def random_intervals(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """One random non-empty interval per row: ``shape + (T,)`` bool."""
    starts = rng.integers(0, NUM_SEGMENTS, size=shape)
    ends = starts + 1 + (rng.random(shape) * (NUM_SEGMENTS - starts)).astype(int)
    t = np.arange(NUM_SEGMENTS)
    return (t >= starts[..., None]) & (t < ends[..., None])


def realistic_clips(
    rng: np.random.Generator, num_clips: int, spurious_rate: float = 0.01
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """LLP-like ``(pred_a, pred_v, gt_a, gt_v)``, each ``(N, C, T) uint8``.

    About 1-3 audio classes per clip with one or two events, visual classes partly shared, and predictions that are
    the GT with moved boundaries, dropped classes, spurious classes (a random interval in a class absent from the GT,
    at ``spurious_rate`` per clip and class) and 5% flipped cells in the predicted classes.
    """
    shape = (num_clips, NUM_CLASSES)
    audio_classes = rng.random(shape) < 0.07
    visual_classes = (audio_classes & (rng.random(shape) < 0.7)) | (rng.random(shape) < 0.02)
    matrices = []
    for classes in (audio_classes, visual_classes):
        gt = random_intervals(rng, shape) | (random_intervals(rng, shape) & (rng.random(shape) < 0.3)[..., None])
        gt &= classes[..., None]
        kept = (classes & (rng.random(shape) < 0.85)) | (rng.random(shape) < spurious_rate)
        source = np.arange(NUM_SEGMENTS) - rng.integers(-2, 3, size=shape)[..., None]  # boundaries moved by <= 2
        inside = (source >= 0) & (source < NUM_SEGMENTS)
        moved = np.take_along_axis(gt, source.clip(0, NUM_SEGMENTS - 1), axis=-1) & inside
        pred = np.where(classes[..., None], moved, random_intervals(rng, shape))
        pred = (pred ^ (rng.random(shape + (NUM_SEGMENTS,)) < 0.05)) & kept[..., None]
        matrices.append((pred.astype(np.uint8), gt.astype(np.uint8)))
    (pred_a, gt_a), (pred_v, gt_v) = matrices
    return pred_a, pred_v, gt_a, gt_v


def _code_rows(codes: list[int]) -> np.ndarray:
    """Row codes (bit t = segment t) -> ``(len(codes), T) uint8`` rows."""
    return ((np.array(codes)[:, None] >> np.arange(NUM_SEGMENTS)) & 1).astype(np.uint8)


_ALL_ON = (1 << NUM_SEGMENTS) - 1
_EVEN = sum(1 << t for t in range(0, NUM_SEGMENTS, 2))  # 1010101010 read from segment 0: five one-segment events
# Row patterns of the edge-case clips, by kind (every kind but "empty" may also draw an empty row).
EDGE_CASE_ROWS: dict[str, list[int]] = {
    "empty": [0],
    "all_on": [_ALL_ON, 0],
    "alternating": [_EVEN, _ALL_ON ^ _EVEN, _ALL_ON, 0],
    "single_segment": [1 << t for t in range(NUM_SEGMENTS)] + [0],
    "borders": [1, 1 << (NUM_SEGMENTS - 1), 1 | 1 << (NUM_SEGMENTS - 1), 0b11111, _ALL_ON ^ 0b11111, _ALL_ON, 0],
}


def edge_case_clips(rng: np.random.Generator, num_clips: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dense edge-case ``(pred_a, pred_v, gt_a, gt_v)``, each ``(N, C, T) uint8``.

    Clip ``n`` is of kind ``list(EDGE_CASE_ROWS)[n % 5]``: empty clips (all four matrices zero, scored 1.0), all-on
    rows, alternating segments (up to five one-segment events per row), single segments, and runs touching the
    borders. Every class row of every matrix of a clip is drawn from its kind's patterns, so the clips are dense
    (over a quarter of all cells on, against about 3 % in LLP-like clips; up to 25 active classes per clip) and
    exercise the event matching at its extremes.
    """
    kinds = list(EDGE_CASE_ROWS)
    matrices = np.zeros((4, num_clips, NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    for n in range(num_clips):
        rows = _code_rows(EDGE_CASE_ROWS[kinds[n % len(kinds)]])
        matrices[:, n] = rows[rng.integers(0, len(rows), size=(4, NUM_CLASSES))]
    return matrices[0], matrices[1], matrices[2], matrices[3]


def probabilities_for(
    rng: np.random.Generator, pred_a: np.ndarray, pred_v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 ``(global_prob (N, C), a_frame_prob (N, T, C), v_frame_prob (N, T, C))`` that binarise to the inputs.

    A class is gated on (``global_prob`` in [0.5, 1]) when it is predicted in either modality, off ([0, 0.5))
    otherwise; a predicted cell has a frame probability in [0.5, 1], an unpredicted cell of a gated-on class one in
    [0, 0.5), and the cells of gated-off classes any value in [0, 1) (the gate removes them), as a model's would.
    """
    on_a, on_v = pred_a.astype(bool), pred_v.astype(bool)
    gate = on_a.any(axis=2) | on_v.any(axis=2)  # (N, C)
    half = np.float32(0.5)  # r * 0.5 + 0.5 * on, all in float32: [0.5, 1] when on, [0, 0.5) when off
    global_prob = rng.random(gate.shape, dtype=np.float32) * half + half * gate.astype(np.float32)
    frames = []
    for on in (on_a, on_v):
        low_high = rng.random(on.shape, dtype=np.float32) * half + half * on.astype(np.float32)
        anything = rng.random(on.shape, dtype=np.float32)
        frames.append(np.ascontiguousarray(np.where(gate[..., None], low_high, anything).transpose(0, 2, 1)))
    return global_prob, frames[0], frames[1]
