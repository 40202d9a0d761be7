"""The explorer's "Parse a video" service: features of an uploaded (or listed) video, one parser, the parsed view.

The feature networks are built on first use (a Space's first parse downloads the published weights; the caller shows
a message meanwhile) and shared afterwards. Parses run one at a time (a lock; the app also queues them with a
concurrency limit of 1, so visitors see their place in the queue), so two uploads never oversubscribe the CPU.
A video is read from the path the server gave it; the name a client sent is only shown, never used as a path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from torch import nn

from mgn.explore.parsed import ParsedView, features_archive, parsed_events, parsed_figure
from mgn.extract.folder import VIDEO_SUFFIXES
from mgn.extract.media import MediaError, probe
from mgn.extract.pipeline import FeatureExtractor
from mgn.parse_video import DEFAULT_MAX_SECONDS, ParsedVideo, parse_video

__all__ = ["ParseResult", "VideoParseError", "VideoParser"]


class VideoParseError(ValueError):
    """A video that cannot be parsed (unreadable, no video stream, too large); the message is shown to the user."""


@dataclass(frozen=True)
class ParseResult:
    """What the page shows for a parsed video."""

    parsed: ParsedVideo
    view: ParsedView
    events: pd.DataFrame
    archive: bytes  # the features in the official layout (zip)
    notes: list[str] = field(default_factory=list)


@dataclass
class VideoParser:
    """Parse videos with one model; the feature networks come from ``extractor_factory`` on first use.

    Attributes:
        model: the parser (HAN or MGN).
        model_name: its label in the page.
        extractor_factory: builds the feature networks (published weights, downloaded once; tests pass stand-ins).
        max_seconds: only the first ``max_seconds`` of a video are parsed (10-s windows).
        max_bytes: larger files are refused.
        listed: folders whose videos the page offers to pick (the demo videos, ``--videos``).
    """

    model: nn.Module
    model_name: str
    extractor_factory: Callable[[], FeatureExtractor]
    max_seconds: float = DEFAULT_MAX_SECONDS
    max_bytes: int = 200 * 2**20
    listed: Sequence[Path] = ()
    _extractor: FeatureExtractor | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def ready(self) -> bool:
        """Whether the feature networks are loaded (the first parse loads, and maybe downloads, them)."""
        return self._extractor is not None

    def listed_videos(self) -> dict[str, Path]:
        """``{label: path}`` of the videos in the listed folders, by name."""
        videos = {}
        for folder in self.listed:
            if Path(folder).is_dir():
                for path in sorted(Path(folder).iterdir()):
                    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
                        videos.setdefault(path.name, path)
        return videos

    def resolve_listed(self, label: str) -> Path:
        """The path of a listed video by its label (a client cannot name any other file)."""
        videos = self.listed_videos()
        if label not in videos:
            raise VideoParseError(f"unknown video {label!r}: pick one of the listed videos or upload a file")
        return videos[label]

    def parse(
        self, path: str | Path, display_name: str | None = None, on_progress: Callable[[float, str], None] | None = None
    ) -> ParseResult:
        """Parse one video (blocking; one at a time).

        Args:
            path: where the server stored the video.
            display_name: the name to show (e.g. the uploaded file's original name); never used as a path.
            on_progress: called with (fraction done, message).

        Raises:
            VideoParseError: unreadable or too large a file, no video stream; the app stays up.
        """
        path = Path(path)
        name = display_name or path.name
        report = on_progress or (lambda fraction, message: None)
        if not path.is_file():
            raise VideoParseError(f"{name}: the video file is missing")
        size = path.stat().st_size
        if size > self.max_bytes:
            raise VideoParseError(f"{name}: {size / 2**20:.0f} MB is over the {self.max_bytes / 2**20:.0f} MB limit")
        try:
            probe(path)
        except MediaError as error:
            raise VideoParseError(str(error).replace(str(path), name)) from None
        with self._lock:
            if self._extractor is None:
                report(0.0, "loading the feature networks (the first time, this downloads their published weights)")
                self._extractor = self.extractor_factory()

            def window_done(done: int, total: int) -> None:
                report(done / (total + 1), f"features of window {done} of {total}")

            try:
                parsed = parse_video(
                    path, self._extractor, self.model, max_seconds=self.max_seconds, on_window=window_done
                )
            except MediaError as error:
                raise VideoParseError(str(error).replace(str(path), name)) from None
        report(1.0, "done")
        view = ParsedView(
            name, parsed.segment_bounds, parsed.prob_audio, parsed.prob_visual, parsed.pred_audio, parsed.pred_visual
        )
        manifest = pd.DataFrame(
            {
                "video_id": [w.video_id for w in parsed.windows],
                "filename": [w.filename for w in parsed.windows],
                "source": name,
                "start_s": [w.start for w in parsed.windows],
                "length_s": [w.length for w in parsed.windows],
            }
        )
        archive = features_archive(
            [w.video_id for w in parsed.windows], [f.streams() for f in parsed.features], manifest.to_csv(index=False)
        )
        return ParseResult(parsed, view, parsed_events(view), archive, list(parsed.notes))

    def figure(self, result: ParseResult):
        """The timeline figure of a result."""
        return parsed_figure(result.view)
