"""Annotation explorer backend: correct LLP segment labels and annotate new videos, stored in SQLite, exported in the
official CSV format, with likely label errors surfaced.

- ``AnnotationStore`` (``store.py``): the data's dense labels plus append-only edits (undo / redo of single and
  grouped edits, history, versions for optimistic concurrency), new clips, export to the official eval-CSV format,
  import of an exported folder, and for session-only (hosted) stores a JSON-lines edit log and a zip archive.
- ``new_clips.py``: one's own annotated videos (with their features) as a new LLP-format dataset.
- ``schema.py``: the SQLite schema, its migrations and the file checks; ``export.py``: the files;
  ``edit_log.py``: the JSON-lines log; ``validation.py``: the checks at the door; ``source.py``: the data read.
- ``label_errors.py``: rank (clip, class, modality, segment) cells where a model is confident against the label;
  ``measure.py``: the ranking measured on synthetic data with known flipped labels.
- ``python -m mgn.annotations export | import | export-dataset | measure`` (``__main__.py``).
"""

from __future__ import annotations

from mgn.annotations.errors import AnnotationDatabaseError, AnnotationError, ConflictError, NothingToUndoError
from mgn.annotations.export import ARCHIVE_LOG, DIFF_COLUMNS, EXPORT_FILES
from mgn.annotations.label_errors import calibrate, precision_recall_at_k, rank_by_confidence, rank_label_errors
from mgn.annotations.new_clips import (
    DatasetExport,
    LabelledClip,
    assign_splits,
    clips_from_store,
    dataset_archive,
    export_llp_dataset,
    window_clips,
)
from mgn.annotations.records import Change, Edit, ExportResult, ImportResult, NewClip
from mgn.annotations.schema import SCHEMA_VERSION
from mgn.annotations.source import DataSource
from mgn.annotations.store import BESIDE_DATA, DEFAULT_DATABASE_NAME, AnnotationStore, default_database_path
from mgn.annotations.validation import EDITABLE_MODALITIES

__all__ = [
    "ARCHIVE_LOG",
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
    "DataSource",
    "DatasetExport",
    "Edit",
    "ExportResult",
    "ImportResult",
    "LabelledClip",
    "NewClip",
    "NothingToUndoError",
    "assign_splits",
    "calibrate",
    "clips_from_store",
    "dataset_archive",
    "default_database_path",
    "export_llp_dataset",
    "precision_recall_at_k",
    "rank_by_confidence",
    "rank_label_errors",
    "window_clips",
]
