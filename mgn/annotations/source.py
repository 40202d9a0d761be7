"""The data an annotation store sits on: the clips of an LLP-format folder and their own dense labels.

Read once when a store opens: the weak-label CSVs of the splits present (train / val / test; clips must be in one
split only), the two dense eval CSVs (parsed, and also kept line by line so that an export can copy every line it
does not change, byte for byte), and the dense ground truth of every clip, built exactly like the official
evaluation (``mgn.data.annotations.dense_ground_truth``). A clip with weak labels but no dense rows is all zeros.

A ``DataSource`` is immutable (its arrays are read-only), so one can be shared by many stores, e.g. the session-only
stores of a hosted explorer (read the data once, not once per visitor). ``DataSource.empty()`` is the source of a
store without a dataset: only clips added with ``add_clip`` (one's own videos) can be annotated.

Notation: N clips, C = 25 classes, T = 10 segments; M = 2 modalities in ``EDITABLE_MODALITIES`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mgn.annotations.errors import AnnotationError
from mgn.annotations.validation import EDITABLE_MODALITIES, closest
from mgn.data.annotations import (
    DENSE_COLUMNS,
    VIDEO_ID_LENGTH,
    dense_ground_truth,
    read_dense_annotations,
    read_weak_labels,
    weak_label_matrix,
)
from mgn.data.llp import SPLITS, LLPLayout, check_disjoint_splits
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS

__all__ = ["DataSource", "EvalFile", "empty_eval_file", "read_eval_file"]


@dataclass(frozen=True, eq=False)
class EvalFile:
    """One dense eval CSV: its rows (``read_dense_annotations``) and its raw lines, header included."""

    path: Path | None  # None: no file (the empty eval CSV of a store without a dataset)
    rows: pd.DataFrame  # filename, onset, offset, event_labels; index = 1-based line number (header = line 1)
    lines: tuple[str, ...]  # every line with its terminator; lines[i - 1] is line i
    newline: str  # the terminator of the header line ("\n" or "\r\n"), used for new lines


def read_eval_file(path: Path) -> EvalFile:
    """Parse a dense eval CSV and keep its lines (``FileNotFoundError`` / ``LLPFormatError`` name the file)."""
    rows = read_dense_annotations(path)
    text = path.read_bytes().decode("utf-8")
    lines = tuple(text.splitlines(keepends=True))
    if len(lines) != len(rows) + 1:
        raise AnnotationError(
            f"{path}: {len(lines)} lines but {len(rows)} rows and a header; expected one row per line "
            "(no blank lines, no line breaks inside fields)"
        )
    newline = "\r\n" if lines[0].endswith("\r\n") else "\n"
    return EvalFile(path, rows, lines, newline)


def empty_eval_file() -> EvalFile:
    """An eval CSV with its header only (what a store without a dataset exports its new clips' rows after)."""
    rows = pd.DataFrame(
        {
            "filename": pd.Series([], dtype=object),
            "onset": pd.Series([], dtype=np.int64),
            "offset": pd.Series([], dtype=np.int64),
            "event_labels": pd.Series([], dtype=object),
        },
        columns=list(DENSE_COLUMNS),
    )
    return EvalFile(None, rows, ("\t".join(DENSE_COLUMNS) + "\n",), "\n")


@dataclass(frozen=True, eq=False)
class DataSource:
    """The clips of an LLP-format folder and their dense labels, as read when the store opened (read-only)."""

    layout: LLPLayout | None  # None: no dataset (``empty``)
    filenames: tuple[str, ...]  # (N,) every clip of the split CSVs present, split order (train, val, test)
    split_of: dict[str, str]  # filename -> 'train' / 'val' / 'test'
    weak_labels: dict[str, tuple[str, ...]]  # filename -> video-level labels of its split CSV, official order
    row_of: dict[str, int]  # filename -> index into `ground_truth`
    ground_truth: np.ndarray  # (M, N, C, T) uint8 [modality, clip, class, segment]
    eval_files: dict[str, EvalFile]  # 'audio' / 'visual'
    video_ids: frozenset[str]  # the 11-character IDs of the clips
    dense_filenames: frozenset[str]  # every filename named by an eval-CSV row (orphans included)

    @classmethod
    def read(cls, layout: LLPLayout) -> DataSource:
        """Read the split CSVs that exist (at least one) and both eval CSVs of ``layout``.

        Raises:
            FileNotFoundError: no split CSV, or an eval CSV, exists (naming the paths).
            LLPFormatError: a malformed CSV (naming file and line), or a clip in two splits.
        """
        present = [split for split in SPLITS if layout.split_csv(split).is_file()]
        if not present:
            paths = ", ".join(str(layout.split_csv(split)) for split in SPLITS)
            raise FileNotFoundError(f"no LLP split CSV found (looked for {paths}); is --data the dataset folder?")
        check_disjoint_splits(layout, present)
        split_of, weak_labels = {}, {}
        for split in present:
            weak = read_weak_labels(layout.split_csv(split))
            split_of.update(dict.fromkeys(weak["filename"], split))
            weak_labels.update(
                (name, tuple(CLASSES[index] for index in np.flatnonzero(row)))
                for name, row in zip(weak["filename"], weak_label_matrix(weak["event_labels"].tolist()))
            )
        filenames = tuple(split_of)
        eval_files = {modality: read_eval_file(layout.eval_csv(modality)) for modality in EDITABLE_MODALITIES}
        ground_truth = np.stack(
            [dense_ground_truth(filenames, eval_files[modality].rows) for modality in EDITABLE_MODALITIES]
        )  # (M, N, C, T)
        ground_truth.setflags(write=False)  # shared by every store on this source
        dense_filenames = frozenset(name for file in eval_files.values() for name in file.rows["filename"])
        return cls(
            layout=layout,
            filenames=filenames,
            split_of=split_of,
            weak_labels=weak_labels,
            row_of={name: row for row, name in enumerate(filenames)},
            ground_truth=ground_truth,
            eval_files=eval_files,
            video_ids=frozenset(name[:VIDEO_ID_LENGTH] for name in filenames),
            dense_filenames=dense_filenames,
        )

    @classmethod
    def empty(cls) -> DataSource:
        """No dataset: no clip, empty eval CSVs. A store on it annotates only clips added with ``add_clip``."""
        ground_truth = np.zeros((len(EDITABLE_MODALITIES), 0, NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
        ground_truth.setflags(write=False)
        return cls(
            layout=None,
            filenames=(),
            split_of={},
            weak_labels={},
            row_of={},
            ground_truth=ground_truth,
            eval_files={modality: empty_eval_file() for modality in EDITABLE_MODALITIES},
            video_ids=frozenset(),
            dense_filenames=frozenset(),
        )

    def __contains__(self, clip: object) -> bool:
        return clip in self.row_of

    def original(self, clip: str) -> np.ndarray:
        """``(M, C, T)`` uint8: the data's own dense labels of a data clip."""
        return self.ground_truth[:, self.row_of[clip]]

    def suggestion(self, clip: str) -> str | None:
        """A data clip with the same YouTube ID, else the closest filename (for error messages)."""
        prefix = clip[:VIDEO_ID_LENGTH] if isinstance(clip, str) else ""
        same_video = (
            [name for name in self.filenames if name.startswith(prefix)] if len(prefix) == VIDEO_ID_LENGTH else []
        )
        if same_video:
            return same_video[0]
        return closest(clip, self.filenames) if isinstance(clip, str) else None
