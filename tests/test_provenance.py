"""What a checkpoint records about its training (mgn.provenance): the fields written and the name shown."""

from __future__ import annotations

import pytest

from mgn.provenance import training_metadata, training_name


@pytest.mark.parametrize(
    ("recipe", "contrastive", "refined_labels", "metadata", "name"),
    [
        (None, False, None, {}, None),
        ("mgn-localise", False, None, {"recipe": "mgn-localise"}, "mgn-localise"),
        (
            "mgn-localise",
            False,
            "runs/q/labels.npz",
            {"recipe": "mgn-localise", "refined_labels": "labels.npz"},
            "mgn-localise +R",
        ),
        (None, True, None, {"contrastive": "true"}, "+C"),
        (None, True, "labels.npz", {"contrastive": "true", "refined_labels": "labels.npz"}, "+C +R"),
    ],
)
def test_written_fields_and_their_name(recipe, contrastive, refined_labels, metadata, name) -> None:
    assert training_metadata(recipe, contrastive, refined_labels) == metadata
    assert training_name(metadata) == name


def test_name_ignores_other_and_empty_fields() -> None:
    """A checkpoint's other metadata (epoch, scores, ...) and empty values name nothing."""
    assert training_name({"epoch": "3", "arch": "mgn", "recipe": "", "refined_labels": ""}) is None
    assert training_name({"contrastive": "false"}) is None
