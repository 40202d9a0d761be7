"""Explorer latency on the embedded demo (or any data): prints JSON.

* ``cold_start_s``: ``python app.py`` launched until it serves its first page; ``first_timeline_s``: until a headless
  browser shows the first clip's timeline.
* ``clip_switch_server_ms``: p50 / p95 of the work behind one clip switch, in process (timeline figure and its JSON,
  scores, events, player HTML, HTML export); ``clip_switch_api_ms``: the same through the HTTP API (one client).
* ``clip_switch_browser_ms``: from a click on a row of the clip list until the browser shows that clip's timeline.
* ``tsne_s``: class tokens and class-aware features of the split, computed without cache.
* ``load_20_clients``: 20 concurrent API clients switching clips: requests answered, errors (client sessions that
  failed, each stopping at its first error) with their messages, p50 / p95 latency.

Usage: ``python bench/app_latency.py [--data PACK_OR_DIR --checkpoint CKPT] [--switches 40]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from mgn.explore.player import video_html  # noqa: E402
from mgn.explore.state import open_explorer  # noqa: E402
from mgn.explore.timeline import timeline_html  # noqa: E402
from tests.app.browser import TIMELINE_CLIP_JS, clip_cell, open_page, wait_for_clip  # noqa: E402
from tests.app.conftest import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app  # noqa: E402

DEMO = REPO_ROOT / "assets" / "demo"


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "n": len(ordered),
    }


def server_side(explorer, clips: list[str]) -> dict[str, float]:
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for clip in clips:
            started = time.perf_counter()
            figure = explorer.timeline(clip)
            figure.to_json()  # what gradio serialises
            explorer.clip_scores(clip), explorer.clip_events(clip)
            video_html(clip, explorer.video_path(clip), explorer.expected_video_path(clip))
            Path(folder, "timeline.html").write_text(timeline_html(figure, include_plotlyjs="cdn"))
            times.append(1000 * (time.perf_counter() - started))
    return _percentiles(times)


def api_calls(url: str, clips: list[str]) -> list[float]:
    from gradio_client import Client

    client, times = Client(url, verbose=False), []
    for clip in clips:
        started = time.perf_counter()
        client.predict(clip, api_name="/show_clip")
        times.append(1000 * (time.perf_counter() - started))
    return times


def load_test(url: str, clips: list[str], clients: int = 20, switches: int = 5) -> dict:
    def session(seed: int) -> tuple[list[float], str | None]:
        try:
            return api_calls(url, random.Random(seed).sample(clips, min(switches, len(clips)))), None
        except Exception as error:  # noqa: BLE001 - counted and reported, the point of a load test
            return [], f"{type(error).__name__}: {error}"[:300]

    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(session, range(clients)))
    latencies = [t for times, _ in results for t in times]
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": sum(e is not None for _, e in results),
        "error_messages": sorted({e for _, e in results if e is not None}),
        **({f"latency_ms_{k}": v for k, v in _percentiles(latencies).items()} if latencies else {}),
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
    parser.add_argument("--switches", type=int, default=40)
    args = parser.parse_args()
    result: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, "data": args.data}
    explorer = open_explorer(args.data, [args.checkpoint], cache_dir=None, progress=False)
    clips = [str(name) for name in explorer.split.filenames]
    rng = random.Random(0)
    sample = [rng.choice(clips) for _ in range(args.switches)]
    explorer.timeline(clips[0])  # warm-up, as the app does at start
    result["clip_switch_server_ms"] = server_side(explorer, sample)
    started = time.perf_counter()
    explorer.token_points(0), explorer.feature_points(0)
    result["tsne_s"] = time.perf_counter() - started
    result["tsne_points"] = 50 + len(explorer.feature_points(0))
    with tempfile.TemporaryDirectory() as cache:
        process, url, cold_start = start_app(
            "--data", args.data, "--checkpoint", args.checkpoint, cache_dir=Path(cache)
        )
        try:
            result["cold_start_s"] = cold_start
            first, browser = browser_switches(url, min(args.switches, 20))
            result["first_timeline_s"] = cold_start + first
            result["clip_switch_browser_ms"] = browser
            result["clip_switch_api_ms"] = _percentiles(api_calls(url, sample))
            result["load_20_clients"] = load_test(url, clips)
        finally:
            stop_app(process)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
