"""Decoding for the feature pipeline: frames (``mgn.extract.video``) and audio (``mgn.extract.audio``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mgn.extract.audio import SAMPLE_RATE, load_audio, log_mel_examples
from mgn.extract.media import MediaError, probe
from mgn.extract.video import pick_frame_indices, r2plus1d_inputs, resnet_inputs, sample_frames

DEMO_VIDEOS = Path(__file__).resolve().parents[2] / "assets" / "demo" / "video"


def test_official_frame_choice() -> None:
    assert pick_frame_indices(82).tolist()[:4] == [0, 1, 2, 3]
    assert pick_frame_indices(82)[-1] == 81 and len(pick_frame_indices(82)) == 80
    assert pick_frame_indices(40).tolist() == np.round(np.linspace(0, 39, 80)).astype(int).tolist()  # repeats


def test_the_real_llp_clip_decodes_to_80_frames_and_16k_audio(llp_dir: Path) -> None:
    path = llp_dir / "BjCEufrlXm4.mp4"
    frames = sample_frames(path)
    assert frames.shape == (80, 240, 320, 3) and frames.dtype == np.uint8
    assert frames.std() > 10  # real content, not a blank
    waveform, rate = load_audio(path)
    assert rate == SAMPLE_RATE and waveform.dtype == np.float64
    assert waveform.shape == (int(SAMPLE_RATE * probe(path).duration),)  # 10.03 s -> 160,480 samples
    assert np.abs(waveform).max() <= 0.99 and waveform.std() > 1e-3
    assert log_mel_examples(waveform, rate).shape == (10, 96, 64)


@pytest.mark.parametrize("name", sorted(path.name for path in DEMO_VIDEOS.glob("*.mp4"))[:3])
def test_demo_videos_decode(name: str) -> None:
    frames = sample_frames(DEMO_VIDEOS / name)
    assert frames.shape[0] == 80 and frames.shape[-1] == 3
    waveform, _ = load_audio(DEMO_VIDEOS / name)
    assert log_mel_examples(waveform, SAMPLE_RATE).shape == (10, 96, 64)


def test_decoding_is_deterministic(media_dir: Path) -> None:
    np.testing.assert_array_equal(sample_frames(media_dir / "ten.mp4"), sample_frames(media_dir / "ten.mp4"))
    np.testing.assert_array_equal(load_audio(media_dir / "ten.mp4")[0], load_audio(media_dir / "ten.mp4")[0])


def test_short_and_long_videos_spread_80_frames_over_the_whole_video(media_dir: Path) -> None:
    # testsrc draws a frame counter: frames decoded from the start and the end of the video differ
    for name, seconds in (("short.mp4", 4), ("long.mp4", 25)):
        frames = sample_frames(media_dir / name)
        assert frames.shape[0] == 80
        assert not np.array_equal(frames[0], frames[-1])
        waveform, _ = load_audio(media_dir / name)
        assert len(waveform) == seconds * SAMPLE_RATE


def test_long_video_path_that_counts_first_gives_the_same_frames(media_dir: Path, monkeypatch) -> None:
    import mgn.extract.video as video

    direct = sample_frames(media_dir / "long.mp4")
    monkeypatch.setattr(video, "_DECODE_BUDGET_BYTES", 0)  # force the count-then-keep path
    np.testing.assert_array_equal(sample_frames(media_dir / "long.mp4"), direct)


def test_no_audio_stream_gives_silence_with_a_warning(media_dir: Path) -> None:
    with pytest.warns(UserWarning, match="no audio stream"):
        waveform, _ = load_audio(media_dir / "video_only.mp4")
    assert waveform.shape == (3 * SAMPLE_RATE,) and not waveform.any()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("audio_only.m4a", "no video stream"),
        ("truncated.mp4", "not a readable"),
        ("empty.mp4", "empty"),
        ("garbage.mp4", "not a readable"),
        ("missing.mp4", "no such file"),
    ],
)
def test_bad_videos_are_named_errors(media_dir: Path, name: str, message: str) -> None:
    with pytest.raises(MediaError, match=message) as raised:
        sample_frames(media_dir / name)
    assert name in str(raised.value)


def test_network_inputs_shapes_and_normalisation(media_dir: Path) -> None:
    frames = sample_frames(media_dir / "ten.mp4")  # (80, 48, 64, 3)
    images = resnet_inputs(frames)
    assert images.shape == (80, 3, 224, 224) and images.dtype == np.float32
    clips = r2plus1d_inputs(frames)
    assert clips.shape == (10, 3, 8, 112, 112) and clips.dtype == np.float32
    # a mid-grey frame maps to (0.5 - mean) / std in every pixel (up to the 1/255 step of 128)
    grey = np.full((80, 300, 400, 3), 128, dtype=np.uint8)
    expected = (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(resnet_inputs(grey)[0, :, 100, 100], expected, rtol=1e-5)
    with pytest.raises(ValueError, match="expected 80 frames"):
        r2plus1d_inputs(frames[:40])


def test_resnet_crop_follows_torchvision_geometry() -> None:
    """Shorter side to 256, longer side truncated, centre crop 224: a marker at the image centre stays there."""
    frame = np.zeros((1, 480, 640, 3), dtype=np.uint8)
    frame[0, 236:244, 316:324] = 255  # an 8 x 8 white square at the centre
    image = resnet_inputs(frame)[0, 0]  # (224, 224) red channel
    bright = np.argwhere(image > 0)
    centre = bright.mean(axis=0)
    np.testing.assert_allclose(centre, [111.5, 111.5], atol=0.6)


def test_log_mel_examples_errors() -> None:
    with pytest.raises(ValueError, match="16000"):
        log_mel_examples(np.zeros(48000), 48000)
    with pytest.raises(ValueError, match="non-finite"):
        log_mel_examples(np.full(16000, np.nan), SAMPLE_RATE)
    assert log_mel_examples(np.zeros(15000), SAMPLE_RATE).shape == (0, 96, 64)  # under one example
