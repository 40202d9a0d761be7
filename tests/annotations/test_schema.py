"""The database file: WAL and synchronous=FULL, append-only rows, migrations, and files that are refused untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from mgn.annotations import SCHEMA_VERSION, AnnotationDatabaseError, AnnotationError, AnnotationStore
from mgn.annotations.schema import APPLICATION_ID, MIGRATIONS, connect

ALTERNATING = [True, False] * 5  # no synthetic event looks like this: always a change


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _siblings(path: Path) -> list[str]:
    return sorted(item.name for item in path.parent.iterdir())


def test_new_database_is_wal_full_sync_and_versioned(tmp_path):
    connection = connect(tmp_path / "a.sqlite")
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS) >= 1
    assert connection.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"edits", "new_clips", "meta"} <= tables
    connection.close()
    again = connect(tmp_path / "a.sqlite")  # reopening migrates nothing
    assert again.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    again.close()


def test_rows_are_append_only(store, test_clips):
    store.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    store.add_clip("NEWvideo_01_0_10", ["Dog"])
    raw = sqlite3.connect(store.path)
    for statement in ("UPDATE edits SET after = '0000000000'", "DELETE FROM edits", "DELETE FROM new_clips"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(statement)
    raw.close()
    assert len(store.history()) == 1 and len(store.new_clips()) == 1


def test_newer_schema_is_refused_and_not_modified(data_dir, tmp_path):
    path = tmp_path / "future.sqlite"
    AnnotationStore(path, data=data_dir).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    digest, siblings = _digest(path), _siblings(path)
    with pytest.raises(AnnotationDatabaseError, match=f"schema version {SCHEMA_VERSION + 1}, newer.*upgrade mgn"):
        AnnotationStore(path, data=data_dir)
    assert _digest(path) == digest and _siblings(path) == siblings


@pytest.mark.parametrize(
    "content",
    [b"this is not a database\n" * 20, b"SQLite format 3\x00" + b"\xff" * 4000, b"\x00" * 50],
    ids=["text", "garbage-after-header", "short"],
)
def test_corrupt_or_foreign_file_is_refused_and_not_overwritten(data_dir, tmp_path, content):
    path = tmp_path / "annotations.sqlite"
    path.write_bytes(content)
    with pytest.raises(AnnotationDatabaseError, match="refusing|corrupt|not an SQLite"):
        AnnotationStore(path, data=data_dir)
    assert path.read_bytes() == content and _siblings(path) == ["annotations.sqlite"]


def test_truncated_database_is_refused_and_not_modified(data_dir, tmp_path, test_clips):
    path = tmp_path / "annotations.sqlite"
    with AnnotationStore(path, data=data_dir) as store:
        for index in range(40):
            store.set_interval(test_clips[0], "Dog", "audio", 0, 1 + index % 9)
    half = path.read_bytes()[: path.stat().st_size // 2]
    path.write_bytes(half)
    with pytest.raises(AnnotationDatabaseError):
        AnnotationStore(path, data=data_dir)
    assert path.read_bytes() == half


def test_another_applications_database_is_refused(data_dir, tmp_path):
    path = tmp_path / "other.sqlite"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE photos (id INTEGER)")
    raw.commit()
    raw.close()
    digest = _digest(path)
    with pytest.raises(AnnotationDatabaseError, match="not an mgn annotation database"):
        AnnotationStore(path, data=data_dir)
    assert _digest(path) == digest
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA application_id = 1234")
    raw.close()
    with pytest.raises(AnnotationDatabaseError, match="application id 0x4d2"):
        AnnotationStore(path, data=data_dir)


def test_a_folder_is_not_a_database(data_dir, tmp_path):
    with pytest.raises(AnnotationError, match="is a folder"):
        AnnotationStore(tmp_path, data=data_dir)


def test_empty_file_becomes_a_database(data_dir, tmp_path, test_clips):
    path = tmp_path / "annotations.sqlite"
    path.touch()
    with AnnotationStore(path, data=data_dir) as store:
        store.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    with AnnotationStore(path, data=data_dir) as store:
        assert len(store.history()) == 1


def test_pending_migrations_run_once_in_order(data_dir, tmp_path, monkeypatch, test_clips):
    from mgn.annotations import schema

    path = tmp_path / "annotations.sqlite"
    with AnnotationStore(path, data=data_dir) as store:
        store.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    calls = []

    def add_note(connection: sqlite3.Connection) -> None:
        calls.append(connection.execute("PRAGMA user_version").fetchone()[0])
        connection.execute("INSERT INTO meta (key, value) VALUES ('note', 'v2')")

    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, add_note))
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    for _ in range(2):
        with AnnotationStore(path, data=data_dir) as store:
            assert len(store.history()) == 1
    assert calls == [SCHEMA_VERSION]  # upgraded from the current version, once
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert raw.execute("SELECT value FROM meta WHERE key = 'note'").fetchone()[0] == "v2"
    raw.close()


def test_a_version_1_database_is_migrated_and_its_edits_kept(data_dir, tmp_path, test_clips):
    """A file written before grouped edits (schema 1): opened, upgraded in place, every row kept and undoable."""
    from mgn.annotations import schema

    path = tmp_path / "v1.sqlite"
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    schema.MIGRATIONS[0](raw)  # what version 1 of mgn created
    raw.execute("PRAGMA user_version = 1")
    raw.execute(
        "INSERT INTO edits (uid, clip, class, modality, before, after, action, target, author, timestamp, session, "
        "version) VALUES ('u1', ?, 'Dog', 'audio', ?, '1010101010', 'set', NULL, 'old', '2025-01-01T00:00:00.000Z', "
        "'s0', 1)",
        (test_clips[0], "0" * 10),
    )
    raw.close()
    with AnnotationStore(path, data=data_dir) as store:
        [edit] = store.history(test_clips[0])
        assert (edit.author, edit.after, edit.batch) == ("old", tuple(ALTERNATING), None)
        store.undo(test_clips[0])
        assert not store.ground_truth(test_clips[0])["audio"][3].any()  # class 3 = Dog, all zeros in the data
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    columns = [row[1] for row in raw.execute("PRAGMA table_info(edits)")]
    raw.close()
    assert columns[-1] == "batch"
