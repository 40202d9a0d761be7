"""The app's clip list: one row of scores and error counts per clip, sorting and filtering.

:func:`clip_table` turns a split's ground truth and binary predictions into a DataFrame (one row per clip, split
order), vectorised over clips; :func:`sort_clips` and :func:`filter_clips` pick the clips worth looking at;
:func:`display_frame` gives the compact, rounded frame a ``gr.Dataframe`` shows.

Layout. Ground truth and predictions are ``(N, C, T) uint8`` 0/1 matrices ``[clip, class, segment]`` with
C = ``NUM_CLASSES`` = 25 and T = ``NUM_SEGMENTS`` = 10; audio-visual (AV) = audio AND visual, segment by segment.

Columns of the table (scores are floats in percent, 0 to 100; counts are int64 numbers of segments):

* ``clip_index`` (position in the split), ``clip`` (full LLP filename), ``video_id`` (11-character YouTube ID);
* ``gt_classes`` / ``pred_classes``: display names in class order with the modalities where the class occurs,
  e.g. ``"Dog (A+V), Speech (A)"`` (``A+V``: in both the audio and the visual rows, not necessarily at once);
* ``seg_audio``, ``seg_visual``, ``seg_av``, ``event_audio``, ``event_visual``, ``event_av``: the official per-clip
  F-scores (:func:`mgn.metrics.avvp_scores`, 1.0 = 100 when a clip has neither GT nor prediction in a modality);
* ``fp_audio``, ``fn_audio``, ``fp_visual``, ``fn_visual``, ``fp_av``, ``fn_av``: false-positive / false-negative
  segments (class, segment cells); ``false_positives`` / ``false_negatives``: audio + visual; ``errors``: both;
* machine columns for filtering: ``gt_audio_mask``, ``gt_visual_mask``, ``gt_av_mask``, ``pred_audio_mask``, ...:
  int64 bit masks, bit c set when class c occurs in at least one segment of that matrix;
* with ``compare`` (a second model): ``disagreement`` (cells where the two models' binary predictions differ, audio
  + visual) and the second model's scores ``seg_audio_2`` ... ``event_av_2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mgn.data.annotations import VIDEO_ID_LENGTH
from mgn.explore.checks import binary_array
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS, audio_visual, display_name
from mgn.metrics import LEVELS, PER_CLIP_COLUMNS, Scores, avvp_scores

__all__ = [
    "DISPLAY_COLUMNS",
    "ERROR_FILTERS",
    "FILTER_MODALITIES",
    "SORT_KEYS",
    "clip_table",
    "display_frame",
    "filter_clips",
    "sort_clips",
]

# Modalities of the table's column names, with the matching column of the metrics' per-clip arrays.
_MODALITY_SUFFIXES: dict[str, str] = {"audio": "audio", "visual": "visual", "audio_visual": "av"}
_LEVEL_PREFIXES: dict[str, str] = {"segment": "seg", "event": "event"}
_MODALITY_TAGS: tuple[str, ...] = ("", "A", "V", "A+V")  # indexed by (in audio) + 2 * (in visual)
_CLASS_BITS = np.left_shift(np.int64(1), np.arange(NUM_CLASSES, dtype=np.int64))  # (C,) bit c = class c
_COMPARE_SUFFIX = "_2"

FILTER_MODALITIES: tuple[str, ...] = ("any", "audio", "visual", "audio_visual")  # "any": audio or visual
ERROR_FILTERS: tuple[str, ...] = ("any", "false_positive", "false_negative", "errors", "perfect")

# UI label -> (column, ascending); ties are broken by clip name.
SORT_KEYS: dict[str, tuple[str, bool]] = {
    "split order": ("clip_index", True),
    "worst audio F (segment)": ("seg_audio", True),
    "worst visual F (segment)": ("seg_visual", True),
    "worst audio-visual F (segment)": ("seg_av", True),
    "worst audio F (event)": ("event_audio", True),
    "worst visual F (event)": ("event_visual", True),
    "worst audio-visual F (event)": ("event_av", True),
    "most false positives": ("false_positives", False),
    "most false negatives": ("false_negatives", False),
    "most errors": ("errors", False),
    "most disagreement": ("disagreement", False),
}

# Column -> header of the compact frame shown in the app, in display order; compare columns only when present.
DISPLAY_COLUMNS: dict[str, str] = {
    "clip": "Clip",
    "gt_classes": "Ground truth",
    "pred_classes": "Predicted",
    "seg_audio": "Seg F audio",
    "seg_visual": "Seg F visual",
    "seg_av": "Seg F AV",
    "event_audio": "Event F audio",
    "event_visual": "Event F visual",
    "event_av": "Event F AV",
    "false_positives": "FP",
    "false_negatives": "FN",
    "errors": "Errors",
    "seg_av_2": "Seg F AV (2)",
    "event_av_2": "Event F AV (2)",
    "disagreement": "Disagree",
}
_DISPLAY_DECIMALS = 1


# ---------------------------------------------------------------------------------------------------------------------
# the table


def _score_columns(scores: Scores) -> dict[str, np.ndarray]:
    """Per-clip official F-scores in percent: ``seg_audio`` ... ``event_av``, each (N,) float64."""
    columns = {}
    for level in LEVELS:
        for modality, suffix in _MODALITY_SUFFIXES.items():
            column = PER_CLIP_COLUMNS.index(modality)
            columns[f"{_LEVEL_PREFIXES[level]}_{suffix}"] = 100.0 * scores.level(level).per_clip[:, column]
    return columns


def _class_masks(rows: np.ndarray) -> np.ndarray:
    """(N, C, T) 0/1 -> (N,) int64 bit masks, bit c set when class c is on in some segment."""
    return rows.any(axis=2) @ _CLASS_BITS  # (N, C) @ (C,) -> (N,)


def _class_strings(audio_rows: np.ndarray, visual_rows: np.ndarray) -> list[str]:
    """Per clip, ``"Dog (A+V), Speech (A)"``: the classes on in either matrix, class order, with their modalities."""
    tag_codes = audio_rows.any(axis=2) + 2 * visual_rows.any(axis=2)  # (N, C) in {0, 1, 2, 3}
    labels = np.array([[f"{display_name(c)} ({tag})" if tag else "" for tag in _MODALITY_TAGS] for c in CLASSES])
    # Many clips share the same classes and tags: build each distinct string once.
    unique_codes, inverse = np.unique(tag_codes, axis=0, return_inverse=True)
    strings = [", ".join(labels[np.flatnonzero(code), code[code > 0]]) for code in unique_codes]
    return [strings[i] for i in inverse.reshape(-1)]


def _error_columns(pred_a: np.ndarray, pred_v: np.ndarray, gt_a: np.ndarray, gt_v: np.ndarray) -> dict[str, np.ndarray]:
    """False-positive / false-negative segment counts per modality and their sums, each (N,) int64."""
    pairs = {
        "audio": (pred_a, gt_a),
        "visual": (pred_v, gt_v),
        "av": (audio_visual(pred_a, pred_v), audio_visual(gt_a, gt_v)),
    }
    columns = {}
    for suffix, (pred, gt) in pairs.items():
        columns[f"fp_{suffix}"] = (pred & ~gt).sum(axis=(1, 2), dtype=np.int64)
        columns[f"fn_{suffix}"] = (~pred & gt).sum(axis=(1, 2), dtype=np.int64)
    columns["false_positives"] = columns["fp_audio"] + columns["fp_visual"]
    columns["false_negatives"] = columns["fn_audio"] + columns["fn_visual"]
    columns["errors"] = columns["false_positives"] + columns["false_negatives"]
    return columns


def _binary_split(values: np.ndarray, name: str, clips: int | str) -> np.ndarray:
    """A ``(N, C, T)`` 0/1 matrix as bool; a ValueError names ``name`` when the shape or a value is wrong."""
    return binary_array(values, name, (clips, NUM_CLASSES, NUM_SEGMENTS), "[clip, class, segment]")


def _checked_scores(scores: Scores | None, pred_a, pred_v, gt_a, gt_v, name: str) -> Scores:
    """``scores`` if given (checked to cover the N clips), else the official scores of the predictions."""
    if scores is None:
        return avvp_scores(pred_a, pred_v, gt_a, gt_v)
    if not isinstance(scores, Scores) or scores.num_clips != len(gt_a):
        found = f"{scores.num_clips} clips" if isinstance(scores, Scores) else type(scores).__name__
        raise ValueError(
            f"{name}: expected the Scores (mgn.metrics.avvp_scores) of the {len(gt_a)} clips, found {found}"
        )
    return scores


def clip_table(
    filenames: Sequence[str] | np.ndarray,
    gt_a: np.ndarray,
    gt_v: np.ndarray,
    pred_a: np.ndarray,
    pred_v: np.ndarray,
    *,
    scores: Scores | None = None,
    compare: tuple[np.ndarray, np.ndarray] | None = None,
    compare_scores: Scores | None = None,
) -> pd.DataFrame:
    """One row per clip (split order) with its classes, official per-clip F-scores and segment error counts.

    Args:
        filenames: (N,) full LLP filenames ``<11-char YouTube ID>_<start>_<end>``, split order.
        gt_a: audio ground truth, ``(N, 25, 10) uint8`` 0/1 [clip, class, segment].
        gt_v: visual ground truth, same layout.
        pred_a: binary audio predictions, same layout.
        pred_v: binary visual predictions, same layout.
        scores: the official scores of ``pred_a, pred_v`` against the ground truth when the caller has them already
            (:func:`mgn.metrics.avvp_scores`); None computes them.
        compare: a second model's ``(pred_a, pred_v)``, same layout, for ``disagreement`` and the ``*_2`` scores.
        compare_scores: the second model's scores, likewise (None: computed).

    Returns:
        The table described in the module docstring, with a RangeIndex; scores are float64 percentages (not
        rounded), counts int64.

    Raises:
        ValueError: a matrix has the wrong shape or a value other than 0/1 (the message names it), the number of
            filenames differs from the number of clips, or given scores cover another number of clips.
    """
    gt_a = _binary_split(gt_a, "gt_a", "N")  # (N, C, T) bool
    count = len(gt_a)
    gt_v, pred_a, pred_v = (
        _binary_split(m, name, count) for m, name in ((gt_v, "gt_v"), (pred_a, "pred_a"), (pred_v, "pred_v"))
    )
    scores = _checked_scores(scores, pred_a, pred_v, gt_a, gt_v, "scores")
    clips = np.asarray(filenames, dtype=str)
    if clips.shape != (len(gt_a),):
        raise ValueError(f"filenames: expected {len(gt_a)} names (one per clip), found shape {clips.shape}")

    columns: dict[str, object] = {
        "clip_index": np.arange(len(clips), dtype=np.int64),
        "clip": clips,
        "video_id": pd.Series(clips).str.slice(0, VIDEO_ID_LENGTH).to_numpy(),
        "gt_classes": _class_strings(gt_a, gt_v),
        "pred_classes": _class_strings(pred_a, pred_v),
        **_score_columns(scores),
        **_error_columns(pred_a, pred_v, gt_a, gt_v),
    }
    matrices = {"gt": (gt_a, gt_v), "pred": (pred_a, pred_v)}
    for source, (audio, visual) in matrices.items():
        for suffix, rows in (("audio", audio), ("visual", visual), ("av", audio_visual(audio, visual))):
            columns[f"{source}_{suffix}_mask"] = _class_masks(rows)
    if compare is not None:
        columns |= _compare_columns(compare, compare_scores, pred_a, pred_v, gt_a, gt_v)
    return pd.DataFrame(columns)


def _compare_columns(
    compare: tuple[np.ndarray, np.ndarray],
    compare_scores: Scores | None,
    pred_a: np.ndarray,
    pred_v: np.ndarray,
    gt_a: np.ndarray,
    gt_v: np.ndarray,
) -> dict[str, np.ndarray]:
    """The second model's scores (``*_2``) and the per-clip count of differing (class, segment, modality) cells."""
    if len(compare) != 2:
        raise ValueError(f"compare: expected a pair (pred_a, pred_v), found {len(compare)} items")
    other_a, other_v = (_binary_split(m, f"compare[{i}]", len(gt_a)) for i, m in enumerate(compare))  # (N, C, T)
    scores = _score_columns(_checked_scores(compare_scores, other_a, other_v, gt_a, gt_v, "compare_scores"))
    disagreement = (pred_a != other_a).sum(axis=(1, 2), dtype=np.int64) + (pred_v != other_v).sum(
        axis=(1, 2), dtype=np.int64
    )
    return {f"{name}{_COMPARE_SUFFIX}": values for name, values in scores.items()} | {"disagreement": disagreement}


# ---------------------------------------------------------------------------------------------------------------------
# sorting and filtering


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of: {', '.join(map(repr, allowed))}")


def sort_clips(table: pd.DataFrame, key: str) -> pd.DataFrame:
    """The table sorted by one of :data:`SORT_KEYS` (a UI label); ties keep clip-name order.

    Raises:
        ValueError: an unknown key, or ``"most disagreement"`` on a table built without ``compare``.
    """
    _check_choice(key, list(SORT_KEYS), "sort key")
    column, ascending = SORT_KEYS[key]
    if column not in table.columns:
        raise ValueError(f"sort key {key!r} needs column {column!r}, which the table lacks (build it with compare=)")
    return table.sort_values([column, "clip"], ascending=[ascending, True], kind="stable")


def _normalized(text: str) -> str:
    """Lower case, underscores as spaces, single spaces: ``"Baby_cry  Infant"`` -> ``"baby cry infant"``."""
    return " ".join(text.replace("_", " ").lower().split())


_NORMALIZED_CLASSES: tuple[str, ...] = tuple(_normalized(name) for name in CLASSES)


def _classes_mask(classes: Sequence[str]) -> np.int64:
    """Bit mask of the named classes; CSV spellings and display names are both accepted."""
    mask = np.int64(0)
    for name in classes:
        key = _normalized(name)
        if key not in _NORMALIZED_CLASSES:
            raise ValueError(f"unknown class {name!r}; expected one of: {', '.join(CLASSES)}")
        mask |= _CLASS_BITS[_NORMALIZED_CLASSES.index(key)]
    return mask


def _modality_suffixes(modality: str) -> tuple[str, ...]:
    """Column suffixes of a filter modality: ``"any"`` is audio or visual."""
    return ("audio", "visual") if modality == "any" else (_MODALITY_SUFFIXES[modality],)


def filter_clips(
    table: pd.DataFrame,
    *,
    query: str = "",
    classes: Sequence[str] = (),
    modality: str = "any",
    error: str = "any",
) -> pd.DataFrame:
    """The rows of a :func:`clip_table` (in its current order) that pass every given filter.

    Args:
        table: from :func:`clip_table`, possibly sorted or filtered already.
        query: case-insensitive substring of the clip filename or of a GT / predicted class name (audio or
            visual); underscores and spaces match each other (``"baby cry"`` finds ``Baby_cry_infant_cry``).
        classes: keep clips where one of these classes (CSV or display spelling) occurs in the ground truth or
            the prediction of ``modality``.
        modality: one of :data:`FILTER_MODALITIES`, the modality of ``classes`` and ``error``; ``"any"`` = audio
            or visual.
        error: one of :data:`ERROR_FILTERS`: ``"false_positive"`` keeps clips with at least one false-positive
            segment in ``modality``, ``"false_negative"`` likewise, ``"errors"`` either, ``"perfect"`` neither.

    Raises:
        ValueError: an unknown class, modality or error value (the message lists the allowed ones).
    """
    _check_choice(modality, FILTER_MODALITIES, "modality")
    _check_choice(error, ERROR_FILTERS, "error filter")
    keep = np.ones(len(table), dtype=bool)
    suffixes = _modality_suffixes(modality)

    text = _normalized(query)
    if text:
        named = np.int64(sum(int(_CLASS_BITS[c]) for c, name in enumerate(_NORMALIZED_CLASSES) if text in name))
        any_class = _or_columns(table, [f"{s}_{m}_mask" for s in ("gt", "pred") for m in ("audio", "visual")])
        in_name = table["clip"].str.replace("_", " ").str.lower().str.contains(text, regex=False).to_numpy()
        keep &= in_name | ((any_class & named) != 0)
    if classes:
        present = _or_columns(table, [f"{s}_{m}_mask" for s in ("gt", "pred") for m in suffixes])
        keep &= (present & _classes_mask(classes)) != 0
    if error != "any":
        fp = _sum_columns(table, [f"fp_{m}" for m in suffixes]) > 0
        fn = _sum_columns(table, [f"fn_{m}" for m in suffixes]) > 0
        wanted = {"false_positive": fp, "false_negative": fn, "errors": fp | fn, "perfect": ~(fp | fn)}
        keep &= wanted[error]
    return table.loc[keep]


def _or_columns(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return np.bitwise_or.reduce(table[columns].to_numpy(dtype=np.int64), axis=1)  # (N,)


def _sum_columns(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return table[columns].to_numpy(dtype=np.int64).sum(axis=1)  # (N,)


# ---------------------------------------------------------------------------------------------------------------------
# display


def display_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The compact frame for a ``gr.Dataframe``: :data:`DISPLAY_COLUMNS` present in ``table``, renamed, scores
    rounded to one decimal, index reset (row i of the result is row i of ``table``)."""
    columns = [column for column in DISPLAY_COLUMNS if column in table.columns]
    frame = table[columns].round(_DISPLAY_DECIMALS).rename(columns=DISPLAY_COLUMNS)
    return frame.reset_index(drop=True)
