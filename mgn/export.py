"""Binary segment predictions <-> the official eval-CSV format (``filename, onset, offset, event_labels``).

One row per event, an event being a maximal run of positive segments of one class in one modality; onset and
offset are integer seconds of the half-open interval [onset, offset), like ``AVVP_eval_audio.csv``. Reading such a
file back with the LLP reader rebuilds exactly the same matrices, so predictions can be scored as files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mgn.data.annotations import dense_ground_truth, read_dense_annotations
from mgn.labels import CLASSES

__all__ = ["PREDICTION_FILES", "prediction_events", "read_prediction_csvs", "write_prediction_csvs"]

PREDICTION_FILES = {"audio": "predicted_eval_audio.csv", "visual": "predicted_eval_visual.csv"}
_COLUMNS = ["filename", "onset", "offset", "event_labels"]


def prediction_events(filenames: Sequence[str], predictions: np.ndarray) -> pd.DataFrame:
    """Events of binary predictions (N, C, T) [clip, class, segment] as eval-CSV rows, in clip, class, onset order."""
    binary = np.asarray(predictions) > 0
    padded = np.pad(binary, ((0, 0), (0, 0), (1, 1)))  # (N, C, T + 2)
    edges = np.diff(padded.astype(np.int8), axis=2)  # +1 where a run starts, -1 one past where it ends
    clip, cls, onset = np.nonzero(edges == 1)
    _, _, offset = np.nonzero(edges == -1)  # same lexicographic order, so runs pair up
    names = np.asarray(filenames, dtype=object)
    return pd.DataFrame(
        {"filename": names[clip], "onset": onset, "offset": offset, "event_labels": np.asarray(CLASSES)[cls]},
        columns=_COLUMNS,
    )


def write_prediction_csvs(
    out_dir: str | Path, filenames: Sequence[str], pred_a: np.ndarray, pred_v: np.ndarray
) -> dict[str, Path]:
    """Write ``predicted_eval_audio.csv`` and ``predicted_eval_visual.csv`` (tab-separated) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for modality, predictions in (("audio", pred_a), ("visual", pred_v)):
        path = out_dir / PREDICTION_FILES[modality]
        prediction_events(filenames, predictions).to_csv(path, sep="\t", index=False)
        paths[modality] = path
    return paths


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
