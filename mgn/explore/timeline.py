"""The per-clip timeline figure: ground truth, predicted events, per-segment TP / FP / FN and segment scores.

One Plotly figure per clip with three stacked panels sharing the time axis (0-10 s, one light vertical line per
segment border): **Audio**, **Visual** and **Audio-Visual** (AV = audio AND visual, for the ground truth and the
predictions alike, as in the official metric). Optionally a **sound strip** sits on top: the clip's log-mel
spectrogram on the same axis (:mod:`mgn.explore.audio_strip`). Above the panels, the segments are numbered 1-10, as
the video overlay counts them. Each panel has one row per class present in that modality's ground truth (current or
original) or in any model's prediction, plus the ``extra_classes`` (audio and visual panels), in the official class
order. A class row holds, top to bottom:

- the ground-truth lane: one dark-grey bar per GT event (a maximal run of positive segments, as in the official
  event-level metric), every class alike (colours from :mod:`mgn.explore.colors`, where no status or modality colour
  is the ground truth's). In ``editable`` mode the audio and visual lanes are drawn as one cell per segment instead;
- per model (one or two, "compare mode"), a prediction lane: one cell per segment that is a true positive, false
  positive or false negative (TN segments stay empty), framed by one dark outline per predicted event;
- per model, in the audio and visual panels, a score strip (a grey heat band, 0-1 colour scale shared by the whole
  figure; MGN's segment scores can exceed 1 (its soft map, see :func:`binarize_at`): they keep the top colour and the
  hover explains them).

Segments in human text (hover, ticks, notes) are numbered **1-10**: segment ``n`` covers seconds ``[n - 1, n)``.
Machine-readable data (``customdata``, ``meta``) keeps **0-based** segment indices ``t`` (segment ``t`` covers
``[t, t + 1)`` s), as the arrays do.

Machine-readable metadata (read back by :func:`figure_events`, :func:`figure_statuses` and :func:`figure_gt_cells`,
and by browser tests through ``gd.data``): every trace has ``meta = {"role", "modality", "model", ...}`` with model
the prediction's index (``None`` for the ground truth and the sound strip) and role

- ``"gt"``, ``"pred"``: interval traces, one bar per event, ``customdata`` ``[class_name, onset_s, offset_s]``;
- ``"status"``: one trace per modality, model and status (the legend toggles a status everywhere), one cell per
  segment, ``customdata`` ``[class_name, segment (0-based), status, score]`` (score ``None`` in the AV panel, where
  the hover shows both modalities' scores); ``meta["status"]`` is ``"TP"``, ``"FP"`` or ``"FN"``;
- ``"prob"``: score strips, heatmaps whose ``z`` rows are named by ``meta["classes"]`` (``None`` for the blank rows
  between strips);
- ``"gt_cell"`` (``editable`` only; audio and visual panels, never AV, which is derived): one cell per (class row,
  segment), empty ones included, ``customdata`` ``[class_name, modality, segment (0-based), current value 0/1]``, in
  two traces per panel (``meta["value"]`` 1: the cells that are on, drawn dark grey; 0: those that are off, faint);
- ``"gt_changed"`` (when an original annotation is given): one frame per ground-truth segment that differs from the
  original, ``customdata`` ``[class_name, modality, segment (0-based), original 0/1, current 0/1]``;
- ``"audio_strip"``: the log-mel heatmap (modality ``"audio"``; ``meta["source"]``, the file name).

``layout.meta`` is ``{"clip", "models": [names], "rows": {modality: [class names, top to bottom]}, "threshold",
"official_threshold", "editable", "changed", "audio_strip", "px_per_unit"}``: ``threshold`` is the one the statuses
were computed at (``None``: the given binary predictions, taken as the official ones), ``changed`` the list of
``gt_changed`` customdata rows, ``audio_strip`` ``None`` or ``{"source", "has_audio", "duration"}``. Every data array
is a plain list, so the figure JSON holds no base64 typed arrays and ``gd.data`` in a page holds the same values.

Building a figure is deterministic (same input, same JSON).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from mgn.events import find_events, segment_iou
from mgn.explore.audio_strip import STRIP_BANDS, AudioStrip
from mgn.explore.checks import binary_array, raise_at_first, real_array
from mgn.explore.colors import CHANGED_COLOR, GT_COLOR, GT_EMPTY_COLOR, PRED_OUTLINE_COLOR, STATUS_COLORS, rgba
from mgn.labels import (
    AUDIO_VISUAL,
    CLASSES,
    EVAL_MODALITIES,
    MODALITY_TITLES,
    NUM_CLASSES,
    NUM_SEGMENTS,
    audio_visual,
    class_index,
    display_name,
)
from mgn.metrics import DEFAULT_THRESHOLD, EVENT_IOU_THRESHOLD, binarize_modality_gated
from mgn.predictions import PROBABILITY_BOUNDS

__all__ = [
    "DEFAULT_PX_PER_UNIT",
    "EDITABLE_MODALITIES",
    "MAX_GATE",
    "MAX_MODELS",
    "OFFICIAL_THRESHOLD",
    "STATUSES",
    "STATUS_COLORS",
    "ClipPrediction",
    "binarize_at",
    "figure_events",
    "figure_gt_cells",
    "figure_statuses",
    "timeline_config",
    "timeline_figure",
    "timeline_html",
    "timeline_json",
]

STATUSES: tuple[str, ...] = ("TP", "FP", "FN")
OFFICIAL_THRESHOLD: float = DEFAULT_THRESHOLD  # 0.5, the official test loop's (video gate and segments alike)
# Largest video-level value a gate may hold: HAN's fused probability (official MMIL pooling) reaches 2.
MAX_GATE: float = max(PROBABILITY_BOUNDS["global_prob"], PROBABILITY_BOUNDS["a_prob"], PROBABILITY_BOUNDS["v_prob"])
EDITABLE_MODALITIES: tuple[str, ...] = ("audio", "visual")  # annotated; audio-visual is derived from them
_STATUS_HOVER: dict[str, str] = {
    "TP": "TP: predicted and in the ground truth",
    "FP": "FP: predicted, not in the ground truth",
    "FN": "FN: in the ground truth, not predicted",
    "TN": "TN: neither predicted nor in the ground truth",
}
_STATUS_LEGEND: dict[str, str] = {"TP": "TP (correct)", "FP": "FP (false alarm)", "FN": "FN (missed)"}
_SOFT_MAP_NOTE = (
    "<i>score > 1: MGN's video-level probability × its soft map (1 + softmax over time), not a probability</i>"
)
_FUSED_GATE_NOTE = "<i>video-level value > 1: HAN's fused MMIL pooling (official) reaches 2, not a probability</i>"
MAX_MODELS = 2  # one model, or two side by side (compare mode)

# Geometry of one class row, in y-axis units (the y axis points down: row k starts at k * row height).
_ROW_PAD = 0.10  # blank space above and below the lanes of a class row
_LANE_GAP = 0.05  # blank space between two lanes
_LANE_HEIGHTS: dict[str, float] = {"gt": 0.30, "pred": 0.30, "prob": 0.16}
_OUTLINE_OVERHANG = 0.04  # predicted-event frames stand this much above and below the status cells
_CELL_INSET_S = 0.04  # seconds left blank on each side of a cell, so neighbouring cells stay apart
_EMPTY_PANEL_HEIGHT = 0.7  # y units of a panel without any class row
# Pixels per y unit: the default keeps a typical clip (3-5 class rows, both models) under ~780 px; a requested
# height scales the lanes within these bounds (GT and prediction lanes 0.3 units: 11 to 27 px).
DEFAULT_PX_PER_UNIT = 50.0
_MIN_PX_PER_UNIT = 36.0
_MAX_PX_PER_UNIT = 90.0
# Vertical bands in pixels, top to bottom.
_TITLE_Y_PX = 15  # centre of the title line (clip, models, threshold; the score colour bar on the right)
_TITLE_BAND_PX = 30
_LEGEND_LINE_PX = 29  # per line of the legend (it wraps when wider than the plot area), as Plotly draws it
_SEGMENT_NUMBERS_PX = 16  # the 1-10 segment numbers above the first panel
_STRIP_PX = 44  # the sound strip
_PANEL_TITLE_PX = 20  # "Audio", "Visual", "Audio-Visual" above their panels
_PANEL_SPACING_PX = 8  # blank space above a panel title, and under the sound strip
_MARGIN_BOTTOM_PX = 42  # time tick labels and the axis title
# The width a figure is laid out for when none is given (the explorer's desktop timeline column): the legend's
# line count is estimated for it (the legend wraps when wider than the figure).
_DESIGN_WIDTH_PX = 820
_LEGEND_CHAR_PX = 5.8  # 11-px legend font (measured: 6 entries, 81 characters, 702 px)
_LEGEND_ITEM_PX = 40  # symbol and spacing per legend entry
_LEGEND_INDENT_PX = 130  # the legend starts over the plot area: the class names' column and the margins are not its
_SCORE_KEY_TOP_PX = 4  # the colour key's bar starts this far below the top edge (its tick labels under it)
_SCORE_KEY_LEN = 0.14  # the score colour key's length, as a fraction of the plot width
_NARROW_WIDTH_PX = 560  # narrower figures (a phone) drop the score key (hovers name every score), split the title
_TITLE_SECOND_LINE_PX = 16
_TICK_NAME_CHARS = 16  # model names on lane ticks are cut to this many characters (the legend has them whole)

_PROB_COLORSCALE = [[0.0, "#f7f7f7"], [0.5, "#969696"], [1.0, "#252525"]]
_STRIP_COLORSCALE = [[0.0, "#ffffff"], [0.35, "#d0d0d0"], [1.0, "#111111"]]
_ZEBRA_COLOR = "rgba(0, 0, 0, 0.035)"
_MUTED = "#555555"  # secondary text
_EMPTY_CELL_FILL = rgba(GT_COLOR, 0.05)  # an editable GT cell that is off: faint, still clickable


# ---------------------------------------------------------------------------------------------------------------------
# inputs


def _binary_rows(values: Any, name: str) -> np.ndarray:
    """``values`` as a ``(C, T)`` bool matrix [class, segment]; a ValueError names ``name`` otherwise."""
    return binary_array(values, name, (NUM_CLASSES, NUM_SEGMENTS), "[class, segment]")


def _check_probabilities(values: Any, name: str) -> None:
    """``(T, C)`` [segment, class] scores must be finite and >= 0; a ValueError names ``name`` otherwise."""
    array = real_array(values, name, (NUM_SEGMENTS, NUM_CLASSES), "[segment, class]")
    invalid = ~np.isfinite(array) | (array < 0)
    raise_at_first(invalid, array, name, "probabilities must be finite and >= 0", "[segment, class]")


def _check_gate(values: Any, name: str) -> None:
    """``(C,)`` video-level probabilities must be finite and in [0, :data:`MAX_GATE`]; a ValueError names ``name``
    otherwise."""
    array = real_array(values, name, (NUM_CLASSES,), "[class]")
    invalid = ~np.isfinite(array) | (array < 0) | (array > MAX_GATE)
    raise_at_first(
        invalid, array, name, f"video-level probabilities must be finite and in [0, {MAX_GATE:g}]", "[class]"
    )


def _check_threshold(threshold: Any) -> float:
    """A threshold as a float in [0, 1]; a ValueError naming the official value otherwise."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise ValueError(
            f"threshold: expected a number in [0, 1] (official: {OFFICIAL_THRESHOLD}), found {threshold!r}"
        )
    value = float(threshold)
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"threshold: expected a number in [0, 1] (official: {OFFICIAL_THRESHOLD}), found {value!r}")
    return value


def binarize_at(
    prob_audio: Any,
    prob_visual: Any,
    threshold: float = OFFICIAL_THRESHOLD,
    gate_audio: Any = None,
    gate_visual: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Binary segment predictions at ``threshold``, by the official rule (one clip, or a whole split at once).

    ``pred[c, t] = [score[t, c] >= threshold] AND [gate[c] >= threshold]`` per modality, inclusive and compared in
    the scores' own float dtype: this calls :func:`mgn.metrics.binarize_modality_gated`, so that at 0.5 it gives
    exactly what :meth:`mgn.inference.Predictions.binarize` gives. For the official test loop of HAN and MGN
    (``gate="global"``) pass ``Predictions.global_prob`` as both gates; for MA's (``gate="modality"``) ``a_prob`` and
    ``v_prob``. A gate left ``None`` always passes (the segments are thresholded alone).

    Segment scores are ``a_frame_prob`` / ``v_frame_prob``. HAN's are probabilities; MGN's are its video-level
    probability times a soft assignment map ``1 + softmax over time`` (in [1.04, 1.23], REFERENCE 4.4), so they can
    exceed 1 (up to 2), and the rule is the same.

    Args:
        prob_audio: audio segment scores ``(T, C)`` [segment, class] or ``(N, T, C)`` [clip, segment, class], >= 0.
        prob_visual: visual segment scores, the same shape.
        threshold: in [0, 1]; the official value is :data:`OFFICIAL_THRESHOLD` (0.5).
        gate_audio: video-level probabilities gating the audio segments, ``(C,)`` (``(N, C)`` with ``(N, T, C)``
            scores), or None.
        gate_visual: those gating the visual segments, or None.

    Returns:
        ``(pred_audio, pred_visual)``, each ``(C, T) uint8`` [class, segment] (``(N, C, T)`` for a split), 0/1.

    Raises:
        ValueError: a threshold outside [0, 1], a shape other than the above, or a NaN (the message names the
            argument).
    """
    threshold = _check_threshold(threshold)
    audio, visual = np.asarray(prob_audio), np.asarray(prob_visual)
    for name, scores in (("prob_audio", audio), ("prob_visual", visual)):
        if scores.ndim not in (2, 3) or scores.shape[-2:] != (NUM_SEGMENTS, NUM_CLASSES):
            raise ValueError(
                f"{name}: expected shape ({NUM_SEGMENTS}, {NUM_CLASSES}) [segment, class] or "
                f"(N, {NUM_SEGMENTS}, {NUM_CLASSES}) [clip, segment, class], found {scores.shape}"
            )
    if audio.shape != visual.shape:
        raise ValueError(f"prob_audio and prob_visual: shapes differ, {audio.shape} and {visual.shape}")
    single = audio.ndim == 2
    batch = (1,) if single else audio.shape[:1]
    gates = []
    for name, gate in (("gate_audio", gate_audio), ("gate_visual", gate_visual)):
        if gate is None:  # 1 >= any threshold in [0, 1]: the gate passes
            gates.append(np.ones(batch + (NUM_CLASSES,), dtype=np.float64))  # (N, C)
            continue
        gate = np.asarray(gate)
        expected = (NUM_CLASSES,) if single else (batch[0], NUM_CLASSES)
        if gate.shape != expected:
            raise ValueError(f"{name}: expected shape {expected} (one probability per class), found {gate.shape}")
        gates.append(gate[None] if single else gate)  # (C,) -> (1, C)
    if single:
        audio, visual = audio[None], visual[None]  # (T, C) -> (1, T, C)
    pred_audio, pred_visual = binarize_modality_gated(gates[0], gates[1], audio, visual, threshold)  # (N, C, T) each
    return (pred_audio[0], pred_visual[0]) if single else (pred_audio, pred_visual)


@dataclass(frozen=True, eq=False)  # eq=False: array fields have no truth value to compare
class ClipPrediction:
    """One model's output for one clip, as the timeline shows it.

    Args:
        name: the model's display name, shown in the legend, on its lane ticks and in hovers, e.g. ``"MGN"``,
            ``"HAN (run-3)"``.
        pred_audio: binary audio segment predictions, ``(C, T) uint8`` [class, segment], values 0/1, at the official
            threshold (used as they are unless the figure is given a ``threshold``).
        pred_visual: binary visual segment predictions, ``(C, T) uint8`` [class, segment].
        prob_audio: audio segment scores, ``(T, C) float32`` [segment, class] as the models return them
            (``a_frame_prob``); values >= 0, MGN's may exceed 1 (see :func:`binarize_at`).
        prob_visual: visual segment scores, ``(T, C) float32`` [segment, class] (``v_frame_prob``).
        gate_audio: the video-level probabilities ``(C,)`` in [0, 2] that gate the audio segments (see
            :func:`binarize_at`: ``global_prob`` under the official gate, ``a_prob`` under MA's), or None (no gate).
            Used when the figure recomputes the predictions at a ``threshold``, and shown in the hover.
        gate_visual: those that gate the visual segments (``global_prob``, or ``v_prob``), or None.

    Raises:
        ValueError: an empty name, a shape other than the above, a value other than 0/1 in a binary matrix, a score
            that is negative, NaN or infinite, or a gate outside [0, 2] (HAN's fused MMIL probability exceeds 1);
            the message names the model and the field.
    """

    name: str
    pred_audio: np.ndarray
    pred_visual: np.ndarray
    prob_audio: np.ndarray
    prob_visual: np.ndarray
    gate_audio: np.ndarray | None = None
    gate_visual: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"ClipPrediction.name must be a non-empty string, found {self.name!r}")
        for field in ("pred_audio", "pred_visual"):
            _binary_rows(getattr(self, field), f"{self.name}.{field}")
        for field in ("prob_audio", "prob_visual"):
            _check_probabilities(getattr(self, field), f"{self.name}.{field}")
        for field in ("gate_audio", "gate_visual"):
            if getattr(self, field) is not None:
                _check_gate(getattr(self, field), f"{self.name}.{field}")


@dataclass(frozen=True, eq=False)
class _ModelRows:
    """One model's validated matrices, all ``(C, T)`` [class, segment] (gates ``(C,)``)."""

    name: str
    pred: dict[str, np.ndarray]  # modality -> bool; audio_visual = audio AND visual
    score: dict[str, np.ndarray]  # "audio" / "visual" -> float64 segment scores
    gate: dict[str, np.ndarray | None]  # "audio" / "visual" -> float64 video-level probabilities, or None
    score_passes: dict[str, np.ndarray]  # "audio" / "visual" -> bool: score >= the threshold (official comparison)
    gate_passes: dict[str, np.ndarray | None]  # "audio" / "visual" -> bool: gate >= the threshold, or None


def _at_least(values: Any, threshold: float) -> np.ndarray:
    """``values >= threshold`` compared in the values' float dtype, as :mod:`mgn.metrics` compares (ints as float64)."""
    array = np.asarray(values)
    array = array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)
    return array >= array.dtype.type(threshold)


def _model_rows(prediction: ClipPrediction, threshold: float | None) -> _ModelRows:
    """A prediction's matrices in the ``(C, T)`` layout, recomputed at ``threshold`` unless it is None (then the
    given binary predictions, at the official threshold), with the AV product."""
    if threshold is None:
        pred_audio = np.asarray(prediction.pred_audio) == 1  # (C, T) bool
        pred_visual = np.asarray(prediction.pred_visual) == 1
    else:
        binary = binarize_at(
            prediction.prob_audio, prediction.prob_visual, threshold, prediction.gate_audio, prediction.gate_visual
        )
        pred_audio, pred_visual = (matrix == 1 for matrix in binary)  # (C, T) bool each
    shown = OFFICIAL_THRESHOLD if threshold is None else threshold
    scores = {"audio": np.asarray(prediction.prob_audio).T, "visual": np.asarray(prediction.prob_visual).T}  # (C, T)
    gates = {"audio": prediction.gate_audio, "visual": prediction.gate_visual}
    return _ModelRows(
        name=prediction.name,
        pred={"audio": pred_audio, "visual": pred_visual, AUDIO_VISUAL: audio_visual(pred_audio, pred_visual)},
        score={m: values.astype(np.float64) for m, values in scores.items()},  # float32 -> float64 is exact
        gate={m: None if gate is None else np.asarray(gate).astype(np.float64) for m, gate in gates.items()},
        score_passes={m: _at_least(values, shown) for m, values in scores.items()},
        gate_passes={m: None if gate is None else _at_least(gate, shown) for m, gate in gates.items()},
    )


@dataclass(frozen=True, eq=False)
class _Options:
    """The checked keyword arguments of :func:`timeline_figure`."""

    threshold: float | None
    audio_strip: AudioStrip | None
    height: int | None
    width: int | None
    editable: bool
    original: dict[str, np.ndarray | None]  # "audio" / "visual" -> (C, T) bool original annotation, or None
    extra_classes: tuple[int, ...]  # class indices given rows in the audio and visual panels


def _options(
    clip: str,
    threshold: float | None,
    audio_strip: AudioStrip | None,
    height: int | None,
    width: int | None,
    editable: bool,
    original_gt_audio: Any,
    original_gt_visual: Any,
    extra_classes: Sequence[str],
) -> _Options:
    """Check the keyword arguments of :func:`timeline_figure` (a ValueError names the bad one)."""
    if audio_strip is not None and not isinstance(audio_strip, AudioStrip):
        raise ValueError(f"audio_strip: expected an AudioStrip or None, found {type(audio_strip).__name__}")
    for name, pixels in (("height", height), ("width", width)):
        if pixels is not None and (
            isinstance(pixels, bool) or not isinstance(pixels, (int, np.integer)) or pixels <= 0
        ):
            raise ValueError(f"{name}: expected a positive whole number of pixels or None, found {pixels!r}")
    if isinstance(extra_classes, str):
        raise ValueError(f"extra_classes: expected a sequence of class names, found the string {extra_classes!r}")
    extra = []
    for name in extra_classes:
        try:
            extra.append(class_index(name))
        except (KeyError, TypeError):
            raise ValueError(
                f"extra_classes: unknown LLP class {name!r}; expected names spelled as in the CSVs, e.g. "
                f"{CLASSES[0]!r}, {CLASSES[5]!r}"
            ) from None
    original = {
        modality: None if values is None else _binary_rows(values, f"{clip}: original_gt_{modality}")
        for modality, values in (("audio", original_gt_audio), ("visual", original_gt_visual))
    }
    return _Options(
        threshold=None if threshold is None else _check_threshold(threshold),
        audio_strip=audio_strip,
        height=None if height is None else int(height),
        width=None if width is None else int(width),
        editable=bool(editable),
        original=original,
        extra_classes=tuple(sorted(set(extra))),
    )


# ---------------------------------------------------------------------------------------------------------------------
# events, statuses and their words


def _row_events(rows: np.ndarray) -> list[tuple[int, int, int]]:
    """Events of ``(C, T)`` bool rows: ``(class, onset, offset)`` with segments ``[onset, offset)``, class-major."""
    classes, onsets, offsets = find_events(rows)  # (E,) each
    return list(zip(classes.tolist(), onsets.tolist(), offsets.tolist()))


def _best_match(event: tuple[int, int, int], others: list[tuple[int, int, int]]) -> tuple[float, tuple[int, int]]:
    """Best IoU of ``event`` with the events of the same class in ``others``, and that event's range."""
    best = (0.0, (0, 0))
    for class_index_, onset, offset in others:
        if class_index_ == event[0]:
            iou = segment_iou((event[1], event[2]), (onset, offset))
            if iou > best[0]:
                best = (iou, (onset, offset))
    return best


def _segment_status(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-segment status ``(C, T)`` of str: ``TP``, ``FP``, ``FN`` or ``TN``."""
    return np.where(gt, np.where(pred, "TP", "FN"), np.where(pred, "FP", "TN"))


def _segments_text(onset: int, offset: int) -> str:
    """0-based segment range ``[onset, offset)`` in words, numbered 1-10: ``segments 3–6 (2–6 s)``."""
    if offset - onset == 1:
        return f"segment {onset + 1} of {NUM_SEGMENTS} ({onset}–{offset} s)"
    return f"segments {onset + 1}–{offset} ({onset}–{offset} s)"


def _number(value: float) -> str:
    """A threshold as written for people: ``0.5``, ``0.62``."""
    return f"{value:g}"


def _threshold_note(threshold: float | None) -> str:
    """Title text: the threshold the statuses use, with the official value always named."""
    if threshold is None or threshold == OFFICIAL_THRESHOLD:
        return f"threshold {_number(OFFICIAL_THRESHOLD)} (official)"
    return f"<b>threshold {_number(threshold)}</b> (official {_number(OFFICIAL_THRESHOLD)})"


def _event_lines(event: tuple[int, int, int], model_events: list[list], models: list[_ModelRows]) -> list[str]:
    """Hover lines of a ground-truth event: its segments, and which model found it (IoU >= 0.5)."""
    lines = [f"event: {_segments_text(event[1], event[2])}"]
    for rows, events in zip(models, model_events):
        iou, (onset, offset) = _best_match(event, events)
        found = iou >= EVENT_IOU_THRESHOLD
        lines.append(f"{rows.name}: " + (f"found (IoU {iou:.2f} with {onset}–{offset} s)" if found else "missed"))
    return lines


def _score_lines(modality: str, rows: _ModelRows, class_index_: int, segment: int, shown: float) -> list[str]:
    """Hover lines of one segment's scores against the threshold ``shown``; a note when a score exceeds 1."""
    if modality == AUDIO_VISUAL:
        audio, visual = rows.score["audio"][class_index_, segment], rows.score["visual"][class_index_, segment]
        lines = [f"score audio {audio:.3f}, visual {visual:.3f} (AV: predicted in both)"]
        return lines + ([_SOFT_MAP_NOTE] if max(audio, visual) > 1 else [])
    score = rows.score[modality][class_index_, segment]
    relation = "≥" if rows.score_passes[modality][class_index_, segment] else "<"
    lines = [f"score {score:.3f} {relation} threshold {_number(shown)}"]
    gate = rows.gate[modality]
    if gate is not None:
        passes = rows.gate_passes[modality][class_index_]  # type: ignore[index]
        lines.append(
            f"video-level probability {gate[class_index_]:.3f} {'≥' if passes else '<'} {_number(shown)}"
            + ("" if passes else ": the class is gated off in this clip")
        )
        if gate[class_index_] > 1:
            lines.append(_FUSED_GATE_NOTE)
    return lines + ([_SOFT_MAP_NOTE] if score > 1 else [])


def _segment_hover(modality: str, rows: _ModelRows, class_index_: int, segment: int, status: str, shown: float) -> str:
    """Hover text of one segment of a model's lane: class, modality, model, segment, scores, status."""
    lines = [
        f"<b>{display_name(class_index_)}</b> · {MODALITY_TITLES[modality]} · {rows.name}",
        _segments_text(segment, segment + 1),
        *_score_lines(modality, rows, class_index_, segment, shown),
        f"<b>{_STATUS_HOVER[status]}</b>",
    ]
    return "<br>".join(lines)


def _event_verdicts(pred_events: list, gt_events: list) -> dict[tuple[int, int], str]:
    """(class, segment) -> a hover line on the predicted event holding that segment and its event-level status."""
    verdicts = {}
    for event in pred_events:
        iou, (onset, offset) = _best_match(event, gt_events)
        status = "TP" if iou >= EVENT_IOU_THRESHOLD else "FP"
        match = f"IoU {iou:.2f} with GT {onset}–{offset} s" if iou > 0 else "no overlapping GT event"
        verdict = f"in predicted event {event[1]}–{event[2]} s: event-level {status}, {match}"
        verdicts.update({(event[0], segment): verdict for segment in range(event[1], event[2])})
    return verdicts


# ---------------------------------------------------------------------------------------------------------------------
# geometry


@dataclass(frozen=True)
class _PanelGeometry:
    """Where the lanes of one panel lie on its y axis (y units, pointing down)."""

    classes: tuple[int, ...]  # class indices of the rows, top to bottom
    row_height: float
    lane_centers: dict[tuple[str, int | None], float]  # (lane kind, model) -> centre within a row
    height: float  # total y extent of the panel

    def center(self, row: int, kind: str, model: int | None) -> float:
        return row * self.row_height + self.lane_centers[(kind, model)]

    def span(self, row: int, kind: str, model: int | None) -> tuple[float, float]:
        center = self.center(row, kind, model)
        half = _LANE_HEIGHTS[kind] / 2
        return center - half, center + half


def _panel_geometry(classes: tuple[int, ...], num_models: int, has_prob: bool) -> _PanelGeometry:
    """Stack the lanes of a class row (GT, then per model its prediction lane and its score strip)."""
    lanes: list[tuple[str, int | None]] = [("gt", None)]
    for model in range(num_models):
        lanes += [("pred", model)] + ([("prob", model)] if has_prob else [])
    centers = {}
    position = _ROW_PAD
    for index, (kind, model) in enumerate(lanes):
        if index:  # the frames of predicted events stand out of their lane: keep them clear of the neighbours
            position += _LANE_GAP + _OUTLINE_OVERHANG * ((kind == "pred") + (lanes[index - 1][0] == "pred"))
        centers[(kind, model)] = position + _LANE_HEIGHTS[kind] / 2
        position += _LANE_HEIGHTS[kind]
    row_height = position + _ROW_PAD
    height = row_height * len(classes) if classes else _EMPTY_PANEL_HEIGHT
    return _PanelGeometry(classes=classes, row_height=row_height, lane_centers=centers, height=height)


@dataclass(frozen=True)
class _Frame:
    """The figure's vertical layout in pixels: its height, margins, and each panel's domain (fractions of the plot
    area, bottom to top); axis 4 is the sound strip's."""

    height: int
    margin_top: float
    px_per_unit: float
    domains: dict[int, tuple[float, float]]  # axis number -> (bottom, top)
    title_band: float  # pixels above the legend: the title, on two lines in a narrow figure
    narrow: bool  # a phone-sized figure: the title on two lines, no score colour key


def _legend_lines(names: list[str], width: int) -> int:
    """Lines the horizontal legend takes in a figure ``width`` px wide: its entries (widths estimated from their
    lengths) packed line by line, as Plotly wraps them."""
    room, lines, used = max(width - _LEGEND_INDENT_PX, 100), 1, 0.0
    for name in names:
        entry = _LEGEND_ITEM_PX + _LEGEND_CHAR_PX * len(name)
        if used and used + entry > room:
            lines, used = lines + 1, 0.0
        used += entry
    return lines


def _frame(
    geometries: dict[str, _PanelGeometry], has_strip: bool, legend: list[str], height: int | None, width: int
) -> _Frame:
    """Stack the strip and the panels; the y units take what the fixed bands leave of ``height`` (or the default)."""
    units = sum(geometry.height for geometry in geometries.values())
    narrow = width < _NARROW_WIDTH_PX
    title_band = _TITLE_BAND_PX + (_TITLE_SECOND_LINE_PX if narrow else 0)
    margin_top = title_band + _legend_lines(legend, width) * _LEGEND_LINE_PX + _SEGMENT_NUMBERS_PX
    fixed_plot = len(EVAL_MODALITIES) * _PANEL_TITLE_PX + (len(EVAL_MODALITIES) - 1) * _PANEL_SPACING_PX
    fixed_plot += (_STRIP_PX + _PANEL_SPACING_PX) if has_strip else 0
    fixed = margin_top + _MARGIN_BOTTOM_PX + fixed_plot
    px_per_unit = DEFAULT_PX_PER_UNIT if height is None else (height - fixed) / units
    px_per_unit = min(max(px_per_unit, _MIN_PX_PER_UNIT), _MAX_PX_PER_UNIT)
    total = round(fixed + px_per_unit * units)
    px_per_unit = (total - fixed) / units  # exact for the whole-pixel height
    plot_px = total - margin_top - _MARGIN_BOTTOM_PX
    domains = {}
    top = plot_px
    if has_strip:
        domains[4] = (top - _STRIP_PX, top)
        top -= _STRIP_PX + _PANEL_SPACING_PX
    for axis, modality in enumerate(EVAL_MODALITIES, start=1):
        top -= (_PANEL_SPACING_PX if axis > 1 else 0) + _PANEL_TITLE_PX
        bottom = top - px_per_unit * geometries[modality].height
        domains[axis] = (bottom, top)
        top = bottom
    fractions = {axis: (max(low / plot_px, 0.0), min(high / plot_px, 1.0)) for axis, (low, high) in domains.items()}
    return _Frame(
        height=total,
        margin_top=margin_top,
        px_per_unit=px_per_unit,
        domains=fractions,
        title_band=title_band,
        narrow=narrow,
    )


# ---------------------------------------------------------------------------------------------------------------------
# traces (plain dicts: the figure is validated once, when it is built)


def _axis(letter: str, axis: int) -> str:
    """Plotly's id of panel ``axis``'s x or y axis, spelled as Plotly spells it (``x``, ``x2``, ``x3``)."""
    return letter if axis == 1 else f"{letter}{axis}"


def _trace(kind: str, axis: int, meta: dict[str, Any], **properties: Any) -> dict[str, Any]:
    """A trace dict on the panel's axes (``x`` / ``y``, ``x2`` / ``y2``, ...), with its machine-readable ``meta``."""
    return {"type": kind, "xaxis": _axis("x", axis), "yaxis": _axis("y", axis), "meta": meta, **properties}


def _interval_bars(
    events: list[tuple[int, int, int]], geometry: _PanelGeometry, kind: str, model: int | None
) -> dict[str, list]:
    """Horizontal-bar coordinates and customdata of one bar per event ``(class, onset, offset)``."""
    row_of = {class_index_: row for row, class_index_ in enumerate(geometry.classes)}
    return {
        "orientation": "h",
        "y": [geometry.center(row_of[c], kind, model) for c, _, _ in events],
        "base": [onset for _, onset, _ in events],  # segment index = seconds
        "x": [offset - onset for _, onset, offset in events],  # duration in seconds
        "customdata": [[CLASSES[c], onset, offset] for c, onset, offset in events],
    }


def _gt_trace(
    modality: str,
    axis: int,
    geometry: _PanelGeometry,
    gt_events: list,
    model_events: list[list],
    models: list[_ModelRows],
    frames_only: bool,
) -> dict[str, Any]:
    """Ground-truth events as dark-grey bars whose hover says which model found each (IoU >= 0.5); with
    ``frames_only`` (editable lanes, whose cells carry the fill and the hover) as thin frames without hover."""
    hover = [
        "<br>".join(
            [f"<b>{display_name(event[0])}</b> · {MODALITY_TITLES[modality]} · ground truth"]
            + _event_lines(event, model_events, models)
        )
        for event in gt_events
    ]
    style: dict[str, Any] = (
        {"hoverinfo": "skip", "marker": {"color": "rgba(0, 0, 0, 0)", "line": {"color": GT_COLOR, "width": 1.5}}}
        if frames_only
        else {"hovertext": hover, "hoverinfo": "text", "marker": {"color": GT_COLOR, "line": {"width": 0}}}
    )
    return _trace(
        "bar",
        axis,
        {"role": "gt", "modality": modality, "model": None},
        **_interval_bars(gt_events, geometry, "gt", None),
        width=_LANE_HEIGHTS["gt"] + (2 * _OUTLINE_OVERHANG if frames_only else 0),
        name="Ground truth",
        legendgroup="gt",
        legendrank=1,
        **style,
    )


def _gt_cell_traces(
    modality: str,
    axis: int,
    geometry: _PanelGeometry,
    gt: np.ndarray,
    original: np.ndarray | None,
    gt_events: list,
    model_events: list[list],
    models: list[_ModelRows],
) -> list[dict[str, Any]]:
    """Every (class row, segment) of an editable ground-truth lane as a clickable cell, empty ones included: one
    trace of the cells that are on (dark grey, the legend's "Ground truth"), one of those that are off (faint)."""
    event_of = {(c, t): (c, onset, offset) for c, onset, offset in gt_events for t in range(onset, offset)}
    cells: dict[int, tuple[list, list, list]] = {1: ([], [], []), 0: ([], [], [])}  # value -> (y, customdata, hover)
    for row, class_index_ in enumerate(geometry.classes):
        for segment in range(NUM_SEGMENTS):
            value = int(gt[class_index_, segment])
            text = [
                f"<b>{display_name(class_index_)}</b> · {MODALITY_TITLES[modality]} · ground truth",
                f"{_segments_text(segment, segment + 1)}: <b>{'on' if value else 'off'}</b>",
            ]
            if (class_index_, segment) in event_of:
                text += _event_lines(event_of[(class_index_, segment)], model_events, models)
            if original is not None and bool(original[class_index_, segment]) != bool(value):
                text.append(f"changed vs original (original: {'on' if original[class_index_, segment] else 'off'})")
            text.append(f"<i>click to switch {'off' if value else 'on'}; drag along the lane to set a range</i>")
            y, customdata, hover = cells[value]
            y.append(geometry.center(row, "gt", None))
            customdata.append([CLASSES[class_index_], modality, segment, value])
            hover.append("<br>".join(text))
    traces = []
    for value, (fill, outline, name) in {
        1: (GT_COLOR, GT_COLOR, "Ground truth"),
        0: (_EMPTY_CELL_FILL, GT_EMPTY_COLOR, "Ground truth: empty segment"),
    }.items():
        y, customdata, hover = cells[value]
        traces.append(
            _trace(
                "bar",
                axis,
                {"role": "gt_cell", "modality": modality, "model": None, "value": value},
                orientation="h",
                y=y,
                base=[cell[2] + _CELL_INSET_S for cell in customdata],
                x=[1 - 2 * _CELL_INSET_S] * len(y),
                width=_LANE_HEIGHTS["gt"],
                customdata=customdata,
                name=name,
                legendgroup="gt",
                legendrank=1,
                marker={"color": fill, "line": {"color": outline, "width": 1}},
                hovertext=hover,
                hoverinfo="text",
            )
        )
    return traces


def _changed_trace(
    modality: str, axis: int, geometry: _PanelGeometry, gt: np.ndarray, original: np.ndarray, editable: bool
) -> dict[str, Any]:
    """Thick black frames on the ground-truth segments that differ from the original annotation; a removed segment
    (original on, now off) is also hatched. Without hover in editable lanes, whose cells take the clicks."""
    rows_, segments = np.nonzero(gt[list(geometry.classes)] != original[list(geometry.classes)])  # cell indices
    y, customdata, hover, patterns = [], [], [], []
    for row, segment in zip(rows_.tolist(), segments.tolist()):
        class_index_ = geometry.classes[row]
        was, now = int(original[class_index_, segment]), int(gt[class_index_, segment])
        y.append(geometry.center(row, "gt", None))
        customdata.append([CLASSES[class_index_], modality, segment, was, now])
        hover.append(
            f"<b>{display_name(class_index_)}</b> · {MODALITY_TITLES[modality]} · ground truth<br>"
            f"{_segments_text(segment, segment + 1)}: changed vs original<br>"
            f"original {'on' if was else 'off'}, now <b>{'on' if now else 'off'}</b>"
        )
        patterns.append("" if now else "x")
    return _trace(
        "bar",
        axis,
        {"role": "gt_changed", "modality": modality, "model": None},
        orientation="h",
        y=y,
        base=[cell[2] + _CELL_INSET_S / 2 for cell in customdata],
        x=[1 - _CELL_INSET_S] * len(y),
        width=_LANE_HEIGHTS["gt"] + 2 * _OUTLINE_OVERHANG,
        customdata=customdata,
        name="changed vs original",
        legendgroup="changed",
        legendrank=2 + MAX_MODELS + len(STATUSES),
        marker={
            "color": "rgba(0, 0, 0, 0)",
            "line": {"color": CHANGED_COLOR, "width": 2.5},
            "pattern": {"shape": patterns, "fgcolor": GT_COLOR, "size": 5, "solidity": 0.25},
        },
        **({"hoverinfo": "skip"} if editable else {"hovertext": hover, "hoverinfo": "text"}),
    )


def _pred_trace(modality: str, axis: int, geometry: _PanelGeometry, events: list, model: int, name: str) -> dict:
    """Predicted events as dark frames around the model's status cells (which carry the hover)."""
    return _trace(
        "bar",
        axis,
        {"role": "pred", "modality": modality, "model": model},
        **_interval_bars(events, geometry, "pred", model),
        width=_LANE_HEIGHTS["pred"] + 2 * _OUTLINE_OVERHANG,
        name=f"{name} events",
        legendgroup=f"pred-{model}",
        legendrank=2 + model,
        hoverinfo="skip",
        marker={"color": "rgba(0, 0, 0, 0)", "line": {"color": PRED_OUTLINE_COLOR, "width": 2}},
    )


def _status_traces(
    modality: str,
    axis: int,
    geometry: _PanelGeometry,
    status: np.ndarray,
    rows: _ModelRows,
    model: int,
    verdicts: dict[tuple[int, int], str],
    shown: float,
) -> list[dict[str, Any]]:
    """One trace per status (TP, FP, FN) with a cell per segment of the model's lane; TN segments stay blank."""
    traces = []
    for name in STATUSES:
        class_rows, segments = np.nonzero(status[list(geometry.classes)] == name)  # (C_panel, T) -> cell indices
        y, customdata, hover = [], [], []
        for row, segment in zip(class_rows.tolist(), segments.tolist()):
            class_index_ = geometry.classes[row]
            score = None if modality == AUDIO_VISUAL else float(rows.score[modality][class_index_, segment])
            y.append(geometry.center(row, "pred", model))
            customdata.append([CLASSES[class_index_], segment, name, score])
            verdict = verdicts.get((class_index_, segment))
            text = _segment_hover(modality, rows, class_index_, segment, name, shown)
            hover.append(f"{text}<br>{verdict}" if verdict else text)
        marker: dict[str, Any] = {"color": STATUS_COLORS[name], "line": {"width": 0}}
        if name == "FN":  # hatched on white: a missed segment reads as hollow in any colour vision
            pattern = {"shape": "/", "fgcolor": STATUS_COLORS[name], "size": 6, "solidity": 0.35}
            marker = {"color": "white", "line": {"color": STATUS_COLORS[name], "width": 1.5}, "pattern": pattern}
        traces.append(
            _trace(
                "bar",
                axis,
                {"role": "status", "modality": modality, "model": model, "status": name},
                orientation="h",
                y=y,
                base=[cell[1] + _CELL_INSET_S for cell in customdata],
                x=[1 - 2 * _CELL_INSET_S] * len(y),
                width=_LANE_HEIGHTS["pred"],
                customdata=customdata,
                name=_STATUS_LEGEND[name],
                legendgroup=f"status-{name}",
                legendrank=2 + MAX_MODELS + STATUSES.index(name),
                marker=marker,
                hovertext=hover,
                hoverinfo="text",
            )
        )
    return traces


def _prob_trace(
    modality: str,
    axis: int,
    geometry: _PanelGeometry,
    status: np.ndarray,
    rows: _ModelRows,
    model: int,
    shown: float,
) -> dict[str, Any]:
    """The model's segment scores as a heat band under its lane; blank (None) z rows between the bands."""
    scores = rows.score[modality]  # (C, T)
    y_edges: list[float] = []
    z: list[list[float | None]] = []
    hover: list[list[str]] = []
    row_classes: list[str | None] = []
    for row, class_index_ in enumerate(geometry.classes):
        if row:
            z.append([None] * NUM_SEGMENTS)
            hover.append([""] * NUM_SEGMENTS)
            row_classes.append(None)
        y_edges += geometry.span(row, "prob", model)
        z.append(scores[class_index_].tolist())
        hover.append(
            [
                _segment_hover(modality, rows, class_index_, t, status[class_index_, t], shown)
                for t in range(NUM_SEGMENTS)
            ]
        )
        row_classes.append(CLASSES[class_index_])
    return _trace(
        "heatmap",
        axis,
        {"role": "prob", "modality": modality, "model": model, "classes": row_classes},
        z=z,
        x=list(range(NUM_SEGMENTS + 1)),
        y=y_edges,
        coloraxis="coloraxis",
        hoverongaps=False,
        xgap=1,
        hovertext=hover,
        hoverinfo="text",
        name=f"{rows.name}: segment score",
        showlegend=False,
    )


def _strip_trace(strip: AudioStrip) -> dict[str, Any]:
    """The sound strip's log-mel heatmap on axis 4 (x: column edges in seconds, y: band edges, lowest first)."""
    mel = strip.mel  # (B, F) uint8
    assert mel is not None  # the caller draws the "no audio track" state instead
    columns = mel.shape[1]
    return _trace(
        "heatmap",
        4,
        {"role": "audio_strip", "modality": "audio", "model": None, "source": Path(strip.source).name},
        z=mel.tolist(),
        x=[round(k * strip.column_seconds, 6) for k in range(columns + 1)],
        y=list(range(STRIP_BANDS + 1)),
        coloraxis="coloraxis2",
        hovertemplate="%{x:.2f} s<extra>sound (log-mel, 125 Hz at the bottom to 7.5 kHz at the top)</extra>",
        name="sound (log-mel)",
        showlegend=False,
    )


def _show_one_legend_entry(traces: list[dict[str, Any]]) -> None:
    """Per legend group, show the entry of its first trace with data (or of its first trace when none has any)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for trace in traces:
        if "legendgroup" in trace:
            groups.setdefault(trace["legendgroup"], []).append(trace)
    for members in groups.values():
        shown = next((trace for trace in members if trace["y"]), members[0])
        for trace in members:
            trace["showlegend"] = trace is shown


# ---------------------------------------------------------------------------------------------------------------------
# layout


def _axis_ticks(geometry: _PanelGeometry, models: list[_ModelRows]) -> tuple[list[float], list[str]]:
    """Tick positions and labels of a panel: the class name on its GT lane, the model names on their lanes."""
    values, texts = [], []
    for row, class_index_ in enumerate(geometry.classes):
        values.append(geometry.center(row, "gt", None))
        texts.append(f"<b>{display_name(class_index_)}</b>")
        for model, rows in enumerate(models):
            name = rows.name if len(rows.name) <= _TICK_NAME_CHARS else rows.name[: _TICK_NAME_CHARS - 1] + "…"
            values.append(geometry.center(row, "pred", model))
            texts.append(f"<span style='color:#666666;font-size:10px'>{name}</span>")
    return values, texts


def _x_axis(axis: int, bottom: bool) -> dict[str, Any]:
    """A panel's time axis: 0-10 s, a grid line per segment border; labels and title on the bottom panel only."""
    return {
        "anchor": _axis("y", axis),
        "domain": [0.0, 1.0],
        "range": [0, NUM_SEGMENTS],
        "tickvals": list(range(NUM_SEGMENTS + 1)),
        "showticklabels": bottom,
        "showgrid": True,
        "gridcolor": "#d9d9d9",
        "zeroline": False,
        "showline": True,
        "linecolor": "#bbbbbb",
        "mirror": True,
        "ticks": "outside",
        "ticklen": 3,
        "tickcolor": "#bbbbbb",
        **(
            {"title": {"text": "time (s) · segment n covers n − 1 to n s", "standoff": 6}}
            if bottom
            else {"matches": _axis("x", len(EVAL_MODALITIES))}
        ),
    }


def _panel_layout(
    geometries: dict[str, _PanelGeometry], models: list[_ModelRows], frame: _Frame
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Axes, annotations (titles, "no events") and shapes (zebra rows) of the three panels."""
    axes: dict[str, Any] = {}
    annotations: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    for axis, modality in enumerate(EVAL_MODALITIES, start=1):
        geometry = geometries[modality]
        domain = frame.domains[axis]
        tick_values, tick_texts = _axis_ticks(geometry, models)
        axes[_axis("xaxis", axis)] = _x_axis(axis, bottom=axis == len(EVAL_MODALITIES))
        axes[_axis("yaxis", axis)] = {
            "anchor": _axis("x", axis),
            "domain": list(domain),
            "range": [geometry.height, 0],
            "fixedrange": True,
            "tickvals": tick_values,
            "ticktext": tick_texts,
            "showgrid": False,
            "zeroline": False,
            "ticks": "",
            "automargin": True,
        }
        title = f"<b>{MODALITY_TITLES[modality]}</b>"
        if modality == AUDIO_VISUAL:
            title += f" <span style='font-size:11px;color:{_MUTED}'>(audio AND visual, derived)</span>"
        annotations.append(
            {
                "text": title,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": domain[1],
                "xanchor": "center",
                "yanchor": "bottom",
                "yshift": 2,
                "showarrow": False,
                "font": {"size": 13},
            }
        )
        if not geometry.classes:
            what = MODALITY_TITLES[modality].lower()
            annotations.append(
                {
                    "text": f"<i>no events: no {what} class in the ground truth or the predictions</i>",
                    "xref": _axis("x", axis),
                    "yref": _axis("y", axis),
                    "x": NUM_SEGMENTS / 2,
                    "y": geometry.height / 2,
                    "showarrow": False,
                    "font": {"color": "#777777", "size": 12},
                }
            )
        shapes += [
            {
                "type": "rect",
                "xref": _axis("x", axis),
                "yref": _axis("y", axis),
                "x0": 0,
                "x1": NUM_SEGMENTS,
                "layer": "below",
                "y0": row * geometry.row_height,
                "y1": (row + 1) * geometry.row_height,
                "fillcolor": _ZEBRA_COLOR,
                "line": {"width": 0},
            }
            for row in range(0, len(geometry.classes), 2)
        ]
    return axes, annotations, shapes


def _strip_layout(strip: AudioStrip, frame: _Frame) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Axes of the sound strip (axis 4, on top) and, without an audio stream, its "no audio track" note."""
    axes = {
        "xaxis4": {**_x_axis(4, bottom=False), "anchor": "y4", "showgrid": False},
        "yaxis4": {
            "anchor": "x4",
            "domain": list(frame.domains[4]),
            "range": [0, STRIP_BANDS],
            "fixedrange": True,
            "tickvals": [STRIP_BANDS / 2],
            "ticktext": [f"<b>Sound</b><br><span style='color:{_MUTED};font-size:9px'>log-mel</span>"],
            "showgrid": False,
            "zeroline": False,
            "showline": True,
            "linecolor": "#bbbbbb",
            "mirror": True,
            "ticks": "",
            "automargin": True,
        },
    }
    notes = []
    if not strip.has_audio:
        notes.append(
            {
                "text": f"<i>no audio track in {Path(strip.source).name}</i>",
                "xref": "x4",
                "yref": "y4",
                "x": NUM_SEGMENTS / 2,
                "y": STRIP_BANDS / 2,
                "showarrow": False,
                "font": {"color": "#777777", "size": 12},
            }
        )
    return axes, notes


def _segment_numbers() -> list[dict[str, Any]]:
    """The 1-10 segment numbers above the first panel (the video overlay counts segments from 1 too)."""
    numbers = [
        {
            "text": str(segment + 1),
            "xref": "x",
            "yref": "paper",
            "x": segment + 0.5,
            "y": 1,
            "yanchor": "bottom",
            "yshift": 1,
            "showarrow": False,
            "font": {"size": 10, "color": _MUTED},
        }
        for segment in range(NUM_SEGMENTS)
    ]
    label = {**numbers[0], "text": "segment", "x": 0, "xanchor": "right", "xshift": -4}
    return [label, *numbers]


def _paper_y(frame: _Frame, from_top_px: float) -> float:
    """Paper y of a point ``from_top_px`` pixels below the figure's top edge (above 1: in the top margin)."""
    plot_px = frame.height - frame.margin_top - _MARGIN_BOTTOM_PX
    return 1 + (frame.margin_top - from_top_px) / plot_px


def _score_colorbar(frame: _Frame) -> dict[str, Any]:
    """The score strips' colour key: a short horizontal bar at the right end of the title line."""
    return {
        "orientation": "h",
        "x": 1,
        "xanchor": "right",
        "y": _paper_y(frame, _SCORE_KEY_TOP_PX),
        "yanchor": "top",
        "ypad": 0,
        "len": _SCORE_KEY_LEN,
        "thickness": 8,
        "tickvals": [0, OFFICIAL_THRESHOLD, 1],
        "ticktext": ["0", _number(OFFICIAL_THRESHOLD), "≥1"],
        "tickfont": {"size": 9},
        "outlinewidth": 0,
    }


def _score_key_label(frame: _Frame) -> dict[str, Any]:
    """The words left of the colour key (Plotly's own colour-bar titles misplace on horizontal bars)."""
    return {
        "text": "segment score",
        "xref": "paper",
        "yref": "paper",
        "x": 1 - _SCORE_KEY_LEN - 0.01,
        "y": _paper_y(frame, _SCORE_KEY_TOP_PX + 4),
        "xanchor": "right",
        "yanchor": "middle",
        "showarrow": False,
        "font": {"size": 10, "color": _MUTED},
    }


# ---------------------------------------------------------------------------------------------------------------------
# figure


def _validated_models(predictions: Sequence[ClipPrediction], threshold: float | None) -> list[_ModelRows]:
    if isinstance(predictions, (str, bytes)) or not 1 <= len(predictions) <= MAX_MODELS:
        raise ValueError(f"predictions: expected 1 to {MAX_MODELS} ClipPrediction objects, found {len(predictions)}")
    for index, prediction in enumerate(predictions):
        if not isinstance(prediction, ClipPrediction):
            raise ValueError(f"predictions[{index}]: expected a ClipPrediction, found {type(prediction).__name__}")
    names = [prediction.name for prediction in predictions]
    if len(set(names)) != len(names):
        raise ValueError(f"predictions: model names must differ, found {names}")
    return [_model_rows(prediction, threshold) for prediction in predictions]


def timeline_figure(
    clip: str,
    gt_audio: np.ndarray,
    gt_visual: np.ndarray,
    predictions: Sequence[ClipPrediction],
    *,
    threshold: float | None = None,
    audio_strip: AudioStrip | None = None,
    height: int | None = None,
    width: int | None = None,
    editable: bool = False,
    original_gt_audio: np.ndarray | None = None,
    original_gt_visual: np.ndarray | None = None,
    extra_classes: Sequence[str] = (),
) -> go.Figure:
    """The timeline of one clip: ground truth against one or two models' predictions, per modality.

    Args:
        clip: the clip's name (LLP filename or video id), shown in the title and stored in ``layout.meta["clip"]``.
        gt_audio: audio ground truth, ``(C, T) uint8`` [class, segment], values 0/1 (the current, possibly
            corrected, annotation).
        gt_visual: visual ground truth, ``(C, T) uint8`` [class, segment].
        predictions: one :class:`ClipPrediction`, or two to compare them (distinct names: their display names).
        threshold: None (default): each model's given ``pred_audio`` / ``pred_visual``, taken as made at the official
            threshold 0.5. A number in [0, 1]: every model's predictions are recomputed from its scores and gates by
            :func:`binarize_at` at this threshold (so ``threshold=0.5`` with the official gates gives the official
            predictions), and the statuses, events and hovers follow. The title always names the official value
            ("threshold 0.62 (official 0.5)"); ``layout.meta["threshold"]`` holds the argument.
        audio_strip: the clip's sound strip (:func:`mgn.explore.audio_strip.audio_strip`) drawn on top, aligned with
            the time axis; a strip without audio shows "no audio track"; None: no strip.
        height: None: the lanes at :data:`DEFAULT_PX_PER_UNIT` and the figure as tall as its rows need (a
            typical clip, 3-5 class rows with both models and the strip, is under ~780 px). A number of pixels: the
            lanes are scaled so that the figure is exactly that tall, within 36-90 px per unit (a 0.3-unit GT lane
            stays 11-27 px high): a clip with more rows than fit comes out taller, ``layout.height`` says how tall.
        width: the width in pixels the page will draw the figure at (it still follows its container), or None for
            820 px, the explorer's desktop column. It sizes the top margin for the legend's line count; below 560 px
            (a phone) the title takes two lines and the score colour key is left out.
        editable: draw the audio and visual ground-truth lanes as one cell per (class row, segment), empty cells
            included, for an annotation editor: traces of role ``"gt_cell"`` (see the module docstring) that take
            hover and clicks, the GT events as thin frames over them, and ``dragmode="select"`` (horizontal) so that
            a drag along a lane selects its cells (``plotly_selected``). The audio-visual lane stays derived.
        original_gt_audio: the original audio annotation ``(C, T)`` 0/1, or None: segments where ``gt_audio``
            differs are framed in black (hatched when removed), listed in ``layout.meta["changed"]`` and in a
            legend entry "changed vs original".
        original_gt_visual: the same for the visual annotation.
        extra_classes: class names (as in the CSVs, e.g. ``"Frying_(food)"``) given a row in the audio and visual
            panels even when neither the ground truth nor a prediction has them (an editor's "add a class row").

    Returns:
        The figure (see the module docstring for its layout and its machine-readable ``meta``); its width follows
        the container.

    Raises:
        ValueError: a matrix has the wrong shape or a value other than 0/1, there are no or more than two
            predictions, two predictions share a name, a threshold outside [0, 1], a height that is not a positive
            number, an unknown class in ``extra_classes``, or an ``audio_strip`` that is not an :class:`AudioStrip`.
    """
    return go.Figure(
        _figure_dict(
            clip,
            gt_audio,
            gt_visual,
            predictions,
            _options(
                clip,
                threshold,
                audio_strip,
                height,
                width,
                editable,
                original_gt_audio,
                original_gt_visual,
                extra_classes,
            ),
        )
    )


def timeline_json(
    clip: str,
    gt_audio: np.ndarray,
    gt_visual: np.ndarray,
    predictions: Sequence[ClipPrediction],
    *,
    threshold: float | None = None,
    audio_strip: AudioStrip | None = None,
    height: int | None = None,
    width: int | None = None,
    editable: bool = False,
    original_gt_audio: np.ndarray | None = None,
    original_gt_visual: np.ndarray | None = None,
    extra_classes: Sequence[str] = (),
    include_config: bool = False,
) -> str:
    """The JSON of :func:`timeline_figure` without building (and validating) the ``go.Figure``: about ten times
    faster, for the app, which sends the JSON and never needs the object. The content is the figure's (a test holds
    them equal); only the empty template is spelled ``{}`` where Plotly writes its default trace types.

    Arguments and errors as :func:`timeline_figure`, and:

    Args:
        include_config: add a top-level ``"config"`` key holding :func:`timeline_config` of the figure (the PNG
            button's file name). Gradio's ``gr.Plot`` (6.x) passes a ``PlotData`` JSON's ``config`` to Plotly, so
            ``PlotData(type="plotly", plot=timeline_json(..., include_config=True))`` names the PNG after the clip.
    """
    options = _options(
        clip, threshold, audio_strip, height, width, editable, original_gt_audio, original_gt_visual, extra_classes
    )
    figure = _figure_dict(clip, gt_audio, gt_visual, predictions, options)
    if include_config:
        meta = figure["layout"]["meta"]
        figure["config"] = timeline_config(clip, meta["models"], threshold=options.threshold)
    return pio.to_json(figure, validate=False)


def _rows_present(modality: str, gt: np.ndarray, models: list[_ModelRows], options: _Options) -> tuple[int, ...]:
    """Class indices of a panel's rows: in the GT, the original GT or a prediction, or asked for (audio, visual)."""
    present = gt.any(axis=1) | np.any([rows.pred[modality].any(axis=1) for rows in models], axis=0)  # (C,)
    if modality in EDITABLE_MODALITIES:
        original = options.original[modality]
        if original is not None:
            present |= original.any(axis=1)
        present[list(options.extra_classes)] = True
    return tuple(np.flatnonzero(present).tolist())


def _figure_dict(
    clip: str,
    gt_audio: np.ndarray,
    gt_visual: np.ndarray,
    predictions: Sequence[ClipPrediction],
    options: _Options,
) -> dict[str, Any]:
    """The figure of :func:`timeline_figure` as a plain ``{"data": [...], "layout": {...}}`` dict."""
    models = _validated_models(predictions, options.threshold)
    shown = OFFICIAL_THRESHOLD if options.threshold is None else options.threshold
    gt_a, gt_v = _binary_rows(gt_audio, f"{clip}: gt_audio"), _binary_rows(gt_visual, f"{clip}: gt_visual")
    gts = {"audio": gt_a, "visual": gt_v, AUDIO_VISUAL: audio_visual(gt_a, gt_v)}

    geometries: dict[str, _PanelGeometry] = {}
    traces: list[dict[str, Any]] = []
    changed: list[list] = []
    for axis, modality in enumerate(EVAL_MODALITIES, start=1):
        gt = gts[modality]
        has_prob = modality != AUDIO_VISUAL
        geometry = geometries[modality] = _panel_geometry(
            _rows_present(modality, gt, models, options), len(models), has_prob
        )
        gt_events = _row_events(gt)
        model_events = [_row_events(rows.pred[modality]) for rows in models]
        original = options.original.get(modality)
        editable = options.editable and modality in EDITABLE_MODALITIES
        if editable:
            traces += _gt_cell_traces(modality, axis, geometry, gt, original, gt_events, model_events, models)
        traces.append(_gt_trace(modality, axis, geometry, gt_events, model_events, models, frames_only=editable))
        if original is not None:
            traces.append(_changed_trace(modality, axis, geometry, gt, original, editable))
            changed += traces[-1]["customdata"]
        for model, rows in enumerate(models):
            status = _segment_status(gt, rows.pred[modality])  # (C, T)
            traces.append(_pred_trace(modality, axis, geometry, model_events[model], model, rows.name))
            verdicts = _event_verdicts(model_events[model], gt_events)
            traces += _status_traces(modality, axis, geometry, status, rows, model, verdicts, shown)
            if has_prob:
                traces.append(_prob_trace(modality, axis, geometry, status, rows, model, shown))
    strip = options.audio_strip
    if strip is not None and strip.has_audio:
        traces.append(_strip_trace(strip))
    _show_one_legend_entry(traces)

    legend = [trace["name"] for trace in traces if trace.get("showlegend") and trace["y"]]  # Plotly skips empty ones
    frame = _frame(geometries, strip is not None, legend, options.height, options.width or _DESIGN_WIDTH_PX)
    axes, annotations, shapes = _panel_layout(geometries, models, frame)
    if strip is not None:
        strip_axes, strip_notes = _strip_layout(strip, frame)
        axes.update(strip_axes)
        annotations += strip_notes
    annotations += _segment_numbers()
    if not frame.narrow:
        annotations.append(_score_key_label(frame))
    names = [model_rows.name for model_rows in models]
    height = frame.height
    layout = {
        **axes,
        "annotations": annotations,
        "shapes": shapes,
        "height": height,
        "meta": {
            "clip": clip,
            "models": names,
            "rows": {modality: [CLASSES[c] for c in geometries[modality].classes] for modality in EVAL_MODALITIES},
            "threshold": options.threshold,
            "official_threshold": OFFICIAL_THRESHOLD,
            "editable": options.editable,
            "changed": sorted(changed, key=lambda row: (row[1], CLASSES.index(row[0]), row[2])),
            "audio_strip": None
            if strip is None
            else {"source": Path(strip.source).name, "has_audio": strip.has_audio, "duration": strip.duration},
            "px_per_unit": round(frame.px_per_unit, 3),
        },
        "title": {
            "text": (
                f"<b>{clip}</b>{'<br>' if frame.narrow else ' '}<span style='font-size:12px;color:{_MUTED}'>"
                f"{'' if frame.narrow else '· '}{' vs '.join(names)} · {_threshold_note(options.threshold)}</span>"
            ),
            "font": {"size": 15},
            "x": 0.01,
            "xanchor": "left",
            "y": 1 - (frame.title_band / 2 if frame.narrow else _TITLE_Y_PX) / height,
            "yanchor": "middle",
        },
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1 - frame.title_band / height,
            "yanchor": "top",
            "yref": "container",
            "font": {"size": 11},
            "itemwidth": 30,
        },
        "coloraxis": {
            "cmin": 0,
            "cmax": 1,
            "colorscale": _PROB_COLORSCALE,
            **({} if frame.narrow else {"colorbar": _score_colorbar(frame)}),
            "showscale": not frame.narrow,
        },
        "coloraxis2": {
            "cmin": 0,
            "cmax": 255,
            "colorscale": _STRIP_COLORSCALE,
            "showscale": False,
        },
        "margin": {"t": frame.margin_top, "b": _MARGIN_BOTTOM_PX, "l": 10, "r": 10},
        "barmode": "overlay",
        "hovermode": "closest",
        "hoverlabel": {"align": "left"},
        "font": {"size": 12, "color": "#2a3f5f"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "template": {},  # pinned: the figure must not depend on plotly's global default template
    }
    if options.editable:
        layout |= {"dragmode": "select", "selectdirection": "h"}
    return {"data": traces, "layout": layout}


# ---------------------------------------------------------------------------------------------------------------------
# reading a figure back


def _trace_dicts(fig: go.Figure | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The traces of a figure, or of its JSON dict (``fig.to_plotly_json()``, or ``{"data": gd.data}`` of a page)."""
    if isinstance(fig, go.Figure):
        return [trace.to_plotly_json() for trace in fig.data]
    return list(fig["data"])


def figure_events(fig: go.Figure | Mapping[str, Any]) -> dict[tuple[str, str, int | None], list[tuple[str, int, int]]]:
    """The ground-truth and predicted events drawn in a timeline figure.

    Args:
        fig: a figure from :func:`timeline_figure`, or its JSON dict (``{"data": [...]}``, e.g. ``gd.data`` read
            from the page).

    Returns:
        ``{(role, modality, model): sorted [(class_name, onset_s, offset_s), ...]}`` for role ``"gt"`` (model
        ``None``) and ``"pred"`` (model = prediction index), one key per interval trace, empty lists included.
    """
    events = {}
    for trace in _trace_dicts(fig):
        meta = trace.get("meta") or {}
        if meta.get("role") in ("gt", "pred"):
            rows = trace.get("customdata") or []
            events[(meta["role"], meta["modality"], meta["model"])] = sorted(
                (str(name), int(onset), int(offset)) for name, onset, offset in rows
            )
    return events


def figure_statuses(fig: go.Figure | Mapping[str, Any]) -> dict[tuple[str, int], list[tuple[str, int, str]]]:
    """The TP / FP / FN segments drawn in a timeline figure.

    Args:
        fig: a figure from :func:`timeline_figure`, or its JSON dict.

    Returns:
        ``{(modality, model): sorted [(class_name, segment (0-based), status), ...]}`` over the status traces.
    """
    statuses: dict[tuple[str, int], list[tuple[str, int, str]]] = {}
    for trace in _trace_dicts(fig):
        meta = trace.get("meta") or {}
        if meta.get("role") == "status":
            cells = statuses.setdefault((meta["modality"], meta["model"]), [])
            cells += [(str(row[0]), int(row[1]), str(row[2])) for row in trace.get("customdata") or []]
    return {key: sorted(cells) for key, cells in statuses.items()}


def figure_gt_cells(fig: go.Figure | Mapping[str, Any]) -> dict[str, list[tuple[str, int, int]]]:
    """The editable ground-truth cells of a figure made with ``editable=True``.

    Args:
        fig: a figure from :func:`timeline_figure`, or its JSON dict.

    Returns:
        ``{modality: sorted [(class_name, segment (0-based), value 0/1), ...]}`` for ``"audio"`` and ``"visual"``
        (empty when the figure is not editable).
    """
    cells: dict[str, list[tuple[str, int, int]]] = {}
    for trace in _trace_dicts(fig):
        meta = trace.get("meta") or {}
        if meta.get("role") == "gt_cell":
            cells.setdefault(meta["modality"], []).extend(
                (str(row[0]), int(row[2]), int(row[3])) for row in trace.get("customdata") or []
            )
    return {key: sorted(rows) for key, rows in cells.items()}


# ---------------------------------------------------------------------------------------------------------------------
# export


def _file_part(text: str) -> str:
    """``text`` reduced to file-name-safe characters (letters, digits, ``.``, ``_``, ``-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).rstrip("-").strip(".") or "clip"  # LLP ids may start with -


def timeline_config(clip: str, model_names: Sequence[str], threshold: float | None = None) -> dict[str, Any]:
    """The Plotly config of a clip's timeline: its PNG button saves ``<clip>_<model>[_vs_<model 2>]_timeline.png``
    (``..._t<threshold>_timeline.png`` at a non-official threshold), at twice the shown size.

    Args:
        clip: the clip's name, as given to :func:`timeline_figure`.
        model_names: the models' display names, in order.
        threshold: the figure's ``threshold`` argument (None or the official 0.5: no suffix).

    Returns:
        ``{"responsive", "displaylogo", "toImageButtonOptions": {"format": "png", "filename", "scale": 2}}``; the
        file name keeps only letters, digits, ``.``, ``_`` and ``-`` (other runs become ``-``).
    """
    stem = f"{_file_part(clip)}_{'_vs_'.join(_file_part(name) for name in model_names)}"
    if threshold is not None and threshold != OFFICIAL_THRESHOLD:
        stem += f"_t{_number(threshold)}"
    return {
        "responsive": True,
        "displaylogo": False,
        "toImageButtonOptions": {"format": "png", "filename": f"{stem}_timeline", "scale": 2},
    }


def timeline_html(fig: go.Figure | Mapping[str, Any] | str, include_plotlyjs: bool | str = True) -> str:
    """A standalone HTML page of a timeline figure, for download.

    Args:
        fig: a figure from :func:`timeline_figure`, its JSON dict, or the text of :func:`timeline_json` (what the
            app caches: no figure to rebuild).
        include_plotlyjs: ``True`` (default) embeds plotly.js (about 4.6 MB) inline, so that the page opens offline
            and loads nothing from the network; ``"cdn"`` links it from the plotly CDN instead (a small file that
            needs internet access).

    Returns:
        The full HTML document, with :func:`timeline_config` (the PNG button saves ``<clip>_<model>_timeline.png``);
        the figure's div id is fixed (``"timeline"``), so the same figure gives the same text.
    """
    if isinstance(fig, go.Figure):
        figure = fig.to_plotly_json()
    elif isinstance(fig, str):
        figure = json.loads(fig)
    else:
        figure = dict(fig)
    figure = {key: value for key, value in figure.items() if key != "config"}
    meta = (figure.get("layout") or {}).get("meta") or {}
    config = timeline_config(str(meta.get("clip", "clip")), list(meta.get("models", [])), meta.get("threshold"))
    return pio.to_html(
        figure,
        config=config,
        include_plotlyjs=include_plotlyjs,
        full_html=True,
        div_id="timeline",
        validate=False,
    )
