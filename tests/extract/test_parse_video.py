"""``mgn.parse_video``: windows of a long video, each parsed as an LLP clip, stitched into one timeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mgn.extract.media import MediaError
from mgn.extract.pipeline import prepare_inputs
from mgn.inference import predict
from mgn.metrics import binarize
from mgn.models import MGN, MGNConfig
from mgn.parse_video import _window_split, parse_video, plan_windows

from .standins import standin_extractor


@pytest.fixture(scope="module")
def model() -> MGN:
    torch.manual_seed(0)
    return MGN(MGNConfig(dim=32, depth_aud=1, depth_vis=1, depth_av=1)).eval()


@pytest.mark.parametrize(
    ("duration", "starts", "length"),
    [(4.0, [0.0], 4.0), (10.03, [0.0], 10.0), (25.5, [0.0, 10.0, 15.0], 10.0), (95.0, [0, 10, 20, 30, 40, 50], 10.0)],
)
def test_plan_windows(duration: float, starts: list[float], length: float) -> None:
    windows = plan_windows(duration, "clip", max_seconds=60)
    assert [w.start for w in windows] == starts
    assert all(w.length == length for w in windows)
    assert len({w.video_id for w in windows}) == len(windows)  # each window is its own LLP clip


def test_a_long_video_is_parsed_window_by_window_and_stitched(media_dir: Path, model: MGN) -> None:
    extractor = standin_extractor()
    calls = []
    parsed = parse_video(media_dir / "long.mp4", extractor, model, on_window=lambda done, total: calls.append(done))
    assert calls == [1, 2, 3] and [w.start for w in parsed.windows] == [0.0, 10.0, 15.0]
    # 10 segments from [0, 10), 10 from [10, 20), then the last window's segments from 20 s on: [20, 25)
    np.testing.assert_allclose(parsed.segment_bounds[:, 0], np.arange(25.0))
    np.testing.assert_allclose(parsed.segment_bounds[:, 1], np.arange(1.0, 26.0))
    assert parsed.prob_audio.shape == parsed.pred_visual.shape == (25, 25)  # (C, S)
    # the stitched columns are the windows' own predictions
    features = [
        extractor.features(prepare_inputs(media_dir / "long.mp4", start=w.start, duration=w.length))
        for w in parsed.windows
    ]
    predictions = predict(model, _window_split(parsed.windows, features))
    pred_audio, _ = binarize(predictions.global_prob, predictions.a_frame_prob, predictions.v_frame_prob)
    np.testing.assert_array_equal(parsed.pred_audio[:, :20], np.concatenate([pred_audio[0], pred_audio[1]], axis=1))
    np.testing.assert_array_equal(parsed.pred_audio[:, 20:], pred_audio[2][:, 5:])
    np.testing.assert_allclose(parsed.prob_audio[:, 20:], predictions.a_frame_prob[2].T[:, 5:])
    assert parsed.notes == []


def test_short_and_over_long_videos(media_dir: Path, model: MGN) -> None:
    short = parse_video(media_dir / "short.mp4", standin_extractor(), model)
    np.testing.assert_allclose(short.segment_bounds[:, 1] - short.segment_bounds[:, 0], 0.4)  # 4 s / 10 segments
    capped = parse_video(media_dir / "long.mp4", standin_extractor(), model, max_seconds=12)
    assert [w.start for w in capped.windows] == [0.0, 2.0] and "first 12 s" in capped.notes[0]


def test_no_audio_is_noted_and_bad_files_are_errors(media_dir: Path, model: MGN) -> None:
    parsed = parse_video(media_dir / "video_only.mp4", standin_extractor(), model)
    assert any("no audio stream" in note for note in parsed.notes)
    with pytest.raises(MediaError, match="no video stream"):
        parse_video(media_dir / "audio_only.m4a", standin_extractor(), model)
    with pytest.raises(MediaError, match="garbage.mp4"):
        parse_video(media_dir / "garbage.mp4", standin_extractor(), model)
