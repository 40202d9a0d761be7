"""The timeline's editing side: a clickable ground-truth cell per (class row, modality, segment), changes against the
original annotation marked and listed, and rows for classes the editor adds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mgn.explore.colors import CHANGED_COLOR
from mgn.explore.timeline import ClipPrediction, figure_events, figure_gt_cells, timeline_figure, timeline_json
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS, class_index

CLIP = "clip_E"


def _rows(**runs: list[tuple[int, int]]) -> np.ndarray:
    """A ``(C, T) uint8`` matrix with ``rows[class, first:last + 1] = 1`` for each inclusive segment run."""
    rows = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    for name, spans in runs.items():
        for first, last in spans:
            rows[class_index(name), first : last + 1] = 1
    return rows


@pytest.fixture
def edited() -> dict[str, np.ndarray | ClipPrediction]:
    """Original audio Dog 2-5 and visual Dog 4-8; the corrected audio Dog is 3-6 (segment 2 removed, 6 added) and a
    corrected visual Car 0-1 is new; the model predicts audio Speech 0-1 and visual Dog 4-8."""
    scores = np.full((NUM_SEGMENTS, NUM_CLASSES), 0.2, dtype=np.float32)
    pred_audio, pred_visual = _rows(Speech=[(0, 1)]), _rows(Dog=[(4, 8)])
    return {
        "original_audio": _rows(Dog=[(2, 5)]),
        "original_visual": _rows(Dog=[(4, 8)]),
        "gt_audio": _rows(Dog=[(3, 6)]),
        "gt_visual": _rows(Dog=[(4, 8)], Car=[(0, 1)]),
        "prediction": ClipPrediction("MGN", pred_audio, pred_visual, scores, scores),
    }


def _figure(case: dict, **options):
    return timeline_figure(
        CLIP,
        case["gt_audio"],
        case["gt_visual"],
        [case["prediction"]],
        original_gt_audio=case["original_audio"],
        original_gt_visual=case["original_visual"],
        **options,
    )


def test_every_ground_truth_cell_of_the_audio_and_visual_rows_is_clickable(edited):
    figure = _figure(edited, editable=True, extra_classes=["Frying_(food)"])
    rows = figure.layout.meta["rows"]
    assert rows["audio"] == ["Speech", "Dog", "Frying_(food)"]  # prediction, GT, and the added class
    assert rows["visual"] == ["Car", "Dog", "Frying_(food)"]
    assert rows["audio_visual"] == ["Dog"]  # the added class is not forced into the derived panel
    cells = figure_gt_cells(figure)
    assert set(cells) == {"audio", "visual"}  # audio-visual is derived: never editable
    for modality, matrix in (("audio", edited["gt_audio"]), ("visual", edited["gt_visual"])):
        expected = sorted(
            (name, t, int(matrix[class_index(name), t])) for name in rows[modality] for t in range(NUM_SEGMENTS)
        )
        assert cells[modality] == expected  # the complete grid, empty cells included, with the current values
    for trace in figure.data:
        if trace.meta["role"] == "gt_cell":
            assert trace.meta["modality"] in ("audio", "visual") and trace.hoverinfo == "text"
            for (name, modality, segment, value), text in zip(trace.customdata, trace.hovertext):
                assert modality == trace.meta["modality"] and value == trace.meta["value"] and name in CLASSES
                assert f"segment {segment + 1} of 10 ({segment}–{segment + 1} s)" in text  # words count from 1
                assert f"click to switch {'off' if value else 'on'}" in text
    assert figure.layout.dragmode == "select" and figure.layout.selectdirection == "h"
    # the events are still drawn (as frames, without hover: the cells take the clicks), AV as usual
    events = figure_events(figure)
    assert events[("gt", "audio", None)] == [("Dog", 3, 7)]
    assert events[("gt", "audio_visual", None)] == [("Dog", 4, 7)]
    frames = [trace for trace in figure.data if trace.meta["role"] == "gt" and trace.meta["modality"] == "audio"]
    assert frames[0].hoverinfo == "skip"


def test_segments_that_differ_from_the_original_are_marked_and_listed(edited):
    for editable in (False, True):
        figure = _figure(edited, editable=editable)
        expected = [
            ["Dog", "audio", 2, 1, 0],  # removed
            ["Dog", "audio", 6, 0, 1],  # added
            ["Car", "visual", 0, 0, 1],
            ["Car", "visual", 1, 0, 1],
        ]
        assert figure.layout.meta["changed"] == expected
        changed = [trace for trace in figure.data if trace.meta["role"] == "gt_changed"]
        assert sorted(row for trace in changed for row in trace.customdata) == sorted(expected)
        assert all(trace.marker.line.color == CHANGED_COLOR for trace in changed)
        (audio,) = [trace for trace in changed if trace.meta["modality"] == "audio"]
        assert list(audio.marker.pattern.shape) == ["x", ""]  # a removed segment is hatched, an added one not
        assert [trace.name for trace in figure.data if trace.showlegend].count("changed vs original") == 1
        assert (audio.hoverinfo == "skip") == editable  # in an editor the cell under the frame takes the hover


def test_no_original_means_no_change_marks_and_not_editable_means_no_cells(edited):
    figure = timeline_figure(CLIP, edited["gt_audio"], edited["gt_visual"], [edited["prediction"]])
    assert figure.layout.meta["changed"] == [] and figure.layout.meta["editable"] is False
    assert figure_gt_cells(figure) == {}
    assert not [trace for trace in figure.data if trace.meta["role"] in ("gt_cell", "gt_changed")]
    assert figure.layout.dragmode is None
    unchanged = _figure({**edited, "gt_audio": edited["original_audio"], "gt_visual": edited["original_visual"]})
    assert unchanged.layout.meta["changed"] == []


def test_the_editable_figure_is_deterministic_and_its_json_is_the_figure(edited):
    options = {"editable": True, "extra_classes": ["Cat"]}
    first = timeline_json(
        CLIP,
        edited["gt_audio"],
        edited["gt_visual"],
        [edited["prediction"]],
        original_gt_audio=edited["original_audio"],
        original_gt_visual=edited["original_visual"],
        **options,
    )
    again = _figure(edited, **options).to_json()
    fast, checked = json.loads(first), json.loads(again)
    fast["layout"].pop("template"), checked["layout"].pop("template")
    assert fast == checked and "bdata" not in again


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"extra_classes": ["Unicorn"]}, "extra_classes: unknown LLP class 'Unicorn'"),
        ({"extra_classes": "Dog"}, "extra_classes: expected a sequence of class names"),
        ({"original_gt_audio": np.zeros((NUM_SEGMENTS, NUM_CLASSES))}, "original_gt_audio: expected shape"),
        ({"original_gt_visual": np.full((NUM_CLASSES, NUM_SEGMENTS), 3)}, "original_gt_visual: values must be 0 or 1"),
        ({"height": 0}, "height: expected a positive whole number of pixels"),
        ({"width": 12.5}, "width: expected a positive whole number of pixels"),
        ({"audio_strip": "strip.npz"}, "audio_strip: expected an AudioStrip or None"),
    ],
)
def test_bad_editing_options_raise(edited, options, message):
    with pytest.raises(ValueError, match=message):
        timeline_figure(CLIP, edited["gt_audio"], edited["gt_visual"], [edited["prediction"]], **options)
