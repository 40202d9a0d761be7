"""mgn.data.render: one synthetic clip as a browser-playable mp4 whose picture and sound follow the annotations."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import numpy as np
import pytest

from mgn.data.render import (
    RenderConfig,
    class_style,
    clip_slots,
    draw_frame,
    object_box,
    render_clip,
    synthesize_audio,
)
from mgn.labels import CLASS_TO_INDEX, NUM_CLASSES, NUM_SEGMENTS

CONFIG = RenderConfig()
DOG, FIRE_ALARM = CLASS_TO_INDEX["Dog"], CLASS_TO_INDEX["Fire_alarm"]
VISUAL_ON, AUDIO_ON = (2, 5), (6, 9)  # segments [onset, offset)


def _rows() -> tuple[np.ndarray, np.ndarray]:
    gt_audio = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    gt_visual = np.zeros_like(gt_audio)
    gt_audio[FIRE_ALARM, slice(*AUDIO_ON)] = 1
    gt_visual[DOG, slice(*VISUAL_ON)] = 1
    return gt_audio, gt_visual


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("render") / "clip.mp4"
    return render_clip(path, *_rows(), CONFIG, title="abcdefghijk_0_10")


def _decoded_audio(path, sample_rate: int) -> np.ndarray:
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-i",
        str(path),
        "-map",
        "0:a",
        "-f",
        "s16le",
        "-ac",
        "1",
        "-ar",
        str(sample_rate),
        "-",
    ]
    samples = subprocess.run(command, capture_output=True, check=True).stdout
    return np.frombuffer(samples, dtype=np.int16).astype(np.float64)


def test_container_codecs_and_duration(rendered):
    reader = imageio_ffmpeg.read_frames(str(rendered))
    meta = next(reader)
    reader.close()
    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    assert meta["audio_codec"] == "aac"
    assert meta["size"] == (CONFIG.width, CONFIG.height)
    assert abs(meta["duration"] - NUM_SEGMENTS) <= 0.1
    assert 10_000 < rendered.stat().st_size < 1_000_000  # small: well under 1 MB for 10 s


def test_visual_event_is_drawn_only_while_on(rendered):
    reader = imageio_ffmpeg.read_frames(str(rendered))
    meta = next(reader)
    width, height = meta["size"]
    frames = np.stack([np.frombuffer(frame, dtype=np.uint8).reshape(height, width, 3) for frame in reader])
    assert len(frames) == NUM_SEGMENTS * CONFIG.fps
    left, top, right, bottom = object_box(clip_slots(_rows()[1])[DOG], CONFIG)
    center = frames[
        :, (top + bottom) // 2 - 4 : (top + bottom) // 2 + 4, (left + right) // 2 - 4 : (left + right) // 2 + 4
    ]
    center_color = center.reshape(len(frames), -1, 3).mean(axis=1)  # (frames, 3)
    seconds = np.arange(len(frames)) / CONFIG.fps
    on = (seconds >= VISUAL_ON[0] + 0.05) & (seconds < VISUAL_ON[1] - 0.05)
    off = (seconds < VISUAL_ON[0] - 0.05) | (seconds >= VISUAL_ON[1] + 0.05)
    dog_color = np.array(class_style(DOG).color)
    assert np.abs(center_color[on] - dog_color).max() < 25  # the Dog shape, in its colour (after H.264)
    assert np.abs(center_color[off] - dog_color).max(axis=1).min() > 100  # background elsewhere


def test_audio_event_is_louder_while_on(rendered):
    audio = _decoded_audio(rendered, CONFIG.sample_rate)
    assert abs(len(audio) / CONFIG.sample_rate - NUM_SEGMENTS) <= 0.1
    second = CONFIG.sample_rate

    def rms(start_s: float, stop_s: float) -> float:
        return float(np.sqrt(np.mean(audio[int(start_s * second) : int(stop_s * second)] ** 2)))

    inside = rms(AUDIO_ON[0] + 0.2, AUDIO_ON[1] - 0.2)
    outside = max(rms(0.2, AUDIO_ON[0] - 0.2), rms(AUDIO_ON[1] + 0.2, NUM_SEGMENTS - 0.2))
    assert inside > 10 * outside


def test_rendering_is_byte_identical(rendered, tmp_path):
    again = render_clip(tmp_path / "again.mp4", *_rows(), CONFIG, title="abcdefghijk_0_10")
    assert again.read_bytes() == rendered.read_bytes()


def test_every_class_has_its_own_look_and_sound():
    styles = [class_style(index) for index in range(NUM_CLASSES)]
    assert len({style.color for style in styles}) == NUM_CLASSES
    assert len({(style.timbre, style.pulse_hz) for style in styles}) == NUM_CLASSES
    assert len({round(style.pitch_hz, 3) for style in styles}) == NUM_CLASSES


def test_frames_and_sound_follow_the_rows_in_memory():
    gt_audio, gt_visual = _rows()
    blank = draw_frame(0.5, np.zeros_like(gt_visual), CONFIG)
    assert not np.array_equal(draw_frame(3.5, gt_visual, CONFIG), blank)
    assert np.array_equal(draw_frame(0.5, gt_visual, CONFIG), blank)  # Dog not on yet
    track = synthesize_audio(gt_audio, CONFIG)
    assert track.shape == (NUM_SEGMENTS * CONFIG.sample_rate,) and track.dtype == np.float32
    assert np.abs(track).max() <= 1


def test_bad_rows_are_rejected():
    with pytest.raises(ValueError, match=r"gt_visual_row: expected shape \(25, 10\)"):
        draw_frame(0.0, np.zeros((10, 25)), CONFIG)
    with pytest.raises(ValueError, match="0/1"):
        synthesize_audio(np.full((NUM_CLASSES, NUM_SEGMENTS), 2), CONFIG)
