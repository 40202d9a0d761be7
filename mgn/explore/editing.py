"""The logic of the explorer's label editing (no gradio, no torch): what a click or a drag on a ground-truth lane
does, a split's ground truth with the corrections applied, scores and Table 1 under the original and the corrected
labels, the "likely label errors" table and where each of its rows opens, and how a clip differs from its original
labels.

Layouts: a clip's labels are ``(C, T)`` 0/1 [class, segment]; a split's are ``(N, C, T)`` [clip, class, segment];
segment probabilities are ``(N, T, C)`` as the models output them (``Predictions.a_frame_prob``). C = 25 classes in
the official order, T = 10 one-second segments. Segment numbers shown to people are 1-based (segment 1 is
0-1 s); the functions take and return 0-based indices unless a name or a column says otherwise. Audio-visual is
derived (audio AND visual, ``mgn.labels.audio_visual``), never edited.

The labels live in an ``mgn.annotations.AnnotationStore``; these functions read it or a list of its ``Change``
rows, and the editing calls (``paint``, ``remove_class``) write one edit (or one grouped edit) per user action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mgn.annotations.label_errors import calibration_parameters, rank_label_errors
from mgn.annotations.records import Change, Edit, top_group, undo_stacks
from mgn.annotations.validation import EDITABLE_MODALITIES
from mgn.explore.checks import binary_array, real_array
from mgn.explore.dashboard import table1_frame
from mgn.labels import AUDIO_VISUAL, CLASS_TO_INDEX, CLASSES, NUM_CLASSES, NUM_SEGMENTS, audio_visual, display_name
from mgn.metrics import LEVEL_TITLES, LEVELS, Scores, avvp_scores

if TYPE_CHECKING:
    from mgn.annotations.store import AnnotationStore

__all__ = [
    "CANDIDATE_COLUMNS",
    "CLIP_SCORE_COLUMNS",
    "DIFF_COLUMNS",
    "EDITABLE_MODALITIES",
    "CellTarget",
    "CorrectedGroundTruth",
    "EditingError",
    "ScoresPair",
    "UndoState",
    "candidate_target",
    "changed_cells",
    "changed_clip_scores",
    "class_name_of",
    "clip_score_comparison",
    "corrected_ground_truth",
    "diff_table",
    "label_error_calibration",
    "label_error_candidates",
    "paint",
    "remove_class",
    "rescore",
    "segment_at",
    "segment_ranges",
    "segments_after_click",
    "table1_comparison",
    "undo_state",
]

CANDIDATE_COLUMNS = ("clip", "class", "modality", "segment", "probability", "calibrated", "label", "reason")
CLIP_SCORE_COLUMNS = ("model", "level", "labels", "Audio", "Visual", "Audio-Visual", "Event@AV")
DIFF_COLUMNS = ("class", "modality", "added", "removed", "before", "after")
GROUND_TRUTHS = ("original", "corrected", "change")  # the rows of a comparison, per level
_SPLIT_SHAPE = ("N", NUM_CLASSES, NUM_SEGMENTS)
_SPLIT_LAYOUT = "[clip, class, segment]"
_PROB_SHAPE = ("N", NUM_SEGMENTS, NUM_CLASSES)
_PROB_LAYOUT = "[clip, segment, class]"
_CLIP_SHAPE = (NUM_CLASSES, NUM_SEGMENTS)
_CLIP_LAYOUT = "[class, segment]"
_VERBS = {"audio": ("hears", "does not hear"), "visual": ("sees", "does not see")}
_DISPLAY_TO_CLASS = {display_name(name): name for name in CLASSES}
_DISPLAY_NAMES = {name: display_name(name) for name in CLASSES}


class EditingError(ValueError):
    """A request the editing logic cannot carry out (bad segment, class, modality or array); the message names the
    argument and what was expected, and is fit to show to the user."""


# ---------------------------------------------------------------------------------------------------------------------
# clicks and drags


def _segment_index(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise EditingError(f"{name} must be a segment index 0..{NUM_SEGMENTS - 1}, got {value!r}")
    if not 0 <= int(value) < NUM_SEGMENTS:
        raise EditingError(f"{name} {value} is outside the segments 0..{NUM_SEGMENTS - 1}")
    return int(value)


def segment_at(seconds: float, *, duration: float = float(NUM_SEGMENTS)) -> int:
    """The 0-based segment under a point of the timeline's time axis (``seconds`` from the clip's start; a clip of
    ``duration`` seconds has T = 10 segments of ``duration / 10`` s). Points on a boundary belong to the later
    segment; the end of the clip belongs to the last one.

    Raises:
        EditingError: ``seconds`` is not a finite number in ``[0, duration]``.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)):
        raise EditingError(f"time must be a number of seconds, got {seconds!r}")
    if not np.isfinite(seconds) or not 0 <= seconds <= duration or not duration > 0:
        raise EditingError(f"time {seconds!r} s is outside the clip (0..{duration:g} s)")
    return min(int(seconds * NUM_SEGMENTS / duration), NUM_SEGMENTS - 1)


def segments_after_click(current: Any, start_segment: int, end_segment: int | None = None) -> np.ndarray:
    """The row of segments after a click or a drag on a ground-truth lane.

    Paint semantics (as the brush of CVAT or Label Studio): a click (``end_segment`` None or equal to
    ``start_segment``) toggles that one segment; a drag from segment ``a`` to segment ``b`` (either direction) sets
    every segment from ``a`` to ``b`` inclusive to the opposite of the value at ``a``, where the drag started, so a
    drag that starts on an empty segment paints and one that starts on a set segment erases.

    Args:
        current: ``(T,)`` 0/1 (bool or int) the row before.
        start_segment, end_segment: 0-based segment indices.

    Returns:
        ``(T,)`` bool, a new array.

    Raises:
        EditingError: a row that is not 10 values of 0/1, or a segment outside 0..9.
    """
    try:
        row = binary_array(current, "current", (NUM_SEGMENTS,), "[segment]")
    except ValueError as error:
        raise EditingError(str(error)) from None
    start = _segment_index(start_segment, "start_segment")
    end = start if end_segment is None else _segment_index(end_segment, "end_segment")
    row = row.copy()
    low, high = min(start, end), max(start, end)
    row[low : high + 1] = not row[start]
    return row


def class_name_of(name: Any) -> str:
    """The CSV spelling of a class given as in the CSVs (``'Frying_(food)'``) or as displayed (``'Frying (food)'``).

    Raises:
        EditingError: an unknown class, naming the valid ones.
    """
    if isinstance(name, str):
        if name in CLASS_TO_INDEX:
            return name
        if name in _DISPLAY_TO_CLASS:
            return _DISPLAY_TO_CLASS[name]
    raise EditingError(f"unknown class {name!r}; expected one of: {', '.join(_DISPLAY_TO_CLASS)}")


def _modality(modality: Any) -> str:
    if modality == AUDIO_VISUAL or modality in ("audio-visual", "Audio-Visual"):
        raise EditingError("the audio-visual lane is derived (audio AND visual): edit the Audio or the Visual lane")
    if isinstance(modality, str) and modality.lower() in EDITABLE_MODALITIES:
        return modality.lower()
    raise EditingError(f"unknown modality {modality!r}; expected 'audio' or 'visual'")


def paint(
    store: AnnotationStore,
    clip: str,
    class_name: str,
    modality: str,
    start_segment: int,
    end_segment: int | None = None,
    *,
    expected_version: int | None = None,
    author: str | None = None,
) -> Edit | None:
    """Apply a click / drag (``segments_after_click``) to one ground-truth row of ``clip`` in ``store``: one edit,
    read and written in one transaction.

    Args:
        class_name: CSV or display spelling. modality: ``'audio'`` or ``'visual'`` (any case).
        expected_version: the clip version the user's view shows (``store.version(clip)`` when it was drawn); a
            different current version raises ``ConflictError`` and stores nothing (show it, then reload the clip).

    Returns:
        The stored edit (its ``version`` is the clip's new version), or None when nothing changed.

    Raises:
        EditingError: a bad class, modality or segment. AnnotationError / ConflictError: from the store.
    """
    name, lane = class_name_of(class_name), _modality(modality)
    start = _segment_index(start_segment, "start_segment")
    end = None if end_segment is None else _segment_index(end_segment, "end_segment")
    return store.update_row(
        clip,
        name,
        lane,
        lambda current: segments_after_click(current, start, end),
        author,
        expected_version=expected_version,
    )


def remove_class(
    store: AnnotationStore,
    clip: str,
    class_name: str,
    *,
    expected_version: int | None = None,
    author: str | None = None,
) -> list[Edit]:
    """Remove a class row from a clip: clear its audio and its visual segments as one grouped edit (one undo step).

    Returns:
        The stored rows (empty when the class had no segment). Raises as ``paint``.
    """
    name = class_name_of(class_name)
    empty = [False] * NUM_SEGMENTS
    return store.set_rows(
        clip,
        {(name, modality): empty for modality in EDITABLE_MODALITIES},
        author,
        expected_version=expected_version,
    )


@dataclass(frozen=True)
class UndoState:
    """What the undo / redo buttons of a clip show: None when there is nothing to undo / redo, else what the next
    undo / redo changes (e.g. ``'Dog audio 3–5'``)."""

    undo: str | None
    redo: str | None


def _describe(group: Sequence[Edit]) -> str:
    parts = []
    for edit in sorted(group, key=lambda edit: edit.id):  # in the order they were made
        changed = [index for index, (old, new) in enumerate(zip(edit.before, edit.after)) if old != new]
        parts.append(f"{display_name(edit.class_name)} {edit.modality} {segment_ranges(changed)}".rstrip())
    return "; ".join(parts)


def undo_state(history: Sequence[Edit]) -> UndoState:
    """The undo / redo state of a clip from its history (``store.history(clip)``, version order)."""
    done, undone = undo_stacks(history)
    undo, redo = top_group(done), top_group(undone)
    return UndoState(_describe(undo) if undo else None, _describe(redo) if redo else None)


# ---------------------------------------------------------------------------------------------------------------------
# the split's corrected ground truth


@dataclass(frozen=True)
class CorrectedGroundTruth:
    """A split's ground truth with the corrections applied.

    Attributes:
        gt_audio, gt_visual: ``(N, C, T)`` uint8 [clip, class, segment]: new arrays (the inputs are not modified).
        changed: ``(N,)`` bool: clips whose labels differ from the original arrays.
        rows: corrected rows applied (those of clips in the split).
        mismatched: ``(clip, class, modality)`` rows whose original in the split differs from the one the store
            started from (the split was loaded from other label files); the store's corrected row is used anyway.
    """

    gt_audio: np.ndarray
    gt_visual: np.ndarray
    changed: np.ndarray
    rows: int
    mismatched: tuple[tuple[str, str, str], ...]

    @property
    def gt_av(self) -> np.ndarray:
        """``(N, C, T)`` uint8 audio-visual = audio AND visual."""
        return audio_visual(self.gt_audio, self.gt_visual)


def _split_labels(values: Any, name: str) -> np.ndarray:
    try:
        return binary_array(values, name, _SPLIT_SHAPE, _SPLIT_LAYOUT).astype(np.uint8)
    except ValueError as error:
        raise EditingError(str(error)) from None


def _filenames(filenames: Any, count: int) -> list[str]:
    names = [str(name) for name in np.asarray(filenames).reshape(-1)]
    if len(names) != count:
        raise EditingError(f"filenames: {len(names)} names for {count} clips; expected one per clip, split order")
    return names


def corrected_ground_truth(
    filenames: Sequence[str],
    gt_audio: Any,
    gt_visual: Any,
    corrections: AnnotationStore | Sequence[Change],
) -> CorrectedGroundTruth:
    """The split's ground truth with the store's corrections: each row of ``corrections`` (``store.changes()``, or
    the store itself) whose clip is in ``filenames`` replaces that (clip, class, modality) row.

    Args:
        filenames: ``(N,)`` the split's LLP filenames, in the arrays' order.
        gt_audio, gt_visual: ``(N, C, T)`` 0/1, the split's original labels.

    Raises:
        EditingError: arrays of the wrong shape or values, or a filename count that does not match.
    """
    audio, visual = _split_labels(gt_audio, "gt_audio"), _split_labels(gt_visual, "gt_visual")
    if audio.shape != visual.shape:
        raise EditingError(f"gt_audio {audio.shape} and gt_visual {visual.shape} must have the same shape")
    index_of = {name: index for index, name in enumerate(_filenames(filenames, len(audio)))}
    changes = corrections.changes() if hasattr(corrections, "changes") else corrections
    original = {"audio": audio, "visual": visual}
    corrected = {"audio": audio.copy(), "visual": visual.copy()}
    rows, mismatched = 0, []
    for change in changes:
        index = index_of.get(change.clip)
        if index is None:
            continue
        class_index = CLASS_TO_INDEX[change.class_name]
        if tuple(bool(value) for value in original[change.modality][index, class_index]) != tuple(change.before):
            mismatched.append((change.clip, change.class_name, change.modality))
        corrected[change.modality][index, class_index] = change.after
        rows += 1
    changed = (corrected["audio"] != audio).any(axis=(1, 2)) | (corrected["visual"] != visual).any(axis=(1, 2))
    return CorrectedGroundTruth(corrected["audio"], corrected["visual"], changed, rows, tuple(mismatched))


# ---------------------------------------------------------------------------------------------------------------------
# scores under both ground truths


@dataclass(frozen=True)
class ScoresPair:
    """One model's official scores against the original and against the corrected ground truth."""

    original: Scores
    corrected: Scores


def rescore(
    pred_audio: Any,
    pred_visual: Any,
    gt_audio: Any,
    gt_visual: Any,
    corrected: CorrectedGroundTruth,
    *,
    original_scores: Scores | None = None,
) -> ScoresPair:
    """A model's scores (``mgn.metrics.avvp_scores``) against the original and the corrected ground truth.

    Args:
        pred_audio, pred_visual: ``(N, C, T)`` 0/1 binary predictions.
        gt_audio, gt_visual: ``(N, C, T)`` the original ground truth.
        corrected: ``corrected_ground_truth`` of the same split.
        original_scores: the scores against the original labels when already known (the explorer computes them at
            start); they are then not computed again. When no clip changed the corrected scores are the same object.

    Raises:
        ValueError: shapes or values (``avvp_scores``'s messages).
    """
    original = (
        original_scores if original_scores is not None else avvp_scores(pred_audio, pred_visual, gt_audio, gt_visual)
    )
    if not corrected.changed.any():
        return ScoresPair(original, original)
    return ScoresPair(original, avvp_scores(pred_audio, pred_visual, corrected.gt_audio, corrected.gt_visual))


def table1_comparison(pair: ScoresPair) -> pd.DataFrame:
    """Table 1 under the original and the corrected ground truth, and the change.

    Returns:
        Columns ``level``, ``labels``, then ``Audio``, ``Visual``, ``Audio-Visual``, ``Type@AV``, ``Event@AV`` (the
        percentages of ``mgn.explore.dashboard.table1_frame``, one decimal); per level (segment, event) three rows:
        ``labels`` = ``original``, ``corrected``, ``change`` (corrected minus original, of the shown values).
    """
    original = table1_frame(pair.original)
    corrected = table1_frame(pair.corrected)
    change = (corrected - original).round(1) + 0.0  # + 0.0: no "-0.0"
    frames = []
    for level in LEVELS:
        title = LEVEL_TITLES[level]
        for labels, frame in zip(GROUND_TRUTHS, (original, corrected, change)):
            frames.append(frame.loc[[title]].reset_index().assign(labels=labels))
    table = pd.concat(frames, ignore_index=True)
    return table[["level", "labels", *original.columns]]


def _clip_row(pair: ScoresPair, index: int, level: str) -> dict[str, np.ndarray]:
    rows = {}
    for labels, scores in (("original", pair.original), ("corrected", pair.corrected)):
        f_a, f_v, f_pooled, f_av = scores.level(level).per_clip[index]  # PER_CLIP_COLUMNS order
        rows[labels] = np.array([f_a, f_v, f_av, f_pooled]) * 100
    rows["change"] = rows["corrected"] - rows["original"]
    return rows


def clip_score_comparison(pairs: Mapping[str, ScoresPair], index: int) -> pd.DataFrame:
    """One clip's F-scores (%) per model under both ground truths: what the clip view shows.

    Args:
        pairs: model name -> its ``ScoresPair`` (explorer order).
        index: the clip's row in the split.

    Returns:
        ``CLIP_SCORE_COLUMNS``: model, level (``segment`` / ``event``), labels (``original`` / ``corrected`` /
        ``change``), Audio, Visual, Audio-Visual, Event@AV; rounded to one decimal.
    """
    records = []
    for model, pair in pairs.items():
        count = pair.original.num_clips
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < count:
            raise EditingError(f"clip index {index!r} is outside the split (0..{count - 1})")
        for level in LEVELS:
            for labels, values in _clip_row(pair, int(index), level).items():
                records.append([model, level, labels, *values.tolist()])
    frame = pd.DataFrame(records, columns=list(CLIP_SCORE_COLUMNS))
    numbers = list(CLIP_SCORE_COLUMNS[3:])
    frame[numbers] = frame[numbers].round(1) + 0.0
    return frame


def changed_clip_scores(pair: ScoresPair, filenames: Sequence[str], changed: Any) -> pd.DataFrame:
    """Per corrected clip, its segment- and event-level Type@AV (%) under both ground truths, largest change first
    (which corrections move the scores).

    Args:
        changed: ``(N,)`` bool, ``CorrectedGroundTruth.changed``.

    Returns:
        Columns ``clip``, ``segment original``, ``segment corrected``, ``segment change``, ``event original``,
        ``event corrected``, ``event change``; one decimal.
    """
    count = pair.original.num_clips
    mask = np.asarray(changed, dtype=bool).reshape(-1)
    if mask.shape != (count,):
        raise EditingError(f"changed: expected ({count},) bools, one per clip, found {mask.shape}")
    names = np.asarray(_filenames(filenames, count), dtype=object)
    columns: dict[str, Any] = {"clip": names[mask]}
    for level in LEVELS:
        before = pair.original.level(level).clip_scores("type")[mask] * 100  # (K,)
        after = pair.corrected.level(level).clip_scores("type")[mask] * 100
        columns[f"{level} original"] = before
        columns[f"{level} corrected"] = after
        columns[f"{level} change"] = after - before
    frame = pd.DataFrame(columns)
    order = np.argsort(-np.abs(frame["segment change"].to_numpy()), kind="stable")
    frame = frame.iloc[order].reset_index(drop=True)
    numbers = [column for column in frame.columns if column != "clip"]
    frame[numbers] = frame[numbers].round(1) + 0.0
    return frame


# ---------------------------------------------------------------------------------------------------------------------
# likely label errors


def _probabilities(values: Any, name: str) -> np.ndarray:
    try:
        array = real_array(values, name, _PROB_SHAPE, _PROB_LAYOUT).astype(np.float64)
    except ValueError as error:
        raise EditingError(str(error)) from None
    if not np.isfinite(array).all() or array.min() < 0:
        raise EditingError(f"{name}: expected finite probabilities >= 0")
    return np.minimum(array, 1.0)  # MGN's segment scores reach 2 (1 + softmax): above 1 means "certain"


def label_error_calibration(
    prob_audio: Any, prob_visual: Any, gt_audio: Any, gt_visual: Any, filenames: Sequence[str]
) -> np.ndarray:
    """The calibration ``label_error_candidates`` fits, fitted once (e.g. when the explorer opens, with the original
    labels) and passed back as ``calibration=``: later calls then cost only the thresholding (1,200 clips on the busy
    2-core VM: 3 s to fit, 0.3 s per call with the fitted calibration).

    Returns:
        ``(2, C, 2)`` float64: Platt (a, b) per (modality, class). Arguments and errors as
        ``label_error_candidates``.
    """
    audio, visual = _probabilities(prob_audio, "prob_audio"), _probabilities(prob_visual, "prob_visual")
    labels_a, labels_v = _split_labels(gt_audio, "gt_audio"), _split_labels(gt_visual, "gt_visual")
    names = _filenames(filenames, len(labels_a))
    try:
        return calibration_parameters(audio, visual, labels_a, labels_v, names)
    except ValueError as error:
        raise EditingError(str(error)) from None


def _reasons(labels: np.ndarray, modalities: np.ndarray, high: float, low: float, calibrated: bool) -> np.ndarray:
    """One sentence per candidate, from its label (0/1) and modality ('audio' / 'visual'): ``(K,)`` object."""
    p = "calibrated p" if calibrated else "p"
    reasons = np.empty(len(labels), dtype=object)
    for modality, (present, absent) in _VERBS.items():
        lane = modalities == modality
        reasons[lane & (labels == 0)] = f"labelled absent, but the model {present} it ({p} ≥ {high:g})"
        reasons[lane & (labels == 1)] = f"labelled present, but the model {absent} it ({p} ≤ {low:g})"
    return reasons


def label_error_candidates(
    prob_audio: Any,
    prob_visual: Any,
    gt_audio: Any,
    gt_visual: Any,
    filenames: Sequence[str],
    *,
    high: float = 0.9,
    low: float = 0.1,
    calibrated: bool = True,
    calibration: np.ndarray | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """The "likely label errors" sort: cells where the model is confident against the label, most likely first
    (``mgn.annotations.label_errors.rank_label_errors``; its docs say how the ranking works, docs/annotations.md
    how well it finds flipped labels).

    Args:
        prob_audio, prob_visual: ``(N, T, C)`` segment probabilities of one model (values above 1, as MGN's, count
            as 1).
        gt_audio, gt_visual: ``(N, C, T)`` 0/1 labels to check: pass the corrected ones, so that fixed cells leave
            the list.
        filenames: ``(N,)`` the clips.
        high: a label-0 cell is listed when its (calibrated) probability is at least ``high``.
        low: a label-1 cell is listed when it is at most ``low``.
        calibrated: recalibrate the probabilities per (modality, class) first (better; see the docs).
        calibration: ``label_error_calibration`` fitted earlier, to reuse instead of fitting again (with
            ``calibrated``).
        limit: at most this many rows (the top ones); None for all.

    Returns:
        ``CANDIDATE_COLUMNS``: clip, class (display name), modality, segment (1-based), probability (the model's,
        3 decimals), calibrated (the one the thresholds use), label (0/1), reason (one sentence). Index 0, 1, ...
        in rank order; ``candidate_target(row)`` says where a row opens.

    Raises:
        EditingError: shapes, values, thresholds, calibration or limit out of range.
    """
    audio, visual = _probabilities(prob_audio, "prob_audio"), _probabilities(prob_visual, "prob_visual")
    labels_a, labels_v = _split_labels(gt_audio, "gt_audio"), _split_labels(gt_visual, "gt_visual")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1):
        raise EditingError(f"limit must be a whole number >= 1 or None, got {limit!r}")
    names = _filenames(filenames, len(labels_a))
    try:
        ranking = rank_label_errors(
            audio, visual, labels_a, labels_v, names, high=high, low=low, calibrated=calibrated, calibration=calibration
        )
    except ValueError as error:
        raise EditingError(str(error)) from None
    if limit is not None:
        ranking = ranking.iloc[: int(limit)]
    labels = ranking["label"].to_numpy(dtype=np.int64)
    modalities = ranking["modality"].to_numpy(dtype=object)
    return pd.DataFrame(
        {
            "clip": ranking["filename"].to_numpy(dtype=object),
            "class": ranking["class"].map(_DISPLAY_NAMES).to_numpy(dtype=object),
            "modality": modalities,
            "segment": ranking["segment"].to_numpy(dtype=np.int64) + 1,
            "probability": ranking["prob"].to_numpy().round(3),
            "calibrated": ranking["calibrated"].to_numpy().round(3),
            "label": labels,
            "reason": _reasons(labels, modalities, high, low, calibrated),
        },
        columns=list(CANDIDATE_COLUMNS),
    )


@dataclass(frozen=True)
class CellTarget:
    """Where a candidate opens: the clip, the class row, the lane and the segment."""

    clip: str
    class_name: str  # CSV spelling (what the store takes)
    modality: str  # 'audio' or 'visual'
    segment: int  # 0-based

    @property
    def class_row(self) -> str:
        """The class row's label on the timeline (display name)."""
        return display_name(self.class_name)

    @property
    def seconds(self) -> tuple[int, int]:
        """The segment's interval in seconds from the clip's start, ``[onset, offset)``."""
        return self.segment, self.segment + 1

    def describe(self) -> str:
        """``'open clip X, class row Dog (audio), segment 4 (3–4 s)'``."""
        onset, offset = self.seconds
        return (
            f"open clip {self.clip}, class row {self.class_row} ({self.modality}), segment {self.segment + 1} "
            f"({onset}–{offset} s)"
        )


def candidate_target(candidate: Mapping[str, Any] | pd.Series) -> CellTarget:
    """Where a row of ``label_error_candidates`` opens (its 1-based ``segment`` becomes the 0-based one).

    Raises:
        EditingError: a row without the columns, or with an unknown class / modality / segment.
    """
    try:
        clip, class_name, modality, segment = (candidate[key] for key in ("clip", "class", "modality", "segment"))
    except (KeyError, TypeError):
        raise EditingError(
            "a candidate needs clip, class, modality and segment (a row of label_error_candidates)"
        ) from None
    number = int(segment) if isinstance(segment, (int, np.integer)) and not isinstance(segment, bool) else None
    if number is None or not 1 <= number <= NUM_SEGMENTS:
        raise EditingError(f"candidate segment {segment!r}: expected a segment number 1..{NUM_SEGMENTS}")
    return CellTarget(str(clip), class_name_of(class_name), _modality(modality), number - 1)


# ---------------------------------------------------------------------------------------------------------------------
# differences from the original labels


def segment_ranges(indices: Sequence[int] | np.ndarray) -> str:
    """0-based segment indices as 1-based ranges: ``[2, 3, 4, 7]`` -> ``'3–5, 8'``; empty -> ``''``."""
    values = sorted({int(index) for index in np.asarray(indices, dtype=np.int64).reshape(-1)})
    parts, start = [], None
    for position, value in enumerate(values):
        if start is None:
            start = value
        if position + 1 == len(values) or values[position + 1] != value + 1:
            parts.append(f"{start + 1}" if start == value else f"{start + 1}–{value + 1}")
            start = None
    return ", ".join(parts)


def _clip_labels(values: Mapping[str, Any], name: str) -> dict[str, np.ndarray]:
    if not isinstance(values, Mapping) or not set(EDITABLE_MODALITIES) <= set(values):
        raise EditingError(f"{name}: expected {{'audio': (C, T), 'visual': (C, T)}} labels (store.ground_truth)")
    try:
        return {
            modality: binary_array(values[modality], f"{name}[{modality!r}]", _CLIP_SHAPE, _CLIP_LAYOUT)
            for modality in EDITABLE_MODALITIES
        }
    except ValueError as error:
        raise EditingError(str(error)) from None


def changed_cells(original: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Which cells of a clip differ from its original labels (to mark them on the timeline).

    Args:
        original, current: ``{'audio': (C, T), 'visual': (C, T)}`` 0/1 (``store.original(clip)`` /
            ``store.ground_truth(clip)``).

    Returns:
        ``{'audio', 'visual', 'audio_visual'}`` -> ``(C, T)`` bool; audio-visual compares the derived rows.
    """
    before, after = _clip_labels(original, "original"), _clip_labels(current, "current")
    cells = {modality: before[modality] != after[modality] for modality in EDITABLE_MODALITIES}
    cells[AUDIO_VISUAL] = audio_visual(before["audio"], before["visual"]) != audio_visual(
        after["audio"], after["visual"]
    )
    return cells


def diff_table(original: Mapping[str, Any], current: Mapping[str, Any]) -> pd.DataFrame:
    """A clip's rows that differ from its original labels, for display.

    Returns:
        ``DIFF_COLUMNS``: class (display name), modality, added (segments now set that were not, 1-based ranges),
        removed (the reverse), before, after (the row as 10 characters '0'/'1', segment 1 first); class then
        modality order; no rows when nothing differs.
    """
    before, after = _clip_labels(original, "original"), _clip_labels(current, "current")
    records = []
    for class_index in range(NUM_CLASSES):
        for modality in EDITABLE_MODALITIES:
            old, new = before[modality][class_index], after[modality][class_index]  # (T,) each
            if np.array_equal(old, new):
                continue
            records.append(
                [
                    display_name(class_index),
                    modality,
                    segment_ranges(np.flatnonzero(new & ~old)),
                    segment_ranges(np.flatnonzero(old & ~new)),
                    "".join("1" if flag else "0" for flag in old),
                    "".join("1" if flag else "0" for flag in new),
                ]
            )
    return pd.DataFrame(records, columns=list(DIFF_COLUMNS))
