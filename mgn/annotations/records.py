"""What the annotation store returns: edit rows, new clips, differences from the data, import / export summaries;
and the two folds over the append-only log (current segments of each row, the undo / redo stacks of a clip).

A *row* is the T = 10 segments of one (clip, class, modality); an *edit* replaces one row. Segments are tuples of
bools, segment 0 first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mgn.annotations.errors import AnnotationDatabaseError

__all__ = [
    "Change",
    "Edit",
    "ExportResult",
    "ImportResult",
    "NewClip",
    "RowKey",
    "current_rows",
    "top_group",
    "undo_stacks",
]

Segments = tuple[bool, ...]  # (T,)
RowKey = tuple[str, str, str]  # (clip, class, modality)


@dataclass(frozen=True)
class Edit:
    """One append-only row of the edit log: the segments of (clip, class, modality) went from ``before`` to
    ``after``."""

    id: int  # increasing over the whole database (the order edits happened in)
    clip: str  # LLP filename <ID>_<start>_<end>
    class_name: str  # as spelled in the CSVs, e.g. 'Frying_(food)'
    modality: str  # 'audio' or 'visual'
    before: Segments  # (T,) the row just before this edit
    after: Segments  # (T,) the row after it
    author: str | None
    timestamp: str  # ISO 8601, UTC, milliseconds ('2026-05-01T12:00:00.000Z')
    session: str  # the store session that wrote it
    version: int  # the clip's version after this edit: 1 for its first edit, then 2, 3, ...
    action: str  # 'set'; or 'undo' / 'redo' of the 'set' edit `target`
    target: int | None  # id of the 'set' edit an undo / redo reverts / re-applies; None for 'set'
    uid: str  # globally unique (merging sessions: export_edits / import_edits)
    batch: str | None = None  # shared by the rows of one grouped edit (undone / redone together); None: alone

    @property
    def row(self) -> RowKey:
        return (self.clip, self.class_name, self.modality)

    @property
    def changed_segments(self) -> tuple[int, ...]:
        """Indices of the segments this edit changed."""
        return tuple(index for index, (old, new) in enumerate(zip(self.before, self.after)) if old != new)


@dataclass(frozen=True)
class NewClip:
    """A video that is not in the data, with its declared video-level labels (the latest declaration)."""

    id: int
    clip: str
    labels: tuple[str, ...]  # declared classes, official order; the exported weak labels add classes with segments
    author: str | None
    timestamp: str
    session: str
    uid: str


@dataclass(frozen=True)
class Change:
    """A row whose current segments differ from the data's own (all zeros for a new clip)."""

    clip: str
    class_name: str
    modality: str
    before: Segments  # (T,) the data's row
    after: Segments  # (T,) the current row
    authors: tuple[str | None, ...]  # everyone who edited this row, first edit first
    last_edit: str  # timestamp of the latest edit of this row

    @property
    def segments(self) -> tuple[int, ...]:
        """Indices of the segments that differ."""
        return tuple(index for index, (old, new) in enumerate(zip(self.before, self.after)) if old != new)


@dataclass(frozen=True)
class ImportResult:
    """What an import stored (all of it in one transaction): clips declared or relabelled, and edits."""

    new_clips: tuple[NewClip, ...]
    edits: tuple[Edit, ...]

    @property
    def empty(self) -> bool:
        return not self.new_clips and not self.edits


@dataclass(frozen=True)
class ExportResult:
    """The files an export wrote, and what they hold."""

    files: dict[str, Path]  # 'audio', 'visual', 'diff', 'new_clips' (and 'log' in an archive) -> path
    changes: int  # rows that differ from the data (lines of the diff file)
    clips: int  # clips with at least one changed row (new clips included)
    new_clips: int


def current_rows(edits: Iterable[Edit]) -> dict[RowKey, Segments]:
    """The current segments of every row that was ever edited: the ``after`` of its latest edit (edits in id order)."""
    rows: dict[RowKey, Segments] = {}
    for edit in edits:
        rows[edit.row] = edit.after
    return rows


def top_group(stack: Sequence[Edit]) -> list[Edit]:
    """The rows one undo / redo takes off the top of a stack (``undo_stacks``): the top row, and the rows below it
    of the same batch; top first."""
    if not stack:
        return []
    top = stack[-1]
    group = [top]
    if top.batch is not None:
        for edit in reversed(stack[:-1]):
            if edit.batch != top.batch:
                break
            group.append(edit)
    return group


def undo_stacks(edits: Sequence[Edit]) -> tuple[list[Edit], list[Edit]]:
    """(done, undone): the 'set' edits of one clip that an undo / a redo would revert / re-apply, last on top.

    A 'set' pushes onto ``done`` and clears ``undone``; an undo moves the top of ``done`` onto ``undone``; a redo
    moves it back. ``edits`` are one clip's rows in version order.
    """
    done: list[Edit] = []
    undone: list[Edit] = []
    for edit in edits:
        if edit.action == "set":
            done.append(edit)
            undone.clear()
            continue
        source, destination = (done, undone) if edit.action == "undo" else (undone, done)
        if not source or source[-1].id != edit.target:
            raise AnnotationDatabaseError(
                f"clip {edit.clip!r}: inconsistent history at version {edit.version} ({edit.action} of edit "
                f"{edit.target}, expected {source[-1].id if source else 'nothing'})"
            )
        destination.append(source.pop())
    return done, undone
