from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mgn.data.features import pool_frames
from mgn.data.llp import LLPLayout, load_split
from mgn.data.pack import SplitPackError, load_split_pack, save_split_pack
from mgn.data.synthetic.dataset import generate_dataset


@pytest.fixture(scope="module")
def small_split(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("pack_data")
    generate_dataset(root, sizes={"train": 2, "val": 2, "test": 6}, seed=3, progress=False)
    return load_split(LLPLayout(root=root), "test", progress=False)


def test_round_trip_pools_visual_frames(tmp_path: Path, small_split) -> None:
    path = save_split_pack(tmp_path / "pack.npz", small_split, meta={"note": "x"})
    loaded = load_split_pack(path)
    assert loaded.name == "test" and list(loaded.filenames) == list(small_split.filenames)
    assert list(loaded.video_ids) == list(small_split.video_ids)
    for name in ("labels", "audio", "visual_st", "gt_audio", "gt_visual"):
        assert np.array_equal(getattr(loaded, name), getattr(small_split, name)), name
    assert loaded.pooled_visual and np.array_equal(loaded.visual, pool_frames(small_split.visual))
    assert path.stat().st_mode & 0o044  # readable by others per the umask, not mkstemp's 0600


def test_train_split_cannot_be_packed(tmp_path: Path, small_split) -> None:
    train = small_split.subset([0])
    train.gt_audio = train.gt_visual = None
    with pytest.raises(ValueError, match="no dense ground truth"):
        save_split_pack(tmp_path / "train.npz", train)


def test_bad_packs(tmp_path: Path, small_split) -> None:
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        load_split_pack(tmp_path / "absent.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(SplitPackError, match="garbage.npz"):
        load_split_pack(garbage)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, x=np.zeros(3))
    with pytest.raises(SplitPackError, match="not a split pack"):
        load_split_pack(foreign)
    good = save_split_pack(tmp_path / "good.npz", small_split)
    with np.load(good) as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays["audio"] = arrays["audio"][:, :5]
    broken = tmp_path / "broken.npz"
    np.savez(broken, **arrays)
    with pytest.raises(SplitPackError, match="audio"):
        load_split_pack(broken)
    del arrays["gt_visual"]
    incomplete = tmp_path / "incomplete.npz"
    np.savez(incomplete, **arrays)
    with pytest.raises(SplitPackError, match="gt_visual"):
        load_split_pack(incomplete)
