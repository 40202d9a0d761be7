"""Audio of a video and VGGish's inputs and postprocess, as the official LLP pipeline makes them.

Official recipe (``../shared/reference/backbones/README.md``): moviepy writes the clip's audio as a 16 kHz WAV, and
torchvggish turns it into log-mel examples: mono (mean of the channels), 25 ms Hann windows every 10 ms, |FFT| of 512
points, 64 mel bands from 125 to 7500 Hz, ``log(mel + 0.01)``, cut into 0.96 s examples (96 frames) without overlap.

:func:`load_audio` reproduces what moviepy's ``AudioFileClip(video).write_audiofile(wav, fps=16000)`` writes:
moviepy decodes the audio at 44.1 kHz in two 16-bit channels, takes for each 16 kHz sample the 44.1 kHz sample
nearest in time (``np.round``; no low-pass filter), clips to +-0.99 and truncates back to 16 bits; torchvggish reads
that WAV as ``int16 / 32768`` and averages the channels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from mgn.extract.media import probe, run_ffmpeg, window_arguments, window_length

__all__ = [
    "EXAMPLE_FRAMES",
    "MEL_BANDS",
    "SAMPLE_RATE",
    "decode_audio",
    "load_audio",
    "log_mel_examples",
    "mel_matrix",
    "vggish_postprocess",
]

SAMPLE_RATE = 16000  # VGGish's input rate
DECODE_RATE = 44100  # moviepy's AudioFileClip default decoding rate
DECODE_CHANNELS = 2  # moviepy's reader always asks ffmpeg for two channels
WINDOW_SECONDS = 0.025
HOP_SECONDS = 0.010
MEL_BANDS = 64
MEL_LOW_HZ, MEL_HIGH_HZ = 125.0, 7500.0
LOG_OFFSET = 0.01
EXAMPLE_FRAMES = 96  # 0.96 s of 10-ms frames per example, no overlap
QUANTIZE_RANGE = (-2.0, 2.0)  # VGGish postprocess: clip the PCA output here, then 8-bit levels


def load_audio(path: str | Path, *, start: float = 0.0, duration: float | None = None) -> tuple[np.ndarray, int]:
    """The clip's audio as the official scripts give it to VGGish: mono float64 at 16 kHz.

    A file without an audio stream gives silence of the clip's duration, with a warning. ``start`` and ``duration``
    (seconds; None: to the end) cut a window out of the file first, as if it were the file.

    Returns:
        ``(waveform (n,) float64 in [-1, 1), 16000)`` with ``n = int(16000 * duration)``.

    Raises:
        MediaError: the file is missing, empty, corrupt, or its audio cannot be decoded.
    """
    waveform, has_audio = decode_audio(path, start=start, duration=duration)
    if not has_audio:
        warnings.warn(f"{path}: no audio stream; its audio features are those of silence", stacklevel=2)
    return waveform, SAMPLE_RATE


def decode_audio(path: str | Path, *, start: float = 0.0, duration: float | None = None) -> tuple[np.ndarray, bool]:
    """:func:`load_audio` without the warning: ``(waveform (n,) float64 at 16 kHz, whether there is an audio stream)``
    (for callers that report a missing stream themselves, e.g. from a worker thread, where warnings are not safe)."""
    path = Path(path)
    info = probe(path)
    num_samples = int(SAMPLE_RATE * window_length(info, start, duration))
    if not info.has_audio:
        return np.zeros(num_samples, dtype=np.float64), False
    arguments = ["-vn", "-ac", str(DECODE_CHANNELS), "-ar", str(DECODE_RATE), "-f", "s16le", "-acodec", "pcm_s16le"]
    raw = np.frombuffer(run_ffmpeg(path, arguments, "audio", window_arguments(start, duration)), dtype="<i2")
    decoded = raw[: len(raw) // DECODE_CHANNELS * DECODE_CHANNELS].reshape(-1, DECODE_CHANNELS)  # (m, 2) int16
    # moviepy: the 44.1 kHz sample nearest to each 16 kHz instant; instants past the decoded audio are silent.
    nearest = np.round(DECODE_RATE * (np.arange(num_samples) / SAMPLE_RATE)).astype(np.int64)  # (n,)
    picked = np.zeros((num_samples, DECODE_CHANNELS), dtype=np.float64)
    inside = nearest < len(decoded)
    picked[inside] = decoded[nearest[inside]] / 2.0**15  # moviepy's float samples
    quantised = (2.0**15 * np.clip(picked, -0.99, 0.99)).astype(np.int16)  # moviepy's 16-bit WAV
    return (quantised / 32768.0).mean(axis=1), True  # torchvggish: int16 / 32768, mean of the channels


def _frames(signal: np.ndarray, window: int, hop: int) -> np.ndarray:
    """Non-copying ``(num_frames, window, ...)`` view of ``signal`` with ``hop`` samples between frame starts."""
    num_frames = 1 + (signal.shape[0] - window) // hop if signal.shape[0] >= window else 0
    shape = (num_frames, window) + signal.shape[1:]
    strides = (signal.strides[0] * hop,) + signal.strides
    return np.lib.stride_tricks.as_strided(signal, shape=shape, strides=strides, writeable=False)


def _hertz_to_mel(hertz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale: ``1127 ln(1 + f / 700)``."""
    return 1127.0 * np.log(1.0 + np.asarray(hertz) / 700.0)


def mel_matrix(num_spectrogram_bins: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``(num_spectrogram_bins, 64)`` triangular mel weights, 125-7500 Hz, as VGGish builds them (DC bin zeroed)."""
    bins_mel = _hertz_to_mel(np.linspace(0.0, sample_rate / 2.0, num_spectrogram_bins))  # (F,)
    edges = np.linspace(_hertz_to_mel(MEL_LOW_HZ), _hertz_to_mel(MEL_HIGH_HZ), MEL_BANDS + 2)  # (64 + 2,)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]  # (64,) each
    rising = (bins_mel[:, None] - lower) / (centre - lower)  # (F, 64)
    falling = (upper - bins_mel[:, None]) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0
    return weights


def log_mel_examples(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """VGGish's log-mel examples of a waveform: ``(N, 96, 64)`` float64, N = whole 0.96-s examples.

    Args:
        waveform: ``(n,)`` mono or ``(n, channels)`` samples in [-1, 1] (channels are averaged).
        sample_rate: in Hz; must be 16000 (resampling is not part of the official path: use :func:`load_audio`).

    Raises:
        ValueError: another sample rate, no samples, or non-finite samples.
    """
    data = np.asarray(waveform, dtype=np.float64)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"waveform: expected (n,) or (n, channels) samples, found shape {np.shape(waveform)}")
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"sample_rate: expected {SAMPLE_RATE} Hz, found {sample_rate} (decode with load_audio)")
    if not np.isfinite(data).all():
        raise ValueError("waveform: contains non-finite samples")
    window = int(round(SAMPLE_RATE * WINDOW_SECONDS))  # 400
    hop = int(round(SAMPLE_RATE * HOP_SECONDS))  # 160
    fft_length = 2 ** int(np.ceil(np.log(window) / np.log(2.0)))  # 512
    periodic_hann = 0.5 - 0.5 * np.cos(2 * np.pi / window * np.arange(window))  # (400,)
    spectrogram = np.abs(np.fft.rfft(_frames(data, window, hop) * periodic_hann, fft_length))  # (frames, 257)
    log_mel = np.log(spectrogram @ mel_matrix(fft_length // 2 + 1) + LOG_OFFSET)  # (frames, 64)
    return np.ascontiguousarray(_frames(log_mel, EXAMPLE_FRAMES, EXAMPLE_FRAMES))  # (N, 96, 64)


def vggish_postprocess(embedding, pca_eigen_vectors, pca_means) -> np.ndarray:
    """VGGish's PCA + 8-bit postprocess (as torchvggish): ``(N, 128)`` raw embeddings -> ``(N, 128)`` float32 levels
    in {0, ..., 255}.

    ``round((clip(E (x - mu), -2, 2) + 2) * 255 / 4)`` with ``E = pca_eigen_vectors (128, 128)`` and
    ``mu = pca_means (128,)``.
    """
    raw = np.asarray(embedding, dtype=np.float32)
    eigen = np.asarray(pca_eigen_vectors, dtype=np.float32)
    means = np.asarray(pca_means, dtype=np.float32).reshape(-1)
    if raw.ndim != 2 or eigen.shape != (raw.shape[1], raw.shape[1]) or means.shape != (raw.shape[1],):
        raise ValueError(
            f"vggish_postprocess: expected embedding (N, D), eigen vectors (D, D), means (D,); found {raw.shape}, "
            f"{eigen.shape}, {means.shape}"
        )
    low, high = QUANTIZE_RANGE
    projected = (eigen @ (raw.T - means[:, None])).T  # (N, D)
    return np.round((np.clip(projected, low, high) - low) * np.float32(255.0 / (high - low))).astype(np.float32)
