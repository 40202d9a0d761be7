"""The explorer's state: loading a split and checkpoints, and answering the app's requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mgn.checkpoint import save_checkpoint
from mgn.data.llp import LLPLayout, load_split
from mgn.data.pack import save_split_pack
from mgn.data.synthetic.dataset import generate_dataset
from mgn.explore.state import ExplorerError, GroundTruth, default_model_names, open_explorer
from mgn.inference import NonFiniteOutputError
from mgn.metrics import avvp_scores, format_table
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
    run = f"{root.parent.name}/{root.name}"
    assert [m.name for m in explorer.models] == [f"MGN ({run})", f"HAN ({run})"] and len(explorer.table) == 6
    assert [m.short_name for m in explorer.models] == ["MGN", "HAN"]
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
    seg_av = 100 * explorer.models[1].scores.segment.clip_scores("audio_visual")
    np.testing.assert_array_equal(explorer.table["seg_av_2"], seg_av)
    assert len(calls) == 2  # once per model, at the official threshold
    explorer.scoring(0.3), explorer.scoring(0.3), explorer.table1(1, 0.3)
    assert len(calls) == 4  # once per model at another threshold, then from the cache


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


# ---------------------------------------------------------------------------------------------------------------------
# labels, thresholds, ground truths, cold start


def test_default_labels_name_architecture_recipe_and_run(tmp_path: Path) -> None:
    runs = [tmp_path / "runs" / "a" / "best.safetensors", tmp_path / "runs" / "b" / "best.safetensors"]
    names, shorts = default_model_names(runs, ["mgn", "mgn"], ["mgn-localise", None])
    assert names == ["MGN mgn-localise (runs/a)", "MGN (runs/b)"] and shorts == ["MGN mgn-localise", "MGN"]
    same_run = [tmp_path / "runs" / "a" / "best.safetensors", tmp_path / "runs" / "a" / "last.safetensors"]
    names, shorts = default_model_names(same_run, ["han", "han"], [None, None])
    assert names == ["HAN (runs/a, best)", "HAN (runs/a, last)"] and shorts == names  # never one name twice
    names, _ = default_model_names([runs[0], runs[0]], ["han", "han"], [None, None])
    assert names[0] != names[1]


def test_labels_and_the_recipe(setup, tmp_path: Path) -> None:
    data, (mgn_path, han_path), root = setup
    recipe = save_checkpoint(
        tmp_path / "run" / "best.safetensors",
        MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1)),
        metadata={"recipe": "mgn-localise"},
    )
    explorer = open_explorer(data, [recipe, mgn_path], cache_dir=None, progress=False)
    assert explorer.models[0].name == f"MGN mgn-localise ({tmp_path.name}/run)"
    assert explorer.models[0].training == "mgn-localise" and explorer.models[1].training is None
    assert [m.short_name for m in explorer.models] == ["MGN mgn-localise", "MGN"]
    refined = save_checkpoint(  # MA's additions recorded by training show in the label, cached or not
        tmp_path / "refined" / "best.safetensors",
        MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1)),
        metadata={"recipe": "mgn-localise", "refined_labels": "labels.npz"},
    )
    for cache_dir in (None, tmp_path / "cache", tmp_path / "cache"):  # computed, computed and cached, read back
        explorer = open_explorer(data, [refined, han_path], cache_dir=cache_dir, progress=False)
        assert explorer.models[0].name == f"MGN mgn-localise +R ({tmp_path.name}/refined)"
        assert [m.short_name for m in explorer.models] == ["MGN", "HAN"]
    labelled = open_explorer(data, [mgn_path, han_path], labels=["ours", None], cache_dir=None, progress=False)
    assert [m.name for m in labelled.models][0] == "ours" and labelled.models[1].short_name == "HAN"
    with pytest.raises(ExplorerError, match="same label"):
        open_explorer(data, [mgn_path, han_path], labels=["x", "x"], cache_dir=None, progress=False)


def test_a_threshold_rescores_everything_by_the_official_rule(setup) -> None:
    data, (mgn_path, han_path), _ = setup
    explorer = open_explorer(data, [mgn_path, han_path], cache_dir=None, progress=False)
    scoring = explorer.scoring(0.3)
    for model, (pred_a, pred_v), scores in zip(explorer.models, scoring.preds, scoring.scores, strict=True):
        expected_a, expected_v = model.predictions.binarize("global", 0.3)
        np.testing.assert_array_equal(pred_a, expected_a)
        np.testing.assert_array_equal(pred_v, expected_v)
        expected = avvp_scores(expected_a, expected_v, explorer.split.gt_audio, explorer.split.gt_visual)
        assert format_table(scores) == format_table(expected)
    assert explorer.scoring(0.3) is scoring and explorer.scoring(0.30000001) is scoring  # one entry per threshold
    assert (
        explorer.scoring(0.5) is explorer.scoring() and explorer.scoring().preds[0][0] is explorer.models[0].pred_audio
    )
    np.testing.assert_array_equal(scoring.table["errors_2"], explorer.clip_list(threshold=0.3, model=1)["errors_2"])
    clip = str(explorer.split.filenames[0])
    view = explorer.clip_view(clip, 0.3)
    assert view.threshold == 0.3 and json.loads(view.figure_json)["layout"]["meta"]["threshold"] == 0.3
    assert view is explorer.clip_view(clip, 0.3) and view is not explorer.clip_view(clip)
    table1 = explorer.table1_comparison(0.3)
    assert list(table1.columns) == ["level", "metric", "MGN", "HAN", "Δ (HAN − MGN)"]
    assert len(table1) == 10
    for bad in (0.0, 1.5, float("nan"), "high"):
        with pytest.raises(ExplorerError, match="threshold must be a number from 0.05 to 0.95"):
            explorer.scoring(bad)


def test_another_ground_truth_is_scored_apart(setup) -> None:
    """A session's own annotations (a GroundTruth) replace the split's in every score, cached under their key."""
    data, (mgn_path, _), _ = setup
    explorer = open_explorer(data, [mgn_path], cache_dir=None, progress=False)
    edited = GroundTruth(np.zeros_like(explorer.split.gt_audio), explorer.split.gt_visual, key="no audio")
    scores = explorer.scoring(gt=edited).scores[0]
    pred_a, pred_v = explorer.models[0].pred_audio, explorer.models[0].pred_visual
    assert format_table(scores) == format_table(avvp_scores(pred_a, pred_v, edited.audio, edited.visual))
    clip = str(explorer.split.filenames[0])
    gt_events = explorer.clip_events(clip, gt=edited)
    assert not len(gt_events[(gt_events["source"] == "ground truth") & (gt_events["modality"] == "audio")])
    assert explorer.table1(0).equals(explorer.table1(0, gt=None))  # the split's own scores are untouched


def test_disagreements_need_two_models(setup) -> None:
    data, (mgn_path, han_path), _ = setup
    with pytest.raises(ExplorerError, match="disagreements need two models"):
        open_explorer(data, [mgn_path], cache_dir=None, progress=False).disagreements()
    explorer = open_explorer(data, [mgn_path, han_path], cache_dir=None, progress=False)
    frame = explorer.disagreements(0.5)
    assert set(frame["right"]) <= {"MGN", "HAN"} and frame is explorer.disagreements()


def test_cached_predictions_start_without_torch_or_scikit_learn(setup, tmp_path: Path) -> None:
    """With the predictions cached, the explorer opens (and renders a clip) without importing torch or sklearn."""
    data, (mgn_path, han_path), _ = setup
    cache = tmp_path / "cache"
    first = open_explorer(data, [mgn_path, han_path], cache_dir=cache, progress=False)
    code = (
        "import sys, json\n"
        "from mgn.explore.state import open_explorer\n"
        f"e = open_explorer({str(data)!r}, [{str(mgn_path)!r}, {str(han_path)!r}], cache_dir={str(cache)!r}, "
        "progress=False)\n"
        "e.clip_view(str(e.split.filenames[0]), 0.4)\n"
        "print(json.dumps({'loaded': sorted({'torch', 'sklearn'} & set(sys.modules)), 'names': e.model_names,\n"
        "                  'tokens': e.models[0].audio_tokens.tolist(), 'errors': e.table['errors'].tolist()}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    shown = json.loads(result.stdout)
    assert shown["loaded"] == [] and shown["names"] == first.model_names
    np.testing.assert_array_equal(np.asarray(shown["tokens"], np.float32), first.models[0].audio_tokens)
    assert shown["errors"] == first.table["errors"].tolist()
