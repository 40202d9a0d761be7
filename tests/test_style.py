"""The code passes the pinned linter and formatter (ruff, configured in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["mgn", "training", "app.py", "bench", "tests", "tools"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff(command: list[str]) -> None:
    ruff = shutil.which("ruff") or pytest.fail("ruff is not installed (pip install -r requirements-dev.txt)")
    result = subprocess.run([ruff, *command, *SOURCES], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_explore_and_metrics_do_not_import_gradio_or_torch() -> None:
    """The layering of ARCHITECTURE.md: figures and metrics are importable without the UI or the models."""
    code = (
        "import sys, mgn.metrics, mgn.explore.clips, mgn.explore.timeline, mgn.explore.dashboard, mgn.explore.memo, "
        "mgn.explore.checks, mgn.explore.player, mgn.explore.parsed, mgn.events, "
        "mgn.explore.embeddings, mgn.explore.audio_strip, mgn.explore.colors, mgn.explore.editing, mgn.predictions, "
        "mgn.explore.state, mgn.explore.export, mgn.explore.ui_ids, mgn.explore.annotator, mgn.explore.editor_js; "
        "bad = {'gradio', 'torch', 'sklearn'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
