"""The audio evidence strip of a clip: a compact log-mel spectrogram on the timeline's 0-10 s axis.

What the strip shows is what VGGish hears: the clip's audio decoded as the feature pipeline decodes it
(:func:`mgn.extract.audio.decode_audio`: 16 kHz mono, moviepy's nearest-sample resampling), 25 ms Hann windows every
10 ms, 64 mel bands from 125 Hz to 7.5 kHz, ``log(mel + 0.01)`` (:mod:`mgn.extract.audio`'s constants). For the
screen it is pooled to :data:`STRIP_BANDS` = 32 bands (the mean of each pair of adjacent mel bands) by
:data:`STRIP_FRAMES_PER_SECOND` = 20 columns per second (the mean of the 10-ms frames whose centre falls in the
column's 50 ms), and quantised to 256 levels over a fixed log-mel range (:data:`LOG_MEL_RANGE`), so that the same
level means the same loudness in every clip: a 10-s clip is a ``(32, 200) uint8`` array, about 6 kB.

:func:`audio_strip` reads a video (or audio) file, and keeps the result in a cache folder under the sha256 of the
file's bytes (an atomic write: readers never see half a file; an unreadable cache file is recomputed and replaced,
with one warning). A file without an audio stream gives a strip in the "no audio track" state (``mel`` is None), not
an error. Imports neither torch nor gradio.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mgn.extract.audio import (
    HOP_SECONDS,
    LOG_OFFSET,
    MEL_BANDS,
    SAMPLE_RATE,
    WINDOW_SECONDS,
    decode_audio,
    mel_matrix,
)
from mgn.io import atomic_path, file_sha256
from mgn.labels import NUM_SEGMENTS
from mgn.npz import UNREADABLE, read_npz

__all__ = [
    "LOG_MEL_RANGE",
    "STRIP_BANDS",
    "STRIP_FRAMES_PER_SECOND",
    "AudioStrip",
    "audio_strip",
    "strip_from_waveform",
]

STRIP_BANDS = 32  # mel bands shown (pairs of VGGish's 64)
STRIP_FRAMES_PER_SECOND = 20  # columns per second (50 ms each)
STRIP_SECONDS = float(NUM_SEGMENTS)  # the timeline's extent: an LLP clip is 10 s
# log(mel + 0.01) from silence (log 0.01) to a little above a full-scale sine (about 4.8); levels 0 and 255.
LOG_MEL_RANGE: tuple[float, float] = (math.log(LOG_OFFSET), 5.0)
_CACHE_VERSION = 1  # part of the cache file name: bump when the strip's recipe changes
_FFT_LENGTH = 512  # VGGish's FFT size for its 400-sample window


@dataclass(frozen=True, eq=False)  # eq=False: an array field has no truth value to compare
class AudioStrip:
    """The log-mel strip of one clip's audio, or the "no audio track" state.

    Attributes:
        source: the file it was computed from (its name is shown in messages; any string for a waveform).
        duration: seconds of audio the strip covers, from 0 (at most :data:`STRIP_SECONDS`; less for a shorter file).
        mel: ``(STRIP_BANDS, F) uint8`` [band, column], band 0 the lowest frequency, column ``k`` covering seconds
            ``[k / 20, (k + 1) / 20)``; level ``q`` stands for ``log(mel + 0.01) = lo + q / 255 * (hi - lo)`` with
            ``(lo, hi) = LOG_MEL_RANGE``. None when the file has no audio stream.
    """

    source: str
    duration: float
    mel: np.ndarray | None

    @property
    def has_audio(self) -> bool:
        """Whether the file had an audio stream (False: the "no audio track" state)."""
        return self.mel is not None

    @property
    def column_seconds(self) -> float:
        """Width of one column in seconds (0.05)."""
        return 1.0 / STRIP_FRAMES_PER_SECOND


def strip_from_waveform(
    waveform: np.ndarray, sample_rate: int = SAMPLE_RATE, *, has_audio: bool = True, source: str = "waveform"
) -> AudioStrip:
    """The strip of a decoded waveform (pure; :func:`audio_strip` decodes a file and calls this).

    Args:
        waveform: ``(n,)`` mono samples in [-1, 1] at ``sample_rate`` (what :func:`decode_audio` returns); samples past
            :data:`STRIP_SECONDS` are ignored.
        sample_rate: must be 16000 (VGGish's rate; decode with :func:`mgn.extract.audio.decode_audio`).
        has_audio: False for the silence that :func:`decode_audio` returns for a file without an audio stream: the
            strip is then the "no audio track" state.
        source: the file or a name, kept in :attr:`AudioStrip.source`.

    Raises:
        ValueError: another sample rate, a waveform that is not 1-D, or non-finite samples.
    """
    samples = np.asarray(waveform, dtype=np.float64)
    if samples.ndim != 1:
        raise ValueError(f"{source}: expected a mono waveform of shape (n,), found shape {samples.shape}")
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"{source}: expected {SAMPLE_RATE} Hz audio, found {sample_rate} Hz")
    if not np.isfinite(samples).all():
        raise ValueError(f"{source}: the waveform holds non-finite samples")
    samples = samples[: int(STRIP_SECONDS * SAMPLE_RATE)]
    duration = len(samples) / SAMPLE_RATE
    if not has_audio:
        return AudioStrip(source, duration, None)
    window = round(SAMPLE_RATE * WINDOW_SECONDS)  # 400 samples
    hop = round(SAMPLE_RATE * HOP_SECONDS)  # 160 samples
    columns = math.ceil(duration * STRIP_FRAMES_PER_SECOND)
    if len(samples) < window:  # shorter than one window: nothing heard
        return AudioStrip(source, duration, np.zeros((STRIP_BANDS, columns), dtype=np.uint8))
    hann = 0.5 - 0.5 * np.cos(2 * np.pi / window * np.arange(window))  # (400,) periodic, as VGGish
    frames = np.lib.stride_tricks.sliding_window_view(samples, window)[::hop]  # (frames, 400), a view
    spectrum = np.abs(np.fft.rfft(frames * hann, _FFT_LENGTH))  # (frames, 257)
    log_mel = np.log(spectrum @ mel_matrix(_FFT_LENGTH // 2 + 1) + LOG_OFFSET)  # (frames, 64)
    log_mel = log_mel.reshape(len(log_mel), STRIP_BANDS, MEL_BANDS // STRIP_BANDS).mean(axis=2)  # (frames, 32)
    centres = (np.arange(len(log_mel)) * hop + window / 2) / SAMPLE_RATE  # (frames,) seconds
    column = np.minimum((centres * STRIP_FRAMES_PER_SECOND).astype(np.int64), columns - 1)  # (frames,)
    sums = np.zeros((columns, STRIP_BANDS))
    np.add.at(sums, column, log_mel)
    counts = np.bincount(column, minlength=columns)  # (columns,)
    pooled = np.full((columns, STRIP_BANDS), LOG_MEL_RANGE[0])  # a column without a frame centre reads as silence
    filled = counts > 0
    pooled[filled] = sums[filled] / counts[filled, None]
    low, high = LOG_MEL_RANGE
    levels = np.rint(np.clip((pooled - low) / (high - low), 0.0, 1.0) * 255).astype(np.uint8)  # (columns, 32)
    return AudioStrip(source, duration, np.ascontiguousarray(levels.T))  # (32, columns)


def audio_strip(path: str | Path, cache_dir: str | Path | None = None) -> AudioStrip:
    """The strip of a video or audio file's first :data:`STRIP_SECONDS` seconds, cached by the file's digest.

    Args:
        path: the clip's file (any container ffmpeg reads; the explorer's ``<ID>.mp4``).
        cache_dir: folder of cache files ``audio-strip-v<version>-<sha256 of the file, 32 hex>.npz`` (created when
            missing); None: no cache. A cache file that cannot be read, or holds something else, is recomputed and
            replaced after one warning naming it; a cache that cannot be written gives a warning and the strip.

    Returns:
        The strip; its ``mel`` is None when the file has no audio stream ("no audio track").

    Raises:
        mgn.extract.media.MediaError: (a ValueError) the file is missing, empty, or not a media file ffmpeg can decode;
            the message names the file.
    """
    path = Path(path)
    if cache_dir is None or not path.is_file():  # a missing file: the decoder's error names it
        return _compute(path)
    cache_path = Path(cache_dir) / f"audio-strip-v{_CACHE_VERSION}-{file_sha256(path)[:32]}.npz"
    if cache_path.is_file():
        cached = _load_cached(cache_path, str(path))
        if cached is not None:
            return cached
    strip = _compute(path)
    try:
        with atomic_path(cache_path) as temporary, open(temporary, "wb") as stream:  # never a partial file
            np.savez(
                stream,
                duration=np.float64(strip.duration),
                has_audio=np.bool_(strip.has_audio),
                mel=strip.mel if strip.mel is not None else np.zeros((STRIP_BANDS, 0), dtype=np.uint8),
            )
    except OSError as error:  # a read-only or full disk, a file where the folder should be
        warnings.warn(f"cannot write the audio-strip cache {cache_path} ({error}); continuing without it", stacklevel=2)
    return strip


def _compute(path: Path) -> AudioStrip:
    """Decode the file's audio (at most :data:`STRIP_SECONDS`) and make its strip."""
    waveform, has_audio = decode_audio(path, duration=STRIP_SECONDS)  # (n,) float64 at 16 kHz
    return strip_from_waveform(waveform, SAMPLE_RATE, has_audio=has_audio, source=str(path))


def _load_cached(cache_path: Path, source: str) -> AudioStrip | None:
    """The strip stored at ``cache_path``, or None after one warning when it is unreadable or inconsistent."""
    try:
        duration, has_audio, mel = read_npz(cache_path, ["duration", "has_audio", "mel"]).values()
    except UNREADABLE as error:
        problem = f"unreadable ({type(error).__name__}: {error})"
    else:
        problem = _cache_problem(duration, has_audio, mel)
        if problem is None:
            return AudioStrip(source, float(duration), mel if bool(has_audio) else None)
    warnings.warn(f"audio-strip cache {cache_path}: {problem}; recomputing and replacing it", stacklevel=3)
    return None


def _cache_problem(duration: np.ndarray, has_audio: np.ndarray, mel: np.ndarray) -> str | None:
    """What is wrong with a cache file's arrays, or None when they make a valid strip."""
    if duration.shape != () or not np.isfinite(duration) or not 0 <= float(duration) <= STRIP_SECONDS:
        return f"duration {duration!r} is not a number of seconds in [0, {STRIP_SECONDS:g}]"
    if has_audio.shape != () or has_audio.dtype != np.bool_:
        return f"has_audio is {has_audio.dtype} {has_audio.shape}, expected a bool scalar"
    columns = math.ceil(float(duration) * STRIP_FRAMES_PER_SECOND) if bool(has_audio) else 0
    if mel.dtype != np.uint8 or mel.shape != (STRIP_BANDS, columns):
        return f"mel is {mel.dtype} {mel.shape}, expected uint8 ({STRIP_BANDS}, {columns})"
    return None
