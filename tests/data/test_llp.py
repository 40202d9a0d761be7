"""LLP data layer: annotation readers, dense GT as the official evaluation builds it, empty and overlapping splits,
feature loading and caching (also on read-only datasets), the torch Dataset (a test helper), and the real LLP
annotations from ``../shared/llp``."""

from __future__ import annotations

import fcntl
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from mgn.data import features as features_module
from mgn.data.features import FeatureCacheError, load_feature_arrays_cached
from mgn.data.llp import (
    FEATURE_SHAPES,
    FEATURE_STREAMS,
    SPLITS,
    FeatureCacheWarning,
    FeatureFileError,
    LLPAnnotationWarning,
    LLPFormatError,
    LLPLayout,
    SplitOverlapError,
    check_disjoint_splits,
    default_cache_dirs,
    dense_ground_truth,
    load_annotations,
    load_split,
    read_dense_annotations,
    read_weak_labels,
    video_id_of,
    weak_label_matrix,
)
from mgn.labels import CLASS_TO_INDEX, NUM_CLASSES, NUM_SEGMENTS

from .llp_dataset import LLPDataset, batch_from_split

# -------------------------------------------------------------------------------------------- a tiny LLP-format dataset

WEAK_HEADER = ("filename", "event_labels")
DENSE_HEADER = ("filename", "onset", "offset", "event_labels")
TINY_CLIPS = {  # IDs with '_' and '-', one starting with '-', one with decimal times
    "train": [("aaaaaaaaaaa_0_10", "Speech,Dog"), ("b_b-b_b-b_b_5.5_15.5", "Car")],
    "val": [("-valclip001_30_40", "Cello,Violin_fiddle"), ("valclip0002_0_10", "Speech")],
    "test": [("testclip001_10_20", "Clapping,Clapping"), ("-t_st-clip2_0_10", "Dog,Speech,Frying_(food)")],
}
TINY_AUDIO_ROWS = [
    ("-valclip001_30_40", 0, 10, "Cello"),  # onset 0 / offset 10: every segment
    ("valclip0002_0_10", 2, 5, "Speech"),
    ("valclip0002_0_10", 4, 7, "Speech"),  # overlap: merged
    ("valclip0002_0_10", 2, 5, "Speech"),  # exact duplicate: harmless
    ("testclip001_10_20", 9, 10, "Clapping"),  # last segment only
    ("-t_st-clip2_0_10", 3, 3, "Dog"),  # empty interval: nothing (line 7)
    ("-t_st-clip2_0_10", 8, 2, "Speech"),  # reversed interval: nothing (line 8)
    ("-t_st-clip2_0_10", 0, 1, "Frying_(food)"),
    ("valclip000_0_10", 0, 10, "Speech"),  # orphan: truncated ID (line 10)
    ("testclip001_10_20`", 0, 1, "Cat"),  # orphan: trailing backtick, as in the old MGN file (line 11)
    ("testclip001_10_20", 0, 4, "Unicorn"),  # unknown class (line 12)
]
TINY_VISUAL_ROWS = [
    ("-valclip001_30_40", 0, 10, "Cello"),
    ("-valclip001_30_40", 5, 10, "Violin_fiddle"),
    ("valclip0002_0_10", 0, 6, "Speech"),
    ("-t_st-clip2_0_10", 0, 10, "Dog"),
    ("aaaaaaaaaaa_0_10", 0, 10, "Dog"),  # a train clip: no dense split uses it, so it is an orphan (line 6)
]


def write_csv(path: Path, header: tuple[str, ...], rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in [header, *rows]))
    return path


def write_features(layout: LLPLayout, video_id: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    arrays = {}
    for modality, shape in FEATURE_SHAPES.items():
        path = layout.feature_path(modality, video_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays[modality] = rng.standard_normal(shape, dtype=np.float32)
        np.save(path, arrays[modality])
    return arrays


def make_tiny_llp(root: Path, seed: int = 0) -> tuple[LLPLayout, dict[str, dict[str, np.ndarray]]]:
    """Write the tiny dataset (CSVs + random float32 features) under ``root``; returns the layout and the features
    keyed by video ID."""
    layout = LLPLayout(root=root)
    rng = np.random.default_rng(seed)
    written = {}
    for split, rows in TINY_CLIPS.items():
        write_csv(layout.split_csv(split), WEAK_HEADER, rows)
        for filename, _ in rows:
            written[video_id_of(filename)] = write_features(layout, video_id_of(filename), rng)
    write_csv(layout.eval_csv("audio"), DENSE_HEADER, TINY_AUDIO_ROWS)
    write_csv(layout.eval_csv("visual"), DENSE_HEADER, TINY_VISUAL_ROWS)
    return layout, written


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[LLPLayout, dict[str, dict[str, np.ndarray]]]:
    return make_tiny_llp(tmp_path / "data")


def quiet_load_split(layout: LLPLayout, split: str, **kwargs) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLPAnnotationWarning)
        return load_split(layout, split, progress=False, **kwargs)


def official_ground_truth(filename: str, dense: pd.DataFrame) -> np.ndarray:
    """The official per-clip construction, written plainly: select rows by exact filename, slice-assign 1."""
    ground_truth = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    for _, row in dense[dense["filename"] == filename].iterrows():
        if row["event_labels"] in CLASS_TO_INDEX:  # the official code would crash on an unknown class
            ground_truth[CLASS_TO_INDEX[row["event_labels"]], int(row["onset"]) : int(row["offset"])] = 1
    return ground_truth


# ------------------------------------------------------------------------------------------------ filenames and labels


@pytest.mark.parametrize(
    ("filename", "video_id"),
    [
        ("BjCEufrlXm4_20_30", "BjCEufrlXm4"),
        ("-2syn_PlJA8_40_50", "-2syn_PlJA8"),
        ("ApKgnUPayqU_8.5_18.5", "ApKgnUPayqU"),
        ("a_b_c_d_e_f_0_10", "a_b_c_d_e_f"),
    ],
)
def test_video_id_is_the_first_11_characters(filename: str, video_id: str) -> None:
    assert video_id_of(filename) == video_id


@pytest.mark.parametrize(
    "filename", ["BjCEufrlXm4", "BjCEufrlXm4_20", "BjCEufrlXm4-20-30", "P7x4FV4lg_570_580", "KvIjsmANkxI_10_20`", ""]
)
def test_video_id_rejects_malformed_filenames(filename: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(filename))):
        video_id_of(filename)


def test_weak_label_matrix_official_order_and_duplicates() -> None:
    labels = weak_label_matrix(["Speech,Dog", "Clapping,Clapping", "Frying_(food)"])
    assert labels.dtype == np.float32 and labels.shape == (3, NUM_CLASSES)
    assert np.flatnonzero(labels[0]).tolist() == [0, 3]
    assert np.flatnonzero(labels[1]).tolist() == [24] and labels[1].sum() == 1
    assert np.flatnonzero(labels[2]).tolist() == [5]
    with pytest.raises(ValueError, match="row 1: unknown class 'dog'"):
        weak_label_matrix(["Speech", "dog"])


# ------------------------------------------------------------------------------------------------------------- dense GT


def test_dense_ground_truth_matches_the_official_construction(tiny) -> None:
    layout, _ = tiny
    dense = read_dense_annotations(layout.eval_csv("audio"))
    assert dense["onset"].dtype == np.int64 and dense.index[0] == 2  # index = line number, header = line 1
    filenames = [name for split in ("val", "test") for name, _ in TINY_CLIPS[split]]
    ground_truth = dense_ground_truth(filenames, dense)
    assert ground_truth.shape == (4, NUM_CLASSES, NUM_SEGMENTS) and ground_truth.dtype == np.uint8
    for clip, filename in enumerate(filenames):
        np.testing.assert_array_equal(ground_truth[clip], official_ground_truth(filename, dense))
    names = ("Cello", "Speech", "Clapping", "Dog", "Frying_(food)")
    cello, speech, clapping, dog, frying = (CLASS_TO_INDEX[name] for name in names)
    assert ground_truth[0, cello].tolist() == [1] * 10  # onset 0 / offset 10 covers all segments
    assert ground_truth[1, speech].tolist() == [0, 0, 1, 1, 1, 1, 1, 0, 0, 0]  # [2,5) | [4,7), duplicate merged
    assert ground_truth[2, clapping].tolist() == [0] * 9 + [1]  # half-open [9, 10)
    assert ground_truth[2].sum() == 1  # the backtick orphan and the unknown class add nothing
    assert ground_truth[3, dog].sum() == 0 and ground_truth[3, speech].sum() == 0  # empty and reversed rows
    assert ground_truth[3, frying].tolist() == [1] + [0] * 9
    assert ground_truth.sum() == 10 + 5 + 1 + 1


def test_dense_ground_truth_needs_unique_filenames() -> None:
    dense = pd.DataFrame({"filename": ["a"], "onset": [0], "offset": [1], "event_labels": ["Dog"]})
    with pytest.raises(ValueError, match="unique"):
        dense_ground_truth(["aaaaaaaaaaa_0_10", "aaaaaaaaaaa_0_10"], dense)


def test_ignored_rows_are_reported_once_in_one_warning(tiny) -> None:
    layout, _ = tiny
    with pytest.warns(LLPAnnotationWarning) as record:
        annotations = load_annotations(layout, "test")
    assert len(record) == 1
    message = str(record[0].message)
    reasons = {(Path(row.file).name, row.line): row.reasons for row in annotations.ignored_rows}
    assert reasons == {
        ("AVVP_eval_audio.csv", 7): ("empty interval (onset == offset)",),
        ("AVVP_eval_audio.csv", 8): ("reversed interval (onset > offset)",),
        ("AVVP_eval_audio.csv", 10): ("orphan: matches no val/test clip",),
        ("AVVP_eval_audio.csv", 11): ("orphan: matches no val/test clip",),
        ("AVVP_eval_audio.csv", 12): ("unknown class 'Unicorn'",),
        ("AVVP_eval_visual.csv", 6): ("orphan: matches no val/test clip",),
    }
    assert message.startswith("6 dense annotation row(s) ignored")
    for text in (
        "AVVP_eval_audio.csv line 11: 'testclip001_10_20`'",
        "line 10: 'valclip000_0_10'",
        "'Unicorn'",
        "AVVP_eval_visual.csv line 6",
        "reversed interval",
        str(layout.eval_csv("audio")),
    ):
        assert text in message
    # val reports the same file-level rows; train reads no eval CSV and warns about nothing
    with pytest.warns(LLPAnnotationWarning):
        assert len(load_annotations(layout, "val").ignored_rows) == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train = load_annotations(layout, "train")
    assert train.gt_audio is None and train.gt_visual is None and train.gt_av is None and not train.ignored_rows


def test_long_ignored_list_is_summarised(tmp_path: Path) -> None:
    layout, _ = make_tiny_llp(tmp_path)
    write_csv(layout.eval_csv("visual"), DENSE_HEADER, [(f"orphan{i:04d}_0_10", 0, 10, "Dog") for i in range(45)])
    with pytest.warns(LLPAnnotationWarning) as record:
        load_annotations(layout, "val")
    message = str(record[0].message)
    assert "45 orphan" in message and "... and 30 more" in message  # 5 audio + 45 visual rows, 20 listed
    assert len(message.splitlines()) == 1 + 20 + 1


# ------------------------------------------------------------------------------------------------------- loading splits


def test_load_split_round_trips_labels_and_features(tiny) -> None:
    layout, written = tiny
    for split in SPLITS:
        loaded = quiet_load_split(layout, split)
        rows = TINY_CLIPS[split]
        assert len(loaded) == 2 and loaded.name == split
        assert loaded.filenames.tolist() == [name for name, _ in rows]
        assert loaded.video_ids.tolist() == [name[:11] for name, _ in rows]
        np.testing.assert_array_equal(loaded.labels, weak_label_matrix([labels for _, labels in rows]))
        for modality in ("audio", "visual", "visual_st"):
            stored = getattr(loaded, modality)
            assert stored.dtype == np.float32 and stored.flags.c_contiguous
            np.testing.assert_array_equal(stored, np.stack([written[v][modality] for v in loaded.video_ids]))
        if split == "train":
            assert loaded.gt_audio is None and loaded.gt_visual is None and loaded.gt_av is None
        else:
            assert loaded.gt_audio.shape == (2, NUM_CLASSES, NUM_SEGMENTS)
            np.testing.assert_array_equal(loaded.gt_av, loaded.gt_audio * loaded.gt_visual)
    val = quiet_load_split(layout, "val")
    violin = CLASS_TO_INDEX["Violin_fiddle"]
    assert val.gt_visual[0, violin].tolist() == [0] * 5 + [1] * 5 and val.gt_audio[0, violin].sum() == 0
    assert val.gt_av[1, CLASS_TO_INDEX["Speech"]].tolist() == [0, 0, 1, 1, 1, 1, 0, 0, 0, 0]


def test_pooled_visual_is_the_mean_of_8_consecutive_frames(tiny) -> None:
    layout, written = tiny
    pooled = quiet_load_split(layout, "val", pooled_visual=True)
    assert pooled.visual.shape == (2, NUM_SEGMENTS, 2048) and pooled.pooled_visual
    for clip, video_id in enumerate(pooled.video_ids):
        frames = written[video_id]["visual"]
        manual = np.stack([frames[t * 8 : t * 8 + 8].mean(axis=0) for t in range(NUM_SEGMENTS)])
        np.testing.assert_allclose(pooled.visual[clip], manual, rtol=1e-5, atol=1e-6)
    assert not quiet_load_split(layout, "val").pooled_visual


def test_load_split_sequential_equals_threaded_and_shows_progress(tiny, capsys) -> None:
    layout, _ = tiny
    threaded = quiet_load_split(layout, "test", num_workers=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLPAnnotationWarning)
        sequential = load_split(layout, "test", num_workers=1, progress=True)
    np.testing.assert_array_equal(threaded.visual, sequential.visual)
    assert "loading test features" in capsys.readouterr().err


def _corrupt(kind: str, path: Path, rng: np.random.Generator) -> str:
    """Damage a visual feature file; returns a pattern the error message must contain."""
    good = rng.standard_normal(FEATURE_SHAPES["visual"], dtype=np.float32)
    if kind == "missing":
        path.unlink()
        return "not found"
    if kind == "truncated":
        np.save(path, good)
        path.write_bytes(path.read_bytes()[:5000])
        return "not a readable .npy"
    if kind == "corrupt bytes":
        path.write_bytes(b"\x00garbage" * 100)
        return "not a readable .npy"
    if kind == "pickled object":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
        return "not a readable .npy"
    if kind == "wrong shape":
        np.save(path, good[:40])
        return re.escape("found float32 of shape (40, 2048)")
    if kind == "float64":
        np.save(path, good.astype(np.float64))
        return re.escape("found float64 of shape (80, 2048)")
    bad = good.copy()
    bad[3, 7] = {"nan": np.nan, "inf": np.inf}[kind]
    np.save(path, bad)
    return re.escape("1 non-finite value(s)") + ".*" + re.escape("at (3, 7)")


@pytest.mark.parametrize(
    "kind", ["missing", "truncated", "corrupt bytes", "pickled object", "wrong shape", "float64", "nan", "inf"]
)
@pytest.mark.parametrize("cache", [False, True])
def test_bad_feature_file_raises_naming_the_file(tiny, kind: str, cache: bool) -> None:
    layout, _ = tiny
    path = layout.feature_path("visual", "valclip0002")
    pattern = _corrupt(kind, path, np.random.default_rng(1))
    with pytest.raises(FeatureFileError, match=re.escape(str(path)) + ".*" + pattern) as error:
        quiet_load_split(layout, "val", cache=cache)
    assert "(80, 2048)" in str(error.value)  # the expected shape is always stated
    cache_root = layout.root / ".mgn_cache"
    assert not cache_root.exists() or list(cache_root.iterdir()) == []  # a failed build leaves no partial entry


MALFORMED = {  # name -> (file to write, header, rows, expected message pattern)
    "missing column": (
        "val_csv",
        ("filename",),
        [("valclip0002_0_10",)],
        r"line 1: missing or repeated column\(s\) \['event_labels'\]",
    ),
    "comma separator": (
        "val_csv",
        None,
        "filename,event_labels\nvalclip0002_0_10,Speech\n",
        "is the file tab-separated",
    ),
    "extra field": (
        "val_csv",
        WEAK_HEADER,
        [("valclip0002_0_10", "Speech", "x")],
        "Expected 2 fields in line 2, saw 3",
    ),
    "bad filename": (
        "val_csv",
        WEAK_HEADER,
        [("valclip0002_0_10", "Dog"), ("valclip_0_10", "Dog")],
        "line 3: invalid filename 'valclip_0_10'",
    ),
    "unknown weak class": (
        "val_csv",
        WEAK_HEADER,
        [("valclip0002_0_10", "Speech,Unicorn")],
        "line 2: unknown class 'Unicorn'",
    ),
    "empty weak label": ("val_csv", WEAK_HEADER, [("valclip0002_0_10", "")], "line 2: unknown class ''"),
    "duplicate id": (
        "val_csv",
        WEAK_HEADER,
        [("valclip0002_0_10", "Dog"), ("valclip0002_20_30", "Dog")],
        "line 3: duplicate YouTube ID 'valclip0002' \\(first on line 2\\)",
    ),
    "blank line": (
        "val_csv",
        None,
        "filename\tevent_labels\nvalclip0002_0_10\tDog\n\n-valclip001_30_40\tDog\n",
        "line 3: invalid filename ''",
    ),
    "non-integer onset": (
        "eval_audio_csv",
        DENSE_HEADER,
        [("valclip0002_0_10", 0, 1, "Dog"), ("valclip0002_0_10", 2.5, 4, "Dog")],
        "line 3: onset '2.5' is not an integer",
    ),
    "text offset": ("eval_visual_csv", DENSE_HEADER, [("valclip0002_0_10", 0, "ten", "Dog")], "line 2: offset 'ten'"),
    "offset out of range": (
        "eval_audio_csv",
        DENSE_HEADER,
        [("valclip0002_0_10", 0, 11, "Dog")],
        "line 2: offset '11' is not an integer number of seconds in 0..10",
    ),
    "empty file": ("eval_audio_csv", None, "", "empty file"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_csv_raises_naming_file_and_line(tiny, case: str) -> None:
    layout, _ = tiny
    entry, header, rows, pattern = MALFORMED[case]
    path = layout.resolve(getattr(layout, entry))
    if header is None:
        path.write_text(rows)
    else:
        write_csv(path, header, rows)
    with pytest.raises(LLPFormatError, match=re.escape(str(path)) + ".*" + pattern):
        load_annotations(layout, "val")


def test_missing_csv_raises_file_not_found(tiny) -> None:
    layout, _ = tiny
    layout.eval_csv("visual").unlink()
    with pytest.raises(FileNotFoundError, match="AVVP_eval_visual.csv"):
        load_annotations(layout, "test")
    load_annotations(layout, "train")  # train needs no eval CSV


@pytest.mark.parametrize("split", SPLITS)
def test_a_split_without_clips_is_an_error_naming_its_csv(tiny, split: str) -> None:
    """A header-only split CSV is refused when it is read (it used to fail much later, deep in training)."""
    layout, _ = tiny
    path = write_csv(layout.split_csv(split), WEAK_HEADER, [])
    message = re.escape(f"{path}: the {split} split has no clips (only a header); expected at least one clip")
    with pytest.raises(LLPFormatError, match=message):
        load_annotations(layout, split)
    with pytest.raises(LLPFormatError, match=message):
        quiet_load_split(layout, split)
    assert read_weak_labels(path).empty  # the reader itself accepts the file: emptiness is a property of a split


def test_overlapping_splits_are_refused_naming_the_clips_and_both_csvs(tiny) -> None:
    layout, _ = tiny
    check_disjoint_splits(layout)  # the tiny splits are disjoint
    train_rows = TINY_CLIPS["train"]
    write_csv(layout.split_csv("test"), WEAK_HEADER, [*TINY_CLIPS["test"], *train_rows])
    expected = (
        f"2 clip(s) of {layout.split_csv('test')} are also in {layout.split_csv('train')} (same YouTube ID): "
        "'aaaaaaaaaaa_0_10', 'b_b-b_b-b_b_5.5_15.5'; a clip may belong to one split only"
    )
    with pytest.raises(SplitOverlapError, match=re.escape(expected)):
        check_disjoint_splits(layout)
    check_disjoint_splits(layout, ("val", "test"))  # only the splits asked for are compared
    many = [(f"valclip{index:04d}_0_10", "Dog") for index in range(3, 10)]
    write_csv(layout.split_csv("test"), WEAK_HEADER, TINY_CLIPS["test"])
    write_csv(layout.split_csv("val"), WEAK_HEADER, [*TINY_CLIPS["val"], *many])
    write_csv(layout.split_csv("train"), WEAK_HEADER, [*train_rows, ("valclip0002_40_50", "Dog"), *many])
    with pytest.raises(SplitOverlapError, match=r"8 clip\(s\) .* 'valclip0006_0_10' and 3 more"):
        check_disjoint_splits(layout)  # same ID, other times: still the same video (and feature file)
    layout.split_csv("test").unlink()
    with pytest.raises(SplitOverlapError):
        check_disjoint_splits(layout)  # a missing split is skipped, the others still compared


@pytest.mark.parametrize("workers", [0, -1, 100_000, 2.5, True])
def test_reader_thread_count_is_checked(tiny, workers) -> None:
    layout, _ = tiny
    with pytest.raises(ValueError, match=re.escape(f"num_workers must be an integer in [1, 64], got {workers!r}")):
        quiet_load_split(layout, "val", num_workers=workers)


def test_feature_streams_are_named_as_such() -> None:
    assert FEATURE_STREAMS == ("audio", "visual", "visual_st") == tuple(FEATURE_SHAPES)


def test_read_weak_labels_keeps_file_order_and_line_index(tiny) -> None:
    layout, _ = tiny
    table = read_weak_labels(layout.split_csv("test"))
    assert table.columns.tolist() == ["filename", "event_labels"]
    assert table.index.tolist() == [2, 3] and table["filename"].tolist() == [n for n, _ in TINY_CLIPS["test"]]


# ------------------------------------------------------------------------------------------------------------- caching


def _forbid_feature_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(path, modality):
        raise AssertionError(f"per-clip read of {path} despite a cache hit")

    monkeypatch.setattr(features_module, "read_feature_file", fail)


def test_cache_second_load_is_memory_mapped_and_reads_no_feature_file(tiny, monkeypatch) -> None:
    layout, _ = tiny
    first = quiet_load_split(layout, "val", cache=True)
    entries = list((layout.root / ".mgn_cache").iterdir())
    assert len(entries) == 1 and entries[0].name.startswith("val-frames-")
    assert sorted(p.name for p in entries[0].iterdir()) == ["audio.npy", "meta.json", "visual.npy", "visual_st.npy"]
    _forbid_feature_reads(monkeypatch)
    second = quiet_load_split(layout, "val", cache=True)
    monkeypatch.undo()
    plain = quiet_load_split(layout, "val")
    for modality in ("audio", "visual", "visual_st"):
        array = getattr(second, modality)
        assert isinstance(array, np.memmap) and not array.flags.writeable
        np.testing.assert_array_equal(array, getattr(first, modality))
        np.testing.assert_array_equal(array, getattr(plain, modality))
    np.testing.assert_array_equal(second.gt_audio, plain.gt_audio)


def test_changed_feature_file_invalidates_the_cache(tiny) -> None:
    layout, _ = tiny
    quiet_load_split(layout, "test", cache=True)
    quiet_load_split(layout, "test", cache=True, pooled_visual=True)  # another variant, kept alongside
    path = layout.feature_path("audio", "testclip001")
    changed = np.full(FEATURE_SHAPES["audio"], 7.0, dtype=np.float32)  # same size: only content and mtime change
    np.save(path, changed)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    reloaded = quiet_load_split(layout, "test", cache=True)
    np.testing.assert_array_equal(reloaded.audio[0], changed)
    names = sorted(p.name.rsplit("-", 1)[0] for p in (layout.root / ".mgn_cache").iterdir())
    assert names == ["test-frames", "test-pooled"]  # the outdated entry was replaced, not accumulated


def test_cache_key_follows_the_split_csv(tiny) -> None:
    layout, _ = tiny
    quiet_load_split(layout, "val", cache=True)
    rows = [(name, "Dog") for name, _ in TINY_CLIPS["val"]]  # same clips, other labels
    write_csv(layout.split_csv("val"), WEAK_HEADER, rows)
    reloaded = quiet_load_split(layout, "val", cache=True)
    assert reloaded.labels[:, CLASS_TO_INDEX["Dog"]].tolist() == [1, 1]
    assert len(list((layout.root / ".mgn_cache").iterdir())) == 1


def test_cache_dir_can_live_elsewhere(tiny, tmp_path: Path) -> None:
    layout, _ = tiny
    quiet_load_split(layout, "train", cache=True, cache_dir=tmp_path / "elsewhere")
    assert len(list((tmp_path / "elsewhere").iterdir())) == 1 and not (layout.root / ".mgn_cache").exists()


def _block_cache_dir(path: Path) -> None:
    """Make ``path`` unusable as a cache folder, also for root: a file where the folder should be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder")


def test_read_only_dataset_caches_in_the_user_cache_folder(tiny, tmp_path: Path, monkeypatch) -> None:
    layout, _ = tiny
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dirs(layout) == (layout.root / ".mgn_cache", tmp_path / "xdg" / "mgn" / "features")
    _block_cache_dir(layout.root / ".mgn_cache")  # as on a read-only dataset: the default folder cannot be made
    with pytest.warns(FeatureCacheWarning, match=r"cannot write the feature cache in .*\.mgn_cache: .*cached in .*xdg"):
        first = quiet_load_split(layout, "val", cache=True)
    entries = list((tmp_path / "xdg" / "mgn" / "features").iterdir())
    assert len(entries) == 1 and entries[0].name.startswith("val-frames-")
    _forbid_feature_reads(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FeatureCacheWarning)  # a hit in the fallback folder is silent
        second = quiet_load_split(layout, "val", cache=True)
    np.testing.assert_array_equal(second.audio, first.audio)


def test_no_writable_cache_folder_loads_without_a_cache(tiny, tmp_path: Path, monkeypatch) -> None:
    layout, written = tiny
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    _block_cache_dir(layout.root / ".mgn_cache")
    _block_cache_dir(tmp_path / "xdg" / "mgn" / "features")
    with pytest.warns(FeatureCacheWarning, match="without a cache .*cache_dir=.*feature_cache_dir=DIR"):
        split = quiet_load_split(layout, "test", cache=True)
    np.testing.assert_array_equal(split.audio[0], written["testclip001"]["audio"])
    blocked = tmp_path / "blocked"
    _block_cache_dir(blocked)
    with pytest.warns(FeatureCacheWarning, match=re.escape(f"cannot write the feature cache in {blocked}")):
        quiet_load_split(layout, "test", cache=True, cache_dir=blocked)  # an explicit folder: no other is tried
    assert not (tmp_path / "xdg" / "mgn" / "features").is_dir()


def test_a_failed_cache_write_names_the_folder_and_leaves_nothing(tiny, tmp_path: Path, monkeypatch) -> None:
    layout, _ = tiny
    paths = {s: [layout.feature_path(s, "valclip0002")] for s in FEATURE_STREAMS}
    cache_dir = tmp_path / "cache"

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(features_module.np.lib.format, "open_memmap", full_disk)
    with pytest.raises(FeatureCacheError, match=re.escape(f"in {cache_dir}: No space left on device")):
        load_feature_arrays_cached(paths, cache_dir, "val", progress=False)
    assert list(cache_dir.iterdir()) == []


def test_staging_folders_of_killed_cache_writers_are_removed(tiny, tmp_path: Path) -> None:
    layout, _ = tiny
    cache_dir = tmp_path / "cache"
    names = ("dead", "live", "young", "legacy")
    abandoned, live, young, legacy = (cache_dir / f".tmp-val-frames-x-{name}" for name in names)
    for staging in (abandoned, live, young, legacy):
        staging.mkdir(parents=True)
        (staging / "audio.npy").write_bytes(b"partial")
    (abandoned / ".writer.lock").touch()  # its writer was killed: nobody holds the lock
    (live / ".writer.lock").touch()
    old = time.time() - 2 * 3600
    os.utime(legacy, (old, old))  # no lock file (an older version, or killed before making it), hours old
    unrelated = cache_dir / "notes.txt"
    unrelated.write_text("mine")
    handle = os.open(live / ".writer.lock", os.O_RDWR)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # a writer that is still running
        quiet_load_split(layout, "val", cache=True, cache_dir=cache_dir)
    finally:
        os.close(handle)
    assert not abandoned.exists() and not legacy.exists()
    assert live.is_dir() and young.is_dir() and unrelated.read_text() == "mine"
    assert len([p for p in cache_dir.iterdir() if p.name.startswith("val-frames-")]) == 1


# ------------------------------------------------------------------------------------------------- Split and Dataset


def test_split_index_of_and_subset(tiny) -> None:
    layout, _ = tiny
    test = quiet_load_split(layout, "test")
    assert test.index_of("-t_st-clip2_0_10") == 1 and test.index_of("-t_st-clip2") == 1
    with pytest.raises(KeyError, match="split 'test'"):
        test.index_of("valclip0002")
    sub = test.subset([1])
    assert len(sub) == 1 and sub.filenames.tolist() == ["-t_st-clip2_0_10"]
    np.testing.assert_array_equal(sub.visual[0], test.visual[1])
    np.testing.assert_array_equal(sub.gt_av[0], test.gt_av[1])
    with pytest.raises(ValueError, match="audio has shape"):
        type(test)(**{**test.__dict__, "audio": test.audio[:, :5]})


def test_llp_dataset_items(tiny) -> None:
    layout, written = tiny
    split = quiet_load_split(layout, "val", cache=True)  # memory-mapped, read-only arrays
    dataset = LLPDataset(split)
    assert len(dataset) == 2
    item = dataset[-1]
    assert item["index"] == 1
    shapes = {key: tuple(value.shape) for key, value in item.items() if key != "index"}
    assert shapes == {"audio": (10, 128), "video_s": (80, 2048), "video_st": (10, 512), "label": (25,)}
    assert all(item[key].dtype == torch.float32 for key in shapes)
    np.testing.assert_array_equal(item["video_st"].numpy(), written["valclip0002"]["visual_st"])
    assert item["label"].nonzero().flatten().tolist() == [CLASS_TO_INDEX["Speech"]]
    item["audio"].add_(1)  # items own their memory
    with pytest.raises(IndexError, match="out of range"):
        dataset[2]
    batch = batch_from_split(split, [1, 0, 1])
    assert batch["video_s"].shape == (3, 80, 2048) and batch["index"].tolist() == [1, 0, 1]
    np.testing.assert_array_equal(batch["audio"][0].numpy(), split.audio[1])
    assert batch["label"].dtype == torch.float32
    pooled = LLPDataset(quiet_load_split(layout, "val", pooled_visual=True))
    assert pooled[0]["video_s"].shape == (10, 2048)


def test_layout_paths(tmp_path: Path) -> None:
    default = LLPLayout()
    assert default.split_csv("train") == Path("data/AVVP_train.csv")
    assert default.split_csv("val") == Path("data/AVVP_val_pd.csv")
    assert default.feature_path("visual_st", "-2syn_PlJA8") == Path("data/feats/r2plus1d_18/-2syn_PlJA8.npy")
    assert default.video_path("BjCEufrlXm4") == Path("data/LLP_dataset/video/BjCEufrlXm4.mp4")
    custom = LLPLayout(root=str(tmp_path), audio_dir="/abs/vggish", eval_audio_csv="old/eval_audio.csv")
    assert custom.feature_path("audio", "x" * 11) == Path("/abs/vggish/xxxxxxxxxxx.npy")
    assert custom.eval_csv("audio") == tmp_path / "old/eval_audio.csv"
    with pytest.raises(ValueError, match="unknown split 'full'"):
        custom.split_csv("full")
    with pytest.raises(ValueError, match="unknown feature stream"):
        custom.feature_path("video", "x" * 11)


# ---------------------------------------------------------------------------------------------- real LLP annotations


@pytest.fixture(scope="module")
def real_annotations(llp_dir: Path):
    layout = LLPLayout(root=llp_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLPAnnotationWarning)
        return {split: load_annotations(layout, split) for split in SPLITS}


def test_real_split_sizes_and_weak_labels(real_annotations) -> None:
    assert {s: len(a) for s, a in real_annotations.items()} == {"train": 10000, "val": 649, "test": 1200}
    assert {s: int(a.labels.sum()) for s, a in real_annotations.items()} == {"train": 16057, "val": 1170, "test": 2178}
    test = real_annotations["test"]
    row = test.index_of("LcFWKgFphXI_20_30")
    assert test.index_of("LcFWKgFphXI") == row and test.filenames[row] == "LcFWKgFphXI_20_30"
    assert np.flatnonzero(test.labels[row]).tolist() == [CLASS_TO_INDEX["Clapping"]]
    with pytest.raises(KeyError, match="split 'test'"):
        test.index_of("BjCEufrlXm4")  # a train clip
    train = real_annotations["train"]
    assert train.gt_audio is None and "ApKgnUPayqU_8.5_18.5" in train.filenames
    assert "-2syn_PlJA8" in set(np.concatenate([a.video_ids for a in real_annotations.values()]))


def test_real_splits_are_disjoint(llp_dir: Path) -> None:
    check_disjoint_splits(LLPLayout(root=llp_dir))


def test_real_dense_ground_truth_statistics(real_annotations) -> None:
    """Figures from design/llp_stats.md (sections 1, 6 and 8)."""
    empty_clips, cells = {}, {}
    for split in ("val", "test"):
        annotations = real_annotations[split]
        for name, gt in (("audio", annotations.gt_audio), ("visual", annotations.gt_visual), ("av", annotations.gt_av)):
            assert gt.dtype == np.uint8 and gt.shape == (len(annotations), NUM_CLASSES, NUM_SEGMENTS)
            empty_clips[split, name] = int((gt.sum(axis=(1, 2)) == 0).sum())
            cells[name] = cells.get(name, 0) + int(gt.sum())
    assert empty_clips == {
        ("val", "audio"): 4,
        ("val", "visual"): 70,
        ("val", "av"): 93,
        ("test", "audio"): 6,
        ("test", "visual"): 121,
        ("test", "av"): 174,
    }
    assert cells == {"audio": 22665, "visual": 17904, "av": 14670}


def test_real_ignored_rows(llp_dir: Path) -> None:
    with pytest.warns(LLPAnnotationWarning) as record:
        annotations = load_annotations(LLPLayout(root=llp_dir), "val")
    assert len(record) == 1
    count = {}
    for row in annotations.ignored_rows:
        for reason in row.reasons:
            key = (Path(row.file).name, reason.split(" (")[0].split(":")[0])
            count[key] = count.get(key, 0) + 1
    assert count == {
        ("AVVP_eval_audio.csv", "orphan"): 14,
        ("AVVP_eval_audio.csv", "empty interval"): 5,
        ("AVVP_eval_audio.csv", "reversed interval"): 1,
        ("AVVP_eval_visual.csv", "orphan"): 11,
    }
    reversed_row = next(row for row in annotations.ignored_rows if "reversed interval (onset > offset)" in row.reasons)
    assert (reversed_row.filename, reversed_row.onset, reversed_row.offset) == ("8DF2PxdT5tE_390_400", 9, 0)
    assert "30 dense annotation row(s) ignored" in str(record[0].message)


def test_old_mgn_audio_csv_is_read_transparently(llp_dir: Path, real_annotations, tmp_path: Path) -> None:
    """The MGN repository's audio file differs in 3 rows (REFERENCE 1.7); rebuild it in tmp_path from the fixed one."""
    lines = (llp_dir / "AVVP_eval_audio.csv").read_text().split("\n")
    for number, new_name in ((930, "Baby_cry_infant_cry"), (931, "Baby_cry_infant_cry"), (2449, "KvIjsmANkxI_10_20`")):
        lines[number - 1] = new_name + "\t" + lines[number - 1].split("\t", 1)[1]
    old_csv = tmp_path / "AVVP_eval_audio_mgn.csv"
    old_csv.write_text("\n".join(lines))
    with pytest.warns(LLPAnnotationWarning) as record:
        old = load_annotations(LLPLayout(root=llp_dir, eval_audio_csv=str(old_csv)), "test")
    audio_orphans = [row for row in old.ignored_rows if row.file == str(old_csv) and "orphan" in row.reasons[0]]
    assert len(audio_orphans) == 17
    assert "AVVP_eval_audio_mgn.csv line 2449: 'KvIjsmANkxI_10_20`'" in str(record[0].message)
    lost = real_annotations["test"].gt_audio.astype(int) - old.gt_audio
    assert lost.min() == 0 and lost.sum() == 4 + 3 + 1
    jfz, kvi = old.filenames.tolist().index("JfZEqeLZqWk_30_40"), old.filenames.tolist().index("KvIjsmANkxI_10_20")
    assert lost[jfz, CLASS_TO_INDEX["Speech"]].tolist() == [1, 1, 1, 1, 0, 0, 0, 1, 1, 1]
    assert lost[kvi, CLASS_TO_INDEX["Cat"]].tolist() == [1] + [0] * 9
    np.testing.assert_array_equal(old.gt_visual, real_annotations["test"].gt_visual)
