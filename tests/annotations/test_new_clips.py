"""One's own parsed videos, annotated from scratch, exported as a new LLP-format dataset that load_split and
training.train read."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mgn.annotations import (
    AnnotationError,
    AnnotationStore,
    LabelledClip,
    assign_splits,
    clips_from_store,
    dataset_archive,
    export_llp_dataset,
    window_clips,
)
from mgn.annotations.__main__ import main
from mgn.annotations.new_clips import TRAIN_EVAL_FILES, dataset_files
from mgn.data.features import FEATURE_SHAPES, FEATURE_STREAMS
from mgn.data.llp import LLPLayout, load_annotations, load_split
from mgn.labels import CLASS_TO_INDEX, NUM_CLASSES, NUM_SEGMENTS

SPLIT_OF_WINDOW = ("train", "val", "test")


def _parsed_video(seed: int = 0, windows: int = 3) -> SimpleNamespace:
    """What mgn.parse_video.ParsedVideo holds for export: windows (video ID, start) and their features."""
    rng = np.random.default_rng(seed)
    return SimpleNamespace(
        windows=[SimpleNamespace(video_id=f"ownVideo{i:02d}x", start=10.0 * i, length=10.0) for i in range(windows)],
        features=[
            SimpleNamespace(streams=lambda arrays=arrays: arrays)
            for arrays in (
                {stream: rng.standard_normal(FEATURE_SHAPES[stream]).astype(np.float32) for stream in FEATURE_STREAMS}
                for _ in range(windows)
            )
        ],
    )


def _annotate(store: AnnotationStore, names: list[str]) -> None:
    """Video-level labels first, then segments per modality, as a person would in the explorer."""
    for index, name in enumerate(names):
        store.add_clip(name, ["Dog"], author="owner")
        store.set_interval(name, "Dog", "audio", index, index + 4)
        store.set_interval(name, "Dog", "visual", 0, 10)
        store.set_interval(name, "Speech", "audio", 6, 9)  # not declared: becomes a video-level label too


@pytest.fixture()
def exported(tmp_path: Path) -> tuple[Path, AnnotationStore, list[tuple[str, dict]]]:
    clips = window_clips(_parsed_video())
    store = AnnotationStore(None, data=None)  # no dataset at all: one's own videos only
    _annotate(store, [name for name, _ in clips])
    splits = {name: split for (name, _), split in zip(clips, SPLIT_OF_WINDOW)}
    labelled = clips_from_store(store, dict(clips), splits)
    result = export_llp_dataset(tmp_path / "own", labelled)
    assert result.clips == {"train": 1, "val": 1, "test": 1} and result.notes == ()
    yield tmp_path / "own", store, clips
    store.close()


def test_window_clips_are_named_as_ten_second_llp_clips():
    parsed = _parsed_video()
    parsed.windows[0].length = 7.5  # a short video: one window, still a 10-s LLP clip of 10 segments
    names = [name for name, _ in window_clips(parsed)]
    assert names == ["ownVideo00x_0_10", "ownVideo01x_10_20", "ownVideo02x_20_30"]


def test_exported_clips_load_with_their_labels_and_features(exported):
    root, store, clips = exported
    layout = LLPLayout(root=root)
    features = dict(clips)
    for split, (name, _) in zip(SPLIT_OF_WINDOW, clips):
        loaded = load_split(layout, split, progress=False)
        assert loaded.filenames.tolist() == [name]
        assert loaded.labels[0].nonzero()[0].tolist() == sorted([CLASS_TO_INDEX["Speech"], CLASS_TO_INDEX["Dog"]])
        for stream in FEATURE_STREAMS:
            assert np.array_equal(getattr(loaded, stream)[0], features[name][stream])
        truth = store.ground_truth(name)
        if split == "train":  # LLP's train split has weak labels only: the dense ones go to their own files
            assert loaded.gt_audio is None
            as_dense = LLPLayout(  # read the train clips as a dense split, from their own eval files
                root=root,
                val_csv="AVVP_train.csv",
                eval_audio_csv=TRAIN_EVAL_FILES["audio"],
                eval_visual_csv=TRAIN_EVAL_FILES["visual"],
            )
            dense = load_annotations(as_dense, "val")
            assert np.array_equal(dense.gt_audio[0], truth["audio"])
        else:
            assert np.array_equal(loaded.gt_audio[0], truth["audio"])
            assert np.array_equal(loaded.gt_visual[0], truth["visual"])
    assert (root / "AVVP_dataset_full.csv").read_text().count("\n") == 4  # header and the three clips


def test_training_accepts_the_exported_folder(exported, tmp_path):
    from training import train

    root, _, _ = exported
    tiny = ["model.dim=32", "model.depth_aud=1", "model.depth_vis=1", "model.depth_av=1"]
    argv = ["--model", "mgn", "--data", str(root), "--out", str(tmp_path / "run"), "--no-progress"]
    assert train.main([*argv, "epochs=1", "batch_size=8", "threads=1", "cache_features=false", *tiny]) == 0
    assert (tmp_path / "run" / "best.safetensors").is_file() and (tmp_path / "run" / "test_results.json").is_file()


def test_archive_holds_the_same_files(exported):
    root, store, clips = exported
    splits = {name: split for (name, _), split in zip(clips, SPLIT_OF_WINDOW)}
    labelled = clips_from_store(store, dict(clips), splits)
    archive = dataset_archive(labelled)
    assert archive == dataset_archive(labelled)  # deterministic
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        members = {name: bundle.read(name) for name in bundle.namelist()}
    assert members == {name: (root / name).read_bytes() for name in dataset_files(labelled)}
    assert "feats/res152/ownVideo01x.npy" in members


def test_features_from_a_folder_and_the_cli(exported, tmp_path, capsys):
    root, store, clips = exported
    from_folder = clips_from_store(store, root, {name: "train" for name, _ in clips})
    assert all(np.array_equal(clip.features["visual"], dict(clips)[clip.filename]["visual"]) for clip in from_folder)
    database = tmp_path / "own.sqlite"
    with AnnotationStore(database, data=None) as on_disk:
        on_disk.import_edits(store.export_edits())
    argv = ["export-dataset", "--db", str(database), "--features", str(root), "--out", str(tmp_path / "cli")]
    assert main([*argv, "--val", "0.34", "--seed", "1"]) == 0
    assert "exported 3 clip(s) (2 train, 1 val, 0 test)" in capsys.readouterr().out
    assert load_split(LLPLayout(root=tmp_path / "cli"), "val", progress=False).gt_audio.sum() > 0
    assert main(argv) == 2  # the folder is not overwritten without --force
    assert "already holds AVVP_train.csv" in capsys.readouterr().err


def _clip(**overrides) -> LabelledClip:
    rng = np.random.default_rng(0)
    fields = {
        "filename": "ownVideo00x_0_10",
        "split": "train",
        "labels": ("Dog",),
        "gt_audio": np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8),
        "gt_visual": np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8),
        "features": {stream: rng.standard_normal(FEATURE_SHAPES[stream]) for stream in FEATURE_STREAMS},
    }
    return LabelledClip(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"filename": "ownVideo00x_0_15"}, "spans 15 s"),
        ({"split": "validation"}, "split 'validation'"),
        ({"labels": ()}, "no video-level label and no segment"),
        ({"labels": ("Dgo",)}, "did you mean 'Dog'"),
        ({"gt_audio": np.ones((NUM_CLASSES, 9))}, r"gt_audio: expected \(C, T\)"),
        ({"gt_visual": np.full((NUM_CLASSES, NUM_SEGMENTS), 2)}, "gt_visual: expected 0/1"),
        ({"features": {"audio": np.zeros((10, 128))}}, "features must map exactly"),
        (
            {
                "features": {
                    "audio": np.zeros((10, 128)),
                    "visual": np.zeros((80, 2048)),
                    "visual_st": np.zeros((10, 5)),
                }
            },
            r"features\['visual_st'\]: expected shape \(10, 512\)",
        ),
        (
            {
                "features": {
                    "audio": np.full((10, 128), np.nan),
                    "visual": np.zeros((80, 2048)),
                    "visual_st": np.zeros((10, 512)),
                }
            },
            "finite",
        ),
    ],
)
def test_bad_clips_are_refused_naming_the_clip(overrides, message):
    with pytest.raises(AnnotationError, match=message):
        _clip(**overrides)


def test_clip_labels_include_every_class_with_a_segment_and_features_become_float32():
    audio = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=bool)
    audio[CLASS_TO_INDEX["Cat"], 2:5] = True
    clip = _clip(labels=("Dog",), gt_audio=audio)
    assert clip.labels == ("Dog", "Cat") and clip.gt_audio.dtype == np.uint8
    assert all(array.dtype == np.float32 for array in clip.features.values())


def test_export_refuses_shared_video_ids_no_clips_and_existing_files(tmp_path):
    with pytest.raises(AnnotationError, match="share the video ID 'ownVideo00x'"):
        export_llp_dataset(tmp_path / "a", [_clip(), _clip(filename="ownVideo00x_10_20")])
    with pytest.raises(AnnotationError, match="no clip to export"):
        export_llp_dataset(tmp_path / "a", [])
    result = export_llp_dataset(tmp_path / "a", [_clip()])
    assert result.notes and "needs a train and a val split" in result.notes[0]
    assert not (tmp_path / "a" / "AVVP_val_pd.csv").exists()  # an empty split gets no file
    before = (tmp_path / "a" / "AVVP_train.csv").read_bytes()
    with pytest.raises(AnnotationError, match="already holds"):
        export_llp_dataset(tmp_path / "a", [_clip(labels=("Cat",))])
    assert (tmp_path / "a" / "AVVP_train.csv").read_bytes() == before
    export_llp_dataset(tmp_path / "a", [_clip(labels=("Cat",))], force=True)
    assert (tmp_path / "a" / "AVVP_train.csv").read_text().endswith("ownVideo00x_0_10\tCat\n")
    (tmp_path / "file").write_text("x")
    with pytest.raises(AnnotationError, match="is a file"):
        export_llp_dataset(tmp_path / "file", [_clip()])


def test_clips_without_features_or_split_are_named(tmp_path):
    store = AnnotationStore(None, data=None)
    store.add_clip("ownVideo00x_0_10", ["Dog"])
    with pytest.raises(AnnotationError, match="'ownVideo00x_0_10': no features given"):
        clips_from_store(store, {}, {"ownVideo00x_0_10": "train"})
    with pytest.raises(AnnotationError, match="'ownVideo00x_0_10': no split given"):
        clips_from_store(store, {"ownVideo00x_0_10": _clip().features}, {})
    with pytest.raises(AnnotationError, match="ownVideo00x_0_10.*vggish"):
        clips_from_store(store, tmp_path, {"ownVideo00x_0_10": "train"})
    store.close()


def test_assign_splits_is_deterministic_keeps_groups_and_leaves_train():
    names = [f"ownVideo{i:02d}x_0_10" for i in range(20)]
    splits = assign_splits(names, val_fraction=0.2, test_fraction=0.1, seed=3)
    assert splits == assign_splits(list(reversed(names)), val_fraction=0.2, test_fraction=0.1, seed=3)
    assert sorted(splits.values()).count("val") == 4 and list(splits.values()).count("test") == 2
    assert splits != assign_splits(names, val_fraction=0.2, test_fraction=0.1, seed=4)
    groups = {name: f"video{index // 5}" for index, name in enumerate(names)}  # four videos of five windows
    grouped = assign_splits(names, val_fraction=0.25, groups=groups)
    assert all(len({grouped[name] for name in names[k : k + 5]}) == 1 for k in range(0, 20, 5))
    assert assign_splits(names[:2], val_fraction=0.1) in (
        {names[0]: "val", names[1]: "train"},
        {names[0]: "train", names[1]: "val"},
    )  # at least one val clip, at least one train clip
    assert assign_splits(names[:2], val_fraction=0.5, test_fraction=0.49) == assign_splits(names[:2], val_fraction=0.5)
    assert assign_splits(names[:1], val_fraction=0.5) == {names[0]: "train"}
    with pytest.raises(AnnotationError, match="leave clips for train"):
        assign_splits(names, val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(AnnotationError, match="no group"):
        assign_splits(names, groups={})
