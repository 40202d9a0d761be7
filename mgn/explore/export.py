"""The explorer's downloads written by the package: each model's predictions as an archive of the official eval CSVs.

The app builds its download buttons from these files (Gradio copies them into its own cache at once, so the folder
they are written in can be removed right after).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from mgn.export import write_prediction_archive

if TYPE_CHECKING:
    from mgn.explore.state import Explorer

__all__ = ["file_label", "write_prediction_archives"]


def file_label(name: str) -> str:
    """A model label as part of a file name or element id: ``"MGN mgn-localise (runs/demo)"`` ->
    ``"MGN_mgn-localise_runs_demo"`` (letters, digits, dots and hyphens; other runs become one underscore)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_")


def write_prediction_archives(explorer: Explorer, folder: str | Path) -> dict[str, Path]:
    """Write each model's binary predictions at the official threshold as ``predictions_<label>.zip`` in ``folder``
    (:func:`mgn.export.write_prediction_archive`: the official eval-CSV format, same bytes for the same predictions).

    Returns:
        ``{model name: archive path}`` in the explorer's model order.
    """
    folder = Path(folder)
    archives = {}
    for model in explorer.models:
        path = folder / f"predictions_{file_label(model.name)}.zip"
        archives[model.name] = write_prediction_archive(
            path, explorer.split.filenames, model.pred_audio, model.pred_visual
        )
    return archives
