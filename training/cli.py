"""What the command lines of ``training`` share: exit statuses, the one-line error, checks of flag values and of
output paths (done before any work, so that a bad flag never costs a whole evaluation)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

__all__ = [
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "ArgumentParser",
    "UsageError",
    "check_int_range",
    "check_output_dir",
    "check_output_file",
    "fail",
]

EXIT_ERROR = 2  # as argparse: bad input
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C
MAX_BATCH_SIZE = 1_000_000


class UsageError(ValueError):
    """A flag's value is invalid; the message names the flag and what was expected."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad command line is one ``error:`` line (pointing at ``--help``) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_ERROR)


def fail(error: BaseException | str) -> int:
    """Print ``error: <message>`` (one line) on stderr; returns :data:`EXIT_ERROR`."""
    print(f"error: {error}", file=sys.stderr)
    return EXIT_ERROR


def check_int_range(flag: str, value: int, low: int, high: int) -> int:
    """``value`` if ``low <= value <= high``, else UsageError naming ``flag``."""
    if not low <= value <= high:
        raise UsageError(f"{flag} {value} is out of range: expected an integer in [{low}, {high}]")
    return value


def _check_parent(path: Path, flag: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"{flag} {path}: {parent} is a file, not a folder")
            return


def check_output_file(path: str | Path, flag: str, *, force: bool, example: str = "scores.json") -> Path:
    """A file path that can be written: not a folder, under folders (not files), existing only if ``force``.

    Raises:
        UsageError: naming ``flag``, the path and what was expected (``example``: a file name to suggest).
    """
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder; expected a file path (e.g. {path / example})")
    _check_parent(path, flag)
    if path.exists() and not force:
        raise UsageError(f"{flag} {path} exists; use --force to overwrite it")
    return path


def check_output_dir(path: str | Path, flag: str, names: Sequence[str], *, force: bool) -> Path:
    """A folder to write ``names`` into: not a file, and holding none of them unless ``force``.

    Raises:
        UsageError: naming ``flag``, the path and what was expected.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path} is a file; expected a folder")
    _check_parent(path, flag)
    present = [name for name in names if (path / name).exists()]
    if present and not force:
        raise UsageError(f"{flag} {path} already holds {', '.join(present)}; use --force to overwrite")
    return path
