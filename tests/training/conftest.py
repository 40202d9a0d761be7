"""Tiny synthetic LLP-format datasets and helpers shared by the training tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mgn.data.synthetic.dataset import generate_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
# A small MGN / HAN so that a CPU epoch takes a fraction of a second.
TINY_MGN = ["model.dim=32", "model.depth_aud=1", "model.depth_vis=1", "model.depth_av=1"]
TINY_HAN = ["model.dim=32", "model.ffn_dim=32"]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """48 training, 16 validation and 16 test clips (seed 0)."""
    root = tmp_path_factory.mktemp("tiny_llp")
    generate_dataset(root, sizes={"train": 48, "val": 16, "test": 16}, seed=0, progress=False)
    return root


def dataset_variant(source: Path, target: Path, replace: dict[str, str] | None = None) -> Path:
    """A copy of the dataset ``source`` at ``target`` made of symlinks, except the top-level files in ``replace``
    (name -> new text), which are written. The feature cache is not shared."""
    replace = replace or {}
    target.mkdir(parents=True)
    for item in source.iterdir():
        if item.name not in replace and item.name != ".mgn_cache":
            (target / item.name).symlink_to(item)
    for name, text in replace.items():
        (target / name).write_text(text)
    return target


def train_args(data: Path, out: Path, model: str = "mgn", *extra: str) -> list[str]:
    """``training.train`` arguments of a tiny 2-epoch run (6 steps of 8 clips per epoch on ``tiny_data``)."""
    size = TINY_MGN if model == "mgn" else TINY_HAN
    common = ["--no-progress", "epochs=2", "batch_size=8", "threads=1", *size]
    return ["--model", model, "--data", str(data), "--out", str(out), *common, *extra]


def run_module(module: str, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m module args`` from the repo root, single-threaded, output captured."""
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{module} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result
