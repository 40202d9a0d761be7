"""Reading the project's own ``.npz`` caches without trusting them: one reader, one set of errors to catch.

A cache file may be truncated, garbage, empty, a plain ``.npy`` or written by another version; every such case raises
one of :data:`UNREADABLE` (the caller warns, recomputes and replaces the file). Pickled objects are never loaded.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["UNREADABLE", "read_npz"]

# What np.load and reading the members of a damaged or foreign archive raise (KeyError: a member that is missing).
UNREADABLE: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def read_npz(path: str | Path, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive at ``path`` by name: all of them, or only ``names`` (in that order).

    Raises:
        One of :data:`UNREADABLE`: the file cannot be read, is not an ``.npz`` archive (ValueError), a member is
        damaged, or one of ``names`` is missing (KeyError).
    """
    with open(path, "rb") as stream:  # our handle: np.load(path) leaks its own when the zip is damaged
        archive = np.load(stream, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError("not an .npz archive")
        with archive:
            return {name: archive[name] for name in (archive.files if names is None else names)}
