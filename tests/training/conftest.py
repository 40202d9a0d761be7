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
