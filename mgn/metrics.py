"""Official AVVP evaluation metrics (segment level and event level), vectorised over clips and classes.

The numbers equal those of the official ``utils/eval_metrics.py`` (byte-identical in stoneMo/MGN and
YapengTian/AVVP-ECCV20) and of the test loop in MGN ``main.py`` ``eval()`` / HAN ``main_avvp.py``; see
``design/REFERENCE.md`` section 2. Per-clip scores are bit-identical to the official functions (the class sums are
added in class order, as Python's ``sum`` does); dataset means use ``np.mean`` like the official loop.

Layout. Every matrix is ``[clip, class, segment]``: ``(N, C, T)`` with C = ``NUM_CLASSES`` = 25 classes in the
official order (``mgn.labels.CLASSES``) and T = ``NUM_SEGMENTS`` = 10 one-second segments. Model outputs come in the
models' own layout ``[clip, segment, class]`` ``(N, T, C)`` and are transposed by :func:`binarize`.

Semantics, official behaviours included (REFERENCE 2.5):

1. Binarisation (:func:`binarize`): ``pred[n, c, t] = [frame_prob[n, t, c] >= thr] * [global_prob[n, c] >= thr]``.
   Both thresholds are inclusive and compared in the input's float dtype. The gate is the *fused* video-level
   probability for both modalities (:func:`binarize_modality_gated` is the non-official per-modality variant).
2. Audio-visual matrices are the element-wise products ``pred_av = pred_a * pred_v`` and ``gt_av = gt_a * gt_v``.
3. Per clip, modality and class, count TP / FP / FN. A class is *active* when TP + FP > 0 or TP + FN > 0;
   ``F_c = 2 TP / (2 TP + FP + FN)``; the clip score is the mean of ``F_c`` over active classes, and **1.0 when no
   class is active** (no GT and no prediction). A class predicted but absent contributes 0.
4. Segment level counts segments. Event level counts events: an event is a maximal run of 1s in one 10-long row.
   A predicted event is a TP when some GT event of the same row has IoU >= 0.5 (inclusive, IoU over segments),
   otherwise an FP; a GT event is an FN when no predicted event reaches IoU >= 0.5 with it.
5. The pooled clip score (printed as "Event@Avg.", here ``event``) applies rule 3 to the per-class sums of the audio
   and visual counts; the audio-visual counts are not part of it.
6. Dataset numbers are ``100 * mean over clips`` (every clip counts, including empty ones), and
   ``type = (audio_visual + audio + visual) / 3`` from the unrounded percentages.

Implementation. Each 10-segment row is encoded as an integer code in ``[0, 2**T)`` (bit t = segment t); the code of
an AV product is the AND of two codes. Segment counts are popcounts of code pairs. For events, each of the 55
possible runs ``[start, end)`` gets one bit; two tables over the 1,024 codes give, per row, the bitmask of its events
and the bitmask of every run that matches one of them at IoU >= 0.5, so that
TP = popcount(events(pred) & matched(gt)), FP = #events(pred) - TP and
FN = #events(gt) - popcount(events(gt) & matched(pred)). (Maximal runs of one row are separated by gaps, so no two
of them reach IoU >= 0.5 with the same run: any-match counting equals one-to-one matching.) The tables are built
once, vectorised, on first use (:func:`functools.lru_cache`, about 2 ms). Counts are kept class-major ``(C, 3, N)``
so that the per-clip sum over classes runs over the slow axis, in class order, like the official Python ``sum()``.
``np.bitwise_count`` needs numpy >= 2.0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from mgn.labels import MODALITY_TITLES, NUM_CLASSES, NUM_SEGMENTS

__all__ = [
    "DEFAULT_THRESHOLD",
    "EVENT_IOU_THRESHOLD",
    "LEVELS",
    "LEVEL_TITLES",
    "METRICS",
    "METRIC_TITLES",
    "PER_CLIP_COLUMNS",
    "LevelScores",
    "Scores",
    "avvp_scores",
    "binarize",
    "binarize_modality_gated",
    "format_markdown_table",
    "format_table",
]

DEFAULT_THRESHOLD = 0.5  # official probability threshold, inclusive, for both the video-level gate and the segments
EVENT_IOU_THRESHOLD = 0.5  # official event matching: IoU >= 0.5, inclusive
LEVELS: tuple[str, ...] = ("segment", "event")
METRICS: tuple[str, ...] = ("audio", "visual", "audio_visual", "type", "event")  # the five numbers of each level
METRIC_TITLES: dict[str, str] = MODALITY_TITLES | {"type": "Type@AV", "event": "Event@AV"}
LEVEL_TITLES: dict[str, str] = {"segment": "Segment-level", "event": "Event-level"}
# Columns of the per-clip arrays, in the order the official functions return them: (f_a, f_v, f, f_av).
PER_CLIP_COLUMNS: tuple[str, ...] = ("audio", "visual", "event", "audio_visual")

_NUM_CODES = 1 << NUM_SEGMENTS  # every 0/1 row of NUM_SEGMENTS segments, as an integer code
_ROW_SHAPE_TEXT = f"(N, {NUM_CLASSES}, {NUM_SEGMENTS}) [clip, class, segment]"


# ---------------------------------------------------------------------------------------------------------------------
# binarisation


def _float_array(values: Any, name: str, shape_tail: tuple[int, ...], shape_text: str) -> np.ndarray:
    """``values`` as a float array of shape ``(N, *shape_tail)``; a ValueError names ``name`` otherwise."""
    array = np.asarray(values)
    if array.ndim != 1 + len(shape_tail) or array.shape[1:] != shape_tail:
        raise ValueError(f"{name}: expected shape {shape_text}, found {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
            raise ValueError(f"{name}: expected real probabilities, found dtype {array.dtype}")
        array = array.astype(np.float64)
    if np.isnan(array).any():
        raise ValueError(f"{name}: contains NaN at index {tuple(int(i) for i in np.argwhere(np.isnan(array))[0])}")
    return array


def _at_least(array: np.ndarray, threshold: float) -> np.ndarray:
    """``array >= threshold`` with the threshold cast to the array's dtype (float32 stays float32, as officially)."""
    return array >= array.dtype.type(threshold)


def _gated_rows(video_prob: Any, frame_prob: Any, threshold: float, names: tuple[str, str]) -> np.ndarray:
    """One modality's binary matrix ``(N, C, T) uint8``: thresholded frame probabilities times the video gate."""
    video_name, frame_name = names
    video = _float_array(video_prob, video_name, (NUM_CLASSES,), f"(N, {NUM_CLASSES}) [clip, class]")
    frames_text = f"(N, {NUM_SEGMENTS}, {NUM_CLASSES}) [clip, segment, class]"
    frames = _float_array(frame_prob, frame_name, (NUM_SEGMENTS, NUM_CLASSES), frames_text)
    if frames.shape[0] != video.shape[0]:
        raise ValueError(f"{frame_name} has {frames.shape[0]} clips but {video_name} has {video.shape[0]}")
    gate = _at_least(video, threshold)[:, None, :]  # (N, 1, C), broadcast over segments
    on = _at_least(frames, threshold) & gate  # (N, T, C)
    return np.ascontiguousarray(on.transpose(0, 2, 1)).view(np.uint8)  # (N, C, T)


def binarize(
    global_prob: Any, a_frame_prob: Any, v_frame_prob: Any, threshold: float = DEFAULT_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """Official binary segment predictions: frame probabilities gated by the fused video-level prediction.

    ``pred[n, c, t] = [frame_prob[n, t, c] >= threshold] * [global_prob[n, c] >= threshold]`` for audio and visual
    alike (REFERENCE 2.1). Comparisons are inclusive and made in each input's float dtype.

    Args:
        global_prob: fused (audio-visual) video-level probabilities, ``(N, C)`` [clip, class]; HAN's MMIL output,
            MGN's ``global_prob``. Anything ``np.asarray`` accepts (numpy, CPU torch tensor, lists).
        a_frame_prob: audio segment probabilities ``(N, T, C)`` [clip, segment, class], as the models return them.
        v_frame_prob: visual segment probabilities ``(N, T, C)``.
        threshold: probability threshold, inclusive.

    Returns:
        ``(pred_a, pred_v)``, each ``(N, C, T) uint8`` [clip, class, segment] with values 0/1.

    Raises:
        ValueError: a shape differs from the above, the clip counts differ, a value is NaN or not a real number.
    """
    pred_a = _gated_rows(global_prob, a_frame_prob, threshold, ("global_prob", "a_frame_prob"))
    pred_v = _gated_rows(global_prob, v_frame_prob, threshold, ("global_prob", "v_frame_prob"))
    return pred_a, pred_v


def binarize_modality_gated(
    a_prob: Any, v_prob: Any, a_frame_prob: Any, v_frame_prob: Any, threshold: float = DEFAULT_THRESHOLD
) -> tuple[np.ndarray, np.ndarray]:
    """Non-official variant of :func:`binarize`: each modality gated by its own video-level probability.

    Audio segments are gated by ``a_prob`` and visual segments by ``v_prob`` (the gating of MA-style methods),
    instead of both by the fused ``global_prob``. Shapes, dtypes and errors are those of :func:`binarize`.

    Returns:
        ``(pred_a, pred_v)``, each ``(N, C, T) uint8`` [clip, class, segment].
    """
    pred_a = _gated_rows(a_prob, a_frame_prob, threshold, ("a_prob", "a_frame_prob"))
    pred_v = _gated_rows(v_prob, v_frame_prob, threshold, ("v_prob", "v_frame_prob"))
    return pred_a, pred_v


# ---------------------------------------------------------------------------------------------------------------------
# row codes and event tables


class _EventTables(NamedTuple):
    """Per-code event tables, indexed by a row code in ``[0, 2**T)``; all arrays are read-only."""

    num_events: np.ndarray  # (2**T,) uint8: number of events (maximal runs of 1s) in the row
    event_bits: np.ndarray  # (2**T,) uint64: bit k set when run k (of the T(T+1)/2 possible runs) is an event
    matched_bits: np.ndarray  # (2**T,) uint64: bit k set when run k has IoU >= 0.5 with some event of the row


@functools.lru_cache(maxsize=1)
def _event_tables() -> _EventTables:
    """Build the event tables for every row code, vectorised (about 2 ms)."""
    starts, ends = np.triu_indices(NUM_SEGMENTS + 1, k=1)  # (R,) every run [start, end), R = T(T+1)/2 = 55
    if len(starts) > 64:
        raise ValueError(f"{len(starts)} possible runs do not fit the 64-bit event masks")
    run_codes = (1 << ends) - (1 << starts)  # (R,) the run's own bits
    # A run is an event of a row when all its bits are 1 and the segments just outside it (if any) are 0.
    border_codes = ((1 << np.maximum(starts - 1, 0)) * (starts > 0)) | ((1 << ends) * (ends < NUM_SEGMENTS))
    codes = np.arange(_NUM_CODES)[:, None]  # (2**T, 1)
    is_event = (codes & (run_codes | border_codes)) == run_codes  # (2**T, R)

    intersection = np.clip(np.minimum(ends[:, None], ends) - np.maximum(starts[:, None], starts), 0, None)  # (R, R)
    union = (ends - starts)[:, None] + (ends - starts) - intersection
    run_matches = intersection >= EVENT_IOU_THRESHOLD * union  # (R, R), symmetric
    is_matched = (is_event.astype(np.int64) @ run_matches.astype(np.int64)) > 0  # (2**T, R)

    run_bits = np.left_shift(np.uint64(1), np.arange(len(starts), dtype=np.uint64))  # (R,)
    tables = _EventTables(
        num_events=is_event.sum(axis=1).astype(np.uint8),
        event_bits=np.bitwise_or.reduce(np.where(is_event, run_bits, np.uint64(0)), axis=1),
        matched_bits=np.bitwise_or.reduce(np.where(is_matched, run_bits, np.uint64(0)), axis=1),
    )
    for table in tables:
        table.setflags(write=False)
    return tables


def _row_codes(rows: np.ndarray) -> np.ndarray:
    """``(N, C, T)`` 0/1 rows -> ``(C, N)`` uint16 codes (bit t = segment t), class-major."""
    # A float32 matrix product (BLAS) is exact here (integers below 2**T <= 2**24) and faster than np.packbits.
    segment_weights = (1 << np.arange(NUM_SEGMENTS)).astype(np.float32)
    return (rows.astype(np.float32) @ segment_weights).astype(np.uint16).T  # (N, C, T) @ (T,) -> (N, C) -> (C, N)


class _Counts(NamedTuple):
    """TP / FP / FN per class, modality (audio, visual, audio-visual) and clip: each ``(C, 3, N)`` uint8."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray


def _segment_counts(pred_codes: np.ndarray, gt_codes: np.ndarray) -> _Counts:
    """Segment-level counts: segments predicted and true, predicted only, true only."""
    return _Counts(
        tp=np.bitwise_count(pred_codes & gt_codes),
        fp=np.bitwise_count(pred_codes & ~gt_codes),
        fn=np.bitwise_count(~pred_codes & gt_codes),
    )


def _event_counts(pred_codes: np.ndarray, gt_codes: np.ndarray) -> _Counts:
    """Event-level counts: predicted events with / without a GT event at IoU >= 0.5, GT events without a match."""
    tables = _event_tables()
    tp = np.bitwise_count(tables.event_bits[pred_codes] & tables.matched_bits[gt_codes])
    gt_found = np.bitwise_count(tables.event_bits[gt_codes] & tables.matched_bits[pred_codes])
    return _Counts(tp=tp, fp=tables.num_events[pred_codes] - tp, fn=tables.num_events[gt_codes] - gt_found)


# ---------------------------------------------------------------------------------------------------------------------
# scores


def _clip_scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Mean F over the active classes, 1.0 where none is active: ``(C, ...)`` counts -> ``(...)`` float64."""
    denominator = 2 * tp + fp + fn  # > 0 exactly when the class is active (uint8 suffices: at most 4 T)
    active = denominator > 0
    class_f = np.divide(2 * tp, denominator, out=np.zeros(tp.shape), where=active)  # (C, ...) C-contiguous
    # Summing over the leading (slow) axis adds the classes one at a time in index order, like the official Python
    # sum() over the active classes (numpy's pairwise summation applies only along the fast axis); inactive classes
    # add an exact 0.0. This keeps per-clip scores bit-identical to the official ones.
    total = class_f.sum(axis=0)
    num_active = active.sum(axis=0)
    return np.where(num_active > 0, total / np.maximum(num_active, 1), 1.0)


def _level_scores(counts: _Counts) -> np.ndarray:
    """Per-clip ``(N, 4)`` float64 in :data:`PER_CLIP_COLUMNS` order from ``(C, 3, N)`` counts."""
    # audio, visual, pooled (audio + visual counts per class), audio-visual: (C, 4, N) each
    columns = [np.stack([count[:, 0], count[:, 1], count[:, 0] + count[:, 1], count[:, 2]], axis=1) for count in counts]
    return np.ascontiguousarray(_clip_scores(*columns).T)  # (4, N) -> (N, 4)


@dataclass(frozen=True)
class LevelScores:
    """The official scores of one level (segment or event).

    Attributes:
        audio, visual, audio_visual: F-scores (%) averaged over clips.
        type: Type@AV (%), the mean of the three above.
        event: Event@AV (%), the pooled audio + visual score (officially printed as "Event@Avg.").
        per_clip: ``(N, 4)`` float64 per-clip scores in [0, 1], columns :data:`PER_CLIP_COLUMNS` =
            (audio, visual, pooled event, audio-visual), exactly the official ``(f_a, f_v, f, f_av)``.
    """

    audio: float
    visual: float
    audio_visual: float
    type: float
    event: float
    per_clip: np.ndarray

    def metric(self, name: str) -> float:
        """One of :data:`METRICS` by name (KeyError naming the valid ones otherwise)."""
        if name not in METRICS:
            raise KeyError(f"unknown metric {name!r}; expected one of {list(METRICS)}")
        return getattr(self, name)

    def clip_scores(self, name: str) -> np.ndarray:
        """Per-clip scores ``(N,)`` in [0, 1] of one metric; ``type`` is the mean of audio, visual, audio-visual."""
        if name == "type":
            columns = [PER_CLIP_COLUMNS.index(m) for m in ("audio", "visual", "audio_visual")]
            return self.per_clip[:, columns].mean(axis=1)
        if name not in PER_CLIP_COLUMNS:
            raise KeyError(f"unknown metric {name!r}; expected one of {list(METRICS)}")
        return self.per_clip[:, PER_CLIP_COLUMNS.index(name)]

    def to_json(self) -> dict[str, float]:
        """The five percentages, keyed by :data:`METRICS`."""
        return {name: float(getattr(self, name)) for name in METRICS}


@dataclass(frozen=True)
class Scores:
    """Official AVVP scores at the segment and the event level (the two rows of Table 1)."""

    segment: LevelScores
    event: LevelScores

    @property
    def num_clips(self) -> int:
        return len(self.segment.per_clip)

    def level(self, name: str) -> LevelScores:
        """``segment`` or ``event`` by name (KeyError naming the valid ones otherwise)."""
        if name not in LEVELS:
            raise KeyError(f"unknown level {name!r}; expected one of {list(LEVELS)}")
        return getattr(self, name)

    def to_json(self) -> dict[str, dict[str, float]]:
        """``{"segment": {metric: %}, "event": {metric: %}}``: what the command lines print and write."""
        return {level: self.level(level).to_json() for level in LEVELS}


def _level_result(per_clip: np.ndarray) -> LevelScores:
    """One level's scores from its ``(N, 4)`` per-clip scores, the means computed as the official loop does."""
    means = {name: 100 * np.mean(np.ascontiguousarray(per_clip[:, i])) for i, name in enumerate(PER_CLIP_COLUMNS)}
    per_clip.setflags(write=False)
    return LevelScores(
        audio=float(means["audio"]),
        visual=float(means["visual"]),
        audio_visual=float(means["audio_visual"]),
        type=float((means["audio_visual"] + means["audio"] + means["visual"]) / 3.0),
        event=float(means["event"]),
        per_clip=per_clip,
    )


def _binary_matrix(values: Any, name: str) -> np.ndarray:
    """``values`` as a 0/1 ``(N, C, T)`` bool or integer array; a ValueError names ``name`` otherwise."""
    array = np.asarray(values)
    if array.ndim != 3 or array.shape[1:] != (NUM_CLASSES, NUM_SEGMENTS):
        raise ValueError(f"{name}: expected shape {_ROW_SHAPE_TEXT}, found {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name}: no clips (N = 0); the scores are means over clips")
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.integer):
        if array.min() >= 0 and array.max() <= 1:  # two reductions, no temporary arrays
            return array
    elif np.issubdtype(array.dtype, np.floating):
        binary = array == 1
        if not (~binary & (array != 0)).any():
            return binary
    else:
        raise ValueError(f"{name}: expected 0/1 numbers, found dtype {array.dtype}")
    index = tuple(int(i) for i in np.argwhere((array != 0) & (array != 1))[0])
    raise ValueError(f"{name}: values must be 0 or 1, found {array[index]!r} at [clip, class, segment] {index}")


def avvp_scores(pred_a: Any, pred_v: Any, gt_a: Any, gt_v: Any) -> Scores:
    """Official AVVP segment-level and event-level scores of binary predictions against ground truth.

    The audio-visual matrices are the element-wise products of the audio and visual ones, for the predictions and
    the ground truth alike (REFERENCE 2.1, 1.6).

    Args:
        pred_a: audio predictions ``(N, C, T)`` [clip, class, segment], values 0/1 of any int, bool or float dtype.
        pred_v: visual predictions, same layout.
        gt_a: audio ground truth, same layout (``gt[class, onset:offset] = 1`` for each dense annotation row).
        gt_v: visual ground truth, same layout.

    Returns:
        :class:`Scores`: per level, ``audio``, ``visual``, ``audio_visual``, ``type`` (mean of the three) and
        ``event`` (the pooled audio+visual score, printed officially as "Event@Avg.") as percentages, and the
        per-clip scores (``LevelScores.per_clip``).

    Raises:
        ValueError: an array has the wrong shape or no clips, the four shapes differ, or a value is not 0 or 1.
    """
    named = {"pred_a": pred_a, "pred_v": pred_v, "gt_a": gt_a, "gt_v": gt_v}
    matrices = {name: _binary_matrix(values, name) for name, values in named.items()}
    shapes = {name: matrix.shape for name, matrix in matrices.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"the four matrices must have the same shape, found {shapes}")
    code_pa, code_pv, code_ga, code_gv = (_row_codes(matrix) for matrix in matrices.values())  # (C, N) each
    # modalities audio, visual, audio-visual; the code of an element-wise product is the bitwise AND of the codes
    pred_codes = np.stack([code_pa, code_pv, code_pa & code_pv], axis=1)  # (C, 3, N)
    gt_codes = np.stack([code_ga, code_gv, code_ga & code_gv], axis=1)  # (C, 3, N)
    return Scores(
        segment=_level_result(_level_scores(_segment_counts(pred_codes, gt_codes))),
        event=_level_result(_level_scores(_event_counts(pred_codes, gt_codes))),
    )


# ---------------------------------------------------------------------------------------------------------------------
# formatting (kept apart from the computation)


def format_table(scores: Scores, title: str | None = None) -> str:
    """Plain-text table like Table 1 of the MGN paper: one row per level, one decimal.

    Args:
        scores: the output of :func:`avvp_scores`.
        title: optional first line.

    Returns:
        The table, lines joined by ``\\n``, without a trailing newline.
    """
    label_width = max(len(text) for text in LEVEL_TITLES.values())
    widths = [max(len(METRIC_TITLES[metric]), 6) for metric in METRICS]
    header = " " * label_width + "".join(f"  {METRIC_TITLES[m]:>{w}}" for m, w in zip(METRICS, widths))
    lines = [title] if title else []
    lines.append(header)
    for level in LEVELS:
        cells = "".join(f"  {scores.level(level).metric(m):>{w}.1f}" for m, w in zip(METRICS, widths))
        lines.append(f"{LEVEL_TITLES[level]:<{label_width}}{cells}")
    return "\n".join(lines)


def format_markdown_table(named_scores: dict[str, Scores]) -> str:
    """Markdown table with two rows (segment, event level) per named result, one decimal.

    Args:
        named_scores: row label (a model or predictor name) -> the output of :func:`avvp_scores`.

    Returns:
        The table, lines joined by ``\\n``, without a trailing newline.
    """
    titles = [METRIC_TITLES[metric] for metric in METRICS]
    lines = ["| Method | Level | " + " | ".join(titles) + " |", "|---|---|" + "---:|" * len(titles)]
    for name, scores in named_scores.items():
        for level in LEVELS:
            cells = " | ".join(f"{scores.level(level).metric(metric):.1f}" for metric in METRICS)
            lines.append(f"| {name} | {LEVEL_TITLES[level]} | {cells} |")
    return "\n".join(lines)
