"""A playable mp4 for one synthetic clip: drawn objects for visual events, synthesized tones for audio events.

Every visual event shows its class as a coloured shape (colour from ``mgn.labels.CLASS_COLORS``, one of six shapes)
labelled with the class display name, in a fixed slot of a 3 x 2 grid, while it is on; every audio event plays a
class-specific sound (pitch, timbre and pulse rate differ per class) while it is on, over a faint noise floor.
A clock and a 10-cell segment bar sit at the top and bottom. Segments [onset, offset) map to seconds.

Output: H.264 (yuv420p) + AAC in an mp4 that browsers play, written by moviepy 2 with one encoder thread and
ffmpeg's bitexact flags, so the same annotations give the same bytes on the same ffmpeg build. Rendering draws no
random numbers from the generator's streams (the noise floor uses a fixed seed), so it never changes the features.

Notation: C = 25 classes, T = 10 one-second segments; rows are ``(C, T)`` 0/1 ``[class, segment]``.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mgn.labels import CLASS_COLORS, NUM_CLASSES, NUM_SEGMENTS, display_name

__all__ = [
    "GRID_COLUMNS",
    "GRID_ROWS",
    "SHAPES",
    "ClassStyle",
    "RenderConfig",
    "class_style",
    "clip_slots",
    "draw_frame",
    "object_box",
    "render_clip",
    "synthesize_audio",
]

SHAPES = ("circle", "square", "triangle", "diamond", "hexagon", "star")
GRID_COLUMNS, GRID_ROWS = 3, 2  # object slots; a clip showing more classes reuses slots (objects then overlap)
_TIMBRES = ("sine", "square", "saw", "bell", "noise")
_PULSE_HZ = (0.0, 2.0, 3.0, 5.0, 8.0)  # amplitude pulses per second (0: steady)
_BASE_PITCH_HZ = 220.0
_SEMITONES = 12
_BACKGROUND = (24, 26, 36)
_TEXT = (235, 235, 235)
_DIM = (90, 92, 110)
_BAR_HEIGHT = 18  # pixels of the top (clock) and bottom (segment bar) strips
_BOB_PIXELS = 3  # vertical motion amplitude of an object
_RAMP_SECONDS = 0.01  # fade in / out of a sound, avoids clicks
_CLASS_LEVEL = 0.25  # peak amplitude of one class's sound
_NOISE_FLOOR = 0.003  # std of the background hiss
_NOISE_SEED = 0  # fixed: the hiss is the same in every clip


class ClassStyle(NamedTuple):
    """How a class looks and sounds."""

    color: tuple[int, int, int]  # RGB
    shape: str  # one of SHAPES
    pitch_hz: float  # fundamental frequency
    timbre: str  # one of sine, square, saw, bell, noise
    pulse_hz: float  # amplitude pulses per second, 0 for a steady sound


@dataclass(frozen=True)
class RenderConfig:
    """Video and audio format of a rendered clip (defaults: a few hundred KB per 10 s clip)."""

    width: int = 320  # pixels
    height: int = 240
    fps: int = 10  # frames per second
    sample_rate: int = 16_000  # Hz, mono
    crf: int = 28  # x264 constant rate factor (higher: smaller, blurrier)
    audio_bitrate: str = "48k"
    preset: str = "medium"  # x264 speed / size trade-off


def _hex_to_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def class_style(class_index: int) -> ClassStyle:
    """The colour, shape, pitch, timbre and pulse rate of class ``class_index`` (all 25 combinations differ)."""
    if not 0 <= class_index < NUM_CLASSES:
        raise ValueError(f"class index must be in [0, {NUM_CLASSES}), got {class_index}")
    semitone = (7 * class_index) % NUM_CLASSES  # a fifth apart: neighbouring classes sound far apart
    return ClassStyle(
        color=_hex_to_rgb(CLASS_COLORS[class_index]),
        shape=SHAPES[class_index % len(SHAPES)],
        pitch_hz=_BASE_PITCH_HZ * 2 ** (semitone / _SEMITONES),
        timbre=_TIMBRES[class_index % len(_TIMBRES)],
        pulse_hz=_PULSE_HZ[class_index // len(_TIMBRES)],
    )


def _check_row(row: np.ndarray, name: str) -> np.ndarray:
    row = np.asarray(row)
    if row.shape != (NUM_CLASSES, NUM_SEGMENTS):
        raise ValueError(f"{name}: expected shape ({NUM_CLASSES}, {NUM_SEGMENTS}) [class, segment], got {row.shape}")
    if not np.isin(row, (0, 1)).all():
        raise ValueError(f"{name}: expected 0/1 values")
    return row.astype(bool)


def _segment_at(time_s: float) -> int:
    return min(int(math.floor(time_s + 1e-6)), NUM_SEGMENTS - 1)


# --- picture ---------------------------------------------------------------------------------------------------------


def clip_slots(gt_visual_row: np.ndarray) -> dict[int, int]:
    """Grid slot of every class visible somewhere in the clip: in class order, wrapping after 6."""
    visible = np.flatnonzero(_check_row(gt_visual_row, "gt_visual_row").any(axis=1))
    return {int(class_index): rank % (GRID_COLUMNS * GRID_ROWS) for rank, class_index in enumerate(visible)}


def object_box(slot: int, config: RenderConfig = RenderConfig()) -> tuple[int, int, int, int]:
    """Pixel box ``(left, top, right, bottom)`` that holds the shape (with its motion) drawn in ``slot``."""
    cell_width = config.width // GRID_COLUMNS
    cell_height = (config.height - 2 * _BAR_HEIGHT) // GRID_ROWS
    column, row = slot % GRID_COLUMNS, slot // GRID_COLUMNS
    radius = min(cell_width, cell_height) // 4
    center_x = column * cell_width + cell_width // 2
    center_y = _BAR_HEIGHT + row * cell_height + cell_height // 2 - radius // 2
    return (center_x - radius, center_y - radius - _BOB_PIXELS, center_x + radius, center_y + radius + _BOB_PIXELS)


def _polygon(shape: str, cx: float, cy: float, radius: float) -> list[tuple[float, float]]:
    corners = {"triangle": 3, "diamond": 4, "hexagon": 6, "star": 10}[shape]
    points = []
    for index in range(corners):
        angle = -math.pi / 2 + 2 * math.pi * index / corners
        reach = radius * (0.45 if shape == "star" and index % 2 else 1.0)
        points.append((cx + reach * math.cos(angle), cy + reach * math.sin(angle)))
    return points


def _draw_object(
    draw: ImageDraw.ImageDraw,
    class_index: int,
    slot: int,
    time_s: float,
    config: RenderConfig,
    font: ImageFont.ImageFont,
) -> None:
    style = class_style(class_index)
    left, top, right, bottom = object_box(slot, config)
    radius = (right - left) / 2
    bob = _BOB_PIXELS * math.sin(2 * math.pi * time_s * (0.5 + 0.1 * (class_index % 5)))
    cx, cy = (left + right) / 2, (top + bottom) / 2 + bob
    box = (cx - radius, cy - radius, cx + radius, cy + radius)
    if style.shape == "circle":
        draw.ellipse(box, fill=style.color)
    elif style.shape == "square":
        draw.rectangle(box, fill=style.color)
    else:
        draw.polygon(_polygon(style.shape, cx, cy, radius), fill=style.color)
    label_top = bottom + 4
    for line_index, line in enumerate(_wrap(display_name(class_index), font, config.width // GRID_COLUMNS - 6)):
        width = draw.textlength(line, font=font)
        draw.text(((left + right) / 2 - width / 2, label_top + 11 * line_index), line, fill=_TEXT, font=font)


def _wrap(text: str, font: ImageFont.ImageFont, max_width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= max_width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines


def _draw_chrome(
    draw: ImageDraw.ImageDraw, time_s: float, config: RenderConfig, font: ImageFont.ImageFont, title: str | None
) -> None:
    """Clock and segment counter (top), segment bar with the current segment lit (bottom)."""
    segment = _segment_at(time_s)
    draw.text((4, 3), f"{time_s:4.1f} s  seg {segment + 1}/{NUM_SEGMENTS}", fill=_TEXT, font=font)
    if title:
        draw.text((config.width - 4 - draw.textlength(title, font=font), 3), title, fill=_DIM, font=font)
    cell = config.width / NUM_SEGMENTS
    top = config.height - _BAR_HEIGHT + 4
    for index in range(NUM_SEGMENTS):
        fill = _TEXT if index == segment else _DIM
        draw.rectangle((index * cell + 2, top, (index + 1) * cell - 2, config.height - 4), fill=fill)


def draw_frame(
    time_s: float, gt_visual_row: np.ndarray, config: RenderConfig = RenderConfig(), title: str | None = None
) -> np.ndarray:
    """The picture at ``time_s`` seconds: objects of the classes visible in that segment. ``(H, W, 3)`` uint8."""
    visible = _check_row(gt_visual_row, "gt_visual_row")
    image = Image.new("RGB", (config.width, config.height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    segment = _segment_at(time_s)
    for class_index, slot in clip_slots(visible).items():
        if visible[class_index, segment]:
            _draw_object(draw, class_index, slot, time_s, config, font)
    _draw_chrome(draw, time_s, config, font, title)
    return np.asarray(image)


# --- sound -----------------------------------------------------------------------------------------------------------


def _waveform(style: ClassStyle, times: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """One class's steady sound at ``times`` (seconds), peak about 1."""
    phase = 2 * np.pi * style.pitch_hz * times
    if style.timbre == "sine":
        wave = np.sin(phase)
    elif style.timbre == "square":  # odd harmonics 1, 3, 5, 7 at 1/n
        wave = sum(np.sin(n * phase) / n for n in (1, 3, 5, 7)) / 1.2
    elif style.timbre == "saw":  # harmonics 1..6 at 1/n
        wave = sum(np.sin(n * phase) / n for n in range(1, 7)) / 1.6
    elif style.timbre == "bell":  # frequency modulation at a non-integer ratio
        wave = np.sin(phase + 2.0 * np.sin(1.4 * phase))
    else:  # noise band around the pitch: noise amplitude-modulated by a tone
        wave = np.clip(noise, -3, 3) / 3 * np.sin(phase) * 1.5
    if style.pulse_hz:
        wave = wave * (0.5 + 0.5 * np.cos(2 * np.pi * style.pulse_hz * times)) ** 2
    return wave


def _activity(row: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-sample 0..1 envelope of one class: 1 inside its segments, linear ramps at the edges."""
    mask = np.repeat(row.astype(np.float64), sample_rate)  # (T * sample_rate,)
    ramp = max(int(_RAMP_SECONDS * sample_rate), 1)
    kernel = np.ones(ramp) / ramp
    return np.convolve(mask, kernel, mode="same")


def synthesize_audio(gt_audio_row: np.ndarray, config: RenderConfig = RenderConfig()) -> np.ndarray:
    """The soundtrack: each audible class's sound inside its segments, plus faint hiss. ``(T * rate,)`` float32."""
    audible = _check_row(gt_audio_row, "gt_audio_row")
    num_samples = NUM_SEGMENTS * config.sample_rate
    times = np.arange(num_samples) / config.sample_rate
    noise_rng = np.random.default_rng(_NOISE_SEED)
    hiss = _NOISE_FLOOR * noise_rng.standard_normal(num_samples)
    tone_noise = noise_rng.standard_normal(num_samples)
    track = hiss
    for class_index in np.flatnonzero(audible.any(axis=1)):
        style = class_style(int(class_index))
        track = track + _CLASS_LEVEL * _activity(audible[class_index], config.sample_rate) * _waveform(
            style, times, tone_noise
        )
    return np.clip(track, -1, 1).astype(np.float32)


# --- file ------------------------------------------------------------------------------------------------------------


def render_clip(
    path: str | Path,
    gt_audio_row: np.ndarray,
    gt_visual_row: np.ndarray,
    config: RenderConfig = RenderConfig(),
    *,
    title: str | None = None,
) -> Path:
    """Write the 10 s mp4 (H.264 yuv420p + AAC) of one clip.

    Args:
        path: output ``.mp4`` path; its folder must exist. An existing file is replaced.
        gt_audio_row: ``(C, T)`` 0/1 audible events ``[class, segment]``.
        gt_visual_row: ``(C, T)`` 0/1 visible events.
        config: picture and sound format.
        title: small text in the top-right corner (e.g. the LLP filename).

    Returns:
        ``path`` as a ``Path``.
    """
    from moviepy import AudioArrayClip, VideoClip  # imported here: only video rendering needs moviepy

    path = Path(path)
    visible = _check_row(gt_visual_row, "gt_visual_row")
    # moviepy 2.1 mis-times mono arrays (the track comes out twice as long): write the mono track on two channels.
    audio = np.repeat(synthesize_audio(gt_audio_row, config)[:, None], 2, axis=1)  # (samples, 2)

    def frame_at(time_s: float) -> np.ndarray:
        return draw_frame(time_s, visible, config, title)

    video = VideoClip(frame_function=frame_at, duration=float(NUM_SEGMENTS))
    video = video.with_audio(AudioArrayClip(audio, fps=config.sample_rate))
    with tempfile.TemporaryDirectory(prefix="mgn_render_") as scratch:
        video.write_videofile(
            str(path),
            fps=config.fps,
            codec="libx264",
            audio_codec="aac",
            audio_fps=config.sample_rate,
            audio_bitrate=config.audio_bitrate,
            preset=config.preset,
            threads=1,
            temp_audiofile=str(Path(scratch) / "audio.m4a"),
            ffmpeg_params=[
                "-pix_fmt",
                "yuv420p",
                "-crf",
                str(config.crf),
                "-fflags",
                "+bitexact",
                "-flags:v",
                "+bitexact",
                "-flags:a",
                "+bitexact",
                "-map_metadata",
                "-1",
                "-movflags",
                "+faststart",
            ],
            logger=None,
        )
    video.close()
    return path
