"""``AnnotationStore``: corrected and new LLP segment labels, on top of an LLP-format data folder, in SQLite.

The current ground truth of a clip is the data's own dense labels (its eval CSVs; all zeros for a clip without
rows, and for a new clip) with the store's edits applied. Each edit replaces the T = 10 segments of one (clip, class,
modality) row and is one append-only database row, written in its own ``BEGIN IMMEDIATE`` transaction (writers
queue; see ``mgn.annotations.schema`` for the file checks, WAL and ``synchronous=FULL``). Undo and redo append rows
too: history is never rewritten. Several rows of one clip can be written as one grouped edit (``set_rows``: one
transaction, one batch id), which undo and redo treat as one step. Every clip has a version (its number of edit
rows); a writer that passes ``expected_version`` gets a ``ConflictError`` when someone else edited the clip since.

A store without a file (``path=None``) is session-only (hosted mode): ``session_store`` makes one per visitor on the
data already read, ``export_archive`` / ``export_edits`` give the user the work, ``import_archive`` /
``import_edits`` read it back.

Notation: C = 25 classes (``mgn.labels.CLASSES`` order), T = 10 segments. Modalities: 'audio' and 'visual' only;
audio-visual is derived (``mgn.labels.audio_visual``) and never edited.

Example::

    store = AnnotationStore("annotations.sqlite", data="data")
    edit = store.set_segments("4YdbENYcIyE_23_33", "Baby_cry_infant_cry", "audio", [1] * 5 + [0] * 5, author="ana")
    store.ground_truth("4YdbENYcIyE_23_33")["audio"]  # (C, T) uint8, the edit applied
    store.undo("4YdbENYcIyE_23_33")
    store.export("corrected")  # AVVP_eval_audio.csv, AVVP_eval_visual.csv, annotation_diff.csv, AVVP_new_clips.csv
    visitor = store.session_store(author="guest")  # in memory, nothing shared
    archive, _ = visitor.export_archive()  # zip bytes: the export files and the edit log
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from mgn.annotations.edit_log import LoggedClip, LoggedEdit, dump_log, parse_log
from mgn.annotations.errors import AnnotationError, ConflictError, NothingToUndoError
from mgn.annotations.export import (
    ARCHIVE_LOG,
    ExportFolder,
    compute_changes,
    export_archive,
    folder_changes,
    read_archive,
    read_folder,
    write_export,
)
from mgn.annotations.records import (
    Change,
    Edit,
    ExportResult,
    ImportResult,
    NewClip,
    current_rows,
    top_group,
    undo_stacks,
)
from mgn.annotations.schema import DEFAULT_TIMEOUT_S, connect, in_memory
from mgn.annotations.source import DataSource
from mgn.annotations.validation import (
    EDITABLE_MODALITIES,
    check_author,
    check_class,
    check_flag,
    check_interval,
    check_labels,
    check_modality,
    check_new_clip_name,
    check_segments,
    segments_from_text,
    segments_to_text,
)
from mgn.data.annotations import VIDEO_ID_LENGTH
from mgn.data.llp import SPLITS, LLPLayout
from mgn.labels import CLASS_TO_INDEX, CLASSES, NUM_CLASSES, NUM_SEGMENTS

__all__ = ["BESIDE_DATA", "DEFAULT_DATABASE_NAME", "IMPORT_AUTHOR", "AnnotationStore", "default_database_path"]

DEFAULT_DATABASE_NAME = "annotations.sqlite"
IMPORT_AUTHOR = "import"  # author of the edits that import_folder stores
NEW_SPLIT = "new"  # the split name of clips added with add_clip
Segments = tuple[bool, ...]  # (T,)


class _BesideData:
    """Sentinel: the database is ``<data root>/annotations.sqlite``."""

    def __repr__(self) -> str:
        return "BESIDE_DATA"


BESIDE_DATA = _BesideData()

_EDIT_COLUMNS = (
    "id, uid, clip, class, modality, before, after, action, target, author, timestamp, session, version, batch"
)
_CLIP_COLUMNS = "id, uid, clip, labels, author, timestamp, session"


def default_database_path(data: str | Path | LLPLayout) -> Path:
    """``<data root>/annotations.sqlite``: where a store keeps its edits unless told otherwise."""
    return _layout(data).root / DEFAULT_DATABASE_NAME


def _layout(data: str | Path | LLPLayout) -> LLPLayout:
    return data if isinstance(data, LLPLayout) else LLPLayout(root=Path(data))


def _data_source(data: str | Path | LLPLayout | DataSource | None) -> DataSource:
    """The store's data: read from a folder / layout, given (shared), or none."""
    if data is None:
        return DataSource.empty()
    if isinstance(data, DataSource):
        return data
    if not isinstance(data, (str, Path, LLPLayout)):
        raise AnnotationError(f"data must be a dataset folder, an LLPLayout, a DataSource or None, got {data!r}")
    layout = _layout(data)
    if not layout.root.is_dir():
        raise AnnotationError(f"data folder {layout.root} not found; expected an LLP dataset root (AVVP_*.csv)")
    return DataSource.read(layout)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_uid() -> str:
    return uuid.uuid4().hex


def _edit(row: tuple) -> Edit:
    id_, uid, clip, class_name, modality, before, after, action, target, author, timestamp, session, version, batch = (
        row
    )
    return Edit(
        id=id_,
        clip=clip,
        class_name=class_name,
        modality=modality,
        before=segments_from_text(before),
        after=segments_from_text(after),
        author=author,
        timestamp=timestamp,
        session=session,
        version=version,
        action=action,
        target=target,
        uid=uid,
        batch=batch,
    )


def _new_clip(row: tuple) -> NewClip:
    id_, uid, clip, labels, author, timestamp, session = row
    return NewClip(
        id=id_, clip=clip, labels=tuple(labels.split(",")), author=author, timestamp=timestamp, session=session, uid=uid
    )


def _check_expected_version(expected_version: object) -> int | None:
    if expected_version is None:
        return None
    if (
        isinstance(expected_version, bool)
        or not isinstance(expected_version, (int, np.integer))
        or expected_version < 0
    ):
        raise AnnotationError(
            f"expected_version must be an integer >= 0 (from .version(clip)), got {expected_version!r}"
        )
    return int(expected_version)


def _latest_declarations(rows: Sequence[NewClip]) -> list[NewClip]:
    """The current declaration of each new clip (its latest row), in the order the clips were added."""
    latest: dict[str, NewClip] = {}
    for row in rows:
        latest[row.clip] = row  # re-assigning keeps the first insertion position
    return list(latest.values())


class AnnotationStore:
    """Corrected / new LLP segment labels in an SQLite file (or in memory), over an LLP-format data folder.

    Args:
        path: the database file (created if absent); ``BESIDE_DATA`` (default) for
            ``<data root>/annotations.sqlite``; None or ``":memory:"`` for a session-only store (hosted mode:
            ``export_edits`` gives the user the edits, ``import_edits`` reads them back).
        data: the dataset root in the official layout, or an ``LLPLayout``; its split CSVs (those present) and both
            eval CSVs are read once, here. Or a ``DataSource`` already read (``other_store.source``: shared, not read
            again), or None for no dataset (only clips added with ``add_clip``, e.g. one's own parsed videos).
        author: default author of this store's edits (each call may give its own).
        session: id recorded with every row this store writes (default: a random uuid).
        create: False to refuse a database file that does not exist yet (the CLI's export).
        timeout: seconds a writer waits for another writer's transaction before failing.

    Raises:
        FileNotFoundError / LLPFormatError: the data folder lacks a CSV, or a CSV is malformed (naming file, line).
        AnnotationDatabaseError: the database file is refused (not SQLite, corrupt, foreign, newer schema).
        AnnotationError: a bad argument.

    A store object may be shared by threads (calls are serialised); several stores (processes) may share one file.
    """

    def __init__(
        self,
        path: str | Path | None | _BesideData = BESIDE_DATA,
        data: str | Path | LLPLayout | DataSource | None = "data",
        *,
        author: str | None = None,
        session: str | None = None,
        create: bool = True,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._source = _data_source(data)
        self._author = check_author(author)
        self._session = session if session is not None else _new_uid()
        if not isinstance(self._session, str) or not self._session:
            raise AnnotationError(f"session must be a non-empty string, got {session!r}")
        if isinstance(path, _BesideData):
            if self._source.layout is None:
                raise AnnotationError("a store without a dataset (data=None) needs a database path, or None (memory)")
            path = self._source.layout.root / DEFAULT_DATABASE_NAME
        self._lock = threading.RLock()
        if path is None or str(path) == ":memory:":
            self._path = None
            self._connection: sqlite3.Connection | None = in_memory()
        else:
            self._path = Path(path)
            if not create and not self._path.is_file():
                raise AnnotationError(f"no annotation database at {self._path}")
            self._connection = connect(self._path, timeout=timeout)

    def session_store(self, *, author: str | None = None, session: str | None = None) -> AnnotationStore:
        """A new session-only (in-memory) store on the same data, which is not read again (hosted mode: one per
        visitor; what one visitor edits no other sees, and nothing is written to a file)."""
        return AnnotationStore(None, self._source, author=author, session=session)

    # ------------------------------------------------------------------------------------------------ lifecycle

    @property
    def path(self) -> Path | None:
        """The database file; None for a session-only store."""
        return self._path

    @property
    def layout(self) -> LLPLayout | None:
        """Where the data lives; None for a store without a dataset."""
        return self._source.layout

    @property
    def source(self) -> DataSource:
        """The data the store sits on (read once, read-only; may be shared: ``AnnotationStore(path, store.source)``)."""
        return self._source

    @property
    def session(self) -> str:
        return self._session

    def close(self) -> None:
        """Close the database (idempotent). Every acknowledged edit is already on disk."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def __enter__(self) -> AnnotationStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        data = None if self.layout is None else str(self.layout.root)
        return f"AnnotationStore({str(self._path) if self._path else ':memory:'!r}, data={data!r})"

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: ``BEGIN IMMEDIATE`` (writers queue) or a deferred read snapshot."""
        with self._lock:
            if self._connection is None:
                raise AnnotationError("the annotation store is closed")
            connection = self._connection
            try:
                connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as error:
                raise AnnotationError(f"annotation database {self._path} is busy or unavailable: {error}") from None
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # ---------------------------------------------------------------------------------------------- reading rows

    @staticmethod
    def _clip_edits(connection: sqlite3.Connection, clip: str) -> list[Edit]:
        rows = connection.execute(f"SELECT {_EDIT_COLUMNS} FROM edits WHERE clip = ? ORDER BY version", (clip,))
        return [_edit(row) for row in rows]

    @staticmethod
    def _all_edits(connection: sqlite3.Connection) -> list[Edit]:
        return [_edit(row) for row in connection.execute(f"SELECT {_EDIT_COLUMNS} FROM edits ORDER BY id")]

    @staticmethod
    def _clip_rows(connection: sqlite3.Connection, clip: str | None = None) -> list[NewClip]:
        if clip is None:
            rows = connection.execute(f"SELECT {_CLIP_COLUMNS} FROM new_clips ORDER BY id")
        else:
            rows = connection.execute(f"SELECT {_CLIP_COLUMNS} FROM new_clips WHERE clip = ? ORDER BY id", (clip,))
        return [_new_clip(row) for row in rows]

    def _resolve_clip(self, connection: sqlite3.Connection, clip: object) -> str:
        """``clip`` if it is a data clip or a new clip of the store, else an ``AnnotationError`` with a suggestion."""
        if isinstance(clip, str) and (clip in self._source or self._clip_rows(connection, clip)):
            return clip
        if not isinstance(clip, str):
            raise AnnotationError(f"clip must be an LLP filename string such as 'BjCEufrlXm4_20_30', got {clip!r}")
        suggestion = self._source.suggestion(clip)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        where = "no dataset" if self.layout is None else f"{self.layout.root}: split CSVs"
        raise AnnotationError(f"unknown clip {clip!r}: not in the data ({where}) and not added with add_clip{hint}")

    def _original(self, clip: str) -> np.ndarray:
        """``(M, C, T)`` uint8: the data's labels of ``clip``, zeros for a new clip."""
        if clip in self._source:
            return self._source.original(clip).copy()
        return np.zeros((len(EDITABLE_MODALITIES), NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)

    def _current(self, clip: str, edits: Sequence[Edit]) -> np.ndarray:
        """``(M, C, T)`` uint8: the labels of ``clip`` with its ``edits`` applied."""
        labels = self._original(clip)
        for (_, class_name, modality), row in current_rows(edits).items():
            labels[EDITABLE_MODALITIES.index(modality), CLASS_TO_INDEX[class_name]] = row
        return labels

    def _row(self, clip: str, edits: Sequence[Edit], class_name: str, modality: str) -> Segments:
        row = self._current(clip, edits)[EDITABLE_MODALITIES.index(modality), CLASS_TO_INDEX[class_name]]
        return tuple(bool(value) for value in row)

    # ---------------------------------------------------------------------------------------------- writing rows

    def _append(
        self,
        connection: sqlite3.Connection,
        clip: str,
        class_name: str,
        modality: str,
        before: Segments,
        after: Segments,
        *,
        action: str,
        target: int | None,
        author: str | None,
        version: int,
        uid: str | None = None,
        timestamp: str | None = None,
        session: str | None = None,
        batch: str | None = None,
    ) -> Edit:
        edit = Edit(
            id=0,
            clip=clip,
            class_name=class_name,
            modality=modality,
            before=before,
            after=after,
            author=author,
            timestamp=timestamp or _now(),
            session=session or self._session,
            version=version,
            action=action,
            target=target,
            uid=uid or _new_uid(),
            batch=batch,
        )
        cursor = connection.execute(
            f"INSERT INTO edits ({_EDIT_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                edit.uid,
                clip,
                class_name,
                modality,
                segments_to_text(before),
                segments_to_text(after),
                action,
                target,
                author,
                edit.timestamp,
                edit.session,
                version,
                batch,
            ),
        )
        return dataclasses.replace(edit, id=cursor.lastrowid)

    def _declare(
        self,
        connection: sqlite3.Connection,
        clip: str,
        labels: tuple[str, ...],
        author: str | None,
        *,
        uid: str | None = None,
        timestamp: str | None = None,
        session: str | None = None,
    ) -> NewClip:
        row = NewClip(0, clip, labels, author, timestamp or _now(), session or self._session, uid or _new_uid())
        cursor = connection.execute(
            f"INSERT INTO new_clips ({_CLIP_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?, ?)",
            (row.uid, clip, ",".join(labels), author, row.timestamp, row.session),
        )
        return dataclasses.replace(row, id=cursor.lastrowid)

    def _author_of(self, author: str | None) -> str | None:
        return self._author if author is None else check_author(author)

    @staticmethod
    def _check_version(clip: str, edits: Sequence[Edit], expected: int | None) -> int:
        version = edits[-1].version if edits else 0
        if expected is not None and expected != version:
            raise ConflictError(
                f"clip {clip!r} was edited since version {expected} (it is now at version {version}, last by "
                f"{edits[-1].author or 'an unnamed author'} at {edits[-1].timestamp}); reload it and try again"
                if version > expected
                else f"clip {clip!r} is at version {version}, not {expected}; reload it and try again"
            )
        return version

    def _set_row(
        self,
        clip: object,
        class_name: str,
        modality: str,
        new_row: Callable[[Segments], Segments],
        author: str | None,
        expected: int | None,
    ) -> Edit | None:
        with self._transaction(write=True) as connection:
            clip = self._resolve_clip(connection, clip)
            edits = self._clip_edits(connection, clip)
            version = self._check_version(clip, edits, expected)
            before = self._row(clip, edits, class_name, modality)
            after = new_row(before)
            if after == before:
                return None
            return self._append(
                connection,
                clip,
                class_name,
                modality,
                before,
                after,
                action="set",
                target=None,
                author=author,
                version=version + 1,
            )

    # ------------------------------------------------------------------------------------------------- editing

    def set_segments(
        self,
        clip: str,
        class_name: str,
        modality: str,
        segments: Sequence[bool] | np.ndarray,
        author: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> Edit | None:
        """Set the T = 10 segments of one (clip, class, modality) row, in one transaction.

        Args:
            clip: LLP filename ``<ID>_<start>_<end>`` of a data clip or a clip added with ``add_clip``.
            class_name: as spelled in the CSVs, e.g. ``'Frying_(food)'``.
            modality: ``'audio'`` or ``'visual'``.
            segments: (T,) booleans or integers 0 / 1, segment 0 first (True: the event is present).
            author: who made the edit (default: the store's author).
            expected_version: the clip's version the caller read (``version``); a different current version raises
                ``ConflictError`` and stores nothing.

        Returns:
            The stored edit (its ``version`` is the clip's new version), or None when ``segments`` equal the current
            row (nothing to store; the version does not move).

        Raises:
            AnnotationError: unknown clip / class / modality, or segments that are not 10 booleans; nothing stored.
            ConflictError: the clip moved on since ``expected_version``; nothing stored.
        """
        where = f"clip {clip!r}: "
        class_name = check_class(class_name, where)
        modality = check_modality(modality, where)
        after = check_segments(segments, where)
        return self._set_row(
            clip,
            class_name,
            modality,
            lambda _before: after,
            self._author_of(author),
            _check_expected_version(expected_version),
        )

    def set_interval(
        self,
        clip: str,
        class_name: str,
        modality: str,
        onset: int,
        offset: int,
        value: bool = True,
        author: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> Edit | None:
        """Set segments ``[onset, offset)`` (integer seconds, ``0 <= onset < offset <= 10``) of one row to ``value``;
        the other segments keep their current value. Otherwise as ``set_segments``."""
        where = f"clip {clip!r}: "
        class_name = check_class(class_name, where)
        modality = check_modality(modality, where)
        onset, offset = check_interval(onset, offset, where)
        flag = check_flag(value, where)

        def new_row(before: Segments) -> Segments:
            return tuple(flag if onset <= index < offset else old for index, old in enumerate(before))

        return self._set_row(
            clip, class_name, modality, new_row, self._author_of(author), _check_expected_version(expected_version)
        )

    def update_row(
        self,
        clip: str,
        class_name: str,
        modality: str,
        update: Callable[[Segments], Sequence[bool] | np.ndarray],
        author: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> Edit | None:
        """Read-modify-write one row in one transaction: its new segments are ``update(current)`` (``current``: the
        row's T = 10 bools as stored now; e.g. ``mgn.explore.editing.segments_after_click``). Another writer cannot
        slip in between the read and the write. Otherwise as ``set_segments``.

        Raises:
            AnnotationError: as ``set_segments``, also when ``update`` returns something other than 10 booleans.
        """
        where = f"clip {clip!r}: "
        class_name = check_class(class_name, where)
        modality = check_modality(modality, where)
        if not callable(update):
            raise AnnotationError(f"{where}update must be a function of the current segments, got {update!r}")

        def new_row(before: Segments) -> Segments:
            return check_segments(update(before), f"{where}{class_name} {modality}: update returned ")

        return self._set_row(
            clip, class_name, modality, new_row, self._author_of(author), _check_expected_version(expected_version)
        )

    def set_rows(
        self,
        clip: str,
        rows: Mapping[tuple[str, str], Sequence[bool] | np.ndarray],
        author: str | None = None,
        *,
        expected_version: int | None = None,
    ) -> list[Edit]:
        """Set several rows of one clip as one grouped edit: one transaction, one step for undo / redo (e.g. removing
        a class row clears its audio and its visual segments).

        Args:
            rows: ``{(class_name, modality): segments}``, each as in ``set_segments``.
            author, expected_version: as in ``set_segments`` (the version is checked once, before the group).

        Returns:
            The stored rows, in ``rows`` order, sharing one ``batch`` (None when there is a single row); rows equal
            to the current ones are skipped, so the list may be shorter, or empty (nothing stored).

        Raises:
            AnnotationError: as ``set_segments``, for any row (naming it); nothing stored.
            ConflictError: the clip moved on since ``expected_version``; nothing stored.
        """
        where = f"clip {clip!r}: "
        if not isinstance(rows, Mapping) or not rows:
            raise AnnotationError(f"{where}rows must be a non-empty mapping {{(class, modality): segments}}")
        checked: dict[tuple[str, str], Segments] = {}
        for key, segments in rows.items():
            if not isinstance(key, tuple) or len(key) != 2:
                raise AnnotationError(f"{where}row key {key!r}: expected (class_name, modality)")
            row = (check_class(key[0], where), check_modality(key[1], where))
            checked[row] = check_segments(segments, f"{where}{row[0]} {row[1]}: ")
        author = self._author_of(author)
        expected = _check_expected_version(expected_version)
        with self._transaction(write=True) as connection:
            clip = self._resolve_clip(connection, clip)
            edits = self._clip_edits(connection, clip)
            version = self._check_version(clip, edits, expected)
            changed = [(row, after) for row, after in checked.items() if self._row(clip, edits, *row) != after]
            batch = _new_uid() if len(changed) > 1 else None
            stored = []
            for (class_name, modality), after in changed:
                before = self._row(clip, edits, class_name, modality)
                version += 1
                stored.append(
                    self._append(
                        connection,
                        clip,
                        class_name,
                        modality,
                        before,
                        after,
                        action="set",
                        target=None,
                        author=author,
                        version=version,
                        batch=batch,
                    )
                )
                edits.append(stored[-1])
            return stored

    def _revert(self, clip: object, action: str, author: str | None, expected: int | None) -> Edit:
        with self._transaction(write=True) as connection:
            clip = self._resolve_clip(connection, clip)
            edits = self._clip_edits(connection, clip)
            version = self._check_version(clip, edits, expected)
            done, undone = undo_stacks(edits)
            group = top_group(done if action == "undo" else undone)
            if not group:
                raise NothingToUndoError(
                    f"clip {clip!r}: nothing to {action} ({len(done)} edit(s) to undo, {len(undone)} to redo)"
                )
            batch = _new_uid() if len(group) > 1 else None
            for target in group:
                before = self._row(clip, edits, target.class_name, target.modality)
                after = target.before if action == "undo" else target.after
                version += 1
                edits.append(
                    self._append(
                        connection,
                        clip,
                        target.class_name,
                        target.modality,
                        before,
                        after,
                        action=action,
                        target=target.id,
                        author=author,
                        version=version,
                        batch=batch,
                    )
                )
            return edits[-1]

    def undo(self, clip: str, author: str | None = None, *, expected_version: int | None = None) -> Edit:
        """Undo the latest not-undone edit of ``clip`` (by anyone), by appending an 'undo' row; returns it. A grouped
        edit (``set_rows``) is undone as a whole: one 'undo' row per row of the group, in one transaction; the last
        one is returned (its ``version`` is the clip's new version).

        Raises:
            NothingToUndoError: the clip has no edit left to undo.
            ConflictError: as in ``set_segments``.
        """
        return self._revert(clip, "undo", self._author_of(author), _check_expected_version(expected_version))

    def redo(self, clip: str, author: str | None = None, *, expected_version: int | None = None) -> Edit:
        """Re-apply the latest undone edit of ``clip`` (a new 'set' edit clears what can be redone); returns the row
        (the last one, for a group, as ``undo``).

        Raises:
            NothingToUndoError: nothing to redo.
            ConflictError: as in ``set_segments``.
        """
        return self._revert(clip, "redo", self._author_of(author), _check_expected_version(expected_version))

    # ----------------------------------------------------------------------------------------------- new clips

    def add_clip(self, clip: str, labels: Sequence[str] | str, author: str | None = None) -> NewClip:
        """Declare a video that is not in the data, with its video-level labels; then annotate it with
        ``set_segments`` / ``set_interval`` (it starts with no segment in either modality).

        Args:
            clip: LLP filename ``<11-char YouTube ID>_<start>_<end>`` with ``end = start + 10``.
            labels: the classes present in the video (at least one; a list or a comma-separated string).

        Raises:
            AnnotationError: a bad name or label; the clip (or its YouTube ID, which keys the feature files) is
                already in the data or in the store; the data's eval CSVs already name it (their rows would attach).
        """
        clip = check_new_clip_name(clip)
        labels = check_labels(labels, f"clip {clip!r}: ")
        author = self._author_of(author)
        with self._transaction(write=True) as connection:
            self._check_addable(connection, clip)
            return self._declare(connection, clip, labels, author)

    def _check_addable(self, connection: sqlite3.Connection, clip: str) -> None:
        video_id = clip[:VIDEO_ID_LENGTH]
        if clip in self._source:
            raise AnnotationError(f"clip {clip!r} is already in the data ({self._source.split_of[clip]} split)")
        if video_id in self._source.video_ids:
            other = next(name for name in self._source.filenames if name.startswith(video_id))
            raise AnnotationError(
                f"clip {clip!r}: video {video_id!r} is already in the data as {other!r} (features are keyed by the "
                "YouTube ID: one clip per video)"
            )
        if clip in self._source.dense_filenames:
            raise AnnotationError(
                f"clip {clip!r}: the data's eval CSVs already have rows for it (rows of no data clip); "
                "remove them or choose another name"
            )
        for row in _latest_declarations(self._clip_rows(connection)):
            if row.clip == clip or row.clip.startswith(video_id):
                raise AnnotationError(
                    f"clip {clip!r}: {row.clip!r} was already added by {row.author or 'an unnamed author'} at "
                    f"{row.timestamp} (one clip per video)"
                )

    def set_labels(self, clip: str, labels: Sequence[str] | str, author: str | None = None) -> NewClip:
        """Replace the declared video-level labels of a clip added with ``add_clip`` (appends a declaration).

        Raises:
            AnnotationError: a data clip (its weak labels come from the data's CSVs), an unknown clip or class.
        """
        labels = check_labels(labels, f"clip {clip!r}: ")
        author = self._author_of(author)
        with self._transaction(write=True) as connection:
            clip = self._resolve_clip(connection, clip)
            if clip in self._source:
                raise AnnotationError(
                    f"clip {clip!r} is a data clip: its video-level labels come from the data's CSVs; only clips "
                    "added with add_clip have declared labels"
                )
            current = self._clip_rows(connection, clip)[-1]
            if current.labels == labels:
                return current
            return self._declare(connection, clip, labels, author)

    def new_clips(self) -> list[NewClip]:
        """The current declaration of every clip added with ``add_clip``, in the order they were added."""
        with self._transaction(write=False) as connection:
            return _latest_declarations(self._clip_rows(connection))

    # ------------------------------------------------------------------------------------------------- reading

    def clips(self, split: str | None = None) -> list[str]:
        """Every clip the store knows: the data's (split order) and then the new ones; or those of one split
        (``'train'``, ``'val'``, ``'test'``, or ``'new'`` for clips added with ``add_clip``)."""
        if split is not None and split not in (*SPLITS, NEW_SPLIT):
            raise AnnotationError(f"unknown split {split!r}; expected one of {(*SPLITS, NEW_SPLIT)} or None")
        data = [name for name in self._source.filenames if split in (None, self._source.split_of[name])]
        new = [row.clip for row in self.new_clips()] if split in (None, NEW_SPLIT) else []
        return data + new

    def split_of(self, clip: str) -> str:
        """``'train'``, ``'val'``, ``'test'``, or ``'new'`` for a clip added with ``add_clip``."""
        with self._transaction(write=False) as connection:
            clip = self._resolve_clip(connection, clip)
        return self._source.split_of.get(clip, NEW_SPLIT)

    def labels(self, clip: str) -> tuple[str, ...]:
        """Video-level labels: the data's weak labels, or for a new clip its declared labels plus every class with a
        segment in audio or visual (what ``export`` writes to ``AVVP_new_clips.csv``)."""
        with self._transaction(write=False) as connection:
            clip = self._resolve_clip(connection, clip)
            if clip in self._source:
                return self._source.weak_labels[clip]
            declared = self._clip_rows(connection, clip)[-1].labels
            present = self._current(clip, self._clip_edits(connection, clip)).any(axis=(0, 2))  # (C,)
        return tuple(name for index, name in enumerate(CLASSES) if present[index] or name in declared)

    def version(self, clip: str) -> int:
        """The clip's version: its number of edit rows (0 before any edit). Pass it back as ``expected_version``."""
        with self._transaction(write=False) as connection:
            clip = self._resolve_clip(connection, clip)
            row = connection.execute("SELECT MAX(version) FROM edits WHERE clip = ?", (clip,)).fetchone()
        return row[0] or 0

    def history(self, clip: str | None = None) -> list[Edit]:
        """The edits of ``clip`` (every clip when None), oldest first, undo / redo rows included."""
        with self._transaction(write=False) as connection:
            if clip is None:
                return self._all_edits(connection)
            clip = self._resolve_clip(connection, clip)
            return self._clip_edits(connection, clip)

    @staticmethod
    def _as_dict(labels: np.ndarray) -> dict[str, np.ndarray]:
        return {modality: labels[index] for index, modality in enumerate(EDITABLE_MODALITIES)}

    def ground_truth(self, clip: str) -> dict[str, np.ndarray]:
        """``{"audio": (C, T) uint8, "visual": (C, T) uint8}`` [class, segment]: the data's labels with the edits
        applied (a new clip: its edits only). Audio-visual is ``mgn.labels.audio_visual(audio, visual)``."""
        with self._transaction(write=False) as connection:
            clip = self._resolve_clip(connection, clip)
            return self._as_dict(self._current(clip, self._clip_edits(connection, clip)))

    def original(self, clip: str) -> dict[str, np.ndarray]:
        """As ``ground_truth``, without the edits (all zeros for a new clip)."""
        with self._transaction(write=False) as connection:
            clip = self._resolve_clip(connection, clip)
        return self._as_dict(self._original(clip))

    def diff(self, clip: str) -> list[Change]:
        """The rows of ``clip`` whose current segments differ from the data's (class, modality order)."""
        with self._transaction(write=False) as connection:
            clip = self._resolve_clip(connection, clip)
            edits = self._clip_edits(connection, clip)
            declared = _latest_declarations(self._clip_rows(connection, clip))
        return compute_changes(self._source, edits, declared)

    def changes(self) -> list[Change]:
        """Every row of every clip that differs from the data (what the export's diff file lists)."""
        with self._transaction(write=False) as connection:
            edits = self._all_edits(connection)
            declared = _latest_declarations(self._clip_rows(connection))
        return compute_changes(self._source, edits, declared)

    def edited_clips(self, changed_only: bool = False) -> list[str]:
        """Clips with at least one edit row, in the order of their first edit; with ``changed_only``, only those
        whose labels now differ from the data's (an edit that was undone no longer counts)."""
        if changed_only:
            return list(dict.fromkeys(change.clip for change in self.changes()))
        with self._transaction(write=False) as connection:
            rows = connection.execute("SELECT clip FROM edits GROUP BY clip ORDER BY MIN(id)").fetchall()
        return [row[0] for row in rows]

    # -------------------------------------------------------------------------------------------- files and logs

    def export(self, out_dir: str | Path, *, force: bool = False) -> ExportResult:
        """Write the official-format files with the edits applied (see ``mgn.annotations.export``).

        Raises:
            AnnotationError: ``out_dir`` already holds export files (unless ``force``), or one of them would be a
                file of the data (never).
        """
        with self._transaction(write=False) as connection:
            edits = self._all_edits(connection)
            declared = _latest_declarations(self._clip_rows(connection))
        return write_export(out_dir, self._source, edits, declared, force=force)

    def import_folder(self, folder: str | Path | ExportFolder, *, author: str = IMPORT_AUTHOR) -> ImportResult:
        """Store, as edits by ``author``, every row of an exported folder that differs from the current labels;
        declare its new clips. One transaction; importing the same folder again stores nothing.

        Raises:
            AnnotationError: the folder lacks an eval CSV, or holds rows that cannot be used (naming file and line).
        """
        author = check_author(author)
        folder_files = folder if isinstance(folder, ExportFolder) else read_folder(folder)
        with self._transaction(write=True) as connection:
            new_clips, edits = self._import_rows(connection, folder_files, author)
        return ImportResult(tuple(new_clips), tuple(edits))

    def _import_rows(
        self, connection: sqlite3.Connection, folder: ExportFolder, author: str | None
    ) -> tuple[list[NewClip], list[Edit]]:
        """``import_folder`` inside the caller's transaction."""
        edits = self._all_edits(connection)
        declared_rows = _latest_declarations(self._clip_rows(connection))
        found = folder_changes(folder, self._source, edits, declared_rows)
        declared = {row.clip for row in declared_rows}
        new_clips = []
        for clip, labels in found.declare:
            if clip not in declared:
                self._check_addable(connection, clip)
            new_clips.append(self._declare(connection, clip, labels, author))
        stored = []
        per_clip = collections.Counter(clip for (clip, _, _), _ in found.rows)
        batches = {clip: _new_uid() for clip, count in per_clip.items() if count > 1}  # a clip's rows: one undo step
        for (clip, class_name, modality), after in found.rows:
            clip_edits = self._clip_edits(connection, clip)
            before = self._row(clip, clip_edits, class_name, modality)
            version = clip_edits[-1].version if clip_edits else 0
            stored.append(
                self._append(
                    connection,
                    clip,
                    class_name,
                    modality,
                    before,
                    after,
                    action="set",
                    target=None,
                    author=author,
                    version=version + 1,
                    batch=batches.get(clip),
                )
            )
        return new_clips, stored

    def export_edits(self) -> str:
        """Every row of the store (new clips, edits) as JSON lines (``mgn.annotations.edit_log``): what a hosted,
        session-only store gives the user to download; ``import_edits`` reads it back into any store."""
        with self._transaction(write=False) as connection:
            return dump_log(self._clip_rows(connection), self._all_edits(connection))

    def import_edits(self, log: str | bytes, *, source: str = "edit log") -> ImportResult:
        """Merge a log written by ``export_edits`` into this store, in one transaction.

        Rows already present (same uid) are skipped, so importing a log twice stores nothing. For each clip the
        store's history must be a prefix of the log's (or the other way round): a clip edited on both sides since
        they parted is refused, as is an edit whose ``before`` differs from the store's current row (made on other
        data). Imported rows keep their author, timestamp, session and version.

        Raises:
            AnnotationError: a malformed log (naming the line), a diverged clip, or a row that does not fit.
        """
        logged_clips, logged_edits = parse_log(log, source)
        with self._transaction(write=True) as connection:
            new_clips = self._merge_clips(connection, logged_clips, source)
            edits = self._merge_edits(connection, logged_edits, source)
        return ImportResult(tuple(new_clips), tuple(edits))

    def export_archive(self) -> tuple[bytes, ExportResult]:
        """The export as the bytes of one zip, for a download (hosted mode): the four files of ``export`` and
        ``annotation_edits.jsonl`` (``export_edits``), all at the top level; deterministic for the same rows.
        ``ExportResult.files`` hold the member names."""
        with self._transaction(write=False) as connection:
            edits = self._all_edits(connection)
            clip_rows = self._clip_rows(connection)
        return export_archive(self._source, edits, _latest_declarations(clip_rows), dump_log(clip_rows, edits))

    def import_archive(self, data: bytes, *, source: str = "upload.zip", author: str = IMPORT_AUTHOR) -> ImportResult:
        """Read back an archive of ``export_archive`` (or a zip of an exported folder), in one transaction.

        Its edit log, when present, is merged first (``import_edits``: the history with its authors, undo and
        redo); then every row of its eval CSVs that still differs from the labels (e.g. changed by hand in the
        files) is stored as an edit by ``author`` (``import_folder``). Importing the same archive again stores
        nothing.

        Raises:
            AnnotationError: not a zip, a missing or malformed member (named), a diverged history; nothing stored.
        """
        author = check_author(author)
        log, folder = read_archive(data, source)
        logged = parse_log(log, f"{source}: {ARCHIVE_LOG}") if log is not None else ([], [])
        with self._transaction(write=True) as connection:
            new_clips = self._merge_clips(connection, logged[0], f"{source}: {ARCHIVE_LOG}")
            edits = self._merge_edits(connection, logged[1], f"{source}: {ARCHIVE_LOG}")
            if folder is not None:
                more_clips, more_edits = self._import_rows(connection, folder, author)
                new_clips, edits = new_clips + more_clips, edits + more_edits
        return ImportResult(tuple(new_clips), tuple(edits))

    @staticmethod
    def _missing(have: Sequence[str], logged: Sequence[str], what: str) -> int:
        """How many of ``logged`` (uids) are already in ``have``: both must be prefixes of one history."""
        if list(logged[: len(have)]) == list(have):
            return len(have)
        if list(have[: len(logged)]) == list(logged):
            return len(logged)
        position = next(index for index, (a, b) in enumerate(zip(have, logged)) if a != b)
        raise AnnotationError(f"{what} diverged from this store's at row {position + 1}; nothing imported")

    def _merge_clips(self, connection: sqlite3.Connection, logged: Sequence[LoggedClip], source: str) -> list[NewClip]:
        by_clip: dict[str, list[LoggedClip]] = {}
        for item in logged:
            by_clip.setdefault(item.clip.clip, []).append(item)
        stored = []
        for clip, items in by_clip.items():
            have = self._clip_rows(connection, clip)
            skip = self._missing(
                [row.uid for row in have], [item.clip.uid for item in items], f"{source}: the declarations of {clip!r}"
            )
            for index, item in enumerate(items[skip:]):
                if not have and index == 0:
                    try:
                        check_new_clip_name(clip)
                        self._check_addable(connection, clip)
                    except AnnotationError as error:
                        raise AnnotationError(f"{source}, line {item.line}: {error}") from None
                row = item.clip
                stored.append(
                    self._declare(
                        connection,
                        clip,
                        row.labels,
                        row.author,
                        uid=row.uid,
                        timestamp=row.timestamp,
                        session=row.session,
                    )
                )
        return stored

    def _merge_edits(self, connection: sqlite3.Connection, logged: Sequence[LoggedEdit], source: str) -> list[Edit]:
        by_clip: dict[str, list[LoggedEdit]] = {}
        for item in logged:
            by_clip.setdefault(item.edit.clip, []).append(item)
        stored = []
        for clip, items in by_clip.items():
            items = sorted(items, key=lambda item: item.edit.version)
            versions = [item.edit.version for item in items]
            if versions != list(range(1, len(items) + 1)):
                raise AnnotationError(
                    f"{source}: the edits of clip {clip!r} have versions {versions[:10]}; expected 1, 2, ... (the "
                    "clip's whole history, as export_edits writes it)"
                )
            try:
                clip = self._resolve_clip(connection, clip)
            except AnnotationError as error:
                raise AnnotationError(f"{source}, line {items[0].line}: {error}") from None
            edits = self._clip_edits(connection, clip)
            skip = self._missing(
                [edit.uid for edit in edits], [item.edit.uid for item in items], f"{source}: the history of {clip!r}"
            )
            for item, edit in zip(items, edits):  # rows already here: the same edit, not just the same uid
                if (item.edit.row, item.edit.before, item.edit.after, item.edit.action) != (
                    edit.row,
                    edit.before,
                    edit.after,
                    edit.action,
                ):
                    raise AnnotationError(f"{source}, line {item.line}: edit {edit.uid} differs from the stored one")
            uid_to_id = {edit.uid: edit.id for edit in edits}
            for item in items[skip:]:
                stored_edit = self._merge_edit(connection, clip, edits, item, uid_to_id, source)
                edits.append(stored_edit)
                uid_to_id[stored_edit.uid] = stored_edit.id
                stored.append(stored_edit)
        return stored

    def _merge_edit(
        self,
        connection: sqlite3.Connection,
        clip: str,
        edits: list[Edit],
        item: LoggedEdit,
        uid_to_id: dict[str, int],
        source: str,
    ) -> Edit:
        where = f"{source}, line {item.line}: "
        logged = item.edit
        current = self._row(clip, edits, logged.class_name, logged.modality)
        if logged.before != current:
            raise AnnotationError(
                f"{where}edit of {clip!r} {logged.class_name} {logged.modality} expects segments "
                f"{segments_to_text(logged.before)} before it, but the store has {segments_to_text(current)} "
                "(were these edits made on other data?); nothing imported"
            )
        target = None
        if item.target_uid is not None:
            target = uid_to_id.get(item.target_uid)
            done, undone = undo_stacks(edits)
            stack = done if logged.action == "undo" else undone
            if target is None or not stack or stack[-1].id != target:
                raise AnnotationError(f"{where}{logged.action} of {item.target_uid} does not fit the clip's history")
        try:
            return self._append(
                connection,
                clip,
                logged.class_name,
                logged.modality,
                logged.before,
                logged.after,
                action=logged.action,
                target=target,
                author=logged.author,
                version=logged.version,
                uid=logged.uid,
                timestamp=logged.timestamp,
                session=logged.session,
                batch=logged.batch,
            )
        except sqlite3.IntegrityError as error:
            raise AnnotationError(f"{where}cannot store edit {logged.uid} ({error}); nothing imported") from None
