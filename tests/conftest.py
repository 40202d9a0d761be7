"""Shared test fixtures: where the read-only reference material lives, and whether it must be there.

The official fixtures and the real LLP annotations sit in ``../shared`` beside the checkout (the project's
development machines and CI have it; a user's clone does not). Tests that need it skip with a clear reason,
unless ``MGN_REQUIRE_SHARED=1`` (set by ``.ci/run``) turns a missing folder into a failure.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


def _shared_subdir(relative: str) -> Path:
    path = SHARED_DIR / relative
    if not path.is_dir():
        message = f"{path} not found: the official reference material is only present beside the project checkout"
        if os.environ.get("MGN_REQUIRE_SHARED") == "1":
            pytest.fail(message + " (MGN_REQUIRE_SHARED=1)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """``../shared/reference/fixtures``: outputs of the official code."""
    return _shared_subdir("reference/fixtures")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference``: official state_dict tables."""
    return _shared_subdir("reference")


@pytest.fixture(scope="session")
def llp_dir() -> Path:
    """``../shared/llp``: the real LLP annotation CSVs and one real clip (never copied into the project)."""
    return _shared_subdir("llp")


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium driven by Playwright (never a downloaded browser), one per test session: Playwright's
    sync API cannot start a second instance while one is running in the same thread."""
    from bench._app_server import CHROMIUM, CHROMIUM_ARGS

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
