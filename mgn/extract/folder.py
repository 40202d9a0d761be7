"""A folder of videos -> LLP-format features (``feats/vggish``, ``feats/res152``, ``feats/r2plus1d_18``).

One ``<ID>.npy`` per video and stream, float32, written atomically. A video is done when its three files exist with
the right shapes, so a rerun (or a run after a kill) skips what is done and redoes only a video that was cut short.
Decoding the next video (ffmpeg, PIL) runs in a worker thread while the networks process the current one (the
worker warns of nothing: the main thread reports a missing audio stream).

Video IDs. The LLP data layer keys clips by an 11-character YouTube-style ID (``[A-Za-z0-9_-]{11}``). A file whose
stem is such an ID (``BjCEufrlXm4.mp4``) or an LLP filename (``BjCEufrlXm4_30_40.mp4``) keeps it; any other name gets
a stable ID derived from the name (the first 11 characters of the URL-safe base64 of its SHA-256). ``videos.csv`` in
the output folder maps every ID to its file, duration and whether it had an audio stream.
"""

from __future__ import annotations

import base64
import hashlib
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from mgn.data.llp import LLPLayout
from mgn.extract.media import MediaError, probe
from mgn.extract.pipeline import FeatureExtractor, prepare_inputs, warn_if_silent
from mgn.io import atomic_path, remove_stale_temporaries, write_text_atomic

__all__ = ["VIDEO_SUFFIXES", "FolderReport", "extract_folder", "find_videos", "video_id_for"]

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv")
STREAM_SHAPES = {"audio": (10, 128), "visual": (80, 2048), "visual_st": (10, 512)}
MANIFEST = "videos.csv"
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{11}")
_LLP_NAME_PATTERN = re.compile(r"(?P<id>[A-Za-z0-9_-]{11})_\d+(?:\.\d+)?_\d+(?:\.\d+)?")


def video_id_for(path: str | Path) -> str:
    """The LLP video ID of a file: its stem when that is an ID or an LLP filename, else one derived from the name."""
    stem = Path(path).stem
    if _ID_PATTERN.fullmatch(stem):
        return stem
    match = _LLP_NAME_PATTERN.fullmatch(stem)
    if match:
        return match.group("id")
    return base64.urlsafe_b64encode(hashlib.sha256(stem.encode()).digest()).decode()[:11]


def find_videos(folder: str | Path) -> list[Path]:
    """Video files directly in ``folder`` (by suffix, case-insensitive), sorted by name.

    Raises:
        FileNotFoundError: the folder does not exist. ValueError: two files would get the same video ID.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"videos folder not found: {folder}")
    videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    owners: dict[str, Path] = {}
    for video in videos:
        video_id = video_id_for(video)
        if video_id in owners:
            raise ValueError(f"{owners[video_id].name} and {video.name} both map to video ID {video_id!r}")
        owners[video_id] = video
    return videos


def _is_done(layout: LLPLayout, video_id: str) -> bool:
    """All three feature files exist with the expected shape and dtype (header check only, no full read)."""
    for stream, shape in STREAM_SHAPES.items():
        path = layout.feature_path(stream, video_id)
        try:
            array = np.load(path, mmap_mode="r")
        except (OSError, ValueError):
            return False
        if array.shape != shape or array.dtype != np.float32:
            return False
    return True


@dataclass
class FolderReport:
    """What a folder run did: video IDs computed now, skipped as done, and failures ``{file name: message}``."""

    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        lines = [f"{len(self.computed)} computed, {len(self.skipped)} already done, {len(self.failed)} failed"]
        lines += [f"  failed: {name}: {message}" for name, message in self.failed.items()]
        return "\n".join(lines)


def _write_manifest(layout: LLPLayout, rows: dict[str, dict]) -> None:
    frame = pd.DataFrame(
        sorted(rows.values(), key=lambda row: row["file"]), columns=["video_id", "file", "duration_s", "has_audio"]
    )
    write_text_atomic(layout.resolve(MANIFEST), frame.to_csv(index=False))


def extract_folder(
    videos: str | Path, out: str | Path, extractor: FeatureExtractor, *, progress: bool = True
) -> FolderReport:
    """Features of every video in ``videos`` into the LLP layout rooted at ``out``; bad videos are reported, not fatal.

    Returns:
        The report (the caller decides the exit code: non-zero when ``report.failed``).
    """
    layout = LLPLayout(root=Path(out))
    files = find_videos(videos)
    for stream in STREAM_SHAPES:
        folder = layout.feature_dir(stream)
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(folder, [f"{video_id_for(path)}.npy" for path in files])
    manifest_path = layout.resolve(MANIFEST)
    rows = {}
    if manifest_path.is_file():
        rows = {row["video_id"]: row for row in pd.read_csv(manifest_path, dtype={"video_id": str}).to_dict("records")}
    report = FolderReport()
    todo = []
    for path in files:
        (report.skipped if _is_done(layout, video_id_for(path)) else todo).append(path)
    report.skipped = [video_id_for(path) for path in report.skipped]
    bar = tqdm(total=len(todo), unit="video", desc="extracting", disable=not progress)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mgn-decode") as pool:
        pending: Future | None = pool.submit(prepare_inputs, todo[0]) if todo else None
        for index, path in enumerate(todo):
            current, pending = (
                pending,
                (pool.submit(prepare_inputs, todo[index + 1]) if index + 1 < len(todo) else None),
            )
            video_id = video_id_for(path)
            try:
                inputs = current.result()
                warn_if_silent(path, inputs)
                features = extractor.features(inputs)
                for stream, array in features.streams().items():
                    with atomic_path(layout.feature_path(stream, video_id)) as temporary:
                        with open(temporary, "wb") as handle:
                            np.save(handle, array)
                info = probe(path)
                rows[video_id] = {
                    "video_id": video_id,
                    "file": path.name,
                    "duration_s": round(info.duration, 3),
                    "has_audio": info.has_audio,
                }
                _write_manifest(layout, rows)
                report.computed.append(video_id)
            except MediaError as error:
                report.failed[path.name] = str(error)
            bar.update()
    bar.close()
    return report
