"""The run directory: its files, its lock, and how a run may start in it, so that it is always resumable or
restartable.

* One process at a time: training holds an exclusive ``fcntl.flock`` on ``<run>/.run.lock`` (holding its PID). The
  kernel drops the lock when the process exits or dies, so a killed run never leaves the directory locked; the file
  itself is removed on a normal exit.
* Under that lock, temporary files that a killed save left behind (``.<run file>.<8 hex>.tmp``, see ``mgn.io``) are
  removed; nothing else is touched.
* A run that stopped before its first checkpoint (a kill, Ctrl-C, a crash in epoch 1) holds at most ``config.json``
  (and, rarely, the ``best.safetensors`` of that first epoch): ``--resume`` starts that config from scratch, and a
  fresh start into it replaces it, each with a one-line note.
* Writes that fail (full disk, read-only folder) raise :class:`RunWriteError` naming the file; the previous version
  of the file is kept (writes are atomic).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError

from mgn.io import remove_stale_temporaries

__all__ = ["LOCK_NAME", "RunFiles", "RunLock", "RunLockedError", "RunWriteError", "Start", "plan_start", "writing"]

LOCK_NAME = ".run.lock"


class RunLockedError(RuntimeError):
    """Another live process is training in this run directory."""


class RunWriteError(OSError):
    """A run file could not be written (full disk, read-only folder, ...); the previous version is kept."""


@dataclass(frozen=True)
class RunFiles:
    """The files of a run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def best(self) -> Path:
        return self.root / "best.safetensors"

    @property
    def last(self) -> Path:
        return self.root / "last.safetensors"

    @property
    def test_results(self) -> Path:
        return self.root / "test_results.json"

    @property
    def lock(self) -> Path:
        return self.root / LOCK_NAME

    def written(self) -> tuple[Path, ...]:
        """Every file a run writes (atomically)."""
        return self.config, self.metrics, self.best, self.last, self.test_results

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete the temporaries of killed saves of :meth:`written` files (call only under the lock)."""
        return remove_stale_temporaries(self.root, [path.name for path in self.written()])


@dataclass(frozen=True)
class Start:
    """How a run starts in its directory.

    Attributes:
        mode: ``"fresh"`` (write config.json, start from scratch), ``"scratch"`` (keep config.json, start from scratch:
            a ``--resume`` of a run with no checkpoint yet) or ``"resume"`` (continue from last.safetensors).
        note: one line to tell the user (what is replaced or restarted), or None.
    """

    mode: str
    note: str | None = None

    @property
    def from_checkpoint(self) -> bool:
        return self.mode == "resume"


def plan_start(files: RunFiles, resume: bool) -> Start:
    """Decide how a run starts in ``files.root`` from what the directory holds (call under the lock).

    Raises:
        FileNotFoundError: ``resume`` and the directory holds no config.json.
        FileExistsError: a fresh start into a directory that holds a run's progress, a resume of a directory whose
            progress records exist without last.safetensors, or a path that is a file.
    """
    root = files.root
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} is a file; expected a run directory")
    if resume:
        return _plan_resume(files)
    progress = [path.name for path in (files.last, files.best, files.metrics, files.test_results) if path.exists()]
    if progress:
        raise FileExistsError(
            f"{root} already holds a run ({', '.join(progress)}): resume it with --resume {root}, "
            "or choose another --out"
        )
    if files.config.exists():
        return Start("fresh", f"{root} holds only the config.json of a run that saved no checkpoint: replacing it")
    return Start("fresh")


def _plan_resume(files: RunFiles) -> Start:
    root = files.root
    if not files.config.is_file():
        raise FileNotFoundError(f"cannot resume {root}: {files.config.name} not found (is it a run directory?)")
    if files.last.is_file():
        return Start("resume")
    records = [path.name for path in (files.metrics, files.test_results) if path.exists()]
    if records:
        raise FileExistsError(
            f"cannot resume {root}: {', '.join(records)} record progress but {files.last.name} is missing; restore it, "
            f"or move {', '.join(records)} away to start this config from scratch with --resume {root}"
        )
    note = f"{root} has no checkpoint yet (the run stopped before its first save): starting its config from scratch"
    if files.best.exists():
        note += f"; the {files.best.name} of that interrupted first epoch will be replaced"
    return Start("scratch", note)


class RunLock:
    """Exclusive use of a run directory by one process (see the module docstring).

    Use as a context manager; entering creates the directory if needed (and removes it again on exit if it is still
    empty, e.g. after a failed data check), and raises :class:`RunLockedError` naming the holder's PID.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self._handle: int | None = None
        self._created = False

    def __enter__(self) -> RunLock:
        if self.root.exists() and not self.root.is_dir():
            raise FileExistsError(f"{self.root} is a file; expected a run directory")
        blocking = next((parent for parent in self.root.parents if parent.exists() and not parent.is_dir()), None)
        if blocking is not None:
            raise FileExistsError(f"cannot create the run directory {self.root}: {blocking} is a file, not a folder")
        self._created = not self.root.exists()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._handle = _acquire(self.path)
        except BaseException:
            self._remove_if_created_and_empty()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self.path.unlink(missing_ok=True)  # while still held: a process waiting on this file re-checks its inode
            os.close(self._handle)
            self._handle = None
        self._remove_if_created_and_empty()

    def _remove_if_created_and_empty(self) -> None:
        if self._created and self.root.is_dir() and not any(self.root.iterdir()):
            with contextlib.suppress(OSError):  # another process put a file there meanwhile: then it stays
                self.root.rmdir()


def _acquire(path: Path) -> int:
    """An open handle on ``path`` holding an exclusive flock, with our PID written in the file."""
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(handle)
            os.close(handle)
            who = f"PID {holder}" if holder is not None else "PID unknown"
            raise RunLockedError(
                f"{path.parent} is in use by another training process ({who}); wait for it to finish or stop it first"
            ) from None
        except BaseException:
            os.close(handle)
            raise
        if _same_file(handle, path):
            os.ftruncate(handle, 0)
            os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
            return handle
        os.close(handle)  # the previous holder removed the file between our open and our lock: lock the new one


def _same_file(handle: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(handle)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _read_pid(handle: int) -> int | None:
    text = os.pread(handle, 32, 0).decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write of ``path`` (OSError, or safetensors' error for one) into a :class:`RunWriteError`."""
    try:
        yield
    except (OSError, SafetensorError) as error:
        if isinstance(error, RunWriteError):
            raise
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        kept = f"the previous {path.name} is kept" if path.exists() else f"no {path.name} was written"
        raise RunWriteError(f"cannot write {path}: {reason}; {kept}") from error
