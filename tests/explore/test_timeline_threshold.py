"""The timeline's threshold: the official binarisation rule at any threshold, statuses that follow it, and the words."""

from __future__ import annotations

import numpy as np
import pytest

from mgn.explore.timeline import (
    OFFICIAL_THRESHOLD,
    ClipPrediction,
    binarize_at,
    figure_events,
    figure_statuses,
    timeline_figure,
    timeline_json,
)
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS, class_index
from mgn.metrics import binarize, binarize_modality_gated

CLIP = "clip_T"
DOG = class_index("Dog")


def _split_outputs(seed: int, clips: int = 12) -> dict[str, np.ndarray]:
    """Seeded float32 model outputs of a split: MGN-like segment scores up to 1.23 (its soft map), gates in [0, 1]."""
    rng = np.random.default_rng(seed)
    scores = lambda: (rng.random((clips, NUM_SEGMENTS, NUM_CLASSES)) * 1.23).astype(np.float32)  # noqa: E731
    gates = lambda: rng.random((clips, NUM_CLASSES)).astype(np.float32)  # noqa: E731
    return {"a": scores(), "v": scores(), "global": gates(), "a_prob": gates(), "v_prob": gates()}


@pytest.mark.parametrize("threshold", [0.3, OFFICIAL_THRESHOLD, 0.62, 0.9])
def test_binarize_at_is_the_official_rule_for_a_split_and_for_one_clip(threshold):
    out = _split_outputs(seed=3)
    official = binarize(out["global"], out["a"], out["v"], threshold)  # Predictions.binarize("global")
    split = binarize_at(out["a"], out["v"], threshold, out["global"], out["global"])
    for ours, theirs in zip(split, official):
        assert ours.shape == (12, NUM_CLASSES, NUM_SEGMENTS) and ours.dtype == np.uint8
        np.testing.assert_array_equal(ours, theirs)
    ma = binarize_modality_gated(out["a_prob"], out["v_prob"], out["a"], out["v"], threshold)  # gate="modality"
    for ours, theirs in zip(binarize_at(out["a"], out["v"], threshold, out["a_prob"], out["v_prob"]), ma):
        np.testing.assert_array_equal(ours, theirs)
    for clip in (0, 7):  # one clip: (T, C) scores and (C,) gates in, (C, T) out
        single = binarize_at(out["a"][clip], out["v"][clip], threshold, out["global"][clip], out["global"][clip])
        for ours, theirs in zip(single, official):
            assert ours.shape == (NUM_CLASSES, NUM_SEGMENTS)
            np.testing.assert_array_equal(ours, theirs[clip])


def test_binarize_at_without_gates_thresholds_the_segments_alone_inclusively():
    scores = np.zeros((NUM_SEGMENTS, NUM_CLASSES), dtype=np.float32)
    scores[:, DOG] = np.linspace(0.0, 1.2, NUM_SEGMENTS, dtype=np.float32)
    scores[3, 0] = np.float32(0.62)  # exactly at the threshold: inclusive, compared in float32
    pred_audio, pred_visual = binarize_at(scores, scores, 0.62)
    assert pred_audio[DOG].tolist() == (scores[:, DOG] >= np.float32(0.62)).astype(np.uint8).tolist()
    assert pred_audio[0, 3] == 1 and pred_audio[0].sum() == 1
    np.testing.assert_array_equal(pred_audio, pred_visual)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), float("inf"), "0.5", True, None])
def test_bad_thresholds_raise_naming_the_official_value(bad):
    scores = np.zeros((NUM_SEGMENTS, NUM_CLASSES), dtype=np.float32)
    with pytest.raises(ValueError, match=r"threshold: expected a number in \[0, 1\] \(official: 0.5\)"):
        binarize_at(scores, scores, bad)
    if bad is not None:  # None is the figure's "use the given predictions"
        with pytest.raises(ValueError, match="threshold: expected a number"):
            timeline_json(
                CLIP,
                np.zeros((NUM_CLASSES, NUM_SEGMENTS)),
                np.zeros((NUM_CLASSES, NUM_SEGMENTS)),
                [
                    ClipPrediction(
                        "MGN",
                        np.zeros((NUM_CLASSES, NUM_SEGMENTS)),
                        np.zeros((NUM_CLASSES, NUM_SEGMENTS)),
                        scores,
                        scores,
                    )
                ],
                threshold=bad,
            )


def _dog_prediction(gate: float | None) -> tuple[np.ndarray, ClipPrediction]:
    """GT audio Dog segments 2-7; Dog audio scores rising 0.05, 0.15, ..., 0.95 over the segments (HAN-like)."""
    gt = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    gt[DOG, 2:8] = 1
    scores = np.zeros((NUM_SEGMENTS, NUM_CLASSES), dtype=np.float32)
    scores[:, DOG] = np.arange(0.05, 1.0, 0.1, dtype=np.float32)
    gates = None if gate is None else np.full(NUM_CLASSES, gate, dtype=np.float32)
    pred_a, pred_v = binarize_at(scores, scores * 0, OFFICIAL_THRESHOLD, gates, gates)  # the official predictions
    return gt, ClipPrediction("HAN", pred_a, pred_v, scores, scores * 0, gates, gates)


def test_the_threshold_redraws_statuses_and_events_and_is_named_with_the_official_value():
    gt, prediction = _dog_prediction(gate=0.8)
    empty = np.zeros_like(gt)
    official = timeline_figure(CLIP, gt, empty, [prediction])
    assert figure_statuses(official)[("audio", 0)] == sorted(
        [("Dog", t, "FN") for t in (2, 3, 4)]
        + [("Dog", t, "TP") for t in (5, 6, 7)]
        + [("Dog", t, "FP") for t in (8, 9)]
    )
    assert "threshold 0.5 (official)" in official.layout.title.text and official.layout.meta["threshold"] is None
    # threshold 0.5 recomputed from the scores and gates is the official figure, word for word
    assert (
        timeline_figure(CLIP, gt, empty, [prediction], threshold=0.5)
        .to_json()
        .replace('"threshold":0.5', '"threshold":null')
        == official.to_json()
    )

    lower = timeline_figure(CLIP, gt, empty, [prediction], threshold=0.3)
    assert figure_statuses(lower)[("audio", 0)] == sorted(
        [("Dog", 2, "FN")] + [("Dog", t, "TP") for t in range(3, 8)] + [("Dog", t, "FP") for t in (8, 9)]
    )
    assert figure_events(lower)[("pred", "audio", 0)] == [("Dog", 3, 10)]
    assert "threshold 0.3</b> (official 0.5)" in lower.layout.title.text
    assert lower.layout.meta["threshold"] == 0.3 and lower.layout.meta["official_threshold"] == 0.5

    gated_off = timeline_figure(CLIP, gt, empty, [prediction], threshold=0.85)  # above the video-level gate 0.8
    assert figure_statuses(gated_off)[("audio", 0)] == [("Dog", t, "FN") for t in range(2, 8)]
    hovers = [text for trace in gated_off.data if trace.meta["role"] == "status" for text in trace.hovertext]
    assert all("video-level probability 0.800 < 0.85: the class is gated off" in text for text in hovers)
    (strip,) = [trace for trace in gated_off.data if trace.meta["role"] == "prob" and trace.meta["modality"] == "audio"]
    dog_strip = strip.hovertext[strip.meta["classes"].index("Dog")]
    assert "score 0.950 ≥ threshold 0.85" in dog_strip[9] and "TN:" in dog_strip[9]  # the segment passes, the gate not


def test_without_gates_the_threshold_applies_to_the_segments_alone():
    gt, prediction = _dog_prediction(gate=None)
    figure = timeline_figure(CLIP, gt, np.zeros_like(gt), [prediction], threshold=0.7)
    assert figure_statuses(figure)[("audio", 0)] == sorted(
        [("Dog", t, "FN") for t in range(2, 7)] + [("Dog", 7, "TP")] + [("Dog", t, "FP") for t in (8, 9)]
    )
    hovers = [text for trace in figure.data if trace.meta["role"] == "status" for text in trace.hovertext]
    assert not any("video-level" in text for text in hovers)


def test_each_model_is_rescored_with_its_own_gates_in_compare_mode():
    gt, han = _dog_prediction(gate=0.8)
    _, mgn = _dog_prediction(gate=0.4)
    mgn = ClipPrediction(
        "MGN", mgn.pred_audio, mgn.pred_visual, mgn.prob_audio, mgn.prob_visual, mgn.gate_audio, mgn.gate_visual
    )
    statuses = figure_statuses(timeline_figure(CLIP, gt, np.zeros_like(gt), [han, mgn], threshold=0.45))
    assert ("Dog", 5, "TP") in statuses[("audio", 0)]  # HAN's gate 0.8 passes
    assert statuses[("audio", 1)] == [("Dog", t, "FN") for t in range(2, 8)]  # MGN's gate 0.4 does not
