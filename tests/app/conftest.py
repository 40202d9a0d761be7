"""A running explorer (the embedded demo) for the app tests, (headless Chromium: ``chromium`` in tests/conftest.py).

Starting and stopping the server is ``bench/_app_server.py``'s (the latency benchmark does the same); the fixtures
here decide what runs for how long.
"""

from __future__ import annotations

import pytest

from bench._app_server import start_app


@pytest.fixture(scope="session")
def demo_app(tmp_path_factory: pytest.TempPathFactory):
    """The explorer on its embedded demo: (base URL, seconds to first page)."""
    server = start_app(cache_dir=tmp_path_factory.mktemp("app_cache"))
    yield server.url, server.cold_start_s
    server.stop()
