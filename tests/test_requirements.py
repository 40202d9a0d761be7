"""Reproducible installs: every direct dependency is pinned exactly, and the pins cover the unpinned inputs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)$")


def _tool():
    spec = importlib.util.spec_from_file_location(
        "refresh_requirements", REPO_ROOT / "tools" / "refresh_requirements.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _requirement_lines(path: Path) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("-r")]


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_direct_dependency_is_pinned_exactly(name: str) -> None:
    lines = _requirement_lines(REPO_ROOT / name)
    assert lines, f"{name} lists no dependency"
    loose = [line for line in lines if not PIN.match(line)]
    assert not loose, f"{name}: not pinned with ==: {loose}"


@pytest.mark.parametrize(
    ("source", "target"), [("requirements.in", "requirements.txt"), ("requirements-dev.in", "requirements-dev.txt")]
)
def test_pins_cover_exactly_the_unpinned_inputs(source: str, target: str) -> None:
    tool = _tool()
    wanted = [tool.normalise(name) for name in tool.direct_names(REPO_ROOT / source)]
    pinned = [tool.normalise(PIN.match(line).group(1)) for line in _requirement_lines(REPO_ROOT / target)]
    assert pinned == wanted


def test_refresh_writes_pins_and_keeps_the_header(tmp_path: Path) -> None:
    tool = _tool()
    source, target = tmp_path / "requirements.in", tmp_path / "requirements.txt"
    source.write_text("# inputs\ntorch==2.13.0\nscikit_learn  # a comment\n")
    target.write_text("# pinned header\n-r base.txt\nold==1.0\n")
    text = tool.pinned_text(source, target, {"torch": "2.13.0", "scikit-learn": "1.9.1"})
    assert text == "# pinned header\n-r base.txt\ntorch==2.13.0\nscikit_learn==1.9.1\n"
    with pytest.raises(SystemExit, match="scikit_learn"):
        tool.pinned_text(source, target, {"torch": "2.13.0"})
