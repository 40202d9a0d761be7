"""The run directory's lock (two processes), its start plans, the clean-up of killed saves' temporaries and the
handling of failed writes, without training anything."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import SafetensorError

from mgn.io import atomic_path, temporary_pattern, write_text_atomic
from training.rundir import LOCK_NAME, RunFiles, RunLock, RunLockedError, RunWriteError, plan_start, writing

from .conftest import REPO_ROOT

HOLD_LOCK = (
    "import sys, time; from pathlib import Path; from training.rundir import RunLock; "
    "lock = RunLock(Path(sys.argv[1])); lock.__enter__(); print('locked', flush=True); time.sleep(120)"
)


def _hold_lock_in_another_process(run_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run_dir)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def test_a_second_process_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    holder = _hold_lock_in_another_process(run_dir)
    try:
        message = rf"{run_dir} is in use by another training process \(PID {holder.pid}\)"
        with pytest.raises(RunLockedError, match=message):
            RunLock(run_dir).__enter__()
    finally:
        holder.send_signal(signal.SIGKILL)  # no clean-up: the kernel drops the lock, the file stays
        holder.wait(timeout=30)
    assert (run_dir / LOCK_NAME).exists()
    with RunLock(run_dir) as lock:  # the stale lock file is taken over
        assert (run_dir / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(RunLockedError, match=f"PID {os.getpid()}"):
            RunLock(run_dir).__enter__()  # a second lock in the same process is refused too
        assert lock.path == run_dir / LOCK_NAME
    assert not (run_dir / LOCK_NAME).exists()  # removed on a normal exit


def test_a_directory_created_for_the_lock_is_removed_if_nothing_was_written(tmp_path: Path) -> None:
    with RunLock(tmp_path / "new"):
        assert (tmp_path / "new").is_dir()
    assert not (tmp_path / "new").exists()
    with RunLock(tmp_path / "used"):
        (tmp_path / "used" / "config.json").write_text("{}")
    assert (tmp_path / "used" / "config.json").is_file()
    (tmp_path / "existing").mkdir()
    with RunLock(tmp_path / "existing"):
        pass
    assert (tmp_path / "existing").is_dir()  # not ours to remove
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file; expected a run directory"):
        RunLock(tmp_path / "file").__enter__()


def _run_dir(tmp_path: Path, *names: str) -> RunFiles:
    files = RunFiles(tmp_path / "run")
    files.root.mkdir()
    for name in names:
        (files.root / name).write_text("x")
    return files


@pytest.mark.parametrize(
    ("present", "resume", "mode", "note"),
    [
        ((), False, "fresh", None),
        (("config.json",), False, "fresh", "holds only the config.json of a run that saved no checkpoint"),
        (("config.json",), True, "scratch", "has no checkpoint yet .*: starting its config from scratch$"),
        (("config.json", "best.safetensors"), True, "scratch", "best.safetensors of that interrupted first epoch"),
        (("config.json", "last.safetensors", "metrics.jsonl"), True, "resume", None),
    ],
)
def test_start_plans(tmp_path: Path, present: tuple[str, ...], resume: bool, mode: str, note: str | None) -> None:
    start = plan_start(_run_dir(tmp_path, *present), resume)
    assert start.mode == mode and start.from_checkpoint == (mode == "resume")
    assert (start.note is None) if note is None else bool(re.search(note, start.note))


@pytest.mark.parametrize(
    ("present", "resume", "error", "message"),
    [
        (("config.json", "last.safetensors"), False, FileExistsError, "already holds a run .*--resume"),
        (("best.safetensors",), False, FileExistsError, r"already holds a run \(best.safetensors\)"),
        (("config.json", "metrics.jsonl"), True, FileExistsError, "metrics.jsonl record progress but last.safe"),
        (("metrics.jsonl",), True, FileNotFoundError, "config.json not found"),
    ],
)
def test_refused_starts(tmp_path: Path, present: tuple[str, ...], resume: bool, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        plan_start(_run_dir(tmp_path, *present), resume)


def test_only_our_stale_temporaries_are_removed(tmp_path: Path) -> None:
    files = _run_dir(tmp_path, "config.json")
    ours = [".last.safetensors.0a1b2c3d.tmp", ".metrics.jsonl.k3_x9zq1.tmp", ".config.json.ffffffff.tmp"]
    others = [
        ".last.safetensors.tmp",  # no token
        ".notes.txt.0a1b2c3d.tmp",  # not a run file
        "last.safetensors.0a1b2c3d.tmp",  # not hidden
        ".last.safetensors.0A1B2C3D.tmp",  # not our alphabet
        ".best.safetensors.0a1b2c3d.tmp.bak",
        "keep.tmp",
    ]
    for name in ours + others:
        (files.root / name).write_text("partial")
    removed = files.remove_stale_temporaries()
    assert sorted(path.name for path in removed) == sorted(ours)
    assert sorted(path.name for path in files.root.iterdir()) == sorted(["config.json", *others])


def test_atomic_writes_use_the_recognisable_temporary_name(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    write_text_atomic(target, "old\n")
    with pytest.raises(OSError, match="No space left"), atomic_path(target) as temporary:
        assert temporary_pattern("metrics.jsonl").fullmatch(temporary.name)
        temporary.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]


@pytest.mark.parametrize(
    "failure",
    [OSError(errno.ENOSPC, "No space left on device"), SafetensorError("I/O error: No space left on device")],
)
def test_failed_writes_name_the_file_and_say_what_is_kept(tmp_path: Path, failure: Exception) -> None:
    path = tmp_path / "last.safetensors"
    with pytest.raises(RunWriteError, match=f"cannot write {path}: .*No space left on device; no last.safetensors"):
        with writing(path):
            raise failure
    path.write_text("previous")
    with pytest.raises(RunWriteError, match="; the previous last.safetensors is kept$"):
        with writing(path):
            raise failure
