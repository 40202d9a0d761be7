"""The annotation database: SQLite file checks, versioned migrations, and the connection settings.

Schema (version 2, ``PRAGMA user_version``; ``PRAGMA application_id`` = ``0x4D474E41``, "MGNA"):

- ``edits``: one append-only row per change of one (clip, class, modality) row of segments: ``uid`` (globally unique,
  for merging sessions), ``clip``, ``class``, ``modality`` ('audio' / 'visual'), ``before`` / ``after`` (10
  characters '0'/'1', segment 0 first), ``action`` ('set', or 'undo' / 'redo' of the 'set' row ``target``),
  ``author``, ``timestamp`` (ISO 8601, UTC), ``session``, ``version`` (the clip's version after the row: 1, 2, ...;
  unique per clip), ``batch`` (since version 2: the uid shared by the rows of one grouped edit of a clip, which undo
  and redo treat as one step; NULL for a single row). Triggers refuse UPDATE and DELETE.
- ``new_clips``: append-only rows declaring videos that are not in the data, with their video-level labels (the
  latest row of a clip holds its current labels).
- ``meta``: key / value strings (``application``, ``created``).

Opening a file never modifies it before it is known to be an annotation database of a version this code reads: the
header bytes are checked first (SQLite magic, application id, schema version), then ``PRAGMA quick_check``. A newer
schema, another application's database, a corrupt or non-SQLite file: ``AnnotationDatabaseError``, file untouched.
Connections run in WAL mode with ``synchronous=FULL`` (an acknowledged transaction survives a kill or power loss) and
a busy timeout, so that writers using ``BEGIN IMMEDIATE`` wait for each other instead of failing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from mgn.annotations.errors import AnnotationDatabaseError, AnnotationError
from mgn.labels import NUM_SEGMENTS

__all__ = ["APPLICATION_ID", "MIGRATIONS", "SCHEMA_VERSION", "connect", "in_memory"]

APPLICATION_ID = 0x4D474E41  # "MGNA": marks the file as an mgn annotation database
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100
_USER_VERSION_OFFSET = 60  # big-endian 4-byte fields of the SQLite file header
_APPLICATION_ID_OFFSET = 68
DEFAULT_TIMEOUT_S = 30.0  # how long a writer waits for another one's transaction


def _segments_check(column: str) -> str:
    return f"CHECK (length({column}) = {NUM_SEGMENTS} AND {column} NOT GLOB '*[^01]*')"


def _append_only(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        for verb in ("UPDATE", "DELETE")
    ]


def _migrate_to_v1(connection: sqlite3.Connection) -> None:
    """The first schema: edits, new_clips, meta. One statement per ``execute`` (``executescript`` would commit)."""
    statements = [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"""CREATE TABLE edits (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL UNIQUE,
            clip TEXT NOT NULL,
            class TEXT NOT NULL,
            modality TEXT NOT NULL CHECK (modality IN ('audio', 'visual')),
            before TEXT NOT NULL {_segments_check("before")},
            after TEXT NOT NULL {_segments_check("after")},
            action TEXT NOT NULL CHECK (action IN ('set', 'undo', 'redo')),
            target INTEGER REFERENCES edits (id),
            author TEXT,
            timestamp TEXT NOT NULL,
            session TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            UNIQUE (clip, version),
            CHECK ((action = 'set') = (target IS NULL))
        )""",
        """CREATE TABLE new_clips (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            uid TEXT NOT NULL UNIQUE,
            clip TEXT NOT NULL,
            labels TEXT NOT NULL CHECK (labels != ''),
            author TEXT,
            timestamp TEXT NOT NULL,
            session TEXT NOT NULL
        )""",
        "CREATE INDEX new_clips_by_clip ON new_clips (clip, id)",
        *_append_only("edits"),
        *_append_only("new_clips"),
        "INSERT INTO meta (key, value) VALUES ('application', 'mgn.annotations')",
        "INSERT INTO meta (key, value) VALUES ('created', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        f"PRAGMA application_id = {APPLICATION_ID}",
    ]
    for statement in statements:
        connection.execute(statement)


def _migrate_to_v2(connection: sqlite3.Connection) -> None:
    """Grouped edits: ``edits.batch`` (NULL for the rows written before, each its own step)."""
    connection.execute("ALTER TABLE edits ADD COLUMN batch TEXT")


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: tuple[Migration, ...] = (_migrate_to_v1, _migrate_to_v2)  # MIGRATIONS[i] upgrades schema version i to i + 1
SCHEMA_VERSION = len(MIGRATIONS)


def _newer(path: object, version: int) -> AnnotationDatabaseError:
    return AnnotationDatabaseError(
        f"{path}: annotation database of schema version {version}, newer than this version of mgn reads "
        f"(up to {SCHEMA_VERSION}); upgrade mgn to open it. The file was not modified"
    )


def _foreign(path: object, why: str) -> AnnotationDatabaseError:
    return AnnotationDatabaseError(
        f"{path}: not an mgn annotation database ({why}); refusing to open or overwrite it. Give another --db / path"
    )


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite, is another application's database, or has a newer schema (header bytes)."""
    with path.open("rb") as file:
        header = file.read(_HEADER_BYTES)
    if len(header) < _HEADER_BYTES or not header.startswith(_SQLITE_MAGIC):
        raise AnnotationDatabaseError(
            f"{path}: not an SQLite database (corrupt, truncated or another kind of file: its first bytes are "
            f"{header[:16]!r}); refusing to open or overwrite it"
        )
    version = int.from_bytes(header[_USER_VERSION_OFFSET : _USER_VERSION_OFFSET + 4], "big")
    application = int.from_bytes(header[_APPLICATION_ID_OFFSET : _APPLICATION_ID_OFFSET + 4], "big")
    if application not in (0, APPLICATION_ID):
        raise _foreign(path, f"application id {application:#x}")
    if application == APPLICATION_ID and version > SCHEMA_VERSION:
        raise _newer(path, version)


def _check_contents(connection: sqlite3.Connection, path: object) -> int:
    """The schema version of an existing database, after checking that it is ours, readable and not newer."""
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        application = connection.execute("PRAGMA application_id").fetchone()[0]
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        problems = [row[0] for row in connection.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as error:
        raise AnnotationDatabaseError(f"{path}: corrupt SQLite database ({error}); refusing to open it") from None
    if problems != ["ok"]:
        raise AnnotationDatabaseError(
            f"{path}: corrupt SQLite database (quick_check: {'; '.join(problems[:3])}); refusing to open it"
        )
    if application not in (0, APPLICATION_ID) or (application == 0 and tables):
        raise _foreign(path, f"application id {application:#x}, tables {tables[:5]}")
    if version > SCHEMA_VERSION:
        raise _newer(path, version)
    return version


def _migrate(connection: sqlite3.Connection, path: object) -> None:
    """Apply the pending migrations in one transaction (a concurrent opener waits, then finds nothing to do)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:  # another process upgraded it between our check and this transaction
            raise _newer(path, version)
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target - 1](connection)
            connection.execute(f"PRAGMA user_version = {target}")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


def _open(target: str, *, uri: bool, timeout: float) -> sqlite3.Connection:
    # isolation_level=None: no implicit transactions; every write is an explicit BEGIN IMMEDIATE ... COMMIT.
    # check_same_thread=False: the store serialises its own calls with a lock (Gradio calls from worker threads).
    return sqlite3.connect(target, timeout=timeout, isolation_level=None, check_same_thread=False, uri=uri)


def in_memory() -> sqlite3.Connection:
    """A session-only database (hosted mode): same schema, gone when closed."""
    connection = _open(":memory:", uri=False, timeout=DEFAULT_TIMEOUT_S)
    connection.execute("PRAGMA foreign_keys = ON")
    _migrate(connection, ":memory:")
    return connection


def connect(path: str | Path, *, timeout: float = DEFAULT_TIMEOUT_S) -> sqlite3.Connection:
    """Open (creating it if absent or empty) the annotation database at ``path``, migrated to ``SCHEMA_VERSION``.

    Raises:
        AnnotationError: ``path`` is a folder, or its folder does not exist.
        AnnotationDatabaseError: the file is refused (see the module docstring); it is left untouched.
    """
    path = Path(path)
    if path.is_dir():
        raise AnnotationError(f"annotation database path {path} is a folder; expected a file (e.g. annotations.sqlite)")
    if not path.parent.is_dir():
        raise AnnotationError(f"annotation database {path}: folder {path.parent} does not exist")
    existing = path.is_file() and path.stat().st_size > 0
    if existing:
        _check_header(path)
        wal = path.with_name(path.name + "-wal")
        if wal.is_file() and wal.stat().st_size > 0:  # the header may be stale: read through SQLite, read-only
            checker = _open(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
            try:
                _check_contents(checker, path)
            finally:
                checker.close()
    try:
        connection = _open(str(path), uri=False, timeout=timeout)
    except sqlite3.Error as error:
        raise AnnotationError(f"cannot open annotation database {path}: {error} (is its folder writable?)") from None
    try:
        if existing:
            _check_contents(connection, path)
        mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise AnnotationDatabaseError(f"{path}: cannot use write-ahead logging (journal mode {mode!r})")
        connection.execute("PRAGMA synchronous = FULL")  # fsync every commit: acknowledged edits survive a crash
        connection.execute("PRAGMA foreign_keys = ON")
        _migrate(connection, path)
    except sqlite3.DatabaseError as error:
        connection.close()
        raise AnnotationDatabaseError(f"{path}: cannot use this database ({error}); it was not modified") from None
    except BaseException:
        connection.close()
        raise
    return connection
