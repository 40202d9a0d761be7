"""Dataset-level views of one split: the Table-1 scores, per-class segment F, and a modality confusion matrix.

Inputs are whole splits in the metrics layout ``(N, C, T)`` [clip, class, segment], 0/1 (uint8 or bool), with
C = ``NUM_CLASSES`` = 25 classes in the official order and T = ``NUM_SEGMENTS`` = 10 one-second segments. The
audio-visual (AV) matrices are the element-wise products audio AND visual, for the ground truth and the predictions
alike, as in the official metric. Everything is vectorised with numpy over clips, classes and segments; the
functions return pandas DataFrames (for tables) or Plotly figures, and import neither gradio nor torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mgn.explore.checks import binary_array
from mgn.explore.colors import MODALITY_COLORS  # the explorer's one scheme: no modality shares a status colour
from mgn.labels import CLASSES, EVAL_MODALITIES, NUM_CLASSES, NUM_SEGMENTS, audio_visual, display_name
from mgn.metrics import LEVEL_TITLES, LEVELS, METRIC_TITLES, METRICS, Scores

__all__ = [
    "CONFUSION_CATEGORIES",
    "MODALITY_COLORS",
    "PER_CLASS_MODALITIES",
    "confusion_figure",
    "modality_confusion",
    "per_class_figure",
    "per_class_scores",
    "table1_comparison",
    "table1_frame",
]

PER_CLASS_MODALITIES: tuple[str, ...] = EVAL_MODALITIES  # audio, visual, audio_visual
# Where a class is in a clip: audible (some audio segment positive), visible (some visual segment positive), both,
# or neither. The order of the confusion matrix rows and columns.
CONFUSION_CATEGORIES: tuple[str, ...] = ("audible only", "visible only", "audible and visible", "absent")
_CATEGORY_OF_CODE = np.array([3, 0, 1, 2])  # code = audible + 2 * visible -> index in CONFUSION_CATEGORIES
_SPLIT_SHAPE = ("N", NUM_CLASSES, NUM_SEGMENTS)
_SPLIT_LAYOUT = "[clip, class, segment]"


# ---------------------------------------------------------------------------------------------------------------------
# inputs


def _split_matrices(gt_a: Any, gt_v: Any, pred_a: Any, pred_v: Any) -> dict[str, np.ndarray]:
    """The four split matrices as ``(N, C, T)`` bool arrays; a ValueError names the bad one and what was expected."""
    matrices = {}
    for name, values in {"gt_a": gt_a, "gt_v": gt_v, "pred_a": pred_a, "pred_v": pred_v}.items():
        matrices[name] = binary_array(values, name, _SPLIT_SHAPE, _SPLIT_LAYOUT)
        if len(matrices[name]) == 0:
            raise ValueError(f"{name}: no clips (N = 0)")
    shapes = {name: matrix.shape for name, matrix in matrices.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"the four matrices must have the same shape, found {shapes}")
    return matrices


def _by_modality(audio: np.ndarray, visual: np.ndarray) -> dict[str, np.ndarray]:
    """Audio, visual and audio-visual (= audio AND visual) matrices, keyed as :data:`PER_CLASS_MODALITIES`."""
    return {"audio": audio, "visual": visual, "audio_visual": audio_visual(audio, visual)}


# ---------------------------------------------------------------------------------------------------------------------
# Table 1


def table1_frame(scores: Scores) -> pd.DataFrame:
    """The Table-1 row pair of one result, as a DataFrame.

    Args:
        scores: the output of :func:`mgn.metrics.avvp_scores`.

    Returns:
        Rows ``Segment-level``, ``Event-level`` (index named ``level``); columns ``Audio``, ``Visual``,
        ``Audio-Visual``, ``Type@AV``, ``Event@AV``; float64 percentages rounded to one decimal exactly as
        :func:`mgn.metrics.format_table` prints them.
    """
    rows = []
    for level in LEVELS:
        # rounded as the printed tables (`format_table`) round: the decimal text of the float, not numpy's round
        rows.append([float(f"{scores.level(level).metric(metric):.1f}") for metric in METRICS])
    index = pd.Index([LEVEL_TITLES[level] for level in LEVELS], name="level")
    return pd.DataFrame(rows, index=index, columns=[METRIC_TITLES[metric] for metric in METRICS])


def table1_comparison(scores: Sequence[Scores], names: Sequence[str]) -> pd.DataFrame:
    """Table 1 of one or two results side by side, one row per level and metric.

    Args:
        scores: one or two outputs of :func:`mgn.metrics.avvp_scores` (e.g. two models on the same split).
        names: their names, the value columns' headers.

    Returns:
        Columns ``level`` (``Segment-level``, ``Event-level``), ``metric`` (``Audio`` ... ``Event@AV``), one column
        per name with the percentages as :func:`table1_frame` rounds them, and for two results
        ``"Δ (<second> − <first>)"``: the second minus the first, of the rounded values (so the table adds up).
        Rows: the segment level's five metrics, then the event level's.

    Raises:
        ValueError: not one or two results, a name per result, or two equal names.
    """
    if not 1 <= len(scores) <= 2 or len(names) != len(scores) or len(set(names)) != len(names):
        raise ValueError(f"expected one or two results with distinct names, found {len(scores)} and names {names}")
    frames = [table1_frame(result) for result in scores]  # (2 levels, 5 metrics) each
    long = frames[0].stack().rename_axis(["level", "metric"]).rename(names[0]).to_frame()
    if len(frames) == 2:
        long[names[1]] = frames[1].stack().to_numpy()
        long[f"Δ ({names[1]} − {names[0]})"] = (long[names[1]] - long[names[0]]).round(1)
    return long.reset_index()


# ---------------------------------------------------------------------------------------------------------------------
# per-class scores


def per_class_scores(gt_a: Any, gt_v: Any, pred_a: Any, pred_v: Any) -> pd.DataFrame:
    """Segment-level F per class and modality, with TP / FP / FN pooled over all clips of the split.

    Note that this pools the counts over the split (a micro average per class), unlike the official per-clip mean.

    Args:
        gt_a: audio ground truth ``(N, C, T)`` [clip, class, segment], values 0/1.
        gt_v: visual ground truth, same layout.
        pred_a: audio predictions, same layout.
        pred_v: visual predictions, same layout.

    Returns:
        One row per class in the official order (index = class index): ``class`` (official name),
        ``audio_f``, ``visual_f``, ``audio_visual_f`` (``100 * 2 TP / (2 TP + FP + FN)`` in percent, NaN when the
        class has neither ground-truth nor predicted segments in that modality), ``gt_audio``, ``gt_visual``,
        ``gt_audio_visual`` (positive ground-truth segments, int64) and ``pred_audio``, ``pred_visual``,
        ``pred_audio_visual`` (predicted segments, int64).

    Raises:
        ValueError: a matrix has the wrong shape, no clips or a value other than 0/1, or the shapes differ.
    """
    matrices = _split_matrices(gt_a, gt_v, pred_a, pred_v)
    gts = _by_modality(matrices["gt_a"], matrices["gt_v"])
    preds = _by_modality(matrices["pred_a"], matrices["pred_v"])
    f_scores, gt_counts, pred_counts = {}, {}, {}
    for modality in PER_CLASS_MODALITIES:
        gt, pred = gts[modality], preds[modality]
        tp = np.count_nonzero(gt & pred, axis=(0, 2))  # (N, C, T) -> (C,)
        gt_counts[f"gt_{modality}"] = np.count_nonzero(gt, axis=(0, 2)).astype(np.int64)  # (C,) = TP + FN
        pred_counts[f"pred_{modality}"] = np.count_nonzero(pred, axis=(0, 2)).astype(np.int64)  # (C,) = TP + FP
        denominator = gt_counts[f"gt_{modality}"] + pred_counts[f"pred_{modality}"]  # 2 TP + FP + FN
        f_scores[f"{modality}_f"] = np.divide(
            200.0 * tp, denominator, out=np.full(NUM_CLASSES, np.nan), where=denominator > 0
        )
    columns = {"class": list(CLASSES), **f_scores, **gt_counts, **pred_counts}
    return pd.DataFrame(columns, index=pd.RangeIndex(NUM_CLASSES, name="class_index"))


def _plain(values: pd.Series) -> list[float | None]:
    """A float column as a plain list with ``None`` for NaN (no base64 typed arrays in the figure JSON)."""
    return [None if np.isnan(value) else float(value) for value in values]


def per_class_figure(frame: pd.DataFrame) -> go.Figure:
    """Grouped horizontal bars: the segment-level F of each class for audio, visual and audio-visual.

    Args:
        frame: the output of :func:`per_class_scores`.

    Returns:
        A figure with one bar trace per modality (``meta = {"role": "per_class", "modality": ...}``), classes top to
        bottom in the official order, F in percent on x and printed beside each bar; a class without any segment in
        a modality (F = NaN) has neither bar nor number there.

    Raises:
        ValueError: a column of :func:`per_class_scores` is missing.
    """
    needed = ["class"] + [name for m in PER_CLASS_MODALITIES for name in (f"{m}_f", f"gt_{m}", f"pred_{m}")]
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise ValueError(f"frame: missing columns {missing}; expected the output of per_class_scores")
    names = [display_name(name) for name in frame["class"]]
    traces = []
    for modality in PER_CLASS_MODALITIES:
        title = METRIC_TITLES[modality]  # "Audio", "Visual", "Audio-Visual"
        counts = [[int(gt), int(pred)] for gt, pred in zip(frame[f"gt_{modality}"], frame[f"pred_{modality}"])]
        traces.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": title,
                "y": names,
                "x": _plain(frame[f"{modality}_f"]),
                "customdata": counts,
                "marker": {"color": MODALITY_COLORS[modality]},
                "texttemplate": "%{x:.1f}",
                "textposition": "outside",
                "textfont": {"size": 9},
                "cliponaxis": False,
                "meta": {"role": "per_class", "modality": modality},
                "hovertemplate": f"<b>%{{y}}</b> · {title}<br>F = %{{x:.1f}} %<br>"
                "GT segments: %{customdata[0]}<br>predicted segments: %{customdata[1]}<extra></extra>",
            }
        )
    layout = {
        "barmode": "group",
        "bargap": 0.25,
        "bargroupgap": 0.05,
        "height": 140 + 30 * len(names),
        "title": {
            "text": "<b>Per-class segment-level F</b> <span style='font-size:12px'>(TP / FP / FN pooled over the "
            "split; no bar: no GT or predicted segment)</span>",
            "x": 0.01,
        },
        "xaxis": {
            "title": {"text": "F (%)"},
            "range": [0, 105],
            "tickvals": list(range(0, 101, 20)),
            "gridcolor": "#e5e5e5",
            "zeroline": False,
        },
        "yaxis": {"categoryorder": "array", "categoryarray": names, "autorange": "reversed", "automargin": True},
        "legend": {"orientation": "h", "x": 0, "y": 1, "yanchor": "bottom"},
        "margin": {"t": 80, "l": 10, "r": 10, "b": 50},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hovermode": "closest",
        "template": {},
    }
    return go.Figure(data=traces, layout=layout)


# ---------------------------------------------------------------------------------------------------------------------
# modality confusion


def _categories(audio: np.ndarray, visual: np.ndarray) -> np.ndarray:
    """Per (clip, class) index into :data:`CONFUSION_CATEGORIES`: ``(N, C, T)`` bool pair -> ``(N, C)`` int."""
    code = audio.any(axis=2).astype(np.int64) + 2 * visual.any(axis=2)  # (N, C): audible + 2 * visible
    return _CATEGORY_OF_CODE[code]


def modality_confusion(gt_a: Any, gt_v: Any, pred_a: Any, pred_v: Any, class_index: int | None = None) -> pd.DataFrame:
    """Counts of (clip, class) pairs by ground-truth and predicted modality category.

    A class is *audible* in a clip when some audio segment is positive and *visible* when some visual segment is;
    each (clip, class) pair then falls in one of :data:`CONFUSION_CATEGORIES` for the ground truth and one for the
    prediction. The (absent, absent) cell counts the pairs where the class is neither in the ground truth nor
    predicted (the true negatives); it is kept so that the cells add up to the number of pairs (N clips times the
    classes considered), and it dwarfs the other cells (about 23 of the 25 classes in a clip), so
    :func:`confusion_figure` leaves it out of the colour scale.

    Args:
        gt_a: audio ground truth ``(N, C, T)`` [clip, class, segment], values 0/1.
        gt_v: visual ground truth, same layout.
        pred_a: audio predictions, same layout.
        pred_v: visual predictions, same layout.
        class_index: restrict to this class (official index); ``None`` counts all classes.

    Returns:
        A 4 x 4 int64 DataFrame: index = ground-truth category (named ``ground truth``), columns = predicted category
        (named ``prediction``), both in :data:`CONFUSION_CATEGORIES` order. ``frame.attrs["scope"]`` names the
        class (display name) or says ``all classes``.

    Raises:
        ValueError: a matrix is invalid (see :func:`per_class_scores`) or ``class_index`` is out of range.
    """
    if class_index is not None and not (isinstance(class_index, (int, np.integer)) and 0 <= class_index < NUM_CLASSES):
        raise ValueError(f"class_index: expected None or an integer in [0, {NUM_CLASSES}), found {class_index!r}")
    matrices = _split_matrices(gt_a, gt_v, pred_a, pred_v)
    if class_index is not None:
        matrices = {name: matrix[:, [class_index]] for name, matrix in matrices.items()}  # (N, 1, T)
    gt = _categories(matrices["gt_a"], matrices["gt_v"])  # (N, C')
    pred = _categories(matrices["pred_a"], matrices["pred_v"])  # (N, C')
    size = len(CONFUSION_CATEGORIES)
    counts = np.bincount((gt * size + pred).ravel(), minlength=size * size).reshape(size, size)  # [gt, pred]
    frame = pd.DataFrame(
        counts.astype(np.int64),
        index=pd.Index(CONFUSION_CATEGORIES, name="ground truth"),
        columns=pd.Index(CONFUSION_CATEGORIES, name="prediction"),
    )
    frame.attrs["scope"] = "all classes" if class_index is None else display_name(int(class_index))
    return frame


def confusion_figure(frame: pd.DataFrame) -> go.Figure:
    """Annotated heatmap of a modality confusion matrix: counts as text, colour = share of the ground-truth row.

    The (absent, absent) cell (true negatives) is left uncoloured and out of the row shares, so that the absent row
    shows how spurious predictions split; its count is still printed.

    Args:
        frame: the output of :func:`modality_confusion`.

    Returns:
        A figure with one heatmap trace (``meta = {"role": "confusion", "scope": ...}``): ground truth on y (top to
        bottom in :data:`CONFUSION_CATEGORIES` order), prediction on x, ``z`` the row shares in [0, 1] (``None`` for
        the true-negative cell and for empty rows), ``text`` the counts.

    Raises:
        ValueError: the frame is not a 4 x 4 matrix over :data:`CONFUSION_CATEGORIES`.
    """
    categories = list(CONFUSION_CATEGORIES)
    if list(frame.index) != categories or list(frame.columns) != categories:
        found = f"{list(frame.index)} x {list(frame.columns)}"
        raise ValueError(f"frame: expected rows and columns {categories}, found {found}")
    counts = frame.to_numpy(dtype=np.int64)  # (4, 4) [gt, pred]
    coloured = np.ones(counts.shape, dtype=bool)
    coloured[-1, -1] = False  # (absent, absent): the true negatives
    row_totals = np.where(coloured, counts, 0).sum(axis=1, keepdims=True)  # (4, 1)
    shares = np.divide(counts, row_totals, out=np.full(counts.shape, np.nan), where=coloured & (row_totals > 0))
    z = [[None if np.isnan(share) else float(share) for share in row] for row in shares]
    text = [[f"{count:,}" for count in row] for row in counts.tolist()]
    text[-1][-1] += "<br><span style='font-size:10px'>(neither: true negatives)</span>"
    hover = [
        [
            f"GT <b>{gt}</b>, predicted <b>{pred}</b><br>{counts[i, j]:,} (clip, class) pairs"
            for j, pred in enumerate(categories)
        ]
        for i, gt in enumerate(categories)
    ]
    for i, j in zip(*np.nonzero(~np.isnan(shares))):
        hover[i][j] += f"<br>{shares[i, j]:.1%} of the row"
    scope = frame.attrs.get("scope", "")
    trace = {
        "type": "heatmap",
        "z": z,
        "x": categories,
        "y": categories,
        "text": text,
        "texttemplate": "%{text}",
        "textfont": {"size": 13},
        "hovertext": hover,
        "hoverinfo": "text",
        "zmin": 0,
        "zmax": 1,
        "colorscale": "Blues",
        "hoverongaps": False,
        "colorbar": {"title": {"text": "share of row", "side": "right"}, "tickformat": ".0%", "thickness": 12},
        "xgap": 2,
        "ygap": 2,
        "meta": {"role": "confusion", "scope": scope},
    }
    layout = {
        "title": {"text": f"<b>Modality confusion</b> · {scope} · (clip, class) pairs", "x": 0.01},
        "xaxis": {"title": {"text": "prediction"}, "side": "top", "type": "category"},
        "yaxis": {"title": {"text": "ground truth"}, "autorange": "reversed", "type": "category", "automargin": True},
        "height": 420,
        "margin": {"t": 110, "l": 10, "r": 10, "b": 20},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "template": {},
    }
    return go.Figure(data=[trace], layout=layout)
