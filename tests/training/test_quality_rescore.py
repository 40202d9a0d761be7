"""bench/quality.py re-scores a run whose checkpoint is newer than its cached test scores (a resumed run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench import quality
from tests.training.conftest import run_module, train_args


def test_stale_scores_are_rescored_not_refused(tiny_data: Path, tmp_path: Path):
    run = tmp_path / "han_seed1"
    run_module("training.train", *train_args(tiny_data, run, "han"))
    checkpoint = run / "best.safetensors"
    target = run / "test_global.json"
    target.write_text(json.dumps({"stale": True}))  # scores of an older checkpoint of this run
    older = checkpoint.stat().st_mtime - 60
    os.utime(target, (older, older))

    scores = quality._evaluate(checkpoint, tiny_data, "global", target)

    assert "stale" not in scores
    assert json.loads(target.read_text()) == scores
    assert target.stat().st_mtime >= checkpoint.stat().st_mtime
    fresh = target.stat().st_mtime
    assert quality._evaluate(checkpoint, tiny_data, "global", target) == scores  # up to date: read, not re-run
    assert target.stat().st_mtime == fresh
