"""The explorer as a subprocess, and headless Chromium pages on it: shared by ``bench/app_latency.py``, the app tests
(``tests/app``) and the screenshot in docs/ (``python tests/app/browser.py docs/screenshot.png``).

Depends on the package and the standard library only (Playwright is imported by the caller that drives a page).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mgn.data.demo import DEMO_CHECKPOINT, DEMO_COMPARE_CHECKPOINT, DEMO_PACK
from mgn.explore import ui_ids

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "REPO_ROOT",
    "TIMELINE_CLIP_JS",
    "AppServer",
    "clip_cell",
    "clip_list_size",
    "demo_checkpoints",
    "demo_pack",
    "free_port",
    "open_page",
    "read_figure",
    "rss_mb",
    "start_app",
    "wait_for_clip",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "assets" / "demo"
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


# ---------------------------------------------------------------------------------------------------------------------
# the server


def demo_checkpoints() -> list[Path]:
    """The checkpoints ``python app.py`` opens on the embedded demo: its MGN, and the HAN it is compared with when
    that checkpoint is shipped."""
    compare = DEMO / DEMO_COMPARE_CHECKPOINT
    return [DEMO / DEMO_CHECKPOINT] + ([compare] if compare.is_file() else [])


def demo_pack() -> Path:
    return DEMO / DEMO_PACK


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux ``/proc``), NaN where that cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB -> MB
    except OSError:
        pass
    return float("nan")


@dataclass
class AppServer:
    """A running ``python app.py``: its process, base URL, seconds until it served its first page, and its log
    (stdout and stderr together, in a file so that a chatty server never blocks on a full pipe)."""

    process: subprocess.Popen
    url: str
    cold_start_s: float
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait (SIGKILL after ``timeout`` s); returns the exit status and removes the log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)
        return self.process.returncode


def start_app(
    *args: str, cache_dir: Path | str, timeout: float = 240.0, env: dict[str, str] | None = None
) -> AppServer:
    """Start ``python app.py`` on a free port with ``args`` and wait until it serves its page.

    Raises:
        RuntimeError: the app exited, or did not serve within ``timeout`` s (with its output).
    """
    port = free_port()
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})}
    handle, log = tempfile.mkstemp(prefix="mgn-app-", suffix=".log")
    started = time.perf_counter()
    with os.fdopen(handle, "w") as stream:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--cache-dir", str(cache_dir), *args],
            cwd=REPO_ROOT,
            env=environment,
            stdout=stream,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = AppServer(process, f"http://127.0.0.1:{port}/", 0.0, Path(log))
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            output = server.output()
            server.stop()
            raise RuntimeError(f"app.py exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(server.url, timeout=2) as response:
                if response.status == 200:
                    server.cold_start_s = time.perf_counter() - started
                    return server
        except OSError:
            time.sleep(0.2)
    output = server.output()
    server.stop()
    raise RuntimeError(f"app.py did not serve {server.url} within {timeout} s:\n{output}")


# ---------------------------------------------------------------------------------------------------------------------
# pages

# Reads a Plotly graph's traces from the page; typed arrays (plotly.py sends numpy data as binary) become lists.
READ_FIGURE_JS = """(id) => {
  const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  if (!gd || !gd.data) return null;
  return JSON.stringify({data: gd.data, layout: {meta: gd.layout.meta}},
                        (key, value) => ArrayBuffer.isView(value) ? Array.from(value) : value);
}"""
TIMELINE_CLIP_JS = f"""() => {{
  const gd = document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot');
  return gd && gd.layout && gd.layout.meta ? gd.layout.meta.clip : null;
}}"""


def _decoded(value):
    """plotly.py ships numpy arrays as ``{"dtype", "bdata"}`` (base64); the page keeps them so in ``gd.data``."""
    if isinstance(value, dict):
        if set(value) >= {"dtype", "bdata"}:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            return array.reshape(value["shape"]).tolist() if "shape" in value else array.tolist()
        return {key: _decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    return value


def read_figure(page, element_id: str) -> dict | None:
    """A Plotly graph's ``{"data": [...], "layout": {"meta": ...}}`` as shown in the page, arrays as lists."""
    text = page.evaluate(READ_FIGURE_JS, element_id)
    return None if text is None else _decoded(json.loads(text))


def wait_for_clip(page, clip: str, timeout_ms: int = 30_000) -> None:
    """Wait until the timeline shows ``clip`` and the player holds its video."""
    page.wait_for_function(f"() => ({TIMELINE_CLIP_JS})() === {json.dumps(clip)}", timeout=timeout_ms)
    page.wait_for_function(
        f"() => (document.getElementById('{ui_ids.VIDEO}') || {{dataset: {{}}}}).dataset.clip === {json.dumps(clip)}",
        timeout=timeout_ms,
    )


def clip_list_size(page) -> int:
    """Rows of the clip list (the grid is virtualised: only the visible rows are in the DOM)."""
    return int(page.get_attribute(f"#{ui_ids.CLIP_LIST} [role=grid]", "aria-rowcount")) - 1  # minus the header row


def clip_cell(page, row: int):
    """The clip-ID cell of a row of the clip list (a Playwright locator)."""
    return page.locator(f'#{ui_ids.CLIP_LIST} [data-testid="cell-{row}-0"]')


def open_page(browser, url: str, *, width: int = 1500, height: int = 1300):
    """A new page on the explorer, once its first timeline is drawn."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_function(f"() => ({TIMELINE_CLIP_JS})() !== null", timeout=60_000)
    return page
