"""Annotation explorer backend: correct LLP segment labels and annotate new videos, stored in SQLite, exported in the
official CSV format, with likely label errors surfaced.

- ``AnnotationStore`` (``store.py``): the data's dense labels plus append-only edits (undo / redo, history,
  versions for optimistic concurrency), new clips, export to the official eval-CSV format, import of an exported
  folder, and a JSON-lines edit log for session-only (hosted) stores.
- ``schema.py``: the SQLite schema, its migrations and the file checks; ``export.py``: the files;
  ``edit_log.py``: the JSON-lines log; ``validation.py``: the checks at the door.
- ``label_errors.py``: rank (clip, class, modality, segment) cells where a model is confident against the label;
  ``measure.py``: the ranking measured on synthetic data with known flipped labels.
- ``python -m mgn.annotations export | import | measure`` (``__main__.py``).
"""

from __future__ import annotations

from mgn.annotations.errors import AnnotationDatabaseError, AnnotationError, ConflictError, NothingToUndoError
from mgn.annotations.export import DIFF_COLUMNS, EXPORT_FILES
from mgn.annotations.label_errors import calibrate, precision_recall_at_k, rank_by_confidence, rank_label_errors
from mgn.annotations.records import Change, Edit, ExportResult, ImportResult, NewClip
from mgn.annotations.schema import SCHEMA_VERSION
from mgn.annotations.store import BESIDE_DATA, DEFAULT_DATABASE_NAME, AnnotationStore, default_database_path
from mgn.annotations.validation import EDITABLE_MODALITIES

__all__ = [
    "BESIDE_DATA",
    "DEFAULT_DATABASE_NAME",
    "DIFF_COLUMNS",
    "EDITABLE_MODALITIES",
    "EXPORT_FILES",
    "SCHEMA_VERSION",
    "AnnotationDatabaseError",
    "AnnotationError",
    "AnnotationStore",
    "Change",
    "ConflictError",
    "Edit",
    "ExportResult",
    "ImportResult",
    "NewClip",
    "NothingToUndoError",
    "calibrate",
    "default_database_path",
    "precision_recall_at_k",
    "rank_by_confidence",
    "rank_label_errors",
]
