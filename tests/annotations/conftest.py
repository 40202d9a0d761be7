"""Fixtures of the annotation-store tests: a small synthetic LLP-format dataset (read-only for the tests), a store
on a fresh database beside it, and a few of its clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mgn.annotations import AnnotationStore
from mgn.data.llp import LLPLayout, load_annotations
from mgn.data.synthetic import SyntheticConfig, generate_dataset

SIZES = {"train": 3, "val": 3, "test": 4}
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic dataset in the official layout (features included, for load_split and evaluation)."""
    root = tmp_path_factory.mktemp("annotations") / "data"
    generate_dataset(root, SyntheticConfig(), SIZES, seed=11, progress=False)
    return root


@pytest.fixture(scope="session")
def test_clips(data_dir: Path) -> list[str]:
    """The test split's filenames; the first one has at least one audio event."""
    annotations = load_annotations(LLPLayout(root=data_dir), "test", warn=False)
    order = np.argsort(-annotations.gt_audio.sum(axis=(1, 2)), kind="stable")
    return [str(annotations.filenames[index]) for index in order]


@pytest.fixture()
def store(data_dir: Path, tmp_path: Path):
    with AnnotationStore(tmp_path / "annotations.sqlite", data=data_dir, author="tester", session="s1") as opened:
        yield opened


@pytest.fixture()
def make_store(data_dir: Path):
    """Open stores on the synthetic data (``make_store(path=None, **kwargs)``); all are closed after the test."""
    opened: list[AnnotationStore] = []

    def factory(path: Path | str | None = None, **kwargs) -> AnnotationStore:
        opened.append(AnnotationStore(path, data=data_dir, **kwargs))
        return opened[-1]

    yield factory
    for store in opened:
        store.close()
