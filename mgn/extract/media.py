"""What a media file holds, read with the ffmpeg that imageio-ffmpeg ships (no system ffmpeg needed).

Every reader of the extraction pipeline starts here, so that a corrupt file, a file without a video stream, an empty
file or one that is not there fails once, with one :class:`MediaError` naming the file and what was wrong.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

__all__ = ["MediaError", "MediaInfo", "ffmpeg_exe", "probe", "run_ffmpeg", "window_arguments", "window_length"]


class MediaError(ValueError):
    """A video or audio file that cannot be read as the pipeline needs (the message names the file)."""


@dataclass(frozen=True)
class MediaInfo:
    """The streams of a media file.

    Attributes:
        path: the file.
        duration: container duration in seconds (what moviepy and the official scripts take as the clip length).
        has_video, has_audio: whether the file has a video / an audio stream.
        size: (width, height) of the decoded frames (after ffmpeg's automatic rotation), or None.
        fps: the video stream's frame rate, or None.
    """

    path: Path
    duration: float
    has_video: bool
    has_audio: bool
    size: tuple[int, int] | None
    fps: float | None


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def probe(path: str | Path) -> MediaInfo:
    """Streams and duration of a media file.

    Raises:
        MediaError: the file is missing, empty, not a media file ffmpeg can read, or has a zero duration.
    """
    from moviepy.video.io.ffmpeg_reader import ffmpeg_parse_infos  # moviepy parses ffmpeg's report for us

    path = Path(path)
    if path.is_dir():
        raise MediaError(f"{path}: a folder, not a video file")
    if not path.is_file():
        raise MediaError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes)")
    try:
        infos = ffmpeg_parse_infos(str(path), check_duration=True)
    except (OSError, IndexError, KeyError, ValueError) as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise MediaError(f"{path}: not a readable video or audio file ({reason})") from None
    duration = float(infos.get("duration") or 0.0)
    if duration <= 0:
        raise MediaError(f"{path}: zero duration")
    has_video = bool(infos.get("video_found"))
    size = tuple(int(v) for v in infos["video_size"]) if has_video and infos.get("video_size") else None
    if size is not None and abs(int(infos.get("video_rotation", 0) or 0)) in (90, 270):
        size = (size[1], size[0])  # ffmpeg rotates such videos when decoding: frames come out the other way round
    fps = float(infos["video_fps"]) if has_video and infos.get("video_fps") else None
    return MediaInfo(path, duration, has_video, bool(infos.get("audio_found")), size, fps)


def window_arguments(start: float, duration: float | None) -> list[str]:
    """ffmpeg input options that cut ``[start, start + duration)`` out of a file (exact, decoding-side seeking)."""
    arguments = ["-ss", f"{start:.6f}"] if start > 0 else []
    return arguments + (["-t", f"{duration:.6f}"] if duration is not None else [])


def run_ffmpeg(path: Path, arguments: list[str], what: str, input_arguments: list[str] = ()) -> bytes:
    """Run ffmpeg with ``input_arguments``, ``-i path`` and ``arguments``, writing to stdout; its output bytes.

    Raises:
        MediaError: ffmpeg failed; the message names the file, ``what`` was being decoded and ffmpeg's last words.
    """
    command = [ffmpeg_exe(), "-nostdin", "-v", "error", *input_arguments, "-i", str(path), *arguments, "pipe:1"]
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        last = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise MediaError(f"{path}: ffmpeg could not decode the {what} ({last[0]})")
    return result.stdout


def window_length(info: MediaInfo, start: float, duration: float | None) -> float:
    """Length in seconds of the part ``[start, start + duration)`` of a file that exists.

    Raises:
        MediaError: the window starts at or after the end of the file, or is empty.
    """
    if start < 0 or (duration is not None and duration <= 0):
        raise MediaError(f"{info.path}: invalid window start {start} s, duration {duration} s")
    end = info.duration if duration is None else min(info.duration, start + duration)
    if end - start <= 0:
        raise MediaError(f"{info.path}: the window starting at {start:.2f} s is past the end ({info.duration:.2f} s)")
    return end - start
