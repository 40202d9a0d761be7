"""How a checkpoint was trained, beyond its model config: the metadata fields and the short name shown in labels.

Written by training (``training.config.TrainConfig.checkpoint_metadata``) into every checkpoint a run saves, read
by the explorer without torch (model labels such as ``"MGN mgn-localise +R"``). Each field is absent when the run
used the official setting:

* ``recipe``: the named recipe (``training.config.RECIPES``) the settings started from;
* ``contrastive``: ``"true"`` when MA's audio-visual contrastive loss (C) was on;
* ``refined_labels``: the file name of MA's refined modality labels (R) the run trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath

__all__ = ["CONTRASTIVE_KEY", "RECIPE_KEY", "REFINED_LABELS_KEY", "training_metadata", "training_name"]

RECIPE_KEY = "recipe"
CONTRASTIVE_KEY = "contrastive"
REFINED_LABELS_KEY = "refined_labels"


def training_metadata(recipe: str | None, contrastive: bool, refined_labels: str | None) -> dict[str, str]:
    """The checkpoint metadata of a run's settings: only the fields that depart from the official recipe.

    ``refined_labels`` is recorded by file name only, so that a checkpoint never carries a machine's folders.
    """
    metadata = {}
    if recipe is not None:
        metadata[RECIPE_KEY] = recipe
    if contrastive:
        metadata[CONTRASTIVE_KEY] = "true"
    if refined_labels is not None:
        metadata[REFINED_LABELS_KEY] = PurePath(refined_labels).name
    return metadata


def training_name(metadata: Mapping[str, str]) -> str | None:
    """The recipe and MA's additions recorded in ``metadata``: ``"mgn-localise +R"``, ``"+C +R"``; None when the
    checkpoint records the official recipe with neither (or is not one of ours)."""
    parts = [metadata[RECIPE_KEY]] if metadata.get(RECIPE_KEY) else []
    if metadata.get(CONTRASTIVE_KEY) == "true":
        parts.append("+C")
    if metadata.get(REFINED_LABELS_KEY):
        parts.append("+R")
    return " ".join(parts) or None
