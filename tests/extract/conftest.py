"""Small media files made on the fly with the ffmpeg that imageio-ffmpeg ships (nothing is downloaded)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_media(path: Path, *inputs: str, extra: tuple[str, ...] = ()) -> Path:
    """Run ffmpeg with lavfi ``inputs`` (e.g. ``"testsrc=size=64x48:rate=25:duration=3"``) into ``path``."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    for source in inputs:
        command += ["-f", "lavfi", "-i", source]
    subprocess.run([*command, *extra, str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Good and bad inputs: video only, audio only, a short, a 10-s and a long clip, truncated, empty, garbage."""
    folder = tmp_path_factory.mktemp("media")
    video = "testsrc=size=64x48:rate=25:duration={}"
    audio = "sine=frequency=440:sample_rate=44100:duration={}"
    h264 = ("-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "aac", "-shortest")
    make_media(folder / "video_only.mp4", video.format(3), extra=("-pix_fmt", "yuv420p", "-c:v", "libx264"))
    make_media(folder / "audio_only.m4a", audio.format(3), extra=("-c:a", "aac"))
    make_media(folder / "short.mp4", video.format(4), audio.format(4), extra=h264)
    make_media(folder / "ten.mp4", video.format(10), audio.format(10), extra=h264)
    make_media(folder / "long.mp4", video.format(25), audio.format(25), extra=h264)
    (folder / "truncated.mp4").write_bytes((folder / "ten.mp4").read_bytes()[:3000])
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "garbage.mp4").write_bytes(bytes(range(256)) * 40)
    return folder
