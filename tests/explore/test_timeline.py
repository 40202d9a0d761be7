"""The per-clip timeline figure: events, statuses, rows, probabilities and metadata read back from the figure."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import plotly.io as pio
import pytest

from mgn.explore.timeline import (
    ClipPrediction,
    figure_events,
    figure_statuses,
    timeline_figure,
    timeline_html,
    timeline_json,
)
from mgn.labels import EVAL_MODALITIES, NUM_CLASSES, NUM_SEGMENTS, class_index, display_name

CLIP = "clip_A"


def _rows(**runs: list[tuple[int, int]]) -> np.ndarray:
    """A ``(C, T) uint8`` matrix with ``rows[class, first:last + 1] = 1`` for each inclusive segment run."""
    rows = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    for name, spans in runs.items():
        for first, last in spans:
            rows[class_index(name), first : last + 1] = 1
    return rows


def _prediction(name: str, pred_audio: np.ndarray, pred_visual: np.ndarray, seed: int = 0) -> ClipPrediction:
    """A prediction with seeded float32 probabilities (T, C): above 0.5 where predicted, below elsewhere."""
    rng = np.random.default_rng(seed)
    prob_audio, prob_visual = (
        (0.5 * rng.random((NUM_SEGMENTS, NUM_CLASSES)) + 0.5 * pred.T).astype(np.float32)  # (T, C)
        for pred in (pred_audio, pred_visual)
    )
    return ClipPrediction(name, pred_audio, pred_visual, prob_audio, prob_visual)


@pytest.fixture
def dog_clip() -> tuple[np.ndarray, np.ndarray, ClipPrediction]:
    """GT audio Dog segments 2-5; prediction Dog 3-7 and Speech 0-1 (audio); visual empty."""
    gt_audio, gt_visual = _rows(Dog=[(2, 5)]), _rows()
    prediction = _prediction("MGN", _rows(Dog=[(3, 7)], Speech=[(0, 1)]), _rows(), seed=1)
    return gt_audio, gt_visual, prediction


def _traces(fig, role: str, modality: str | None = None, model: int | None = None) -> list:
    return [
        trace
        for trace in fig.data
        if trace.meta["role"] == role
        and modality in (None, trace.meta["modality"])
        and (model is None or trace.meta["model"] == model)
    ]


def _dog_y(trace) -> float:
    """The y position of the Dog bar of an interval trace."""
    return next(y for y, (name, _, _) in zip(trace.y, trace.customdata) if name == "Dog")


def test_events_statuses_and_rows_of_a_hand_made_clip(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    fig = timeline_figure(CLIP, gt_audio, gt_visual, [prediction])

    assert figure_events(fig) == {
        ("gt", "audio", None): [("Dog", 2, 6)],
        ("pred", "audio", 0): [("Dog", 3, 8), ("Speech", 0, 2)],
        ("gt", "visual", None): [],
        ("pred", "visual", 0): [],
        ("gt", "audio_visual", None): [],
        ("pred", "audio_visual", 0): [],
    }
    expected_audio = sorted(
        [("Dog", 2, "FN")]
        + [("Dog", t, "TP") for t in (3, 4, 5)]
        + [("Dog", t, "FP") for t in (6, 7)]
        + [("Speech", t, "FP") for t in (0, 1)]
    )
    assert figure_statuses(fig) == {("audio", 0): expected_audio, ("visual", 0): [], ("audio_visual", 0): []}
    assert fig.layout.meta["rows"] == {"audio": ["Speech", "Dog"], "visual": [], "audio_visual": []}  # official order

    # the audio panel's y ticks name its classes and the model lane
    tick_text = " ".join(fig.layout.yaxis.ticktext)
    assert display_name("Speech") in tick_text and display_name("Dog") in tick_text and "MGN" in tick_text
    # the empty panels say so instead of collapsing
    notes = [a.text for a in fig.layout.annotations if "no events" in a.text]
    assert len(notes) == 2 and any("visual" in text for text in notes) and any("audio-visual" in text for text in notes)
    assert fig.layout.yaxis2.range[0] > 0 and fig.layout.yaxis3.range[0] > 0


def test_bars_span_their_events_in_seconds(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    fig = timeline_figure(CLIP, gt_audio, gt_visual, [prediction])
    for role in ("gt", "pred"):
        (trace,) = _traces(fig, role, "audio")
        for base, length, (_, onset, offset) in zip(trace.base, trace.x, trace.customdata):
            assert (base, base + length) == (onset, offset)
    for trace in _traces(fig, "status", "audio"):
        for base, (_, segment, status, _) in zip(trace.base, trace.customdata):
            assert segment <= base < segment + 1 and status == trace.meta["status"]


def test_two_runs_of_one_class_are_two_events():
    gt_audio = _rows(Speech=[(0, 3), (6, 9)])
    prediction = _prediction("MGN", _rows(Speech=[(0, 9)]), _rows())
    events = figure_events(timeline_figure(CLIP, gt_audio, _rows(), [prediction]))
    assert events[("gt", "audio", None)] == [("Speech", 0, 4), ("Speech", 6, 10)]
    assert events[("pred", "audio", 0)] == [("Speech", 0, 10)]


def test_audio_visual_panel_uses_the_products():
    gt_audio, gt_visual = _rows(Dog=[(2, 5)], Car=[(0, 9)]), _rows(Dog=[(4, 8)])
    prediction = _prediction("MGN", _rows(Dog=[(3, 7)]), _rows(Dog=[(0, 4)], Car=[(0, 9)]))
    fig = timeline_figure(CLIP, gt_audio, gt_visual, [prediction])
    events = figure_events(fig)
    assert events[("gt", "audio_visual", None)] == [("Dog", 4, 6)]  # audio 2-5 AND visual 4-8
    assert events[("pred", "audio_visual", 0)] == [("Dog", 3, 5)]  # audio 3-7 AND visual 0-4
    assert figure_statuses(fig)[("audio_visual", 0)] == [("Dog", 3, "FP"), ("Dog", 4, "TP"), ("Dog", 5, "FN")]
    assert fig.layout.meta["rows"]["audio_visual"] == ["Dog"]  # Car is audible in GT, visible in the prediction only
    assert _traces(fig, "prob", "audio_visual") == []  # no probability strip for AV
    for trace in _traces(fig, "status", "audio_visual"):
        assert all(cell[3] is None for cell in trace.customdata)
        assert all("score audio " in text and ", visual " in text for text in trace.hovertext)


def test_compare_mode_draws_each_model():
    gt_audio = _rows(Dog=[(2, 5)])
    first = _prediction("MGN", _rows(Dog=[(3, 7)], Speech=[(0, 1)]), _rows(), seed=1)
    second = _prediction("HAN", _rows(Dog=[(2, 5)]), _rows(Cat=[(9, 9)]), seed=2)
    fig = timeline_figure(CLIP, gt_audio, _rows(), [first, second])

    events = figure_events(fig)
    assert events[("gt", "audio", None)] == [("Dog", 2, 6)]
    assert events[("pred", "audio", 0)] == [("Dog", 3, 8), ("Speech", 0, 2)]
    assert events[("pred", "audio", 1)] == [("Dog", 2, 6)]
    assert events[("pred", "visual", 1)] == [("Cat", 9, 10)] and events[("pred", "visual", 0)] == []
    statuses = figure_statuses(fig)
    assert statuses[("audio", 1)] == [("Dog", t, "TP") for t in range(2, 6)]
    assert statuses[("visual", 1)] == [("Cat", 9, "FP")]
    assert fig.layout.meta["models"] == ["MGN", "HAN"]
    assert fig.layout.meta["rows"] == {"audio": ["Speech", "Dog"], "visual": ["Cat"], "audio_visual": []}
    assert sum("HAN" in text for text in fig.layout.yaxis.ticktext) == 2  # one HAN lane per audio row
    assert len(_traces(fig, "prob", model=1)) == 2  # audio and visual strips of the second model
    # in the Dog row, the GT lane comes first (the y axis points down), then MGN's lane, then HAN's
    gt_y, first_y, second_y = (
        _dog_y(trace) for trace in (*_traces(fig, "gt", "audio"), *_traces(fig, "pred", "audio"))
    )
    assert gt_y < first_y < second_y


def test_scores_in_customdata_hover_and_heat_strip(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    prob_audio = prediction.prob_audio.copy()
    prob_audio[4, class_index("Dog")] = np.float32(1.0234)  # MGN's segment scores may exceed 1 (its soft map)
    prediction = dataclasses.replace(prediction, prob_audio=prob_audio)
    fig = timeline_figure(CLIP, gt_audio, gt_visual, [prediction])

    for trace in _traces(fig, "status", "audio"):
        for (name, segment, _, score), text in zip(trace.customdata, trace.hovertext):
            assert score == float(prob_audio[segment, class_index(name)])  # customdata: 0-based segment
            relation = "≥" if score >= 0.5 else "<"
            assert f"score {score:.3f} {relation} threshold 0.5" in text and "p = " not in text
            # human text counts segments from 1, as the video overlay does
            assert f"segment {segment + 1} of 10 ({segment}–{segment + 1} s)" in text
            assert display_name(name) in text and "Audio" in text and trace.meta["status"] in text
            assert ("not a probability" in text) == (score > 1)  # a score above 1 is explained where it is shown
    (strip,) = _traces(fig, "prob", "audio")
    for name, z_row in zip(strip.meta["classes"], strip.z):
        if name is not None:
            assert list(z_row) == prob_audio[:, class_index(name)].astype(np.float64).tolist()
    dog_row = strip.z[strip.meta["classes"].index("Dog")]
    assert dog_row[4] == pytest.approx(1.0234)
    hovers = [text for row in strip.hovertext for text in row if text]
    assert sum("score 1.023 ≥ threshold 0.5" in text and "soft map" in text for text in hovers) == 1
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0, 1)


def test_fused_gate_above_one_is_shown_as_it_is_and_explained(dog_clip):
    """HAN's fused video-level probability (official MMIL pooling) reaches 2: the timeline takes it uncapped, gates
    with it as the official test does, and says in the hover why it exceeds 1."""
    gt_audio, gt_visual, prediction = dog_clip
    gate = np.full(NUM_CLASSES, 0.2, dtype=np.float32)
    gate[class_index("Dog")] = np.float32(1.65)
    prediction = dataclasses.replace(prediction, gate_audio=gate, gate_visual=gate)
    fig = timeline_figure(CLIP, gt_audio, gt_visual, [prediction], threshold=0.5)

    dog_hovers = [
        text
        for trace in _traces(fig, "status", "audio")
        for (name, _, _, _), text in zip(trace.customdata, trace.hovertext)
        if name == "Dog"
    ]
    assert dog_hovers and all("video-level probability 1.650 ≥ 0.5" in text for text in dog_hovers)
    assert all("fused MMIL pooling" in text for text in dog_hovers)
    # Speech (predicted in segments 1-2, no ground truth) is gated off by its 0.2: its false positives are gone
    ungated = timeline_figure(CLIP, gt_audio, gt_visual, [dataclasses.replace(prediction, gate_audio=None)])
    for figure, speech_shown in ((fig, False), (ungated, True)):
        names = {name for trace in _traces(figure, "status", "audio") for (name, _, _, _) in trace.customdata}
        assert ("Speech" in names) == speech_shown


def test_gt_hover_reports_the_event_level_match(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    (gt_bar,) = _traces(timeline_figure(CLIP, gt_audio, gt_visual, [prediction]), "gt", "audio")
    (text,) = gt_bar.hovertext
    # segments 2-5 (0-based) are segments 3-6 in words; seconds stay seconds
    assert "Dog" in text and "segments 3–6 (2–6 s)" in text and "MGN: found (IoU 0.50 with 3–8 s)" in text


def test_metadata_on_every_trace_and_the_layout(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    fig = timeline_figure(CLIP, gt_audio, gt_visual, [prediction])
    for trace in fig.data:
        assert trace.meta["role"] in ("gt", "pred", "status", "prob")
        assert trace.meta["modality"] in EVAL_MODALITIES
        assert trace.meta["model"] == (None if trace.meta["role"] == "gt" else 0)
    assert fig.layout.meta["clip"] == CLIP and fig.layout.meta["models"] == ["MGN"]
    legend = sorted(trace.name for trace in fig.data if trace.showlegend)
    assert legend == sorted(["Ground truth", "MGN events", "TP (correct)", "FP (false alarm)", "FN (missed)"])


def test_events_read_back_from_the_json_as_in_a_page(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    fig = timeline_figure(CLIP, gt_audio, gt_visual, [prediction])
    text = fig.to_json()
    assert "bdata" not in text  # plain lists only: gd.data in a page holds the same values
    page_figure = json.loads(text)
    assert figure_events(page_figure) == figure_events(fig)
    assert figure_statuses(page_figure) == figure_statuses(fig)


def test_empty_clip_still_renders_with_no_events():
    empty = _rows()
    zeros = np.zeros((NUM_SEGMENTS, NUM_CLASSES), dtype=np.float32)
    fig = timeline_figure("silent", empty, empty, [ClipPrediction("MGN", empty, empty, zeros, zeros)])
    assert all(events == [] for events in figure_events(fig).values()) and len(figure_events(fig)) == 6
    assert fig.layout.meta["rows"] == {modality: [] for modality in EVAL_MODALITIES}
    assert sum("no events" in a.text for a in fig.layout.annotations) == 3
    assert fig.layout.height > 200
    assert "no events" in timeline_html(fig, include_plotlyjs="cdn")


def test_deterministic_and_independent_of_the_default_template(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    first = timeline_figure(CLIP, gt_audio, gt_visual, [prediction]).to_json()
    default = pio.templates.default
    try:
        pio.templates.default = "plotly_dark"
        second = timeline_figure(CLIP, gt_audio, gt_visual, [prediction]).to_json()
    finally:
        pio.templates.default = default
    assert first == second


def test_html_export_is_standalone_and_deterministic(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    fig = timeline_figure(CLIP, gt_audio, gt_visual, [prediction])
    page = timeline_html(fig)
    assert page == timeline_html(fig)
    assert page.lstrip().lower().startswith("<!doctype html>") and 'id="timeline"' in page
    assert 'src="https://cdn.plot.ly' not in page and len(page) > 1_000_000  # plotly.js embedded: opens offline
    assert 'src="https://cdn.plot.ly' in timeline_html(fig, include_plotlyjs="cdn")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"gt_audio": np.zeros((NUM_SEGMENTS, NUM_CLASSES), dtype=np.uint8)}, "gt_audio: expected shape"),
        ({"gt_visual": np.full((NUM_CLASSES, NUM_SEGMENTS), 2, dtype=np.uint8)}, "gt_visual: values must be 0 or 1"),
        ({"predictions": []}, "expected 1 to 2"),
        ({"predictions": ["MGN"]}, "expected a ClipPrediction"),
    ],
)
def test_bad_figure_inputs_raise(dog_clip, change, message):
    gt_audio, gt_visual, prediction = dog_clip
    arguments = {"gt_audio": gt_audio, "gt_visual": gt_visual, "predictions": [prediction]} | change
    with pytest.raises(ValueError, match=message):
        timeline_figure(CLIP, **arguments)


def test_more_than_two_or_duplicate_models_raise(dog_clip):
    gt_audio, gt_visual, prediction = dog_clip
    with pytest.raises(ValueError, match="expected 1 to 2"):
        timeline_figure(CLIP, gt_audio, gt_visual, [prediction] * 3)
    with pytest.raises(ValueError, match="names must differ"):
        timeline_figure(CLIP, gt_audio, gt_visual, [prediction, prediction])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pred_audio", np.zeros((NUM_SEGMENTS, NUM_CLASSES), dtype=np.uint8), r"MGN.pred_audio: .*shape \(25, 10\)"),
        ("pred_visual", np.full((NUM_CLASSES, NUM_SEGMENTS), 0.5), "MGN.pred_visual: values must be 0 or 1"),
        ("prob_audio", np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.float32), r"MGN.prob_audio: .*shape \(10, 25\)"),
        ("prob_visual", np.full((NUM_SEGMENTS, NUM_CLASSES), np.nan, dtype=np.float32), "MGN.prob_visual: .*finite"),
        ("prob_audio", np.full((NUM_SEGMENTS, NUM_CLASSES), "x"), "MGN.prob_audio: expected real numbers"),
        ("name", "", "name must be a non-empty string"),
        ("gate_audio", np.full(NUM_CLASSES, 2.01, dtype=np.float32), r"MGN.gate_audio: .*in \[0, 2\]"),
        ("gate_visual", np.full(NUM_CLASSES, -0.1, dtype=np.float32), r"MGN.gate_visual: .*in \[0, 2\]"),
    ],
)
def test_bad_prediction_fields_raise(dog_clip, field, value, message):
    _, _, prediction = dog_clip
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(prediction, **{field: value})


def test_json_without_the_figure_object_is_the_same_figure(dog_clip):
    """The app sends ``timeline_json`` (no go.Figure validation); Plotly's own JSON of the figure says the same."""
    gt_audio, gt_visual, prediction = dog_clip
    other = dataclasses.replace(prediction, name="HAN", pred_visual=np.zeros_like(prediction.pred_visual))
    for predictions in ([prediction], [prediction, other]):
        fast = json.loads(timeline_json(CLIP, gt_audio, gt_visual, predictions))
        checked = json.loads(timeline_figure(CLIP, gt_audio, gt_visual, predictions).to_json())
        assert fast["layout"].pop("template") == {}  # Plotly spells the empty template with its default types
        checked["layout"].pop("template")
        assert fast == checked
    with pytest.raises(ValueError, match="gt_audio: expected shape"):  # the same checks as timeline_figure
        timeline_json(CLIP, gt_audio.T, gt_visual, [prediction])


def test_no_gradio_or_torch_import():
    modules = "mgn.explore.timeline, mgn.explore.dashboard"
    code = f"import sys, {modules}; print(sorted({{'gradio', 'torch'}} & sys.modules.keys()))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
