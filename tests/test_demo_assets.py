"""The embedded demo: the shipped files, and the documented commands that rebuild them (run here at tiny sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mgn.checkpoint import read_checkpoint
from mgn.data.demo import DEMO_CHECKPOINT, DEMO_MANIFEST, DEMO_PACK, DEMO_VIDEOS
from mgn.data.pack import load_split_pack
from mgn.explore.state import open_explorer

from .training.conftest import TINY_MGN, run_module

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "assets" / "demo"
MAX_FILE_BYTES = 10 * 10**6  # Hugging Face Spaces without LFS
DOCUMENTED = [
    "python -m mgn.data.synthetic --out data/demo --train 3000 --val 300 --test 40 --seed 2026",
    "python -m training.train --model mgn --data data/demo --out runs/demo model.dim=64",
    "python -m mgn.data.demo --data data/demo --checkpoint runs/demo/best.safetensors --out assets/demo",
]


def test_shipped_demo_is_complete_and_small() -> None:
    manifest = json.loads((DEMO / DEMO_MANIFEST).read_text())
    split = load_split_pack(DEMO / manifest["pack"])
    assert len(split) == manifest["clips"] == 40 and split.gt_audio is not None
    for video_id in split.video_ids:
        assert (DEMO / DEMO_VIDEOS / f"{video_id}.mp4").is_file()
    checkpoint = read_checkpoint(DEMO / DEMO_CHECKPOINT, arch="mgn")
    assert checkpoint.config.dim == 64 and int(checkpoint.metadata["epoch"]) >= 1
    for path in (REPO_ROOT / "assets").rglob("*"):
        assert not path.is_file() or path.stat().st_size < MAX_FILE_BYTES, path


def test_readme_documents_the_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for command in DOCUMENTED:
        assert command in readme


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_documented_commands_rebuild_the_demo_at_tiny_size(tmp_path: Path) -> None:
    data, run, out = tmp_path / "demo", tmp_path / "run", tmp_path / "assets"
    run_module(
        "mgn.data.synthetic",
        "--out",
        str(data),
        "--train",
        "16",
        "--val",
        "8",
        "--test",
        "4",
        "--seed",
        "2026",
        "--quiet",
    )
    run_module(
        "training.train",
        "--model",
        "mgn",
        "--data",
        str(data),
        "--out",
        str(run),
        "--no-progress",
        "epochs=1",
        "threads=1",
        *TINY_MGN,
    )
    run_module(
        "mgn.data.demo",
        "--data",
        str(data),
        "--checkpoint",
        str(run / "best.safetensors"),
        "--out",
        str(out),
        "--clips",
        "3",
        "--no-progress",
    )
    manifest = json.loads((out / DEMO_MANIFEST).read_text())
    assert manifest["clips"] == 3 and len(list((out / DEMO_VIDEOS).glob("*.mp4"))) == 3
    explorer = open_explorer(out / DEMO_PACK, [out / DEMO_CHECKPOINT], cache_dir=None, progress=False)
    assert len(explorer.table) == 3 and explorer.video_path(explorer.table.iloc[0]["clip"]) is not None


def test_demo_builder_errors(tmp_path: Path, capsys) -> None:
    from mgn.data.demo import main

    assert (
        main(["--data", str(tmp_path), "--checkpoint", str(tmp_path / "none.safetensors"), "--out", str(tmp_path)]) == 2
    )
    assert "checkpoint not found" in capsys.readouterr().err
