"""The explorer's state: loading a split and checkpoints, and answering the app's requests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mgn.checkpoint import save_checkpoint
from mgn.data.llp import LLPLayout, load_split
from mgn.data.pack import save_split_pack
from mgn.data.synthetic.dataset import generate_dataset
from mgn.explore.state import ExplorerError, open_explorer
from mgn.inference import NonFiniteOutputError
from mgn.metrics import avvp_scores
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


def test_clip_views_are_rendered_once_and_bounded(setup) -> None:
    data, (mgn_path, _), _ = setup
    explorer = open_explorer(data, [mgn_path], cache_dir=None, progress=False, clip_cache_size=2)
    clips = [str(name) for name in explorer.split.filenames]
    view = explorer.clip_view(clips[0][:11])  # by video ID: the same entry as by filename
    assert view is explorer.clip_view(clips[0]) and view.clip == clips[0]
    assert json.loads(view.figure_json)["layout"]["meta"]["clip"] == clips[0]
    pd.testing.assert_frame_equal(view.scores, explorer.clip_scores(clips[0]))
    pd.testing.assert_frame_equal(view.events, explorer.clip_events(clips[0]))
    assert "No video for" in view.video_html  # no videos in this data
    explorer.clip_view(clips[1]), explorer.clip_view(clips[2])  # two more: the first is evicted (LRU of 2)
    assert explorer.clip_view(clips[0]) is not view
    page = explorer.timeline_page(clips[1])
    assert page.startswith("<!doctype html>") and clips[1] in page and page is explorer.timeline_page(clips[1])
    with pytest.raises(ExplorerError, match="unknown clip"):
        explorer.clip_view("nope")


def test_the_table_reuses_the_model_scores(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-clip scores are computed once per model (in open_explorer), not again for the clip list."""
    import mgn.explore.clips as clips
    import mgn.explore.state as state

    data, (mgn_path, han_path), _ = setup
    calls = []
    monkeypatch.setattr(state, "avvp_scores", lambda *a: calls.append(1) or avvp_scores(*a))
    monkeypatch.setattr(clips, "avvp_scores", lambda *a: pytest.fail("clip_table recomputed the scores"))
    explorer = open_explorer(data, [mgn_path, han_path], cache_dir=None, progress=False)
    assert len(calls) == 2
    seg_av = 100 * explorer.models[1].scores.segment.clip_scores("audio_visual")
    np.testing.assert_array_equal(explorer.table["seg_av_2"], seg_av)


def test_an_unusable_cache_folder_gives_one_warning_and_no_cache(setup, tmp_path: Path) -> None:
    data, (mgn_path, _), _ = setup
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match=f"cache folder {blocked} is not usable .*running without the cache") as seen:
        explorer = open_explorer(data, [mgn_path], cache_dir=blocked, progress=False)
    assert len([w for w in seen if "cache" in str(w.message)]) == 1
    assert explorer.cache_dir is None and len(explorer.table) == 6
    assert blocked.read_text() == "a file where the cache folder should be"


@pytest.mark.parametrize("damage", [b"", b"garbage" * 20, "truncated"], ids=["empty", "garbage", "truncated"])
def test_a_bad_predictions_cache_is_recomputed(setup, tmp_path: Path, damage) -> None:
    data, (mgn_path, _), _ = setup
    cache = tmp_path / "cache"
    first = open_explorer(data, [mgn_path], cache_dir=cache, progress=False)
    (path,) = cache.glob("predictions-*.npz")
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2] if damage == "truncated" else damage)
    with pytest.warns(UserWarning, match=f"predictions cache {path}: unreadable.*recomputing and replacing it"):
        again = open_explorer(data, [mgn_path], cache_dir=cache, progress=False)
    np.testing.assert_array_equal(again.models[0].pred_audio, first.models[0].pred_audio)
    assert path.read_bytes() == good


def test_non_finite_outputs_name_the_checkpoint_and_the_clip(setup, tmp_path: Path) -> None:
    data, (mgn_path, _), _ = setup
    split = load_split(LLPLayout(root=data), "test", pooled_visual=True, progress=False)
    split.visual_st[3] = 3e38  # finite features that overflow inside the model
    pack = save_split_pack(tmp_path / "huge.npz", split)
    with pytest.raises(NonFiniteOutputError, match=rf"{mgn_path}: non-finite .* clip\(s\) {split.filenames[3]}"):
        open_explorer(pack, [mgn_path], cache_dir=None, progress=False)


def test_options_are_checked_before_loading(setup, tmp_path: Path) -> None:
    data, (mgn_path, _), _ = setup
    with pytest.raises(ExplorerError, match="unknown gate 'both'; expected one of global, modality"):
        open_explorer(tmp_path / "not loaded", [mgn_path], gate="both", progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            open_explorer(tmp_path / "not loaded", [mgn_path], device="cuda", progress=False)
    split = load_split(LLPLayout(root=data), "test", pooled_visual=True, progress=False)
    pack = save_split_pack(tmp_path / "test.npz", split)
    with pytest.raises(ExplorerError, match="holds the 'test' split, not 'val'"):
        open_explorer(pack, [mgn_path], split="val", progress=False)
    assert open_explorer(pack, [mgn_path], cache_dir=None, progress=False).split.name == "test"
