"""Explorer latency on the embedded demo (or any data): prints JSON.

* ``cold_start``: in one run, alternating, ``--repeats`` times each (default 3): ``import_gradio_s``, a Python process
  that only imports gradio (``python -c "import gradio"``, start to exit), and ``app_cached_s``, ``python app.py``
  launched until it serves its first page with its predictions cached (what every start after the first is); the
  medians, every sample, and ``margin_s`` = app - import gradio (the target: within 2 s). ``app_first_s``: the very
  first start, with an empty cache (the predictions are computed: torch is imported then).
* ``cold_start_s`` (the first start) and ``first_timeline_s``: until a headless browser shows the first clip's
  timeline.
* ``clip_switch_server_ms``: the work behind one clip switch, in process: ``first`` = rendering a clip's view (timeline
  figure and its JSON, scores, events, player HTML), ``cached`` = serving it again (what the app does after the first
  request for a clip); p50 / p95 each.
* ``clip_switch_api_ms``: one clip switch through the HTTP API (``gradio_client``, one client).
* ``clip_switch_browser_ms``: from a click on a row of the clip list until the browser shows that clip's timeline.
* ``tsne_s``: class tokens and class-aware features of the split, computed without cache.
* ``load``: ``--clients`` concurrent clients (default 50), each switching ``--switches-per-client`` times (default 10)
  among the split's clips through Gradio's REST API (``POST /gradio_api/call/show_clip`` + its event stream, the
  queue every page and client goes through), each client with its own session and kept-alive connection as a page
  or ``gradio_client`` has, all within ``--load-seconds`` (default 60; a client stops starting requests at the
  deadline and a request may take at most what is left). Reports requests answered, errors with their messages (one
  per failed request), p50 / p95 / max latency, and the server's resident memory before and after.
* ``machine``: the load average at start and end (other work on the machine skews every figure).

Usage: ``python bench/app_latency.py [--data PACK_OR_DIR --checkpoint CKPT] [--switches 40] [--clients 50]
[--switches-per-client 10] [--load-seconds 60] [--repeats 3] [--cold-start-only] [--load-only] [--url URL
--server-pid PID]`` (``--url``: load-test a server that is already running, e.g. another version of the app).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench._app_server import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMELINE_CLIP_JS,
    clip_cell,
    demo_checkpoints,
    open_page,
    rss_mb,
    start_app,
    wait_for_clip,
)
from mgn.explore.state import open_explorer  # noqa: E402

DEMO = REPO_ROOT / "assets" / "demo"


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
        "n": len(ordered),
    }


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def server_side(explorer, clips: list[str]) -> dict[str, dict[str, float]]:
    """Rendering a clip's view the first time, and serving it from the explorer's cache afterwards (ms)."""
    first, cached = [], []
    for clip in dict.fromkeys(clips):  # distinct clips: each is rendered once
        started = time.perf_counter()
        explorer.clip_view(clip)
        first.append(1000 * (time.perf_counter() - started))
    for clip in clips:
        started = time.perf_counter()
        explorer.clip_view(clip)
        cached.append(1000 * (time.perf_counter() - started))
    return {"first": _percentiles(first), "cached": _percentiles(cached)}


def api_calls(url: str, clips: list[str]) -> list[float]:
    """Clip switches through ``gradio_client``, one client, in sequence (ms each)."""
    from gradio_client import Client

    client, times = Client(url, verbose=False), []
    for clip in clips:
        started = time.perf_counter()
        client.predict(clip, api_name="/show_clip")
        times.append(1000 * (time.perf_counter() - started))
    return times


class RestClient:
    """One client of Gradio's REST API on one kept-alive HTTP connection (as a browser or ``gradio_client`` keeps
    theirs), with its own session hash (a page or a ``gradio_client`` keeps one for its lifetime)."""

    def __init__(self, url: str, session: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.prefix = parts.hostname, parts.port or 80, parts.path.rstrip("/")
        self.session = session
        self.connection: http.client.HTTPConnection | None = None

    def _request(self, method: str, path: str, body: bytes | None, timeout: float) -> http.client.HTTPResponse:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        self.connection.timeout = timeout
        if self.connection.sock is not None:
            self.connection.sock.settimeout(timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            self.connection.request(method, f"{self.prefix}{path}", body=body, headers=headers)
            response = self.connection.getresponse()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.status != 200:
            text = response.read().decode(errors="replace")[:200]
            raise RuntimeError(f"HTTP {response.status} from {method} {path}: {text}")
        return response

    def call(self, api_name: str, data: list, timeout: float) -> list:
        """``POST /gradio_api/call/<api>``, then its event stream until the ``complete`` event; the outputs.

        Raises:
            RuntimeError: an HTTP error, an ``error`` event, or a stream that ended without a result.
            OSError: a connection error or a timeout.
        """
        body = json.dumps({"data": data, "session_hash": self.session}).encode()
        event_id = json.loads(self._request("POST", f"/gradio_api/call/{api_name}", body, timeout).read())["event_id"]
        stream = self._request("GET", f"/gradio_api/call/{api_name}/{event_id}", None, timeout)
        event, result = None, None
        for raw in iter(stream.readline, b""):  # read to the end, so that the connection can be reused
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event in ("complete", "error") and result is None:
                result = (event, line.removeprefix("data:").strip())
        if result is None:
            raise RuntimeError("the event stream ended without a result")
        if result[0] == "error":
            raise RuntimeError(f"server error: {result[1][:200]}")
        return json.loads(result[1])

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def load_test(
    url: str,
    clips: list[str],
    *,
    clients: int = 50,
    switches: int = 10,
    seconds: float = 60.0,
    server_pid: int | None = None,
) -> dict:
    """``clients`` concurrent clients, each switching ``switches`` times among ``clips`` (seeded, distinct clips in
    a row), all within ``seconds``; see the module docstring."""
    deadline = time.perf_counter() + seconds
    start = threading.Barrier(clients)

    def client(seed: int) -> tuple[list[float], list[str]]:
        rng, times, errors = random.Random(seed), [], []
        rest = RestClient(url, f"load-{seed}-{uuid.uuid4().hex[:8]}")
        previous = None
        start.wait()  # all clients begin together
        for _ in range(switches):
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            clip = rng.choice([c for c in clips if c != previous] or clips)
            previous = clip
            started = time.perf_counter()
            try:
                outputs = rest.call("show_clip", [clip], timeout=left)
                if outputs[0] != clip:
                    raise RuntimeError(f"asked for {clip}, got {outputs[0]}")
                times.append(1000 * (time.perf_counter() - started))
            except (OSError, RuntimeError, ValueError, KeyError, IndexError, http.client.HTTPException) as error:
                errors.append(f"{type(error).__name__}: {error}"[:300])
        rest.close()
        return times, errors

    rss_before = rss_mb(server_pid) if server_pid else None
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(client, range(clients)))
    wall = time.perf_counter() - started
    latencies = [t for times, _ in results for t in times]
    errors = [e for _, messages in results for e in messages]
    return {
        "clients": clients,
        "switches_per_client": switches,
        "requests_planned": clients * switches,
        "requests_answered": len(latencies),
        "errors": len(errors),
        "error_messages": sorted(set(errors)),
        "wall_s": round(wall, 2),
        "throughput_per_s": round(len(latencies) / wall, 1) if wall else None,
        **({f"latency_ms_{k}": v for k, v in _percentiles(latencies).items()} if latencies else {}),
        "server_rss_mb_before": rss_before,
        "server_rss_mb_after": rss_mb(server_pid) if server_pid else None,
    }


def import_gradio_seconds() -> float:
    """A fresh Python process that imports gradio and exits: seconds from start to exit."""
    environment = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import gradio"], check=True, env=environment, cwd=REPO_ROOT)
    return time.perf_counter() - started


def cold_start(data: str, checkpoint: str, repeats: int) -> dict:
    """The app's start against ``import gradio`` alone, measured alternately in this run (see the module docstring)."""
    with tempfile.TemporaryDirectory() as cache:
        server = start_app("--data", data, "--checkpoint", checkpoint, cache_dir=Path(cache))
        first = server.cold_start_s  # the predictions are computed (torch) and cached
        server.stop()
        gradio_samples, app_samples = [], []
        for _ in range(repeats):
            gradio_samples.append(import_gradio_seconds())
            server = start_app("--data", data, "--checkpoint", checkpoint, cache_dir=Path(cache))
            app_samples.append(server.cold_start_s)
            server.stop()
    gradio_s, app_s = statistics.median(gradio_samples), statistics.median(app_samples)
    return {
        "import_gradio_s": round(gradio_s, 2),
        "app_cached_s": round(app_s, 2),
        "margin_s": round(app_s - gradio_s, 2),
        "app_first_s": round(first, 2),
        "import_gradio_samples_s": [round(value, 2) for value in gradio_samples],
        "app_cached_samples_s": [round(value, 2) for value in app_samples],
    }


def browser_switches(url: str, count: int) -> tuple[float, dict]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        started = time.perf_counter()
        page = open_page(browser, url)
        first_timeline = time.perf_counter() - started
        times = []
        for step in range(count):
            row = (step * 7 + 1) % 20
            cell = clip_cell(page, row)
            clip = cell.inner_text().strip()
            if clip == page.evaluate(TIMELINE_CLIP_JS):
                continue
            started = time.perf_counter()
            cell.click()
            wait_for_clip(page, clip)
            times.append(1000 * (time.perf_counter() - started))
        browser.close()
    return first_timeline, _percentiles(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEMO / "demo_split.npz"))
    parser.add_argument("--checkpoint", default=str(DEMO / "mgn_demo.safetensors"))
    parser.add_argument("--switches", type=int, default=40, help="clip switches of the single-client measurements")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--switches-per-client", type=int, default=10)
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--load-only", action="store_true", help="only the cold start and the load test")
    parser.add_argument("--repeats", type=int, default=3, help="cold starts measured against import gradio")
    parser.add_argument("--cold-start-only", action="store_true", help="only the cold start against import gradio")
    parser.add_argument("--url", help="load-test this running server instead of starting one (implies --load-only)")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's process, for its memory")
    args = parser.parse_args()
    result: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average_at_start": _load_average()},
        "data": args.data,
    }
    if args.repeats > 0:
        result["cold_start"] = cold_start(args.data, args.checkpoint, args.repeats)
    if args.cold_start_only:
        result["machine"]["load_average_at_end"] = _load_average()
        print(json.dumps(result, indent=2))
        return
    default = args.data == str(DEMO / "demo_split.npz") and args.checkpoint == str(DEMO / "mgn_demo.safetensors")
    checkpoints = demo_checkpoints() if default else [args.checkpoint]  # what the app opens
    explorer = open_explorer(args.data, checkpoints, cache_dir=None, progress=False)
    clips = [str(name) for name in explorer.split.filenames]
    load = {
        "clients": args.clients,
        "switches": args.switches_per_client,
        "seconds": args.load_seconds,
    }
    if args.url:
        result["load"] = load_test(args.url, clips, server_pid=args.server_pid, **load)
        result["machine"]["load_average_at_end"] = _load_average()
        print(json.dumps(result, indent=2))
        return
    rng = random.Random(0)
    sample = [rng.choice(clips) for _ in range(args.switches)]
    if not args.load_only:
        result["clip_switch_server_ms"] = server_side(explorer, sample)
        started = time.perf_counter()
        explorer.token_points(0), explorer.feature_points(0)
        result["tsne_s"] = time.perf_counter() - started
        result["tsne_points"] = 50 + len(explorer.feature_points(0))
    del explorer
    with tempfile.TemporaryDirectory() as cache:
        server = start_app("--data", args.data, "--checkpoint", args.checkpoint, cache_dir=Path(cache))
        try:
            result["cold_start_s"] = server.cold_start_s
            if not args.load_only:
                first, browser = browser_switches(server.url, min(args.switches, 20))
                result["first_timeline_s"] = server.cold_start_s + first
                result["clip_switch_browser_ms"] = browser
                result["clip_switch_api_ms"] = _percentiles(api_calls(server.url, sample))
            result["load"] = load_test(server.url, clips, server_pid=server.process.pid, **load)
        finally:
            server.stop()
    result["machine"]["load_average_at_end"] = _load_average()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
