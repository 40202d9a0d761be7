"""Parse a video of any length (up to a limit): features per 10-s window, one parser, one stitched timeline.

A video is cut into windows that are each parsed as one LLP clip, exactly as LLP's 10-s clips were cut out of longer
YouTube videos: windows start at 0, 10, 20, ... s, and the last one is moved back to end at the last whole second of
the video (so it overlaps the one before rather than being short). A video shorter than 10 s is one window, whose 10
segments then last ``duration / 10`` s each (the official scripts spread the 80 frames over the whole video).

The stitched timeline keeps, for every moment, the segment of the earliest window that covers it: segments of a
later, overlapping window start where the previous window ends. Times past the last whole second of a longer video
(under a second) are not parsed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch import nn

from mgn.data.llp import Split
from mgn.extract.folder import video_id_for
from mgn.extract.media import MediaError, probe
from mgn.extract.pipeline import ClipFeatures, FeatureExtractor, prepare_inputs
from mgn.inference import predict
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS
from mgn.metrics import DEFAULT_THRESHOLD, binarize

__all__ = ["WINDOW_SECONDS", "ParsedVideo", "Window", "parse_video", "plan_windows"]

WINDOW_SECONDS = 10.0  # one LLP clip
DEFAULT_MAX_SECONDS = 60.0


@dataclass(frozen=True)
class Window:
    """A part of the video parsed as one LLP clip: ``[start, start + length)`` seconds, with its own video ID."""

    start: float
    length: float
    video_id: str

    @property
    def filename(self) -> str:
        """Its LLP filename ``<ID>_<start>_<end>`` (whole seconds, as in the LLP CSVs)."""
        return f"{self.video_id}_{int(self.start)}_{int(math.ceil(self.start + self.length))}"

    def segment_bounds(self) -> np.ndarray:
        """``(10, 2)`` start and end time (s, in the video) of each of the window's segments."""
        edges = self.start + self.length * np.arange(NUM_SEGMENTS + 1) / NUM_SEGMENTS
        return np.stack([edges[:-1], edges[1:]], axis=1)


def plan_windows(duration: float, stem: str, max_seconds: float = DEFAULT_MAX_SECONDS) -> list[Window]:
    """The windows of a ``duration``-second video (only its first ``max_seconds`` are parsed).

    Raises:
        ValueError: a duration or limit that is not positive.
    """
    if not duration > 0 or not max_seconds > 0:
        raise ValueError(f"duration ({duration}) and max_seconds ({max_seconds}) must be positive")
    parsed = min(duration, max_seconds)
    if parsed <= WINDOW_SECONDS:
        starts, length = [0.0], parsed
    else:
        last_start = math.floor(parsed) - WINDOW_SECONDS
        starts = [float(s) for s in np.arange(0.0, last_start, WINDOW_SECONDS)] + [float(last_start)]
        length = WINDOW_SECONDS
    return [Window(start, length, video_id_for(f"{stem}_{start:g}")) for start in starts]


@dataclass
class ParsedVideo:
    """A parsed video: its windows' features and predictions, and the stitched timeline.

    Attributes:
        path: the video file.
        duration: its length (s); ``parsed_seconds`` of it were parsed.
        windows: the windows, in time order; ``features[i]`` are window i's three arrays.
        global_prob: (W, C) each window's video-level probability (the official gate).
        segment_bounds: (S, 2) start and end (s) of each stitched segment.
        prob_audio, prob_visual: (C, S) segment probabilities (MGN's can exceed 1: its soft map is 1 + softmax).
        pred_audio, pred_visual: (C, S) uint8 official binary predictions (gate and threshold 0.5 per window).
        notes: what the user should know (parsed part of a long video, no audio stream, ...).
    """

    path: Path
    duration: float
    parsed_seconds: float
    windows: list[Window]
    features: list[ClipFeatures]
    global_prob: np.ndarray
    segment_bounds: np.ndarray
    prob_audio: np.ndarray
    prob_visual: np.ndarray
    pred_audio: np.ndarray
    pred_visual: np.ndarray
    notes: list[str] = field(default_factory=list)


def _window_split(windows: list[Window], features: list[ClipFeatures]) -> Split:
    """The windows as an in-memory split without labels, for :func:`mgn.inference.predict`."""
    count = len(windows)
    return Split(
        name="video",
        filenames=np.array([w.filename for w in windows]),
        video_ids=np.array([w.video_id for w in windows]),
        labels=np.zeros((count, NUM_CLASSES), dtype=np.float32),
        audio=np.stack([f.audio for f in features]),  # (W, 10, 128)
        visual=np.stack([f.visual for f in features]),  # (W, 80, 2048)
        visual_st=np.stack([f.visual_st for f in features]),  # (W, 10, 512)
        gt_audio=None,
        gt_visual=None,
    )


def _stitch(windows: list[Window], per_window: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Keep each window's segments from where the previous window ended: bounds (S, 2) and each (C, S) array."""
    kept_bounds, kept_columns = [], [[] for _ in per_window]
    covered_until = -math.inf
    for index, window in enumerate(windows):
        bounds = window.segment_bounds()  # (10, 2)
        keep = bounds[:, 0] >= covered_until - 1e-6  # (10,)
        kept_bounds.append(bounds[keep])
        for columns, array in zip(kept_columns, per_window):
            columns.append(array[index][:, keep])  # (C, kept)
        covered_until = bounds[-1, 1]
    return np.concatenate(kept_bounds), [np.concatenate(columns, axis=1) for columns in kept_columns]


def parse_video(
    path: str | Path,
    extractor: FeatureExtractor,
    model: nn.Module,
    *,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    source: str | None = None,
    on_window: Callable[[int, int], None] | None = None,
) -> ParsedVideo:
    """Features of every window of a video, a parser's predictions on them, and the stitched timeline.

    Args:
        path: the video.
        extractor: the feature networks.
        model: a HAN or MGN (eval mode is set).
        max_seconds: parse at most this much of the video (its beginning).
        source: what the model is (e.g. its checkpoint), named in errors.
        on_window: called as ``on_window(done, total)`` after each window's features (for progress displays).

    Raises:
        MediaError: the file cannot be read as a video.
        NonFiniteOutputError: the parser produced NaN or infinite outputs.
    """
    path = Path(path)
    info = probe(path)
    if not info.has_video:
        raise MediaError(f"{path}: no video stream")
    windows = plan_windows(info.duration, path.stem, max_seconds)
    notes = []
    if info.duration > max_seconds:
        notes.append(f"the video is {info.duration:.1f} s long: its first {max_seconds:g} s were parsed")
    if not info.has_audio:
        notes.append("the video has no audio stream: its audio features are those of silence")
    features = []
    for index, window in enumerate(windows):
        features.append(extractor.features(prepare_inputs(path, start=window.start, duration=window.length)))
        if on_window is not None:
            on_window(index + 1, len(windows))
    predictions = predict(model, _window_split(windows, features), device=extractor.device, source=source)
    pred_audio, pred_visual = binarize(
        predictions.global_prob, predictions.a_frame_prob, predictions.v_frame_prob, DEFAULT_THRESHOLD
    )  # (W, C, 10) each
    per_window = [
        predictions.a_frame_prob.transpose(0, 2, 1),  # (W, C, 10)
        predictions.v_frame_prob.transpose(0, 2, 1),
        pred_audio,
        pred_visual,
    ]
    bounds, (prob_audio, prob_visual, stitched_audio, stitched_visual) = _stitch(windows, per_window)
    return ParsedVideo(
        path=path,
        duration=info.duration,
        parsed_seconds=min(info.duration, max_seconds),
        windows=windows,
        features=features,
        global_prob=predictions.global_prob,
        segment_bounds=bounds,
        prob_audio=prob_audio,
        prob_visual=prob_visual,
        pred_audio=stitched_audio,
        pred_visual=stitched_visual,
        notes=notes,
    )
