"""The embedded demo: the shipped files, and the documented commands that rebuild them (run here at tiny sizes)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from mgn.checkpoint import read_checkpoint, save_checkpoint
from mgn.data.demo import (
    DEMO_CHECKPOINT,
    DEMO_COMPARE_CHECKPOINT,
    DEMO_MANIFEST,
    DEMO_PACK,
    DEMO_VIDEOS,
    build_demo_assets,
)
from mgn.data.pack import load_split_pack
from mgn.data.synthetic.__main__ import main as synthetic_main
from mgn.explore.state import open_explorer
from mgn.models import HAN, HANConfig

from .training.conftest import TINY_HAN, TINY_MGN, run_module

REPO_ROOT = Path(__file__).resolve().parents[1]
DEMO = REPO_ROOT / "assets" / "demo"
MAX_FILE_BYTES = 10 * 10**6  # Hugging Face Spaces without LFS
DOCUMENTED = [
    "python -m mgn.data.synthetic --out data/demo --train 3000 --val 300 --test 40 --seed 2026",
    "python -m training.train --model mgn --recipe mgn-localise --data data/demo --out runs/demo"
    " model.dim=64 epochs=20",
    "python -m training.refine_labels --checkpoint runs/demo/best.safetensors --data data/demo"
    " --out runs/demo_labels.npz",
    "python -m training.train --model mgn --recipe mgn-localise --data data/demo --out runs/demo_r"
    " --refined-labels runs/demo_labels.npz model.dim=64 epochs=20",
    "python -m training.train --model han --data data/demo --out runs/demo_han model.dim=256 epochs=12",
    "python -m mgn.data.demo --data data/demo --checkpoint runs/demo_r/best.safetensors"
    " --compare-checkpoint runs/demo_han/best.safetensors --out assets/demo",
]


def test_shipped_demo_is_complete_and_small() -> None:
    manifest = json.loads((DEMO / DEMO_MANIFEST).read_text())
    split = load_split_pack(DEMO / manifest["pack"])
    assert len(split) == manifest["clips"] == 40 and split.gt_audio is not None
    for video_id in split.video_ids:
        assert (DEMO / DEMO_VIDEOS / f"{video_id}.mp4").is_file()
    checkpoint = read_checkpoint(DEMO / DEMO_CHECKPOINT, arch="mgn")
    assert checkpoint.config.dim == 64 and int(checkpoint.metadata["epoch"]) >= 1
    assert checkpoint.metadata["recipe"] == "mgn-localise" and checkpoint.config.segment_head
    assert checkpoint.metadata["refined_labels"] == "demo_labels.npz"  # MGN-L+R: retrained on MA's refined labels
    assert manifest["compare_checkpoint"] == DEMO_COMPARE_CHECKPOINT
    compare = read_checkpoint(DEMO / DEMO_COMPARE_CHECKPOINT, arch="han")
    assert compare.config.dim == 256 and "recipe" not in compare.metadata  # the official HAN recipe
    for path in (REPO_ROOT / "assets").rglob("*"):
        assert not path.is_file() or path.stat().st_size < MAX_FILE_BYTES, path


def test_readme_documents_the_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for command in DOCUMENTED:
        assert command in readme


def _tiny(command: str, root: Path) -> tuple[str, list[str]]:
    """A documented command as (module, arguments), its folders moved under ``root`` and its sizes made tiny: the
    dataset 16 / 8 / 4 clips, one epoch of a narrow model (overrides after the documented ones win), 3 demo clips;
    the label refinement as documented."""
    words = shlex.split(command)
    assert words[:2] == ["python", "-m"], command
    sizes = {"--train": "16", "--val": "8", "--test": "4"}
    arguments = []
    for previous, word in zip(words[2:], words[3:], strict=False):
        if word.startswith(("data/", "runs/", "assets/")):
            word = str(root / word)
        arguments.append(sizes.get(previous, word))
    module = words[2]
    if module == "mgn.data.synthetic":
        arguments.append("--quiet")
    elif module == "training.train":
        size = TINY_HAN if arguments[arguments.index("--model") + 1] == "han" else TINY_MGN
        arguments += ["--no-progress", "epochs=1", "threads=1", *size]
    elif module == "training.refine_labels":
        arguments.append("--no-progress")
    else:
        arguments += ["--clips", "3", "--no-progress"]
    return module, arguments


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_documented_commands_rebuild_the_demo_at_tiny_size(tmp_path: Path) -> None:
    for command in DOCUMENTED:
        module, arguments = _tiny(command, tmp_path)
        run_module(module, *arguments)
    out = tmp_path / "assets" / "demo"
    manifest = json.loads((out / DEMO_MANIFEST).read_text())
    assert manifest["clips"] == 3 and len(list((out / DEMO_VIDEOS).glob("*.mp4"))) == 3
    assert manifest["checkpoint"] == DEMO_CHECKPOINT and manifest["compare_checkpoint"] == DEMO_COMPARE_CHECKPOINT
    main, compare = read_checkpoint(out / DEMO_CHECKPOINT), read_checkpoint(out / DEMO_COMPARE_CHECKPOINT)
    assert (main.arch, main.metadata["recipe"], main.config.segment_head) == ("mgn", "mgn-localise", True)
    assert main.metadata["refined_labels"] == "demo_labels.npz"
    assert compare.arch == "han" and "recipe" not in compare.metadata
    assert set(manifest["bytes"]) >= {DEMO_PACK, DEMO_CHECKPOINT, DEMO_COMPARE_CHECKPOINT}
    models = [out / DEMO_CHECKPOINT, out / DEMO_COMPARE_CHECKPOINT]
    explorer = open_explorer(out / DEMO_PACK, models, cache_dir=None, progress=False)
    assert len(explorer.table) == 3 and explorer.video_path(explorer.table.iloc[0]["clip"]) is not None
    assert [model.training for model in explorer.models] == ["mgn-localise +R", None]


def test_building_without_a_comparison_model_leaves_none_behind(tmp_path: Path) -> None:
    """Rebuilding into a folder without ``--compare-checkpoint`` removes an earlier comparison model."""
    data, out = tmp_path / "demo", tmp_path / "assets"
    assert synthetic_main(["--out", str(data), "--train", "4", "--val", "2", "--test", "1", "--quiet"]) == 0
    model = save_checkpoint(tmp_path / "han.safetensors", HAN(HANConfig(dim=8, ffn_dim=8)))
    out.mkdir()
    (out / DEMO_COMPARE_CHECKPOINT).write_bytes(b"stale")
    manifest = build_demo_assets(data, model, out, clips=1, progress=False)
    assert manifest["compare_checkpoint"] is None and not (out / DEMO_COMPARE_CHECKPOINT).exists()
    video = f"{DEMO_VIDEOS}/{load_split_pack(out / DEMO_PACK).video_ids[0]}.mp4"
    assert set(manifest["bytes"]) == {DEMO_PACK, DEMO_CHECKPOINT, video}


def test_demo_builder_errors(tmp_path: Path, capsys) -> None:
    from mgn.data.demo import main

    assert (
        main(["--data", str(tmp_path), "--checkpoint", str(tmp_path / "none.safetensors"), "--out", str(tmp_path)]) == 2
    )
    assert "checkpoint not found" in capsys.readouterr().err
    missing = tmp_path / "none_han.safetensors"
    (tmp_path / "model.safetensors").write_bytes(b"x")
    argv = ["--data", str(tmp_path), "--checkpoint", str(tmp_path / "model.safetensors"), "--out", str(tmp_path)]
    assert main([*argv, "--compare-checkpoint", str(missing)]) == 2
    assert f"comparison checkpoint not found: {missing}" in capsys.readouterr().err
