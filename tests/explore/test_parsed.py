"""``mgn.explore.parsed``: the timeline, event table and feature download of a parsed video (no ground truth)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from mgn.explore.parsed import ParsedView, features_archive, parsed_events, parsed_figure
from mgn.labels import CLASS_TO_INDEX, NUM_CLASSES


def _view(segments: int = 25) -> ParsedView:
    bounds = np.stack([np.arange(segments), np.arange(1, segments + 1)], axis=1).astype(float)
    prob_audio = np.full((NUM_CLASSES, segments), 0.1)
    prob_visual = np.full((NUM_CLASSES, segments), 0.1)
    pred_audio = np.zeros((NUM_CLASSES, segments), np.uint8)
    pred_visual = np.zeros((NUM_CLASSES, segments), np.uint8)
    dog, speech = CLASS_TO_INDEX["Dog"], CLASS_TO_INDEX["Speech"]
    pred_audio[dog, 3:7] = 1
    prob_audio[dog, 3:7] = 1.1  # MGN's soft map can exceed 1
    pred_visual[dog, 5:12] = 1
    prob_visual[dog, 5:12] = 0.8
    pred_audio[speech, 20:25] = 1
    prob_audio[speech, 20:25] = 0.7
    return ParsedView("holiday.mp4", bounds, prob_audio, prob_visual, pred_audio, pred_visual)


def test_events_at_real_times_with_audio_visual_derived() -> None:
    events = parsed_events(_view())
    rows = {(r["modality"], r["class"]): (r["onset (s)"], r["offset (s)"]) for r in events.to_dict("records")}
    assert rows == {
        ("Audio", "Dog"): (3.0, 7.0),
        ("Visual", "Dog"): (5.0, 12.0),
        ("Audio-Visual", "Dog"): (5.0, 7.0),
        ("Audio", "Speech"): (20.0, 25.0),
    }
    assert events["onset (s)"].is_monotonic_increasing


def test_figure_spans_the_whole_video_and_explains_scores_above_one() -> None:
    figure = parsed_figure(_view())
    assert figure.layout.xaxis.range == (0, 25.0)
    assert figure.layout.meta["rows"] == ["Speech", "Dog"]  # predicted classes only, class order
    predicted = [t for t in figure.data if t.meta["role"] == "pred"]
    assert {(t.meta["modality"], t.meta["class"]) for t in predicted} == {
        ("audio", "Dog"),
        ("visual", "Dog"),
        ("audio_visual", "Dog"),
        ("audio", "Speech"),
    }
    dog_audio = next(t for t in predicted if t.meta["modality"] == "audio" and t.meta["class"] == "Dog")
    assert list(dog_audio.customdata[0][1:]) == [3.0, 7.0]
    strip = next(t for t in figure.data if t.meta["role"] == "prob" and t.meta["class"] == "Dog")
    assert "can exceed 1" in strip.hovertemplate


def test_nothing_predicted_shows_the_most_probable_classes() -> None:
    view = _view()
    empty = ParsedView(
        view.name, view.segment_bounds, view.prob_audio, view.prob_visual, 0 * view.pred_audio, 0 * view.pred_visual
    )
    assert parsed_events(empty).empty
    assert "Dog" in parsed_figure(empty).layout.meta["rows"]


def test_bad_shapes_are_named() -> None:
    view = _view()
    with pytest.raises(ValueError, match="pred_audio"):
        ParsedView(
            view.name, view.segment_bounds, view.prob_audio, view.prob_visual, view.pred_audio[:, :3], view.pred_visual
        )


def test_features_archive_is_the_official_layout() -> None:
    streams = {"audio": np.ones((10, 128)), "visual": np.zeros((80, 2048)), "visual_st": np.ones((10, 512))}
    data = features_archive(["AAAAAAAAAAA"], [streams], "video_id,file\nAAAAAAAAAAA,x.mp4\n")
    with zipfile.ZipFile(io.BytesIO(data)) as bundle:
        names = sorted(bundle.namelist())
        assert names == [
            "feats/r2plus1d_18/AAAAAAAAAAA.npy",
            "feats/res152/AAAAAAAAAAA.npy",
            "feats/vggish/AAAAAAAAAAA.npy",
            "videos.csv",
        ]
        audio = np.load(io.BytesIO(bundle.read("feats/vggish/AAAAAAAAAAA.npy")))
    assert audio.shape == (10, 128) and audio.dtype == np.float32
