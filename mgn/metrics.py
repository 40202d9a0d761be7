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

Implementation. Each 10-segment row is encoded as an integer code in ``[0, 2**T)`` (bit t = segment t), packed from
its bytes with one 64-bit multiplication per 8 segments (:func:`_row_codes`); the code of an AV product is the AND of
two codes. Only the rows with a 1 in some matrix are scored further (one row in ten on LLP-like data); every other
row is an inactive class at both levels and adds nothing. Segment counts are popcounts of code pairs. For events,
each of the 55 possible runs ``[start, end)`` gets one bit; two tables over the 1,024 codes give, per row, the
bitmask of its events and the bitmask of every run that matches one of them at IoU >= 0.5, so that
TP = popcount(events(pred) & matched(gt)), FP = #events(pred) - TP and
FN = #events(gt) - popcount(events(gt) & matched(pred)). (Maximal runs of one row are separated by gaps, so no two
of them reach IoU >= 0.5 with the same run: any-match counting equals one-to-one matching.) The tables are built
once, vectorised, on first use (:func:`functools.lru_cache`, about 2 ms). Per-class F values are summed per clip by
``np.bincount``, which adds them one at a time in input order; the rows are in clip-major order, so each clip's
classes are added in class order, like the official Python ``sum()`` (:func:`_clip_scores`).
``np.bitwise_count`` needs numpy >= 2.0.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
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
    # The maximum is NaN exactly when some value is: one reduction, no boolean temporary the size of the input.
    if array.size and np.isnan(array.max()):
        raise ValueError(f"{name}: contains NaN at index {tuple(int(i) for i in np.argwhere(np.isnan(array))[0])}")
    return array


def _video_gate(video_prob: Any, name: str, threshold: float) -> np.ndarray:
    """``(N, T, C)`` bool: the video-level decision ``prob >= threshold`` of each clip and class, in every segment.

    Compared in the probabilities' own float dtype; materialised over the segments (not broadcast) so that gating a
    modality is one flat element-wise AND, about three times faster in numpy than a broadcast over a 25-long axis.
    """
    video = _float_array(video_prob, name, (NUM_CLASSES,), f"(N, {NUM_CLASSES}) [clip, class]")
    gate = _at_least(video, threshold)  # (N, C)
    return np.repeat(gate[:, None, :], NUM_SEGMENTS, axis=1)


def _at_least(array: np.ndarray, threshold: float) -> np.ndarray:
    """``array >= threshold`` with the threshold cast to the array's dtype (float32 stays float32, as officially)."""
    return array >= array.dtype.type(threshold)


def _gated_rows(gate: np.ndarray, frame_prob: Any, threshold: float, names: tuple[str, str]) -> np.ndarray:
    """One modality's binary matrix ``(N, C, T) uint8``: thresholded frame probabilities AND the video gate."""
    gate_name, frame_name = names
    frames_text = f"(N, {NUM_SEGMENTS}, {NUM_CLASSES}) [clip, segment, class]"
    frames = _float_array(frame_prob, frame_name, (NUM_SEGMENTS, NUM_CLASSES), frames_text)
    if frames.shape[0] != gate.shape[0]:
        raise ValueError(f"{frame_name} has {frames.shape[0]} clips but {gate_name} has {gate.shape[0]}")
    on = _at_least(frames, threshold)  # (N, T, C)
    on &= gate
    return np.ascontiguousarray(on.transpose(0, 2, 1)).view(np.uint8)  # (N, C, T): the one strided copy


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
    gate = _video_gate(global_prob, "global_prob", threshold)
    pred_a = _gated_rows(gate, a_frame_prob, threshold, ("global_prob", "a_frame_prob"))
    pred_v = _gated_rows(gate, v_frame_prob, threshold, ("global_prob", "v_frame_prob"))
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
    pred_a = _gated_rows(_video_gate(a_prob, "a_prob", threshold), a_frame_prob, threshold, ("a_prob", "a_frame_prob"))
    pred_v = _gated_rows(_video_gate(v_prob, "v_prob", threshold), v_frame_prob, threshold, ("v_prob", "v_frame_prob"))
    return pred_a, pred_v


# ---------------------------------------------------------------------------------------------------------------------
# row codes and event tables


class _EventTables(NamedTuple):
    """Per-code event tables, indexed by a row code in ``[0, 2**T)``; all arrays are read-only."""

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
        event_bits=np.bitwise_or.reduce(np.where(is_event, run_bits, np.uint64(0)), axis=1),
        matched_bits=np.bitwise_or.reduce(np.where(is_matched, run_bits, np.uint64(0)), axis=1),
    )
    for table in tables:
        table.setflags(write=False)
    return tables


# Packing the T bytes (each 0 or 1) of a row into its code. Read 8 bytes of the row as a little-endian 64-bit word:
# byte i is bit 8 i. Multiplied by _BYTE_GATHER = sum_i 2**(56 - 7 i) (i < 8), byte i lands on bit 56 + i, so the top
# byte of the product is the 8 bits in order. The other partial products, 2**(56 + 8 i - 7 j) for i != j, are either
# above bit 63 (dropped by the 64-bit product) or distinct powers of two below bit 56 (no carries), so they never
# reach the top byte. Two such words, at byte 0 and byte T - 8, cover the T segments (they overlap, with equal bits).
_BYTE_GATHER = np.uint64(sum(1 << (56 - 7 * i) for i in range(8)))
if not 8 <= NUM_SEGMENTS <= 16:
    raise ValueError(f"row codes pack 8 to 16 segments into two 64-bit words, not {NUM_SEGMENTS}")


def _row_codes(*matrices: np.ndarray) -> np.ndarray:
    """C-contiguous ``(N, C, T)`` uint8 0/1 matrices -> ``(len(matrices), N * C)`` uint16 codes, rows clip-major.

    Bit t of a code is segment t. Two uint64 work arrays serve every matrix, so that the only large temporaries are
    allocated (and their pages touched) once per call.
    """
    num_rows = matrices[0].shape[0] * matrices[0].shape[1]
    codes = np.empty((len(matrices), num_rows), np.uint16)
    low, high = np.empty(num_rows, np.uint64), np.empty(num_rows, np.uint64)

    def eight_segments(matrix: np.ndarray, first: int, out: np.ndarray) -> None:
        """Segments ``first .. first + 7`` of every row into bits 0-7 of ``out``."""
        words = np.ndarray((num_rows,), dtype="<u8", buffer=matrix, offset=first, strides=(NUM_SEGMENTS,))
        np.multiply(words, _BYTE_GATHER, out=out)
        out >>= np.uint64(56)

    for matrix, matrix_codes in zip(matrices, codes):
        eight_segments(matrix, 0, low)
        eight_segments(matrix, NUM_SEGMENTS - 8, high)
        high <<= np.uint64(NUM_SEGMENTS - 8)
        np.bitwise_or(low, high, out=matrix_codes)  # uint64 -> uint16 output: every code is below 2**T
    return codes


class _Counts(NamedTuple):
    """TP / FP / FN per row (a class of one modality in one clip), of the codes' shape; each uint8."""

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
    pred_events, gt_events = np.take(tables.event_bits, pred_codes), np.take(tables.event_bits, gt_codes)
    tp = np.bitwise_count(pred_events & np.take(tables.matched_bits, gt_codes))
    gt_found = np.bitwise_count(gt_events & np.take(tables.matched_bits, pred_codes))
    # a row's number of events is the popcount of its event bits (cheaper than a third table lookup)
    return _Counts(tp=tp, fp=np.bitwise_count(pred_events) - tp, fn=np.bitwise_count(gt_events) - gt_found)


# ---------------------------------------------------------------------------------------------------------------------
# scores


class _Rows(NamedTuple):
    """The rows that can score: (clip, class) pairs with a 1 in any of the four matrices, in clip-major order.

    Every other row has TP = FP = FN = 0 in every modality and at both levels: an inactive class, which adds nothing.
    """

    pred: np.ndarray  # (3, S) uint16 codes of the audio, visual and audio-visual predictions, S scoring rows
    gt: np.ndarray  # (3, S) uint16 codes of the audio, visual and audio-visual ground truth
    bins: np.ndarray  # (4 S,) int64: row s in column k of PER_CLIP_COLUMNS is bin k N + (clip of s), for np.bincount
    num_active: np.ndarray  # (4 N,) int64: active classes per column and clip, the same at both levels


def _scoring_rows(codes: np.ndarray) -> _Rows:
    """The rows with a 1 somewhere, from the ``(4, N * C)`` codes of pred_a, pred_v, gt_a, gt_v (clip-major)."""
    pred_a, pred_v, gt_a, gt_v = codes
    (rows,) = np.nonzero((pred_a | pred_v | gt_a | gt_v) != 0)  # ascending: by clip, then by class
    pred, gt = np.empty((3, len(rows)), np.uint16), np.empty((3, len(rows)), np.uint16)
    for modality_codes, audio, visual in ((pred, pred_a, pred_v), (gt, gt_a, gt_v)):
        np.take(audio, rows, out=modality_codes[0])
        np.take(visual, rows, out=modality_codes[1])
        np.bitwise_and(modality_codes[0], modality_codes[1], out=modality_codes[2])  # the AND of codes: the product
    num_clips = len(pred_a) // NUM_CLASSES
    bins = (rows // NUM_CLASSES + num_clips * np.arange(len(PER_CLIP_COLUMNS))[:, None]).ravel()
    # A class is active (2 TP + FP + FN > 0) exactly when its prediction or its ground truth has a 1, which is also
    # when either has an event: one count serves both levels. Pooled: active in audio or in visual.
    any_one = (pred | gt) != 0  # (3, S): audio, visual, audio-visual
    active = _columns(any_one, pooled=any_one[0] | any_one[1]).ravel()
    num_active = np.bincount(bins[active], minlength=len(PER_CLIP_COLUMNS) * num_clips)
    return _Rows(pred=pred, gt=gt, bins=bins, num_active=num_active)


def _columns(values: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """``(3, S)`` modalities (audio, visual, AV) and the pooled row -> ``(4, S)`` in PER_CLIP_COLUMNS order."""
    return np.stack([values[0], values[1], pooled, values[2]])


def _clip_scores(counts: _Counts, rows: _Rows) -> np.ndarray:
    """Mean F over the active classes, 1.0 where none is active: ``(4, N)`` float64 in PER_CLIP_COLUMNS order.

    ``counts`` are ``(3, S)``, modalities audio, visual, audio-visual, over the scoring rows; the pooled column adds
    the audio and visual counts of each class.
    """
    twice_tp = _columns(counts.tp, pooled=counts.tp[0] + counts.tp[1])
    twice_tp <<= 1  # uint8 throughout: 2 TP + FP + FN <= 4 T in the pooled column
    mismatches = counts.fp + counts.fn
    denominator = twice_tp + _columns(mismatches, pooled=mismatches[0] + mismatches[1])
    # F per row, the official 2 TP / (2 TP + FP + FN): integers, exact in float64, so the same correctly rounded
    # quotient. An inactive row (denominator 0) gets 0 / 1 = 0.0, an exact 0.0 added to its clip's sum.
    class_f = np.divide(twice_tp, np.maximum(denominator, 1), dtype=np.float64)
    # Per clip, the sum of F over its classes in class order: np.bincount adds the weights one at a time in input
    # order (``out[bin[i]] += weight[i]``, as documented), and the rows are clip-major, so each clip's classes come in
    # index order, exactly as in the official Python sum() over the active classes (np.sum's pairwise summation would
    # regroup them). Bit-identical per clip; the tests check it on dense clips with up to 25 active classes.
    totals = np.bincount(rows.bins, weights=class_f.ravel(), minlength=len(rows.num_active))
    scores = np.divide(totals, rows.num_active, out=np.ones(len(totals)), where=rows.num_active > 0)  # 1.0: none
    return scores.reshape(len(PER_CLIP_COLUMNS), -1)


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


def _level_result(scores: np.ndarray) -> LevelScores:
    """One level's scores from its ``(4, N)`` per-clip scores (rows in PER_CLIP_COLUMNS order).

    The means are those of the official loop, ``np.mean`` over one contiguous array of per-clip scores per metric.
    """
    means = {name: 100 * np.mean(scores[i]) for i, name in enumerate(PER_CLIP_COLUMNS)}  # rows are contiguous
    per_clip = np.ascontiguousarray(scores.T)  # (N, 4)
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
    """``values`` as a C-contiguous 0/1 ``(N, C, T)`` uint8 array; a ValueError names ``name`` otherwise.

    bool, uint8 and int8 inputs are checked and returned as a uint8 view (no copy when C-contiguous): one maximum
    over the bytes finds any value other than 0 or 1 (int8 -1 reads as 255). Other dtypes are checked, then
    converted.
    """
    array = np.asarray(values)
    if array.ndim != 3 or array.shape[1:] != (NUM_CLASSES, NUM_SEGMENTS):
        raise ValueError(f"{name}: expected shape {_ROW_SHAPE_TEXT}, found {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name}: no clips (N = 0); the scores are means over clips")
    if array.dtype.itemsize == 1 and array.dtype.kind in "biu":  # bool, int8, uint8
        as_bytes = np.ascontiguousarray(array).view(np.uint8)
        if as_bytes.max() <= 1:
            return as_bytes
        bad = as_bytes > 1
    elif np.issubdtype(array.dtype, np.integer):
        if array.min() >= 0 and array.max() <= 1:  # two reductions, no temporary arrays
            return np.ascontiguousarray(array, dtype=np.uint8)
        bad = (array != 0) & (array != 1)
    elif np.issubdtype(array.dtype, np.floating):
        ones = np.ascontiguousarray(array == 1)
        if np.count_nonzero(ones) + np.count_nonzero(array == 0) == array.size:  # every value is 0 or 1
            return ones.view(np.uint8)
        bad = (array != 0) & (array != 1)
    else:
        raise ValueError(f"{name}: expected 0/1 numbers, found dtype {array.dtype}")
    index = tuple(int(i) for i in np.argwhere(bad)[0])
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
    rows = _scoring_rows(_row_codes(*matrices.values()))
    return Scores(
        segment=_level_result(_clip_scores(_segment_counts(rows.pred, rows.gt), rows)),
        event=_level_result(_clip_scores(_event_counts(rows.pred, rows.gt), rows)),
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


def _markdown_cell(value: Any) -> str:
    """One decimal; a ``{"mean": m, "std": s}`` aggregate (over seeds) as ``m ± s``."""
    if isinstance(value, Mapping):
        return f"{value['mean']:.1f} ± {value['std']:.1f}"
    return f"{value:.1f}"


def format_markdown_table(named_scores: Mapping[str, Scores | Mapping[str, Any]], first_column: str = "Method") -> str:
    """Markdown table with two rows (segment, event level) per named result, one decimal.

    Args:
        named_scores: row label (a model or predictor name) -> the output of :func:`avvp_scores`, or its
            :meth:`Scores.to_json` form ``{level: {metric: %}}`` in which a metric may also be an aggregate
            ``{"mean": %, "std": %}`` (over seeds, say), written ``mean ± std``.
        first_column: header of the label column.

    Returns:
        The table, lines joined by ``\\n``, without a trailing newline.
    """
    titles = [METRIC_TITLES[metric] for metric in METRICS]
    lines = [f"| {first_column} | Level | " + " | ".join(titles) + " |", "|---|---|" + "---:|" * len(titles)]
    for name, scores in named_scores.items():
        table = scores.to_json() if isinstance(scores, Scores) else scores
        for level in LEVELS:
            cells = " | ".join(_markdown_cell(table[level][metric]) for metric in METRICS)
            lines.append(f"| {name} | {LEVEL_TITLES[level]} | {cells} |")
    return "\n".join(lines)
