"""The explorer's state: loading a split and checkpoints, and answering the app's requests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mgn.checkpoint import save_checkpoint
from mgn.data.synthetic.dataset import generate_dataset
from mgn.explore.state import ExplorerError, open_explorer
from mgn.models import HAN, MGN, HANConfig, MGNConfig


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("explorer")
    data = root / "data"
    generate_dataset(data, sizes={"train": 2, "val": 2, "test": 6}, seed=4, progress=False)
    torch.manual_seed(0)
    mgn = MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1, zero_init_class_tokens=False))
    han = HAN(HANConfig(dim=16, ffn_dim=16))
    paths = save_checkpoint(root / "mgn.safetensors", mgn), save_checkpoint(root / "han.safetensors", han)
    return data, paths, root


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_compare_two_models_on_an_llp_folder(setup) -> None:
    data, (mgn_path, han_path), root = setup
    explorer = open_explorer(data, [mgn_path, han_path], cache_dir=root / "cache", progress=False)
    assert [m.name for m in explorer.models] == ["MGN", "HAN"] and len(explorer.table) == 6
    assert "disagreement" in explorer.table.columns
    clip = str(explorer.split.filenames[1])
    assert explorer.index_of(clip[:11]) == 1  # a video ID works too
    meta = explorer.timeline(clip).layout.meta
    assert meta["clip"] == clip and meta["models"] == ["MGN", "HAN"]
    scores = explorer.clip_scores(clip)
    assert list(scores["model"]) == ["MGN", "MGN", "HAN", "HAN"] and scores[["Audio", "Visual"]].le(100).all().all()
    events = explorer.clip_events(clip)
    assert set(events["source"]) <= {"ground truth", "MGN", "HAN"} and "ground truth" in set(events["source"])
    gt_audio_rows = events[(events["source"] == "ground truth") & (events["modality"] == "audio")]
    covered = sum(int(off - on) for on, off in zip(gt_audio_rows["onset (s)"], gt_audio_rows["offset (s)"]))
    assert covered == int(explorer.split.gt_audio[1].sum())
    assert explorer.video_path(clip) is None  # no videos were rendered
    assert str(explorer.expected_video_path(clip)).endswith(f"{clip[:11]}.mp4")
    assert explorer.token_points(1) is None and explorer.feature_points(1) is None  # HAN has no class tokens
    tokens = explorer.token_points(0)
    assert len(tokens) == 50
    features = explorer.feature_points(0)
    present = explorer.split.gt_audio.any(axis=2).sum() + explorer.split.gt_visual.any(axis=2).sum()
    assert len(features) == present
    assert explorer.confusion(0, "Speech").to_numpy().sum() == 6  # one (clip, class) pair per clip
    assert list(explorer.per_class(0).shape)[0] == 25 and len(explorer.table1(1)) == 2
    assert len(list((root / "cache").glob("predictions-*.npz"))) == 2


def test_bad_requests(setup) -> None:
    data, (mgn_path, _), _ = setup
    explorer = open_explorer(data, [mgn_path], cache_dir=None, progress=False)
    with pytest.raises(ExplorerError, match="unknown clip 'nope'"):
        explorer.timeline("nope")
    with pytest.raises(ExplorerError, match="unknown clip"):
        explorer.clip_scores("../../etc/passwd")
    with pytest.raises(ExplorerError, match="unknown class"):
        explorer.confusion(0, "Unicorn")
    with pytest.raises(ExplorerError, match="model 3 does not exist"):
        explorer.table1(3)


def test_bad_setup(setup, tmp_path: Path) -> None:
    data, (mgn_path, han_path), _ = setup
    with pytest.raises(FileNotFoundError, match="data not found"):
        open_explorer(tmp_path / "nothing", [mgn_path], progress=False)
    with pytest.raises(ValueError, match="one checkpoint, or two"):
        open_explorer(data, [mgn_path, han_path, mgn_path], progress=False)
    with pytest.raises(ExplorerError, match="no dense ground truth"):
        open_explorer(data, [mgn_path], split="train", progress=False)


def test_identical_class_tokens_are_reported_not_crashed(setup) -> None:
    """An untrained MGN (official zero-initialised tokens) cannot be embedded: a message, not a t-SNE segfault."""
    data, _, root = setup
    zero = save_checkpoint(root / "zero.safetensors", MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1)))
    explorer = open_explorer(data, [zero], cache_dir=None, progress=False)
    assert np.count_nonzero(explorer.models[0].audio_tokens) == 0
    with pytest.raises(ExplorerError):
        explorer.token_points(0)
