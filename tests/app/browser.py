"""Driving the explorer page in headless Chromium: shared by the browser test, the latency benchmark, and the
screenshot in docs/ (``python tests/app/browser.py docs/screenshot.png`` refreshes it from the embedded demo)."""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# Reads a Plotly graph's traces from the page; typed arrays (plotly.py sends numpy data as binary) become lists.
READ_FIGURE_JS = """(id) => {
  const gd = document.querySelector('#' + id + ' .js-plotly-plot');
  if (!gd || !gd.data) return null;
  return JSON.stringify({data: gd.data, layout: {meta: gd.layout.meta}},
                        (key, value) => ArrayBuffer.isView(value) ? Array.from(value) : value);
}"""
TIMELINE_CLIP_JS = """() => {
  const gd = document.querySelector('#mgn-timeline .js-plotly-plot');
  return gd && gd.layout && gd.layout.meta ? gd.layout.meta.clip : null;
}"""


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
        f"() => (document.getElementById('mgn-video') || {{dataset: {{}}}}).dataset.clip === {json.dumps(clip)}",
        timeout=timeout_ms,
    )


def clip_list_size(page) -> int:
    """Rows of the clip list (the grid is virtualised: only the visible rows are in the DOM)."""
    return int(page.get_attribute("#mgn-clip-list [role=grid]", "aria-rowcount")) - 1  # minus the header row


def clip_cell(page, row: int):
    """The clip-ID cell of a row of the clip list (a Playwright locator)."""
    return page.locator(f'#mgn-clip-list [data-testid="cell-{row}-0"]')


def open_page(browser, url: str, *, width: int = 1500, height: int = 1300):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_function(f"() => ({TIMELINE_CLIP_JS})() !== null", timeout=60_000)
    return page


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tests.app.conftest import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png")
    with tempfile.TemporaryDirectory() as cache:
        process, url, _ = start_app(cache_dir=Path(cache))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = open_page(browser, url)
                time.sleep(2)
                page.screenshot(path=str(target), full_page=True)
                browser.close()
        finally:
            stop_app(process)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
