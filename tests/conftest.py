"""Shared test fixtures: where the read-only reference material lives, and whether it must be there.

The official fixtures and the real LLP annotations sit in ``../shared`` beside the checkout (the project's
development machines and CI have it; a user's clone does not). Tests that need it skip with a clear reason,
unless ``MGN_REQUIRE_SHARED=1`` (set by ``.ci/run``) turns a missing folder into a failure.
"""

from __future__ import annotations

import os
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
