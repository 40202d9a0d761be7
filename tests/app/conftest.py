"""A running explorer (the embedded demo) for the app tests, (headless Chromium: ``chromium`` in tests/conftest.py).

Starting and stopping the server is ``bench/_app_server.py``'s (the latency benchmark does the same); the fixtures
here decide what runs for how long.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from bench._app_server import start_app


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory):
    """The explorer on its embedded demo: (base URL, seconds to first page)."""
    server = start_app(cache_dir=tmp_path_factory.mktemp("app_cache"))
    yield server.url, server.cold_start_s
    server.stop()


@pytest.fixture(scope="session")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 14-s video with sound (test pattern and a 440 Hz tone), two windows of 10 s; a space in its name."""
    path = tmp_path_factory.mktemp("upload") / "my clip.mp4"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    command += ["-f", "lavfi", "-i", "testsrc=size=96x64:rate=25:duration=14"]
    command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=14"]
    subprocess.run(
        [*command, "-pix_fmt", "yuv420p", "-c:v", "libx264", "-c:a", "aac", "-shortest", str(path)], check=True
    )
    return path
