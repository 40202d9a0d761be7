"""The sound strip: a log-mel picture of a clip's audio on the 0-10 s axis, cached by file digest, and the no-audio
state; and how the timeline draws it."""

from __future__ import annotations

import json
import math
import subprocess
import time
import warnings
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from mgn.explore import audio_strip as strip_module
from mgn.explore.audio_strip import (
    LOG_MEL_RANGE,
    STRIP_BANDS,
    STRIP_FRAMES_PER_SECOND,
    AudioStrip,
    audio_strip,
    strip_from_waveform,
)
from mgn.explore.timeline import ClipPrediction, timeline_json
from mgn.extract.media import MediaError
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS

RATE = 16000
DEMO_VIDEO = Path(__file__).resolve().parents[2] / "assets" / "demo" / "video" / "VRCLGQutMoe.mp4"


def _tone(seconds: float, hertz: float, start: float = 0.0, stop: float | None = None) -> np.ndarray:
    """A 0.5-amplitude sine at ``hertz`` between ``start`` and ``stop`` seconds of a ``seconds``-long silence."""
    time_s = np.arange(int(seconds * RATE)) / RATE
    on = (time_s >= start) & (time_s < (seconds if stop is None else stop))
    return 0.5 * np.sin(2 * np.pi * hertz * time_s) * on


def _band_of(hertz: float) -> int:
    """The strip band whose centre is nearest ``hertz`` (HTK mel scale, VGGish's 64 bands 125-7500 Hz in pairs)."""
    mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)  # noqa: E731
    centres = np.linspace(mel(125.0), mel(7500.0), 66)[1:-1].reshape(STRIP_BANDS, 2).mean(axis=1)  # (32,)
    return int(np.argmin(np.abs(centres - mel(hertz))))


def _make_media(path: Path, *sources: str, extra: tuple[str, ...] = ()) -> Path:
    """A small media file made by the ffmpeg that imageio-ffmpeg ships, from lavfi ``sources``."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    for source in sources:
        command += ["-f", "lavfi", "-i", source]
    subprocess.run([*command, *extra, str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 4-s video with a 2 kHz tone, the same video without an audio stream, and a file that is not media."""
    folder = tmp_path_factory.mktemp("strip_media")
    video = "testsrc=size=32x24:rate=5:duration=4"
    codecs = ("-pix_fmt", "yuv420p", "-c:v", "libx264")
    tone = _make_media(
        folder / "tone.mp4",
        video,
        "sine=frequency=2000:sample_rate=44100:duration=4",
        extra=(*codecs, "-c:a", "aac", "-shortest"),
    )
    silent = _make_media(folder / "no_audio.mp4", video, extra=codecs)
    garbage = folder / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 20)
    return {"tone": tone, "silent": silent, "garbage": garbage}


def test_a_tone_lights_its_band_in_its_seconds_only():
    strip = strip_from_waveform(_tone(10.0, 1000.0, start=3.0, stop=6.0))
    assert strip.has_audio and strip.duration == 10.0
    assert strip.mel.shape == (STRIP_BANDS, 10 * STRIP_FRAMES_PER_SECOND) and strip.mel.dtype == np.uint8
    loud = strip.mel.mean(axis=0)  # (200,) per column
    on = slice(3 * STRIP_FRAMES_PER_SECOND + 1, 6 * STRIP_FRAMES_PER_SECOND - 1)
    assert loud[on].min() > loud[: 3 * STRIP_FRAMES_PER_SECOND - 1].max() + 20
    assert loud[on].min() > loud[6 * STRIP_FRAMES_PER_SECOND + 1 :].max() + 20
    assert abs(int(np.argmax(strip.mel[:, 90])) - _band_of(1000.0)) <= 1  # at 4.5 s, the 1 kHz band is the loudest
    silence = strip.mel[:, 0]
    assert silence.max() <= 1  # log(0 + 0.01) is the bottom of LOG_MEL_RANGE: level 0
    assert LOG_MEL_RANGE[0] == pytest.approx(math.log(0.01))


def test_short_audio_covers_its_own_length_and_long_audio_stops_at_ten_seconds():
    short = strip_from_waveform(_tone(2.5, 440.0))
    assert short.duration == 2.5 and short.mel.shape == (STRIP_BANDS, 50)
    long = strip_from_waveform(_tone(14.0, 440.0))
    assert long.duration == 10.0 and long.mel.shape == (STRIP_BANDS, 200)
    tiny = strip_from_waveform(np.zeros(100))  # shorter than one 25-ms window
    assert tiny.mel.shape == (STRIP_BANDS, 1) and not tiny.mel.any()


def test_no_audio_stream_is_a_state_not_an_error(media):
    strip = audio_strip(media["silent"])
    assert isinstance(strip, AudioStrip) and not strip.has_audio and strip.mel is None
    assert strip.duration == pytest.approx(4.0, abs=0.1)
    assert not strip_from_waveform(np.zeros(RATE), has_audio=False).has_audio


@pytest.mark.parametrize(
    ("waveform", "rate", "message"),
    [
        (np.zeros((RATE, 2)), RATE, "expected a mono waveform"),
        (np.zeros(RATE), 44100, "expected 16000 Hz"),
        (np.full(RATE, np.nan), RATE, "non-finite"),
    ],
)
def test_bad_waveforms_raise(waveform, rate, message):
    with pytest.raises(ValueError, match=message):
        strip_from_waveform(waveform, rate)


def test_unreadable_files_raise_a_media_error_naming_them(media, tmp_path):
    for path in (media["garbage"], tmp_path / "missing.mp4"):
        with pytest.raises(MediaError, match=path.name):
            audio_strip(path, tmp_path / "cache")


def test_file_strip_is_cached_by_digest_and_a_corrupt_cache_is_recomputed_once(media, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = audio_strip(media["tone"], cache)
    assert first.has_audio and first.mel.shape == (STRIP_BANDS, 80)  # 4 s
    assert abs(int(np.argmax(first.mel[:, 40])) - _band_of(2000.0)) <= 1  # the 2 kHz tone, after AAC coding
    (cached,) = cache.glob("audio-strip-v*.npz")
    assert not list(cache.glob(".*.tmp"))  # the atomic write left no temporary file

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached strip must not be decoded again")

    monkeypatch.setattr(strip_module, "decode_audio", no_decoding)
    again = audio_strip(media["tone"], cache)
    np.testing.assert_array_equal(again.mel, first.mel)
    assert again.duration == first.duration
    monkeypatch.undo()

    cached.write_bytes(b"not a zip archive")
    with pytest.warns(UserWarning, match="audio-strip cache .*unreadable.*recomputing") as caught:
        repaired = audio_strip(media["tone"], cache)
    assert len(caught) == 1
    np.testing.assert_array_equal(repaired.mel, first.mel)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the replaced cache file reads back without a warning
        np.testing.assert_array_equal(audio_strip(media["tone"], cache).mel, first.mel)

    with open(cached, "wb") as stream:  # a readable archive holding the wrong shape
        np.savez(stream, duration=np.float64(4.0), has_audio=np.bool_(True), mel=np.zeros((3, 3), dtype=np.uint8))
    with pytest.warns(UserWarning, match=r"mel is uint8 \(3, 3\), expected uint8 \(32, 80\)"):
        audio_strip(media["tone"], cache)

    silent = audio_strip(media["silent"], cache)  # the no-audio state is cached too
    assert not silent.has_audio and not audio_strip(media["silent"], cache).has_audio


def test_demo_clip_strip_is_cheap():
    """The demo's 10-s clip: decoded and computed well under a second on a busy 2-core machine, then cached."""
    start = time.perf_counter()
    strip = audio_strip(DEMO_VIDEO)
    elapsed = time.perf_counter() - start
    assert strip.has_audio and strip.mel.shape == (STRIP_BANDS, 200)
    assert elapsed < 2.0  # measured about 0.25 s (decoding about 0.15 s of it) under load; generous for CI


def test_the_timeline_draws_the_strip_on_top_or_says_there_is_no_audio(media):
    gt = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    scores = np.zeros((NUM_SEGMENTS, NUM_CLASSES), dtype=np.float32)
    prediction = ClipPrediction("MGN", gt, gt, scores, scores)
    strip = strip_from_waveform(_tone(10.0, 1000.0, start=3.0, stop=6.0), source="/videos/abc.mp4")
    figure = json.loads(timeline_json("abc", gt, gt, [prediction], audio_strip=strip))
    (heatmap,) = [trace for trace in figure["data"] if trace["meta"]["role"] == "audio_strip"]
    assert heatmap["z"] == strip.mel.tolist() and heatmap["xaxis"] == "x4"
    assert heatmap["x"][0] == 0 and heatmap["x"][-1] == pytest.approx(10.0)  # column edges on the 0-10 s axis
    layout = figure["layout"]
    assert layout["xaxis4"]["matches"] == "x3" and layout["yaxis4"]["domain"][1] == 1.0  # on top, same time axis
    assert layout["yaxis4"]["domain"][0] > layout["yaxis"]["domain"][1]
    assert layout["meta"]["audio_strip"] == {"source": "abc.mp4", "has_audio": True, "duration": 10.0}

    without = json.loads(timeline_json("abc", gt, gt, [prediction], audio_strip=audio_strip(media["silent"])))
    assert not [trace for trace in without["data"] if trace["meta"]["role"] == "audio_strip"]
    assert any(note["text"] == "<i>no audio track in no_audio.mp4</i>" for note in without["layout"]["annotations"])
    assert without["layout"]["meta"]["audio_strip"]["has_audio"] is False
    plain = json.loads(timeline_json("abc", gt, gt, [prediction]))
    assert "xaxis4" not in plain["layout"] and plain["layout"]["meta"]["audio_strip"] is None
