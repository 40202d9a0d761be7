"""LLP annotation CSVs: weak (video-level) labels and dense (segment-level) ground truth.

Pure readers and transforms, independent of where the files live (see ``mgn.data.llp`` for the layout). Every reader
validates its file at the door and raises ``LLPFormatError`` naming the file, the line (1-based, the header is line 1)
and what was expected. Dense GT is built exactly like the official evaluation (REFERENCE 1.6): half-open integer
intervals ``[onset, offset)``, rows matched to clips by the *full* filename, overlapping rows merged; rows the official
code silently ignores are found by ``find_ignored_rows`` so that callers can report them.

Notation: N clips, C = 25 classes, T = 10 one-second segments.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mgn.labels import CLASS_TO_INDEX, CLASSES, NUM_CLASSES, NUM_SEGMENTS

__all__ = [
    "DENSE_COLUMNS",
    "WEAK_COLUMNS",
    "IgnoredRow",
    "LLPAnnotationWarning",
    "LLPFormatError",
    "dense_ground_truth",
    "describe_ignored_rows",
    "find_ignored_rows",
    "parse_filename",
    "read_dense_annotations",
    "read_weak_labels",
    "video_id_of",
    "weak_label_matrix",
]

WEAK_COLUMNS = ("filename", "event_labels")  # AVVP_{train,val_pd,test_pd,dataset_full}.csv
DENSE_COLUMNS = ("filename", "onset", "offset", "event_labels")  # AVVP_eval_{audio,visual}.csv
VIDEO_ID_LENGTH = 11  # YouTube IDs: always the first 11 characters of an LLP filename
FIRST_DATA_LINE = 2  # line 1 of every CSV is the header

_NUMBER = r"\d+(?:\.\d+)?"
_FILENAME_PATTERN = re.compile(rf"(?P<id>[A-Za-z0-9_-]{{{VIDEO_ID_LENGTH}}})_(?P<start>{_NUMBER})_(?P<end>{_NUMBER})")
_FILENAME_FORM = "'<11-char YouTube ID>_<start>_<end>' (e.g. 'BjCEufrlXm4_20_30')"


class LLPFormatError(ValueError):
    """An annotation CSV (or a value in it) that does not follow the LLP format; the message names file and line."""


class LLPAnnotationWarning(UserWarning):
    """Dense annotation rows that the official evaluation silently ignores (orphans, empty intervals, unknown class)."""


# ------------------------------------------------------------------------------------------------------------ filenames


def parse_filename(filename: str) -> tuple[str, float, float]:
    """Split an LLP filename ``<ID>_<start>_<end>`` into (11-char YouTube ID, start s, end s).

    The ID is the first 11 characters and may itself contain ``_`` and ``-`` (``-2syn_PlJA8_40_50``), so the name is
    never split on ``_`` to find it. Start and end may be decimals (``ApKgnUPayqU_8.5_18.5``).

    Raises:
        ValueError: naming the filename and the expected form.
    """
    match = _FILENAME_PATTERN.fullmatch(filename) if isinstance(filename, str) else None
    if match is None:
        raise ValueError(f"invalid LLP filename {filename!r}: expected {_FILENAME_FORM}")
    return match["id"], float(match["start"]), float(match["end"])


def video_id_of(filename: str) -> str:
    """The 11-character YouTube ID of an LLP filename (``'-2syn_PlJA8_40_50'`` -> ``'-2syn_PlJA8'``).

    Raises:
        ValueError: when the rest of the name is not ``_<start>_<end>``.
    """
    return parse_filename(filename)[0]


# ---------------------------------------------------------------------------------------------------------- CSV reading


def _read_table(csv_path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """Read a tab-separated LLP CSV as strings; index = 1-based line number in the file (header = line 1)."""
    path = Path(csv_path)
    if not path.is_file():
        raise FileNotFoundError(f"LLP annotation file not found: {path}")
    try:
        cells = pd.read_csv(
            path,
            sep="\t",
            header=None,  # the header is checked below; every line must have as many fields as the header
            dtype=str,
            keep_default_na=False,  # an empty field stays "" (reported by the callers), never NaN
            skip_blank_lines=False,  # keeps data row i on line i + 2
            quoting=csv.QUOTE_NONE,
        )
    except pd.errors.EmptyDataError:
        raise LLPFormatError(f"{path}: empty file; expected a header {list(columns)} (tab-separated)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise LLPFormatError(f"{path}: not a valid tab-separated LLP CSV: {error}") from None
    header = cells.iloc[0].tolist()
    missing = [name for name in columns if name not in header]
    if missing or len(set(header)) != len(header):
        hint = " (is the file tab-separated?)" if len(header) == 1 else ""
        raise LLPFormatError(
            f"{path}, line 1: missing or repeated column(s) {missing}{hint}; expected header "
            f"{list(columns)}, found {header}"
        )
    table = cells.iloc[1:].set_axis(header, axis="columns").loc[:, list(columns)]
    table.index = pd.RangeIndex(FIRST_DATA_LINE, FIRST_DATA_LINE + len(table), name="line")
    return table


def _first_bad_line(bad: pd.Series) -> int:
    return int(bad.index[np.argmax(bad.to_numpy())])


def _split_labels(event_labels: str) -> list[str]:
    return event_labels.split(",")


def read_weak_labels(csv_path: str | Path) -> pd.DataFrame:
    """Read a weak-label CSV (``AVVP_train.csv``, ``AVVP_val_pd.csv``, ...): columns ``filename``, ``event_labels``.

    Validated: tab-separated with a header naming both columns; every filename is ``<ID>_<start>_<end>``; filenames
    and YouTube IDs are unique (features are keyed by ID); every comma-separated label is one of the 25 classes.

    Returns:
        DataFrame with str columns ``filename``, ``event_labels``, in file order; the index is the line number.

    Raises:
        FileNotFoundError: the file does not exist.
        LLPFormatError: naming the file, the line and the offending value.
    """
    path = Path(csv_path)
    table = _read_table(path, WEAK_COLUMNS)
    filenames = table["filename"]
    bad_name = ~filenames.str.fullmatch(_FILENAME_PATTERN.pattern)
    if bad_name.any():
        line = _first_bad_line(bad_name)
        raise LLPFormatError(f"{path}, line {line}: invalid filename {filenames[line]!r}; expected {_FILENAME_FORM}")
    for values, what in ((filenames, "filename"), (filenames.str.slice(0, VIDEO_ID_LENGTH), "YouTube ID")):
        repeated = values.duplicated(keep="first")
        if repeated.any():
            line = _first_bad_line(repeated)
            first = _first_bad_line(values == values[line])
            raise LLPFormatError(f"{path}, line {line}: duplicate {what} {values[line]!r} (first on line {first})")
    for line, event_labels in table["event_labels"].items():
        for name in _split_labels(event_labels):
            if name not in CLASS_TO_INDEX:
                raise LLPFormatError(
                    f"{path}, line {line}: unknown class {name!r} in event_labels {event_labels!r}; "
                    f"expected comma-separated names from: {', '.join(CLASSES)}"
                )
    return table


def weak_label_matrix(event_labels: Sequence[str]) -> np.ndarray:
    """Multi-hot video-level labels from ``event_labels`` strings such as ``'Speech,Dog'``.

    Duplicates are harmless (``'Clapping,Clapping'`` sets one entry).

    Returns:
        ``(N, 25)`` float32, 1.0 at each listed class index (official order), else 0.0.

    Raises:
        ValueError: naming the row and the unknown class.
    """
    labels = np.zeros((len(event_labels), NUM_CLASSES), dtype=np.float32)  # (N, C)
    for row, text in enumerate(event_labels):
        for name in _split_labels(text):
            index = CLASS_TO_INDEX.get(name)
            if index is None:
                raise ValueError(f"row {row}: unknown class {name!r} in event_labels {text!r}")
            labels[row, index] = 1.0
    return labels


def read_dense_annotations(csv_path: str | Path) -> pd.DataFrame:
    """Read a dense eval CSV (``AVVP_eval_audio.csv`` / ``AVVP_eval_visual.csv``).

    Only the structure is validated: the header, and ``onset`` / ``offset`` being integers in 0..10 (seconds, i.e.
    segment indices). Filenames and class names are *not* validated, because the official evaluation silently ignores
    rows that match no clip or name no known class; ``find_ignored_rows`` reports those.

    Returns:
        DataFrame with columns ``filename`` (str), ``onset`` (int64), ``offset`` (int64), ``event_labels`` (str),
        in file order; the index is the line number.

    Raises:
        FileNotFoundError: the file does not exist.
        LLPFormatError: naming the file, the line and the offending value.
    """
    path = Path(csv_path)
    table = _read_table(path, DENSE_COLUMNS)
    for column in ("onset", "offset"):
        values = pd.to_numeric(table[column], errors="coerce")  # "" or "abc" -> NaN
        bad = values.isna() | (values != values.round()) | (values < 0) | (values > NUM_SEGMENTS)
        if bad.any():
            line = _first_bad_line(bad)
            raise LLPFormatError(
                f"{path}, line {line}: {column} {table[column][line]!r} is not an integer number of seconds "
                f"in 0..{NUM_SEGMENTS}"
            )
        table[column] = values.astype(np.int64)
    return table


# ------------------------------------------------------------------------------------------------------------- dense GT


def _clip_rows(filenames: Sequence[str]) -> pd.Index:
    index = pd.Index(np.asarray(filenames, dtype=str))
    if not index.is_unique:
        raise ValueError(f"clip filenames must be unique; repeated: {sorted(set(index[index.duplicated()]))[:5]}")
    return index


def dense_ground_truth(filenames: Sequence[str], dense: pd.DataFrame) -> np.ndarray:
    """Segment-level ground truth, built exactly like the official evaluation (REFERENCE 1.6).

    For every row of ``dense`` whose ``filename`` equals a clip's full filename exactly and whose class is known,
    ``GT[clip, class, onset:offset] = 1`` (half-open). Rows with ``onset >= offset`` add nothing; duplicate or
    overlapping rows merge; a clip without rows stays all zero. Other rows are ignored (see ``find_ignored_rows``).

    Args:
        filenames: ``(N,)`` unique full LLP filenames ``<ID>_<start>_<end>``, in output order.
        dense: rows as returned by ``read_dense_annotations`` (int onset/offset in 0..10).

    Returns:
        ``(N, 25, 10)`` uint8 0/1, ``[clip, class, segment]``.
    """
    clips = _clip_rows(filenames)
    ground_truth = np.zeros((len(clips), NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)  # (N, C, T)
    clip = clips.get_indexer(dense["filename"].astype(str))  # (R,), -1 = no clip
    event_class = dense["event_labels"].map(CLASS_TO_INDEX).to_numpy(dtype=np.float64)  # (R,), NaN = unknown
    onset = dense["onset"].to_numpy(dtype=np.int64)
    offset = dense["offset"].to_numpy(dtype=np.int64)
    used = (clip >= 0) & ~np.isnan(event_class)
    segments = np.arange(NUM_SEGMENTS)
    covered = (segments >= onset[used, None]) & (segments < offset[used, None])  # (R_used, T), empty when on >= off
    row, segment = np.nonzero(covered)
    ground_truth[clip[used][row], event_class[used].astype(np.int64)[row], segment] = 1
    return ground_truth


@dataclass(frozen=True)
class IgnoredRow:
    """A dense annotation row that contributes nothing to any ground-truth matrix, and why."""

    file: str  # path of the eval CSV
    line: int  # 1-based line in that file (header = line 1)
    filename: str
    onset: int  # s
    offset: int  # s
    event_label: str
    reasons: tuple[str, ...]  # e.g. ("orphan: matches no val/test clip", "empty interval (onset == offset)")

    def __str__(self) -> str:
        row = f"{self.filename!r} [{self.onset}, {self.offset}) {self.event_label!r}"
        return f"{Path(self.file).name} line {self.line}: {row}: {'; '.join(self.reasons)}"


ORPHAN = "orphan: matches no val/test clip"
EMPTY_INTERVAL = "empty interval (onset == offset)"
REVERSED_INTERVAL = "reversed interval (onset > offset)"


def find_ignored_rows(dense: pd.DataFrame, clip_filenames: Iterable[str], source: str | Path) -> list[IgnoredRow]:
    """Rows of a dense eval CSV that the official evaluation silently ignores, with every reason that applies.

    Reasons: orphan (the filename equals none of ``clip_filenames``, e.g. a truncated ID or a trailing backtick),
    empty or reversed interval (``onset >= offset``), unknown class name.

    Args:
        dense: rows as returned by ``read_dense_annotations`` (index = line number).
        clip_filenames: every clip that has dense labels (the val and test clips).
        source: the CSV path, recorded in each ``IgnoredRow``.
    """
    known = set(clip_filenames)
    ignored = []
    for line, filename, onset, offset, event_label in zip(
        dense.index, dense["filename"], dense["onset"], dense["offset"], dense["event_labels"], strict=True
    ):
        reasons = []
        if filename not in known:
            reasons.append(ORPHAN)
        if onset == offset:
            reasons.append(EMPTY_INTERVAL)
        elif onset > offset:
            reasons.append(REVERSED_INTERVAL)
        if event_label not in CLASS_TO_INDEX:
            reasons.append(f"unknown class {event_label!r}")
        if reasons:
            ignored.append(
                IgnoredRow(str(source), int(line), filename, int(onset), int(offset), event_label, tuple(reasons))
            )
    return ignored


def describe_ignored_rows(rows: Sequence[IgnoredRow], limit: int = 20) -> str:
    """One human-readable report: counts per file and reason, then the first ``limit`` rows."""
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        per_file = counts.setdefault(row.file, {})
        for reason in row.reasons:
            kind = "unknown class" if reason.startswith("unknown class") else reason.split(":")[0]
            per_file[kind] = per_file.get(kind, 0) + 1
    summary = "; ".join(
        f"{name}: " + ", ".join(f"{count} {kind}" for kind, count in per_file.items())
        for name, per_file in counts.items()
    )
    lines = [
        f"{len(rows)} dense annotation row(s) ignored, as the official evaluation ignores them ({summary}):",
        *(f"  {row}" for row in rows[:limit]),
    ]
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more")
    return "\n".join(lines)
