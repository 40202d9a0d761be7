"""The README's Python example runs, and its two commands are what CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_python_example_runs() -> None:
    namespace: dict = {}
    exec(compile(_blocks("python")[0], "README.md", "exec"), namespace)  # noqa: S102 - our own README
    out = namespace["out"]
    assert out.global_prob.shape == (2, 25) and out.a_frame_prob.shape == (2, 10, 25)


def test_readme_states_the_two_commands() -> None:
    text = README.read_text()
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        block = text.split(marker, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0].strip()
        assert block.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install -r requirements")
    ci = (README.parent / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci  # CI runs the README's command, not a copy of it
