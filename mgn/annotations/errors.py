"""The errors of ``mgn.annotations``: each message names the clip / class / field / file and what was expected."""

from __future__ import annotations

__all__ = ["AnnotationDatabaseError", "AnnotationError", "ConflictError", "NothingToUndoError"]


class AnnotationError(ValueError):
    """Bad input to the annotation store (unknown clip, class or modality, segments that are not 10 booleans, a bad
    interval, a bad file to import, ...). Nothing was stored."""


class ConflictError(AnnotationError):
    """The clip was edited by someone else since the version the caller read (optimistic concurrency); reload."""


class NothingToUndoError(AnnotationError):
    """``undo`` / ``redo`` on a clip without an edit to undo / redo."""


class AnnotationDatabaseError(AnnotationError):
    """The database file is refused (not SQLite, corrupt, another application's, or a newer schema); untouched."""
