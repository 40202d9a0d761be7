"""Atomic file writes: a file is either its old self or its complete new self, never half written.

The temporary file of a write to ``<dir>/<name>`` is ``<dir>/.<name>.<8 hex digits>.tmp``. A write that fails removes
it; a process killed mid-write leaves it behind, and :func:`remove_stale_temporaries` finds such files by that exact
pattern (for the names a caller owns, and only while no other process can be writing them).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path

__all__ = ["atomic_path", "file_sha256", "remove_stale_temporaries", "temporary_pattern", "write_text_atomic"]

_TEMP_SUFFIX = ".tmp"
_TEMP_TOKEN_BYTES = 4  # 8 hex digits
# Earlier versions used tempfile.mkstemp: 8 characters of [a-z0-9_]; the pattern accepts both.
_TEMP_TOKEN_PATTERN = r"[a-z0-9_]{8}"


def _file_mode() -> int:
    """rw for whom the process umask allows (a private temporary file would otherwise keep 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()  # read once at import: the umask is process-wide and changing it is not thread-safe


def temporary_pattern(name: str) -> re.Pattern[str]:
    """The names of :func:`atomic_path`'s temporary files for a target file called ``name``."""
    return re.compile(rf"\.{re.escape(name)}\.{_TEMP_TOKEN_PATTERN}{re.escape(_TEMP_SUFFIX)}")


def _create_temporary(path: Path) -> Path:
    """Create (exclusively) a new empty temporary file beside ``path``."""
    while True:
        temporary = path.parent / f".{path.name}.{secrets.token_hex(_TEMP_TOKEN_BYTES)}{_TEMP_SUFFIX}"
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # 1 in 4 billion: draw another name
            continue
        return temporary


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file beside ``path``; when the block succeeds it replaces ``path`` in one rename.

    If the block raises (a full disk, an error, Ctrl-C), ``path`` is untouched and the temporary file is removed.
    After a kill it is left as ``.<name>.<8 hex digits>.tmp``, which nothing reads (see
    :func:`remove_stale_temporaries`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_temporary(path)
    try:
        yield temporary
        os.chmod(temporary, _FILE_MODE)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def remove_stale_temporaries(directory: str | Path, names: Iterable[str]) -> list[Path]:
    """Delete the temporary files that killed :func:`atomic_path` writes of ``directory/<name>`` left behind.

    Only files whose name matches :func:`temporary_pattern` for one of ``names`` are touched. Call it only while no
    other process can be writing those files (e.g. under the run directory's lock).

    Returns:
        The removed paths, sorted.
    """
    directory = Path(directory)
    patterns = [temporary_pattern(name) for name in names]
    removed = []
    for entry in sorted(directory.iterdir()) if directory.is_dir() else []:
        if entry.is_file() and not entry.is_symlink() and any(p.fullmatch(entry.name) for p in patterns):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
