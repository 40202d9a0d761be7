"""Binary segment predictions <-> the official eval-CSV format (``filename, onset, offset, event_labels``).

One row per event, an event being a maximal run of positive segments of one class in one modality
(:func:`mgn.events.find_events`); onset and offset are integer seconds of the half-open interval [onset, offset),
like ``AVVP_eval_audio.csv``. Reading such a file back with the LLP reader rebuilds exactly the same matrices, so
predictions can be scored as files. :func:`write_prediction_archive` bundles the two files in one zip (the
explorer's download).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mgn.data.annotations import dense_ground_truth, read_dense_annotations
from mgn.events import find_events
from mgn.io import atomic_path
from mgn.labels import CLASSES

__all__ = [
    "PREDICTION_FILES",
    "prediction_events",
    "read_prediction_csvs",
    "write_prediction_archive",
    "write_prediction_csvs",
]

PREDICTION_FILES = {"audio": "predicted_eval_audio.csv", "visual": "predicted_eval_visual.csv"}
_COLUMNS = ["filename", "onset", "offset", "event_labels"]
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same predictions give the same archive bytes


def prediction_events(filenames: Sequence[str], predictions: np.ndarray) -> pd.DataFrame:
    """Events of binary predictions (N, C, T) [clip, class, segment] as eval-CSV rows, in clip, class, onset order."""
    clip, cls, onset, offset = find_events(np.asarray(predictions))  # (E,) each
    names = np.asarray(filenames, dtype=object)
    return pd.DataFrame(
        {"filename": names[clip], "onset": onset, "offset": offset, "event_labels": np.asarray(CLASSES)[cls]},
        columns=_COLUMNS,
    )


def _csv_text(filenames: Sequence[str], predictions: np.ndarray) -> str:
    """The tab-separated eval-CSV text of one modality's predictions."""
    return prediction_events(filenames, predictions).to_csv(sep="\t", index=False)


def write_prediction_csvs(
    out_dir: str | Path, filenames: Sequence[str], pred_a: np.ndarray, pred_v: np.ndarray
) -> dict[str, Path]:
    """Write ``predicted_eval_audio.csv`` and ``predicted_eval_visual.csv`` (tab-separated) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for modality, predictions in (("audio", pred_a), ("visual", pred_v)):
        path = out_dir / PREDICTION_FILES[modality]
        with atomic_path(path) as temporary:
            temporary.write_text(_csv_text(filenames, predictions))
        paths[modality] = path
    return paths


def write_prediction_archive(
    path: str | Path, filenames: Sequence[str], pred_a: np.ndarray, pred_v: np.ndarray
) -> Path:
    """Write one zip holding the two files of :func:`write_prediction_csvs` (atomically; no folder in between).

    The archive's bytes depend only on the predictions (fixed member timestamps), so a re-export of the same
    predictions is byte-identical.

    Args:
        path: the ``.zip`` to write (replaced if it exists).
        filenames: (N,) the clips' full LLP filenames.
        pred_a, pred_v: (N, C, T) binary audio / visual predictions [clip, class, segment].
    """
    path = Path(path)
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as bundle:
        for modality, predictions in (("audio", pred_a), ("visual", pred_v)):
            member = zipfile.ZipInfo(PREDICTION_FILES[modality], date_time=_ZIP_DATE)
            member.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(member, _csv_text(filenames, predictions))
    return path


def read_prediction_csvs(directory: str | Path, filenames: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Binary predictions (N, C, T) uint8 of ``filenames`` from the two prediction CSVs in ``directory``.

    Rows naming clips outside ``filenames`` are an error (they would be silently ignored by the official reader).
    """
    directory = Path(directory)
    wanted = set(filenames)
    matrices = []
    for modality in ("audio", "visual"):
        path = directory / PREDICTION_FILES[modality]
        rows = read_dense_annotations(path)
        strangers = sorted(set(rows["filename"]) - wanted)
        if strangers:
            raise ValueError(f"{path}: {len(strangers)} predicted clips are not in the split (e.g. {strangers[0]!r})")
        matrices.append(dense_ground_truth(filenames, rows))
    return matrices[0], matrices[1]
