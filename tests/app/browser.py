"""Driving the explorer page in headless Chromium, for the browser test; the helpers live in ``bench/_app_server.py``
(the latency benchmark uses them too). ``python tests/app/browser.py docs/screenshot.png`` refreshes the screenshot
in docs/ from the embedded demo: the window a 1440 x 900 screen shows (list, video and timeline side by side)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench._app_server import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMELINE_CLIP_JS,
    clip_cell,
    clip_list_size,
    open_page,
    read_figure,
    start_app,
    wait_for_clip,
)

__all__ = ["TIMELINE_CLIP_JS", "clip_cell", "clip_list_size", "open_page", "read_figure", "wait_for_clip"]


def main() -> None:
    from playwright.sync_api import sync_playwright

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png")
    with tempfile.TemporaryDirectory() as cache:
        server = start_app(cache_dir=Path(cache))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = open_page(browser, server.url, width=1440, height=900)
                time.sleep(3)  # the page script fits the timeline into the window
                page.screenshot(path=str(target))
                browser.close()
        finally:
            server.stop()
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
