"""The app's clip list: one row of scores and error counts per clip, sorting and filtering, and where two models
disagree.

:func:`clip_table` turns a split's ground truth and one or two models' binary predictions into a DataFrame (one row
per clip, split order), vectorised over clips; :func:`sort_clips` and :func:`filter_clips` pick the clips worth
looking at, by either model; :func:`display_frame` gives the compact, rounded frame a ``gr.Dataframe`` shows, with
headers in words; :func:`disagreements` lists where one of two models is right and the other wrong.

Layout. Ground truth and predictions are ``(N, C, T) uint8`` 0/1 matrices ``[clip, class, segment]`` with
C = ``NUM_CLASSES`` = 25 and T = ``NUM_SEGMENTS`` = 10; audio-visual (AV) = audio AND visual, segment by segment.

Columns of the table (scores are floats in percent, 0 to 100; counts are int64 numbers of segments):

* ``clip_index`` (position in the split), ``clip`` (full LLP filename), ``video_id`` (11-character YouTube ID),
  ``gt_classes``: display names in class order with the modalities where the class occurs, e.g.
  ``"Dog (A+V), Speech (A)"`` (``A+V``: in both the audio and the visual rows, not necessarily at once);
  ``gt_audio_mask``, ``gt_visual_mask``, ``gt_av_mask``: int64 bit masks for filtering, bit c set when class c occurs
  in at least one segment of that matrix;
* per model (:data:`PER_MODEL_COLUMNS`; the first model's columns carry these names, the second model's the same
  names with the suffix ``_2``, see :func:`model_column`):

  - ``pred_classes`` (like ``gt_classes``) and the masks ``pred_audio_mask``, ``pred_visual_mask``, ``pred_av_mask``;
  - ``seg_audio``, ``seg_visual``, ``seg_av``, ``event_audio``, ``event_visual``, ``event_av``: the official per-clip
    F-scores (:func:`mgn.metrics.avvp_scores`, 1.0 = 100 when a clip has neither GT nor prediction in a modality);
  - ``fp_audio``, ``fn_audio``, ``fp_visual``, ``fn_visual``, ``fp_av``, ``fn_av``: false-positive / false-negative
    segments (class, segment cells); ``false_positives`` / ``false_negatives``: audio + visual; ``errors``: both;
* with two models: ``disagreement``, the (class, segment) cells where their binary predictions differ, audio + visual.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mgn.data.annotations import VIDEO_ID_LENGTH
from mgn.events import find_events
from mgn.explore.checks import binary_array
from mgn.labels import CLASSES, EVAL_MODALITIES, NUM_CLASSES, NUM_SEGMENTS, audio_visual, display_name
from mgn.metrics import LEVELS, PER_CLIP_COLUMNS, Scores, avvp_scores

__all__ = [
    "DISAGREEMENT_COLUMNS",
    "DISPLAY_COLUMNS",
    "ERROR_FILTERS",
    "ERROR_WORDS",
    "FILTER_MODALITIES",
    "MODALITY_WORDS",
    "OPTIONAL_COLUMNS",
    "PER_MODEL_COLUMNS",
    "SORT_KEYS",
    "clip_table",
    "column_widths",
    "disagreements",
    "display_frame",
    "filter_clips",
    "filter_disagreements",
    "model_column",
    "neighbour",
    "num_models",
    "sort_clips",
    "sort_column",
]

# Modalities of the table's column names, with the matching column of the metrics' per-clip arrays.
_MODALITY_SUFFIXES: dict[str, str] = {"audio": "audio", "visual": "visual", "audio_visual": "av"}
_LEVEL_PREFIXES: dict[str, str] = {"segment": "seg", "event": "event"}
_MODALITY_TAGS: tuple[str, ...] = ("", "A", "V", "A+V")  # indexed by (in audio) + 2 * (in visual)
_CLASS_BITS = np.left_shift(np.int64(1), np.arange(NUM_CLASSES, dtype=np.int64))  # (C,) bit c = class c
_MODEL_SUFFIXES: tuple[str, ...] = ("", "_2")  # column-name suffix of each model (at most two)

PER_MODEL_COLUMNS: tuple[str, ...] = (
    "pred_classes",
    *(f"{_LEVEL_PREFIXES[level]}_{suffix}" for level in LEVELS for suffix in _MODALITY_SUFFIXES.values()),
    *(f"{kind}_{suffix}" for suffix in _MODALITY_SUFFIXES.values() for kind in ("fp", "fn")),
    "false_positives",
    "false_negatives",
    "errors",
    *(f"pred_{suffix}_mask" for suffix in _MODALITY_SUFFIXES.values()),
)

FILTER_MODALITIES: tuple[str, ...] = ("any", "audio", "visual", "audio_visual")  # "any": audio or visual
ERROR_FILTERS: tuple[str, ...] = ("any", "false_positive", "false_negative", "errors", "perfect")
# What the page shows for each filter value (the values stay the API's).
MODALITY_WORDS: dict[str, str] = {"any": "any", "audio": "audio", "visual": "visual", "audio_visual": "audio-visual"}
ERROR_WORDS: dict[str, str] = {
    "any": "any clip",
    "false_positive": "with false positives",
    "false_negative": "with false negatives (missed)",
    "errors": "with any error",
    "perfect": "without errors",
}

# UI label -> (column of the first model, ascending); ties are broken by clip name. The model sorted by is chosen
# apart (:func:`sort_clips`); "split order" and "most disagreement" are not per model.
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

# Column -> header of the compact frame shown in the app, in display order. The per-model ones get the model's name
# in compare mode ("Seg F AV — HAN").
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
    "disagreement": "Disagree",
}
_ALWAYS_SHOWN: tuple[str, ...] = ("clip", "gt_classes", "false_positives", "false_negatives")
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(column for column in DISPLAY_COLUMNS if column not in _ALWAYS_SHOWN)
_DISPLAY_DECIMALS = 1

# Columns of :func:`disagreements`.
DISAGREEMENT_COLUMNS: tuple[str, ...] = ("clip", "class", "modality", "segments", "seconds", "right", "wrong")


def model_column(column: str, model: int) -> str:
    """The table column of ``model`` (0 or 1) for a per-model ``column``: ``seg_av`` -> ``seg_av`` / ``seg_av_2``.

    Raises:
        ValueError: ``model`` is not 0 or 1.
    """
    if model not in range(len(_MODEL_SUFFIXES)):
        raise ValueError(f"model must be 0 or 1 (the first or the compared model), got {model!r}")
    return column + _MODEL_SUFFIXES[model] if column in PER_MODEL_COLUMNS else column


def num_models(table: pd.DataFrame) -> int:
    """How many models a :func:`clip_table` holds: 1, or 2 in compare mode."""
    return 2 if model_column("errors", 1) in table.columns else 1


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


def _mask_columns(source: str, audio: np.ndarray, visual: np.ndarray) -> dict[str, np.ndarray]:
    """``{source}_audio_mask``, ``{source}_visual_mask``, ``{source}_av_mask``: (N,) int64 class bit masks."""
    matrices = {"audio": audio, "visual": visual, "av": audio_visual(audio, visual)}
    return {f"{source}_{suffix}_mask": _class_masks(rows) for suffix, rows in matrices.items()}


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


def _model_columns(pred_a, pred_v, gt_a, gt_v, scores: Scores, model: int) -> dict[str, np.ndarray | list]:
    """The :data:`PER_MODEL_COLUMNS` of one model, named for ``model`` (see :func:`model_column`)."""
    columns = {
        "pred_classes": _class_strings(pred_a, pred_v),
        **_score_columns(scores),
        **_error_columns(pred_a, pred_v, gt_a, gt_v),
        **_mask_columns("pred", pred_a, pred_v),
    }
    return {model_column(name, model): values for name, values in columns.items()}


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
    """One row per clip (split order) with its classes, and per model its official per-clip F-scores and errors.

    Args:
        filenames: (N,) full LLP filenames ``<11-char YouTube ID>_<start>_<end>``, split order.
        gt_a: audio ground truth, ``(N, 25, 10) uint8`` 0/1 [clip, class, segment].
        gt_v: visual ground truth, same layout.
        pred_a: binary audio predictions of the (first) model, same layout.
        pred_v: binary visual predictions, same layout.
        scores: the official scores of ``pred_a, pred_v`` against the ground truth when the caller has them already
            (:func:`mgn.metrics.avvp_scores`); None computes them.
        compare: a second model's ``(pred_a, pred_v)``, same layout: its own ``*_2`` columns and ``disagreement``.
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
        **_mask_columns("gt", gt_a, gt_v),
        **_model_columns(pred_a, pred_v, gt_a, gt_v, scores, 0),
    }
    if compare is not None:
        if len(compare) != 2:
            raise ValueError(f"compare: expected a pair (pred_a, pred_v), found {len(compare)} items")
        other_a, other_v = (_binary_split(m, f"compare[{i}]", count) for i, m in enumerate(compare))  # (N, C, T)
        other_scores = _checked_scores(compare_scores, other_a, other_v, gt_a, gt_v, "compare_scores")
        columns |= _model_columns(other_a, other_v, gt_a, gt_v, other_scores, 1)
        columns["disagreement"] = (pred_a != other_a).sum(axis=(1, 2), dtype=np.int64) + (pred_v != other_v).sum(
            axis=(1, 2), dtype=np.int64
        )
    return pd.DataFrame(columns)


# ---------------------------------------------------------------------------------------------------------------------
# sorting and filtering


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of: {', '.join(map(repr, allowed))}")


def _check_model(table: pd.DataFrame, model: int) -> None:
    if model not in range(num_models(table)):
        raise ValueError(f"model {model!r} is not in this table (it holds {num_models(table)} model(s): 0 or 1)")


def sort_column(table: pd.DataFrame, key: str, model: int = 0) -> str:
    """The table column that sort key ``key`` orders by, for ``model`` (0: the first, 1: the compared one).

    Raises:
        ValueError: an unknown key or model, or ``"most disagreement"`` on a table of one model.
    """
    _check_choice(key, list(SORT_KEYS), "sort key")
    _check_model(table, model)
    column = model_column(SORT_KEYS[key][0], model)
    if column not in table.columns:
        raise ValueError(f"sort key {key!r} needs column {column!r}, which the table lacks (build it with compare=)")
    return column


def sort_clips(table: pd.DataFrame, key: str, model: int = 0) -> pd.DataFrame:
    """The table sorted by one of :data:`SORT_KEYS` (a UI label) of ``model``; ties keep clip-name order.

    Raises:
        ValueError: an unknown key or model, or ``"most disagreement"`` on a table built without ``compare``.
    """
    column = sort_column(table, key, model)
    return table.sort_values([column, "clip"], ascending=[SORT_KEYS[key][1], True], kind="stable")


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
    model: int = 0,
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
        model: whose predictions and errors ``query``, ``classes`` and ``error`` look at: 0 the first model, 1 the
            compared one.

    Raises:
        ValueError: an unknown class, modality, error value or model (the message lists the allowed ones).
    """
    _check_choice(modality, FILTER_MODALITIES, "modality")
    _check_choice(error, ERROR_FILTERS, "error filter")
    _check_model(table, model)
    keep = np.ones(len(table), dtype=bool)
    suffixes = _modality_suffixes(modality)

    def masks(modalities: Sequence[str]) -> list[str]:
        return [f"gt_{m}_mask" for m in modalities] + [model_column(f"pred_{m}_mask", model) for m in modalities]

    text = _normalized(query)
    if text:
        named = np.int64(sum(int(_CLASS_BITS[c]) for c, name in enumerate(_NORMALIZED_CLASSES) if text in name))
        any_class = _or_columns(table, masks(("audio", "visual")))
        in_name = table["clip"].str.replace("_", " ").str.lower().str.contains(text, regex=False).to_numpy()
        keep &= in_name | ((any_class & named) != 0)
    if classes:
        keep &= (_or_columns(table, masks(suffixes)) & _classes_mask(classes)) != 0
    if error != "any":
        fp = _sum_columns(table, [model_column(f"fp_{m}", model) for m in suffixes]) > 0
        fn = _sum_columns(table, [model_column(f"fn_{m}", model) for m in suffixes]) > 0
        wanted = {"false_positive": fp, "false_negative": fn, "errors": fp | fn, "perfect": ~(fp | fn)}
        keep &= wanted[error]
    return table.loc[keep]


def _or_columns(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return np.bitwise_or.reduce(table[columns].to_numpy(dtype=np.int64), axis=1)  # (N,)


def _sum_columns(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return table[columns].to_numpy(dtype=np.int64).sum(axis=1)  # (N,)


def neighbour(clips: Sequence[str], current: str, step: int) -> str | None:
    """The clip ``step`` places after ``current`` in a list order (``-1``: the previous one), clamped to the ends;
    the first clip when ``current`` is not in the list; None for an empty list."""
    if len(clips) == 0:
        return None
    if current not in clips:
        return clips[0]
    position = list(clips).index(current) + step
    return clips[min(max(position, 0), len(clips) - 1)]


# ---------------------------------------------------------------------------------------------------------------------
# display


def display_frame(
    table: pd.DataFrame,
    *,
    sort_key: str | None = None,
    extra: Sequence[str] = (),
    model_names: Sequence[str] = (),
) -> pd.DataFrame:
    """The compact frame for a ``gr.Dataframe``, headers in words, scores rounded to one decimal, index reset (row i of
    the result is row i of ``table``).

    Shown: clip, ground truth, the column ``sort_key`` orders by (a :data:`SORT_KEYS` label; none for split order),
    FP and FN, then the columns of ``extra`` (:data:`OPTIONAL_COLUMNS`), in :data:`DISPLAY_COLUMNS` order. A
    per-model column is shown for every model of the table; with two models its header names the model
    (``"FP — HAN"``, from ``model_names``).

    Raises:
        ValueError: an unknown sort key or extra column, or fewer ``model_names`` than the table has models.
    """
    models = num_models(table)
    if models > 1 and len(model_names) < models:
        raise ValueError(f"model_names: expected {models} names for the table's models, found {list(model_names)}")
    for column in extra:
        _check_choice(column, OPTIONAL_COLUMNS, "column")
    wanted = set(_ALWAYS_SHOWN) | set(extra)
    if sort_key is not None:
        wanted.add(sort_column(table, sort_key).removesuffix(_MODEL_SUFFIXES[1]))
    headers: dict[str, str] = {}
    for column, header in DISPLAY_COLUMNS.items():
        if column not in wanted:
            continue
        if column in PER_MODEL_COLUMNS:
            for model in range(models):
                headers[model_column(column, model)] = header if models == 1 else f"{header} — {model_names[model]}"
        elif column in table.columns:
            headers[column] = header
    return table[list(headers)].round(_DISPLAY_DECIMALS).rename(columns=headers).reset_index(drop=True)


# Percent of the list's width of its text columns, with up to three number columns and with more (compare mode).
_TEXT_COLUMNS: dict[str, tuple[int, int]] = {"Clip": (36, 28), "Ground truth": (20, 17), "Predicted": (20, 17)}


def column_widths(frame: pd.DataFrame) -> list[str]:
    """Widths (CSS percentages) for the columns of a :func:`display_frame`, so that the list fits its column without
    scrolling sideways: clip and class names get a fixed share (less when there are many numbers), the numbers
    share the rest equally (whole percents, never more than 100 % in all)."""
    text = [header for header in frame.columns if header.split(" — ")[0] in _TEXT_COLUMNS]
    numbers = [header for header in frame.columns if header not in text]
    many = len(numbers) > 3
    fixed = {header: _TEXT_COLUMNS[header.split(" — ")[0]][many] for header in text}
    share = (100 - sum(fixed.values())) // len(numbers) if numbers else 0
    return [f"{fixed[header]}%" if header in fixed else f"{share}%" for header in frame.columns]


# ---------------------------------------------------------------------------------------------------------------------
# disagreements


def _segment_text(onset: int, offset: int) -> str:
    """Segments ``[onset, offset)`` counted from 1 as the video overlay counts them: ``"3–5"`` or ``"3"``."""
    return f"{onset + 1}" if offset - onset == 1 else f"{onset + 1}–{offset}"


def disagreements(
    filenames: Sequence[str] | np.ndarray,
    gt_a: np.ndarray,
    gt_v: np.ndarray,
    first: tuple[np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray],
    names: Sequence[str],
) -> pd.DataFrame:
    """Where one of two models is right and the other wrong, as runs of segments.

    For each modality (audio, visual, audio-visual = audio AND visual) a segment of a class counts when exactly one
    model's binary prediction equals the ground truth; maximal runs of such segments with the same right model and
    the same kind of error (``mgn.events.find_events``) make one row.

    Args:
        filenames: (N,) full LLP filenames, split order.
        gt_a, gt_v: ground truth, ``(N, C, T)`` 0/1 [clip, class, segment].
        first, second: each model's binary ``(pred_a, pred_v)``, same layout.
        names: the two models' names.

    Returns:
        One row per run, in split order, then modality, class and onset: :data:`DISAGREEMENT_COLUMNS` in words
        (``clip``, ``class`` display name, ``modality`` "audio" / "visual" / "audio-visual", ``segments`` counted from
        1 such as ``"3–5"``, ``seconds`` such as ``"2–5"``, ``right`` the right model's name, ``wrong`` what the other
        did: ``"HAN: missed (FN)"`` or ``"HAN: false alarm (FP)"``), then the machine columns ``clip_index``,
        ``class_index``, ``onset``, ``offset`` (segments ``[onset, offset)``) and ``right_model`` (0 or 1).

    Raises:
        ValueError: a matrix of the wrong shape or values (named), or not two names.
    """
    if len(names) != 2:
        raise ValueError(f"names: expected the two models' names, found {list(names)}")
    gt_a = _binary_split(gt_a, "gt_a", "N")  # (N, C, T) bool
    count = len(gt_a)
    gt_v = _binary_split(gt_v, "gt_v", count)
    preds = [
        [_binary_split(m, f"{which}[{i}]", count) for i, m in enumerate(pair)]
        for which, pair in (("first", first), ("second", second))
    ]
    clips = np.asarray(filenames, dtype=str)
    if clips.shape != (count,):
        raise ValueError(f"filenames: expected {count} names (one per clip), found shape {clips.shape}")
    gts = {"audio": gt_a, "visual": gt_v, "audio_visual": audio_visual(gt_a, gt_v)}
    parts = []
    for modality_index, modality in enumerate(EVAL_MODALITIES):
        gt = gts[modality]
        model_preds = [
            {"audio": a, "visual": v, "audio_visual": audio_visual(a, v)}[modality] for a, v in preds
        ]  # 2 x (N, C, T)
        right = [pred == gt for pred in model_preds]
        for right_model in (0, 1):
            only = right[right_model] & ~right[1 - right_model]  # (N, C, T): this model right, the other wrong
            for missed in (True, False):  # the other model missed a GT segment (FN) or raised a false alarm (FP)
                clip_index, class_index, onset, offset = find_events(only & (gt if missed else ~gt))  # (E,) each
                parts.append(
                    pd.DataFrame(
                        {
                            "clip_index": clip_index,
                            "modality_index": modality_index,
                            "class_index": class_index,
                            "onset": onset,
                            "offset": offset,
                            "right_model": right_model,
                            "missed": missed,
                        }
                    )
                )
    runs = pd.concat(parts, ignore_index=True).sort_values(
        ["clip_index", "modality_index", "class_index", "onset"], kind="stable", ignore_index=True
    )
    other = [names[1], names[0]]
    words = {
        "clip": clips[runs["clip_index"].to_numpy()],
        "class": [display_name(int(c)) for c in runs["class_index"]],
        "modality": [MODALITY_WORDS[EVAL_MODALITIES[m]] for m in runs["modality_index"]],
        "segments": [_segment_text(a, b) for a, b in zip(runs["onset"], runs["offset"])],
        "seconds": [f"{a}–{b}" for a, b in zip(runs["onset"], runs["offset"])],
        "right": [names[m] for m in runs["right_model"]],
        "wrong": [
            f"{other[m]}: {'missed (FN)' if missed else 'false alarm (FP)'}"
            for m, missed in zip(runs["right_model"], runs["missed"])
        ],
    }
    machine = runs[["clip_index", "class_index", "onset", "offset", "right_model"]].astype(np.int64)
    return pd.concat([pd.DataFrame(words, columns=list(DISAGREEMENT_COLUMNS)), machine], axis=1)


def filter_disagreements(
    frame: pd.DataFrame, *, right_model: int | None = None, modality: str = "any", classes: Sequence[str] = ()
) -> pd.DataFrame:
    """The rows of a :func:`disagreements` frame where ``right_model`` (0 or 1; None: either) is the right one, in
    ``modality`` (one of :data:`FILTER_MODALITIES`; ``"any"``: every modality) and of one of ``classes`` (CSV or
    display spelling; none: every class), in the frame's order.

    Raises:
        ValueError: an unknown model, modality or class.
    """
    _check_choice(modality, FILTER_MODALITIES, "modality")
    if right_model not in (None, 0, 1):
        raise ValueError(f"right_model must be None, 0 or 1, got {right_model!r}")
    keep = np.ones(len(frame), dtype=bool)
    if right_model is not None:
        keep &= frame["right_model"].to_numpy() == right_model
    if modality != "any":
        keep &= frame["modality"].to_numpy() == MODALITY_WORDS[modality]
    if classes:
        bits = _CLASS_BITS[frame["class_index"].to_numpy()]  # (R,) each row's class bit
        keep &= (bits & _classes_mask(classes)) != 0
    return frame.loc[keep]
