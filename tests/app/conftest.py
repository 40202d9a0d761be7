"""A running explorer (the embedded demo) for the app tests, and headless Chromium through Playwright.

Starting and stopping the server is ``bench/_app_server.py``'s (the latency benchmark does the same); the fixtures
here decide what runs for how long.
"""

from __future__ import annotations

import os
import shutil

import pytest

from bench._app_server import CHROMIUM, CHROMIUM_ARGS, start_app


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory):
    """The explorer on its embedded demo: (base URL, seconds to first page)."""
    server = start_app(cache_dir=tmp_path_factory.mktemp("app_cache"))
    yield server.url, server.cold_start_s
    server.stop()


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
