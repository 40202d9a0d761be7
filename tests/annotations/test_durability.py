"""Edits survive a SIGKILL right after they are acknowledged; concurrent writers queue and lose nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from mgn.annotations import AnnotationError, AnnotationStore, ConflictError

from .conftest import REPO_ROOT

ALTERNATING = [True, False] * 5  # no synthetic event looks like this: always a change

WRITE_THEN_WAIT = """
import sys, time
from mgn.annotations import AnnotationStore
store = AnnotationStore(sys.argv[1], data=sys.argv[2], author="killed")
store.set_segments(sys.argv[3], "Dog", "audio", [True, False] * 5)
print("ok", flush=True)
time.sleep(120)
"""

WRITE_MANY = """
import sys
from mgn.annotations import AnnotationStore
store = AnnotationStore(sys.argv[1], data=sys.argv[2], author=sys.argv[4])
for index in range(int(sys.argv[5])):
    bits = [(index + 1) >> bit & 1 for bit in range(10)]  # distinct every time: every call stores a row
    store.set_segments(sys.argv[3], sys.argv[6], "audio", bits)
print("done", flush=True)
"""


WRITE_AT_VERSION = """
import sys
from mgn.annotations import AnnotationStore
store = AnnotationStore(sys.argv[1], data=sys.argv[2], author="other")
edit = store.set_segments(sys.argv[3], "Dog", "audio", [True, False] * 5, expected_version=int(sys.argv[4]))
print(edit.version, flush=True)
"""


def _python(code: str, *args: object) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_acknowledged_edit_survives_sigkill(data_dir, tmp_path, test_clips):
    path = tmp_path / "annotations.sqlite"
    process = subprocess.Popen(
        _python(WRITE_THEN_WAIT, path, data_dir, test_clips[0]), cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "ok"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    with AnnotationStore(path, data=data_dir) as store:
        [edit] = store.history(test_clips[0])
        assert edit.author == "killed" and edit.after == tuple(ALTERNATING)
        assert store.ground_truth(test_clips[0])["audio"][3].tolist() == [1, 0] * 5  # class 3 = Dog


def test_two_writer_processes_queue_and_lose_nothing(data_dir, tmp_path, test_clips):
    path = tmp_path / "annotations.sqlite"
    AnnotationStore(path, data=data_dir).close()  # create the schema once
    count = 15
    processes = [
        subprocess.Popen(
            _python(WRITE_MANY, path, data_dir, test_clips[0], author, count, class_name),
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for author, class_name in (("one", "Cat"), ("two", "Car"))
    ]
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0 and out.strip() == "done", err
    with AnnotationStore(path, data=data_dir) as store:
        history = store.history(test_clips[0])
    assert [edit.version for edit in history] == list(range(1, 2 * count + 1))
    assert sorted(edit.author for edit in history) == ["one"] * count + ["two"] * count
    for author in ("one", "two"):  # each writer's rows chain: every `before` is that writer's previous `after`
        mine = [edit for edit in history if edit.author == author]
        assert all(later.before == earlier.after for earlier, later in zip(mine, mine[1:]))


def test_a_writer_waits_for_another_transaction_and_fails_clearly_after_its_timeout(make_store, tmp_path, test_clips):
    path = tmp_path / "annotations.sqlite"
    patient = make_store(path, timeout=10)
    hasty = make_store(path, timeout=0.1)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    with pytest.raises(AnnotationError, match="busy"):
        hasty.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    release = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
    release.start()
    started = time.perf_counter()
    edit = patient.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    assert edit.version == 1 and time.perf_counter() - started >= 0.2
    release.join()
    blocker.close()
    assert len(hasty.history()) == 1


def test_a_stale_writer_gets_a_conflict_from_another_process_and_nothing_is_lost(make_store, tmp_path, test_clips):
    """Two browser sessions (here two processes) open the same clip at version 0; the second to save is refused."""
    path = tmp_path / "annotations.sqlite"
    mine = make_store(path, author="me")
    seen = mine.version(test_clips[0])
    other = subprocess.run(
        _python(WRITE_AT_VERSION, path, mine.layout.root, test_clips[0], seen),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 0 and other.stdout.strip() == "1", other.stderr
    with pytest.raises(ConflictError, match="edited since version 0 .*by other.*reload it and try again"):
        mine.set_segments(test_clips[0], "Dog", "audio", [False, True] * 5, expected_version=seen)
    assert [edit.author for edit in mine.history(test_clips[0])] == ["other"]
    retried = mine.set_segments(test_clips[0], "Dog", "audio", [False, True] * 5, expected_version=1)  # reloaded
    assert retried.before == tuple(ALTERNATING) and retried.version == 2
