"""The per-clip timeline figure: ground truth, predicted events, per-segment TP / FP / FN and probabilities.

One Plotly figure per clip with three stacked panels sharing the time axis (0-10 s, one light vertical line per
segment border): **Audio**, **Visual** and **Audio-Visual** (AV = audio AND visual, for the ground truth and the
predictions alike, as in the official metric). Each panel has one row per class present in that modality's ground
truth or in any model's prediction, in the official class order. A class row holds, top to bottom:

- the ground-truth lane: one bar per GT event (a maximal run of positive segments, as in the official event-level
  metric), tinted with the class colour and outlined;
- per model (one or two, "compare mode"), a prediction lane: one cell per segment that is a true positive, false
  positive or false negative (TN segments stay empty), framed by one dark outline per predicted event;
- per model, in the audio and visual panels, a probability strip (a heat band, 0-1 colour scale shared by the
  whole figure; MGN values slightly above 1 keep the top colour and show their value on hover).

Machine-readable metadata (read back by :func:`figure_events` and :func:`figure_statuses`, and by a browser test
through ``gd.data``): every trace has ``meta = {"role", "modality", "model", ...}`` with role ``"gt"``, ``"pred"``,
``"status"`` or ``"prob"``, modality ``"audio"``, ``"visual"`` or ``"audio_visual"`` and model the prediction's
index (``None`` for GT). Interval traces (``gt``, ``pred``) hold one bar per event with ``customdata``
``[class_name, onset_s, offset_s]``; status traces (one per modality, model and status, so that the legend toggles
a status everywhere) hold one cell per segment with ``customdata`` ``[class_name, segment, status, probability]``
(probability ``None`` in the AV panel, where the hover shows both); probability traces are heatmaps whose ``z`` rows
are named by ``meta["classes"]`` (``None`` for the blank rows between lanes). ``layout.meta`` is
``{"clip": clip, "models": [names], "rows": {modality: [class names of the panel's rows, top to bottom]}}``.
Every data array is a plain list, so the figure JSON holds no base64 typed arrays and ``gd.data`` in a page holds
the same values.

Time: segment ``t`` covers seconds ``[t, t + 1)``; an event over segments ``s..e`` (inclusive) spans
``[s, e + 1)`` seconds. Building a figure is deterministic (same input, same JSON).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from mgn.events import find_events, segment_iou
from mgn.explore.checks import binary_array, raise_at_first, real_array
from mgn.labels import (
    CLASS_COLORS,
    CLASSES,
    EVAL_MODALITIES,
    MODALITY_TITLES,
    NUM_CLASSES,
    NUM_SEGMENTS,
    audio_visual,
    display_name,
)
from mgn.metrics import EVENT_IOU_THRESHOLD

__all__ = [
    "MAX_MODELS",
    "STATUSES",
    "STATUS_COLORS",
    "ClipPrediction",
    "figure_events",
    "figure_statuses",
    "timeline_figure",
    "timeline_html",
    "timeline_json",
]

STATUSES: tuple[str, ...] = ("TP", "FP", "FN")
# Okabe-Ito colours (distinguishable under the common colour-vision deficiencies); FN is also hatched.
STATUS_COLORS: dict[str, str] = {"TP": "#0072B2", "FP": "#D55E00", "FN": "#E69F00"}
_STATUS_HOVER: dict[str, str] = {
    "TP": "TP: predicted and in the ground truth",
    "FP": "FP: predicted, not in the ground truth",
    "FN": "FN: in the ground truth, not predicted",
    "TN": "TN: neither predicted nor in the ground truth",
}
_STATUS_LEGEND: dict[str, str] = {"TP": "TP (correct)", "FP": "FP (false alarm)", "FN": "FN (missed)"}
MAX_MODELS = 2  # one model, or two side by side (compare mode)

# Geometry of one class row, in y-axis units (the y axis points down: row k starts at k * row height).
_ROW_PAD = 0.10  # blank space above and below the lanes of a class row
_LANE_GAP = 0.05  # blank space between two lanes
_LANE_HEIGHTS: dict[str, float] = {"gt": 0.30, "pred": 0.30, "prob": 0.16}
_OUTLINE_OVERHANG = 0.04  # predicted-event frames stand this much above and below the status cells
_CELL_INSET_S = 0.04  # seconds left blank on each side of a status cell, so neighbouring cells stay apart
_EMPTY_PANEL_HEIGHT = 0.7  # y units of a panel without any class row
_PX_PER_UNIT = 66  # pixels per y unit
_PANEL_GAP_PX = 62  # vertical space between panels (subplot title and tick labels)
_MARGIN_TOP_PX = 110  # title and legend
_TITLE_Y_PX = 22  # title centre, from the top of the figure
_LEGEND_Y_PX = 56  # legend centre, from the top of the figure
_MARGIN_BOTTOM_PX = 50  # x-axis title

_PROB_COLORSCALE = [[0.0, "#f7f7f7"], [0.5, "#969696"], [1.0, "#252525"]]
_PRED_OUTLINE_COLOR = "#1a1a1a"
_GT_FILL_ALPHA = 0.35
_ZEBRA_COLOR = "rgba(0, 0, 0, 0.035)"


# ---------------------------------------------------------------------------------------------------------------------
# inputs


def _binary_rows(values: Any, name: str) -> np.ndarray:
    """``values`` as a ``(C, T)`` bool matrix [class, segment]; a ValueError names ``name`` otherwise."""
    return binary_array(values, name, (NUM_CLASSES, NUM_SEGMENTS), "[class, segment]")


def _check_probabilities(values: Any, name: str) -> None:
    """``(T, C)`` [segment, class] probabilities must be finite and >= 0; a ValueError names ``name`` otherwise."""
    array = real_array(values, name, (NUM_SEGMENTS, NUM_CLASSES), "[segment, class]")
    invalid = ~np.isfinite(array) | (array < 0)
    raise_at_first(invalid, array, name, "probabilities must be finite and >= 0", "[segment, class]")


@dataclass(frozen=True, eq=False)  # eq=False: array fields have no truth value to compare
class ClipPrediction:
    """One model's output for one clip, as the timeline shows it.

    Args:
        name: model label shown in the legend and on the lane ticks, e.g. ``"MGN"`` or ``"HAN"``.
        pred_audio: binary audio segment predictions, ``(C, T) uint8`` [class, segment], values 0/1.
        pred_visual: binary visual segment predictions, ``(C, T) uint8`` [class, segment].
        prob_audio: audio segment probabilities, ``(T, C) float32`` [segment, class] as the models return them
            (``a_frame_prob``); values >= 0, MGN's may exceed 1 slightly.
        prob_visual: visual segment probabilities, ``(T, C) float32`` [segment, class] (``v_frame_prob``).

    Raises:
        ValueError: an empty name, a shape other than the above, a value other than 0/1 in a binary matrix, or a
            probability that is negative, NaN or infinite; the message names the model and the field.
    """

    name: str
    pred_audio: np.ndarray
    pred_visual: np.ndarray
    prob_audio: np.ndarray
    prob_visual: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"ClipPrediction.name must be a non-empty string, found {self.name!r}")
        for field in ("pred_audio", "pred_visual"):
            _binary_rows(getattr(self, field), f"{self.name}.{field}")
        for field in ("prob_audio", "prob_visual"):
            _check_probabilities(getattr(self, field), f"{self.name}.{field}")


@dataclass(frozen=True, eq=False)
class _ModelRows:
    """One model's validated matrices, all ``(C, T)`` [class, segment]."""

    name: str
    pred: dict[str, np.ndarray]  # modality -> bool; audio_visual = audio AND visual
    prob_audio: np.ndarray  # float64
    prob_visual: np.ndarray  # float64


def _model_rows(prediction: ClipPrediction) -> _ModelRows:
    """A prediction's matrices in the ``(C, T)`` layout, with its AV product (checked by ``ClipPrediction``)."""
    pred_audio = np.asarray(prediction.pred_audio) == 1  # (C, T) bool
    pred_visual = np.asarray(prediction.pred_visual) == 1
    return _ModelRows(
        name=prediction.name,
        pred={"audio": pred_audio, "visual": pred_visual, "audio_visual": audio_visual(pred_audio, pred_visual)},
        prob_audio=np.asarray(prediction.prob_audio).T.astype(np.float64),  # (T, C) -> (C, T); float32 -> 64 exact
        prob_visual=np.asarray(prediction.prob_visual).T.astype(np.float64),
    )


# ---------------------------------------------------------------------------------------------------------------------
# events and statuses


def _row_events(rows: np.ndarray) -> list[tuple[int, int, int]]:
    """Events of ``(C, T)`` bool rows: ``(class, onset, offset)`` with segments ``[onset, offset)``, class-major."""
    classes, onsets, offsets = find_events(rows)  # (E,) each
    return list(zip(classes.tolist(), onsets.tolist(), offsets.tolist()))


def _best_match(event: tuple[int, int, int], others: list[tuple[int, int, int]]) -> tuple[float, tuple[int, int]]:
    """Best IoU of ``event`` with the events of the same class in ``others``, and that event's range."""
    best = (0.0, (0, 0))
    for class_index, onset, offset in others:
        if class_index == event[0]:
            iou = segment_iou((event[1], event[2]), (onset, offset))
            if iou > best[0]:
                best = (iou, (onset, offset))
    return best


def _segment_status(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-segment status ``(C, T)`` of str: ``TP``, ``FP``, ``FN`` or ``TN``."""
    return np.where(gt, np.where(pred, "TP", "FN"), np.where(pred, "FP", "TN"))


def _seconds(onset: int, offset: int) -> str:
    """Segment range ``[onset, offset)`` as text: ``segments 2–5 (2–6 s)`` or ``segment 3 (3–4 s)``."""
    if offset - onset == 1:
        return f"segment {onset} ({onset}–{offset} s)"
    return f"segments {onset}–{offset - 1} ({onset}–{offset} s)"


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
    """Stack the lanes of a class row (GT, then per model its prediction lane and its probability strip)."""
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


# ---------------------------------------------------------------------------------------------------------------------
# traces (plain dicts: the figure is validated once, when it is built)


def _rgba(hex_color: str, alpha: float) -> str:
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"


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
    row_of = {class_index: row for row, class_index in enumerate(geometry.classes)}
    return {
        "orientation": "h",
        "y": [geometry.center(row_of[c], kind, model) for c, _, _ in events],
        "base": [onset for _, onset, _ in events],  # segment index = seconds
        "x": [offset - onset for _, onset, offset in events],  # duration in seconds
        "customdata": [[CLASSES[c], onset, offset] for c, onset, offset in events],
    }


def _gt_trace(
    modality: str, axis: int, geometry: _PanelGeometry, gt_events: list, model_events: list[list], models: list
) -> dict[str, Any]:
    """Ground-truth events as tinted, outlined bars; the hover says which model found each (IoU >= 0.5)."""
    hover = []
    for event in gt_events:
        lines = [
            f"<b>{display_name(event[0])}</b> · {MODALITY_TITLES[modality]} · ground truth",
            f"event: {_seconds(event[1], event[2])}",
        ]
        for rows, events in zip(models, model_events):
            iou, (onset, offset) = _best_match(event, events)
            found = iou >= EVENT_IOU_THRESHOLD
            lines.append(f"{rows.name}: " + (f"found (IoU {iou:.2f} with {onset}–{offset} s)" if found else "missed"))
        hover.append("<br>".join(lines))
    colors = [CLASS_COLORS[c] for c, _, _ in gt_events]
    return _trace(
        "bar",
        axis,
        {"role": "gt", "modality": modality, "model": None},
        **_interval_bars(gt_events, geometry, "gt", None),
        width=_LANE_HEIGHTS["gt"],
        name="Ground truth",
        legendgroup="gt",
        legendrank=1,
        hovertext=hover,
        hoverinfo="text",
        marker={"color": [_rgba(color, _GT_FILL_ALPHA) for color in colors], "line": {"color": colors, "width": 2}},
    )


def _pred_trace(modality: str, axis: int, geometry: _PanelGeometry, events: list, model: int, name: str) -> dict:
    """Predicted events as dark frames around the model's status cells (which carry the hover)."""
    return _trace(
        "bar",
        axis,
        {"role": "pred", "modality": modality, "model": model},
        **_interval_bars(events, geometry, "pred", model),
        width=_LANE_HEIGHTS["pred"] + 2 * _OUTLINE_OVERHANG,
        name=f"{name}: predicted event",
        legendgroup=f"pred-{model}",
        legendrank=2 + model,
        hoverinfo="skip",
        marker={"color": "rgba(0, 0, 0, 0)", "line": {"color": _PRED_OUTLINE_COLOR, "width": 2}},
    )


def _probability(modality: str, rows: _ModelRows, class_index: int, segment: int) -> tuple[float | None, str]:
    """The probability of one segment (None for AV) and its hover line (AV shows the audio and visual ones)."""
    if modality == "audio_visual":
        audio, visual = rows.prob_audio[class_index, segment], rows.prob_visual[class_index, segment]
        return None, f"p audio = {audio:.3f}, p visual = {visual:.3f}"
    probability = float((rows.prob_audio if modality == "audio" else rows.prob_visual)[class_index, segment])
    return probability, f"p = {probability:.3f}" + (" (colour clipped at 1)" if probability > 1 else "")


def _segment_hover(modality: str, rows: _ModelRows, class_index: int, segment: int, status: str) -> str:
    """Hover text of one segment of a model's lane: class, modality, model, segment, probability, status."""
    return (
        f"<b>{display_name(class_index)}</b> · {MODALITY_TITLES[modality]} · {rows.name}<br>"
        f"{_seconds(segment, segment + 1)}<br>{_probability(modality, rows, class_index, segment)[1]}<br>"
        f"<b>{_STATUS_HOVER[status]}</b>"
    )


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


def _status_traces(
    modality: str,
    axis: int,
    geometry: _PanelGeometry,
    status: np.ndarray,
    rows: _ModelRows,
    model: int,
    verdicts: dict[tuple[int, int], str],
) -> list[dict[str, Any]]:
    """One trace per status (TP, FP, FN) with a cell per segment of the model's lane; TN segments stay blank."""
    traces = []
    for name in STATUSES:
        class_rows, segments = np.nonzero(status[list(geometry.classes)] == name)  # (C_panel, T) -> cell indices
        y, customdata, hover = [], [], []
        for row, segment in zip(class_rows.tolist(), segments.tolist()):
            class_index = geometry.classes[row]
            probability = _probability(modality, rows, class_index, segment)[0]
            y.append(geometry.center(row, "pred", model))
            customdata.append([CLASSES[class_index], segment, name, probability])
            verdict = verdicts.get((class_index, segment))
            text = _segment_hover(modality, rows, class_index, segment, name)
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
    modality: str, axis: int, geometry: _PanelGeometry, status: np.ndarray, rows: _ModelRows, model: int
) -> dict[str, Any]:
    """The model's segment probabilities as a heat band under its lane; blank (None) z rows between the bands."""
    probabilities = rows.prob_audio if modality == "audio" else rows.prob_visual  # (C, T)
    y_edges: list[float] = []
    z: list[list[float | None]] = []
    hover: list[list[str]] = []
    row_classes: list[str | None] = []
    for row, class_index in enumerate(geometry.classes):
        if row:
            z.append([None] * NUM_SEGMENTS)
            hover.append([""] * NUM_SEGMENTS)
            row_classes.append(None)
        y_edges += geometry.span(row, "prob", model)
        z.append(probabilities[class_index].tolist())
        hover.append(
            [_segment_hover(modality, rows, class_index, t, status[class_index, t]) for t in range(NUM_SEGMENTS)]
        )
        row_classes.append(CLASSES[class_index])
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
        name=f"{rows.name}: probability",
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
    for row, class_index in enumerate(geometry.classes):
        values.append(geometry.center(row, "gt", None))
        texts.append(f"<span style='color:{CLASS_COLORS[class_index]}'>■</span> <b>{display_name(class_index)}</b>")
        for model, rows in enumerate(models):
            values.append(geometry.center(row, "pred", model))
            texts.append(f"<span style='color:#666666;font-size:10px'>{rows.name}</span>")
    return values, texts


def _panel_layout(
    geometries: dict[str, _PanelGeometry], models: list[_ModelRows]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], float]:
    """Axes, annotations (titles, "no events") and shapes (zebra rows) of the stacked panels, and the plot height.

    Returns:
        ``(axes, annotations, shapes, plot_px)``: the ``xaxis{i}`` / ``yaxis{i}`` layout entries, panel 1 on top.
    """
    heights = [geometries[modality].height for modality in EVAL_MODALITIES]
    plot_px = _PX_PER_UNIT * sum(heights) + _PANEL_GAP_PX * (len(EVAL_MODALITIES) - 1)
    axes: dict[str, Any] = {}
    annotations: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    top_px = plot_px
    for axis, modality in enumerate(EVAL_MODALITIES, start=1):
        geometry = geometries[modality]
        bottom_px = top_px - _PX_PER_UNIT * geometry.height
        domain = [max(bottom_px / plot_px, 0.0), top_px / plot_px]
        tick_values, tick_texts = _axis_ticks(geometry, models)
        axes[_axis("xaxis", axis)] = {
            "anchor": _axis("y", axis),
            "domain": [0.0, 1.0],
            "range": [0, NUM_SEGMENTS],
            "tickvals": list(range(NUM_SEGMENTS + 1)),
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
                {"matches": _axis("x", len(EVAL_MODALITIES))}
                if axis < len(EVAL_MODALITIES)
                else {"title": {"text": "time (s) · segment t covers [t, t + 1) s", "standoff": 8}}
            ),
        }
        axes[_axis("yaxis", axis)] = {
            "anchor": _axis("x", axis),
            "domain": domain,
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
        if modality == "audio_visual":
            title += " <span style='font-size:11px;color:#555555'>(audio AND visual)</span>"
        annotations.append(
            {
                "text": title,
                "xref": "paper",
                "yref": "paper",
                "x": 0.5,
                "y": domain[1],
                "xanchor": "center",
                "yanchor": "bottom",
                "yshift": 4,
                "showarrow": False,
                "font": {"size": 14},
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
        top_px = bottom_px - _PANEL_GAP_PX
    return axes, annotations, shapes, plot_px


# ---------------------------------------------------------------------------------------------------------------------
# figure


def _validated_models(predictions: Sequence[ClipPrediction]) -> list[_ModelRows]:
    if not 1 <= len(predictions) <= MAX_MODELS:
        raise ValueError(f"predictions: expected 1 to {MAX_MODELS} ClipPrediction objects, found {len(predictions)}")
    for index, prediction in enumerate(predictions):
        if not isinstance(prediction, ClipPrediction):
            raise ValueError(f"predictions[{index}]: expected a ClipPrediction, found {type(prediction).__name__}")
    names = [prediction.name for prediction in predictions]
    if len(set(names)) != len(names):
        raise ValueError(f"predictions: model names must differ, found {names}")
    return [_model_rows(prediction) for prediction in predictions]


def timeline_figure(
    clip: str, gt_audio: np.ndarray, gt_visual: np.ndarray, predictions: Sequence[ClipPrediction]
) -> go.Figure:
    """The timeline of one clip: ground truth against one or two models' predictions, per modality.

    Args:
        clip: the clip's name (LLP video id), shown as the title and stored in ``layout.meta["clip"]``.
        gt_audio: audio ground truth, ``(C, T) uint8`` [class, segment], values 0/1.
        gt_visual: visual ground truth, ``(C, T) uint8`` [class, segment].
        predictions: one :class:`ClipPrediction`, or two to compare them (distinct names).

    Returns:
        The figure (see the module docstring for its layout and its machine-readable ``meta``); its height grows
        with the number of class rows, its width follows the container.

    Raises:
        ValueError: a matrix has the wrong shape or a value other than 0/1, there are no or more than two
            predictions, or two predictions share a name.
    """
    return go.Figure(_figure_dict(clip, gt_audio, gt_visual, predictions))


def timeline_json(clip: str, gt_audio: np.ndarray, gt_visual: np.ndarray, predictions: Sequence[ClipPrediction]) -> str:
    """The JSON of :func:`timeline_figure` without building (and validating) the ``go.Figure``: about ten times
    faster, for the app, which sends the JSON and never needs the object. The content is the figure's (a test holds
    them equal); only the empty template is spelled ``{}`` where Plotly writes its default trace types.

    Arguments and errors as :func:`timeline_figure`.
    """
    return pio.to_json(_figure_dict(clip, gt_audio, gt_visual, predictions), validate=False)


def _figure_dict(
    clip: str, gt_audio: np.ndarray, gt_visual: np.ndarray, predictions: Sequence[ClipPrediction]
) -> dict[str, Any]:
    """The figure of :func:`timeline_figure` as a plain ``{"data": [...], "layout": {...}}`` dict."""
    models = _validated_models(predictions)
    gt_a, gt_v = _binary_rows(gt_audio, f"{clip}: gt_audio"), _binary_rows(gt_visual, f"{clip}: gt_visual")
    gts = {"audio": gt_a, "visual": gt_v, "audio_visual": audio_visual(gt_a, gt_v)}

    geometries: dict[str, _PanelGeometry] = {}
    traces: list[dict[str, Any]] = []
    for axis, modality in enumerate(EVAL_MODALITIES, start=1):
        gt = gts[modality]
        present = gt.any(axis=1) | np.any([rows.pred[modality].any(axis=1) for rows in models], axis=0)  # (C,)
        has_prob = modality != "audio_visual"
        classes = tuple(np.flatnonzero(present).tolist())
        geometry = geometries[modality] = _panel_geometry(classes, len(models), has_prob)
        gt_events = _row_events(gt)
        model_events = [_row_events(rows.pred[modality]) for rows in models]
        traces.append(_gt_trace(modality, axis, geometry, gt_events, model_events, models))
        for model, rows in enumerate(models):
            status = _segment_status(gt, rows.pred[modality])  # (C, T)
            traces.append(_pred_trace(modality, axis, geometry, model_events[model], model, rows.name))
            verdicts = _event_verdicts(model_events[model], gt_events)
            traces += _status_traces(modality, axis, geometry, status, rows, model, verdicts)
            if has_prob:
                traces.append(_prob_trace(modality, axis, geometry, status, rows, model))
    _show_one_legend_entry(traces)

    axes, annotations, shapes, plot_px = _panel_layout(geometries, models)
    height = round(plot_px + _MARGIN_TOP_PX + _MARGIN_BOTTOM_PX)
    names = [model_rows.name for model_rows in models]
    rows = {modality: [CLASSES[c] for c in geometries[modality].classes] for modality in EVAL_MODALITIES}
    layout = {
        **axes,
        "annotations": annotations,
        "shapes": shapes,
        "height": height,
        "meta": {"clip": clip, "models": names, "rows": rows},
        "title": {
            "text": f"<b>{clip}</b> <span style='font-size:13px;color:#555555'>· {' vs '.join(names)}</span>",
            "x": 0.01,
            "xanchor": "left",
            "y": 1 - _TITLE_Y_PX / height,
            "yanchor": "middle",
        },
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": 1 - _LEGEND_Y_PX / height,
            "yanchor": "middle",
            "yref": "container",
            "font": {"size": 11},
        },
        "coloraxis": {
            "cmin": 0,
            "cmax": 1,
            "colorscale": _PROB_COLORSCALE,
            "colorbar": {"title": {"text": "probability", "side": "right"}, "len": 0.5, "thickness": 12},
        },
        "margin": {"t": _MARGIN_TOP_PX, "b": _MARGIN_BOTTOM_PX, "l": 10, "r": 10},
        "barmode": "overlay",
        "hovermode": "closest",
        "hoverlabel": {"align": "left"},
        "font": {"size": 12, "color": "#2a3f5f"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "template": {},  # pinned: the figure must not depend on plotly's global default template
    }
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
        ``{(modality, model): sorted [(class_name, segment, status), ...]}`` over the status traces.
    """
    statuses: dict[tuple[str, int], list[tuple[str, int, str]]] = {}
    for trace in _trace_dicts(fig):
        meta = trace.get("meta") or {}
        if meta.get("role") == "status":
            cells = statuses.setdefault((meta["modality"], meta["model"]), [])
            cells += [(str(row[0]), int(row[1]), str(row[2])) for row in trace.get("customdata") or []]
    return {key: sorted(cells) for key, cells in statuses.items()}


def timeline_html(fig: go.Figure, include_plotlyjs: bool | str = True) -> str:
    """A standalone HTML page of a timeline figure, for download.

    Args:
        fig: a figure from :func:`timeline_figure`.
        include_plotlyjs: ``True`` (default) embeds plotly.js (about 4.6 MB) so that the file opens offline;
            ``"cdn"`` links it from the plotly CDN instead (a small file that needs internet access).

    Returns:
        The full HTML document; the figure's div id is fixed (``"timeline"``), so the same figure gives the same
        text.
    """
    return fig.to_html(
        include_plotlyjs=include_plotlyjs,
        full_html=True,
        div_id="timeline",
        config={"responsive": True, "displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}},
    )
