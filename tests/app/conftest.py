"""A running explorer (the embedded demo) for the app tests, and headless Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# Flags for a closed network: no background connections, no component updates (see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_app(*args: str, cache_dir: Path, timeout: float = 180.0) -> tuple[subprocess.Popen, str, float]:
    """Start ``python app.py`` on a free port; return (process, base URL, seconds until it served its first page)."""
    port = free_port()
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--cache-dir", str(cache_dir), *args],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{process.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, url, time.perf_counter() - started
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"app.py did not serve {url} within {timeout} s:\n{process.stdout.read()}")


def stop_app(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory):
    """The explorer on its embedded demo: (base URL, seconds to first page)."""
    process, url, cold_start = start_app(cache_dir=tmp_path_factory.mktemp("app_cache"))
    yield url, cold_start
    stop_app(process)


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.is_file() or shutil.which("chromium") is None:
        message = "Debian chromium is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("MGN_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
