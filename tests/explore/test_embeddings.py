"""Tests for ``mgn.explore.embeddings``: t-SNE points of class tokens and class-aware features, cache and figures.

Real t-SNE runs only on small inputs (50 to 150 points); tests of the bookkeeping replace it with a stand-in that
returns the first two feature dimensions, so that each output row shows which input vector it came from.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.manifold import trustworthiness

from mgn.explore import embeddings
from mgn.explore.embeddings import (
    MODALITY_SYMBOLS,
    class_feature_points,
    feature_figure,
    token_figure,
    token_points,
)
from mgn.labels import CLASS_COLORS, CLASSES, NUM_CLASSES, display_name

WIDTH = 16  # D, small for speed


def _first_two_dims(vectors: np.ndarray, **_: object) -> np.ndarray:
    """Stand-in for t-SNE: (n, D) -> (n, 2), the first two features."""
    return vectors[:, :2].copy()


def _pairwise(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None] - points[None], axis=-1)  # (n, n)


def _feature_inputs(num_clips: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """Features whose first two entries encode (clip, class) and modality; about a third of pairs present."""
    rng = np.random.default_rng(seed)
    clip, cls = np.meshgrid(np.arange(num_clips), np.arange(NUM_CLASSES), indexing="ij")  # (N, C) each
    audio = rng.normal(size=(num_clips, NUM_CLASSES, WIDTH)).astype(np.float32)
    visual = rng.normal(size=(num_clips, NUM_CLASSES, WIDTH)).astype(np.float32)
    audio[..., 0], audio[..., 1] = clip, cls
    visual[..., 0], visual[..., 1] = clip + 1000, cls
    return {
        "audio_features": audio,
        "visual_features": visual,
        "audio_present": rng.random((num_clips, NUM_CLASSES)) < 0.3,
        "visual_present": rng.random((num_clips, NUM_CLASSES)) < 0.3,
        "filenames": np.array([f"{i:011d}_0_10" for i in range(num_clips)]),
    }


# ---------------------------------------------------------------------------------------------------------------------
# class tokens


def test_token_points_rows_and_determinism() -> None:
    rng = np.random.default_rng(0)
    audio, visual = rng.normal(size=(2, NUM_CLASSES, WIDTH))
    points = token_points(audio, visual, seed=3)
    assert list(points.columns) == ["x", "y", "class_index", "class_name", "modality"]
    assert len(points) == 2 * NUM_CLASSES
    assert points["class_index"].tolist() == list(range(NUM_CLASSES)) * 2
    assert points["class_name"].tolist() == list(CLASSES) * 2
    assert points["modality"].tolist() == ["audio"] * NUM_CLASSES + ["visual"] * NUM_CLASSES
    assert np.isfinite(points[["x", "y"]].to_numpy()).all()
    pd.testing.assert_frame_equal(points, token_points(audio, visual, seed=3))


def test_tokens_of_one_class_end_up_together() -> None:
    """Audio and visual tokens near a shared class centre stay neighbours in 2-D.

    t-SNE's layout changes between library releases, so the test asserts neighbourhood properties with a margin rather
    than one exact layout: most tokens have their partner as 2-D nearest neighbour (1.0 here on scikit-learn 1.9;
    0.04 for a random layout), and the embedding's trustworthiness (scikit-learn's neighbour-preservation score,
    about 0.86-0.91 here; about 0.5 for a random layout) is high.
    """
    rng = np.random.default_rng(1)
    centres = 5 * rng.normal(size=(NUM_CLASSES, WIDTH))
    audio = centres + 0.05 * rng.normal(size=centres.shape)
    visual = centres + 0.05 * rng.normal(size=centres.shape)
    xy = token_points(audio, visual)[["x", "y"]].to_numpy()  # (2C, 2)
    distances = _pairwise(xy) + np.diag(np.full(len(xy), np.inf))
    partner = np.r_[np.arange(NUM_CLASSES) + NUM_CLASSES, np.arange(NUM_CLASSES)]
    assert (distances.argmin(axis=1) == partner).mean() >= 0.8
    assert trustworthiness(np.concatenate([audio, visual]), xy, n_neighbors=5) >= 0.75


@pytest.mark.parametrize(
    ("audio_shape", "visual_shape", "message"),
    [
        ((NUM_CLASSES, 8), (NUM_CLASSES, 9), "audio_tokens and visual_tokens"),
        ((10, 8), (10, 8), "expected"),
        ((NUM_CLASSES,), (NUM_CLASSES,), r"audio_tokens: expected shape \(25, D\)"),
    ],
)
def test_token_shape_errors(audio_shape: tuple, visual_shape: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        token_points(np.ones(audio_shape), np.ones(visual_shape))


def test_identical_tokens_are_refused_not_crashing() -> None:
    """An untrained MGN has all-zero tokens; scikit-learn's PCA initialisation would divide by zero there."""
    with pytest.raises(ValueError, match="identical"):
        token_points(np.zeros((NUM_CLASSES, WIDTH)), np.zeros((NUM_CLASSES, WIDTH)))
    tokens = np.ones((NUM_CLASSES, WIDTH))
    tokens[3, 2] = np.nan
    with pytest.raises(ValueError, match="vector 3 of 50 contains NaN"):
        token_points(tokens, tokens)


# ---------------------------------------------------------------------------------------------------------------------
# class-aware features


def test_features_keep_exactly_the_present_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "_tsne", _first_two_dims)
    inputs = _feature_inputs()
    points = class_feature_points(**inputs)
    audio_clip, audio_class = np.nonzero(inputs["audio_present"])
    visual_clip, visual_class = np.nonzero(inputs["visual_present"])
    assert points["modality"].tolist() == ["audio"] * len(audio_clip) + ["visual"] * len(visual_clip)
    assert points["clip_index"].tolist() == [*audio_clip, *visual_clip]
    assert points["class_index"].tolist() == [*audio_class, *visual_class]
    assert points["class_name"].tolist() == [CLASSES[c] for c in points["class_index"]]
    assert points["clip"].tolist() == inputs["filenames"][points["clip_index"]].tolist()
    # each row was embedded from its own vector: x encodes the clip (+1000 for visual), y the class
    offset = np.where(points["modality"] == "visual", 1000, 0)
    np.testing.assert_array_equal(points["x"], points["clip_index"] + offset)
    np.testing.assert_array_equal(points["y"], points["class_index"])
    assert points.attrs["present_points"] == len(points) and points.attrs["subsampled"] is False
    assert points.attrs["cache"] == "off"


def test_subsampling_is_deterministic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "_tsne", _first_two_dims)
    inputs = _feature_inputs(num_clips=40)
    everything = class_feature_points(**inputs, max_points=None)
    first = class_feature_points(**inputs, max_points=50, seed=7)
    pd.testing.assert_frame_equal(first, class_feature_points(**inputs, max_points=50, seed=7))
    assert len(first) == 50 and first.attrs["subsampled"] is True
    assert first.attrs["present_points"] == len(everything) > 50
    assert "50 of" in first.attrs["note"] and "seed 7" in first.attrs["note"]
    keys = ["modality", "clip_index", "class_index"]
    all_rows = set(map(tuple, everything[keys].to_numpy().tolist()))
    sampled_rows = list(map(tuple, first[keys].to_numpy().tolist()))
    assert set(sampled_rows) <= all_rows and len(set(sampled_rows)) == 50
    assert first.merge(everything, on=[*keys, "x", "y", "class_name", "clip"]).shape[0] == 50  # same vectors
    other = class_feature_points(**inputs, max_points=50, seed=8)
    assert set(map(tuple, other[keys].to_numpy().tolist())) != set(sampled_rows)


def test_features_cluster_by_class() -> None:
    """Five classes, tight Gaussian blobs shared by both modalities: closer within a class than across (2-D)."""
    rng = np.random.default_rng(2)
    num_clips, classes = 30, np.arange(5)
    centres = 4 * rng.normal(size=(NUM_CLASSES, WIDTH))
    features = centres + 0.1 * rng.normal(size=(2, num_clips, NUM_CLASSES, WIDTH))  # (2, N, C, D)
    present = np.zeros((num_clips, NUM_CLASSES), bool)
    present[np.arange(num_clips), classes[np.arange(num_clips) % len(classes)]] = True  # one class per clip
    points = class_feature_points(features[0], features[1], present, present, [f"{i:011d}" for i in range(num_clips)])
    assert len(points) == 2 * num_clips
    xy, labels = points[["x", "y"]].to_numpy(), points["class_index"].to_numpy()
    distances = _pairwise(xy)
    same = labels[:, None] == labels[None]
    off_diagonal = ~np.eye(len(xy), dtype=bool)
    assert distances[same & off_diagonal].mean() < 0.3 * distances[~same].mean()
    assert distances[same & off_diagonal].max() < distances[~same].min()  # the five clusters are separated


def test_cache_is_written_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = _feature_inputs(num_clips=6)
    first = class_feature_points(**inputs, cache_dir=tmp_path / "tsne")
    assert first.attrs["cache"] == "miss"
    files = list((tmp_path / "tsne").iterdir())
    assert [Path(first.attrs["cache_path"])] == files and files[0].suffix == ".npz"  # no temporary file left

    class FailingTSNE:
        def __init__(self, **_: object) -> None:
            raise AssertionError("t-SNE must not run on a cache hit")

    monkeypatch.setattr(embeddings, "TSNE", FailingTSNE)
    second = class_feature_points(**inputs, cache_dir=tmp_path / "tsne")
    assert second.attrs["cache"] == "hit"
    pd.testing.assert_frame_equal(first, second)
    with pytest.raises(AssertionError, match="must not run"):  # another seed is another key
        class_feature_points(**inputs, cache_dir=tmp_path / "tsne", seed=1)
    changed = dict(inputs, audio_features=inputs["audio_features"] + 1)
    with pytest.raises(AssertionError, match="must not run"):  # other features are another key
        class_feature_points(**changed, cache_dir=tmp_path / "tsne")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "unreadable"),  # a 0-byte file
        (b"not an npz", "unreadable"),  # garbage
        ("truncated", "unreadable"),  # the first half of a valid file
        ("nan", r"holds float32 \(\d+, 2\) \(finite: False\)"),  # readable, but not coordinates
        ("shape", r"holds float32 \(3, 2\)"),
    ],
)
def test_a_bad_cache_file_is_recomputed_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes | str, problem: str
) -> None:
    inputs = _feature_inputs(num_clips=6)
    monkeypatch.setattr(embeddings, "_tsne", _first_two_dims)
    first = class_feature_points(**inputs, cache_dir=tmp_path)
    path = Path(first.attrs["cache_path"])
    good = path.read_bytes()
    if content == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif content == "nan":
        np.savez(path, xy=np.full((len(first), 2), np.nan, dtype=np.float32))
    elif content == "shape":
        np.savez(path, xy=np.zeros((3, 2), dtype=np.float32))
    else:
        path.write_bytes(content)
    with pytest.warns(UserWarning, match=f"t-SNE cache {path}: {problem}.*recomputing") as caught:
        again = class_feature_points(**inputs, cache_dir=tmp_path)
    assert len(caught) == 1
    assert again.attrs["cache"] == "miss" and again.attrs["cache_path"] == str(path)
    pd.testing.assert_frame_equal(first, again, check_like=False)
    assert path.read_bytes() == good  # replaced by the recomputed result
    assert class_feature_points(**inputs, cache_dir=tmp_path).attrs["cache"] == "hit"


def test_an_unwritable_cache_warns_and_still_answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file where the cache folder should be (the read-only and full-disk cases fail the same write)."""
    inputs = _feature_inputs(num_clips=6)
    monkeypatch.setattr(embeddings, "_tsne", _first_two_dims)
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("in the way")
    with pytest.warns(UserWarning, match=f"cannot write the t-SNE cache {blocked}/tsne-.*continuing without it"):
        points = class_feature_points(**inputs, cache_dir=blocked)
    assert points.attrs["cache"] == "off" and points.attrs["cache_path"] is None and len(points) > 0
    assert blocked.read_text() == "in the way"


def test_feature_input_errors() -> None:
    inputs = _feature_inputs(num_clips=4)
    with pytest.raises(ValueError, match="filenames: expected 4"):
        class_feature_points(**dict(inputs, filenames=inputs["filenames"][:3]))
    with pytest.raises(ValueError, match="visual_present: expected shape"):
        class_feature_points(**dict(inputs, visual_present=inputs["visual_present"][:, :5]))
    with pytest.raises(ValueError, match="audio_features and visual_features"):
        class_feature_points(**dict(inputs, visual_features=inputs["visual_features"][:, :, :3]))
    nothing = np.zeros_like(inputs["audio_present"])
    with pytest.raises(ValueError, match="no \\(clip, class\\) pair"):
        class_feature_points(**dict(inputs, audio_present=nothing, visual_present=nothing))
    with pytest.raises(ValueError, match="max_points"):
        class_feature_points(**inputs, max_points=2)


# ---------------------------------------------------------------------------------------------------------------------
# figures


def test_token_figure() -> None:
    rng = np.random.default_rng(0)
    points = token_points(*rng.normal(size=(2, NUM_CLASSES, WIDTH)))
    figure = token_figure(points)
    assert sum(len(trace.x) for trace in figure.data) == 2 * NUM_CLASSES
    assert [trace.meta for trace in figure.data] == [
        {"role": "tokens", "modality": "audio"},
        {"role": "tokens", "modality": "visual"},
    ]
    for trace in figure.data:
        rows = points[points["modality"] == trace.meta["modality"]]
        np.testing.assert_array_equal(trace.x, rows["x"])
        assert list(trace.marker.color) == [CLASS_COLORS[c] for c in rows["class_index"]]
        assert trace.marker.symbol == MODALITY_SYMBOLS[trace.meta["modality"]]
        assert list(trace.text) == [display_name(name) for name in rows["class_name"]]
    assert figure.layout.yaxis.scaleanchor == "x"


def test_feature_figure_customdata_matches_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "_tsne", _first_two_dims)
    points = class_feature_points(**_feature_inputs(num_clips=8))
    figure = feature_figure(points)
    assert sum(len(trace.x) for trace in figure.data) == len(points)
    assert [trace.meta["class_index"] for trace in figure.data] == sorted(points["class_index"].unique())
    for trace in figure.data:
        assert trace.meta["role"] == "features"
        rows = points[points["class_index"] == trace.meta["class_index"]]
        assert trace.name == display_name(trace.meta["class_name"])
        assert trace.marker.color == CLASS_COLORS[trace.meta["class_index"]]
        assert [list(row) for row in trace.customdata] == rows[["clip", "class_name", "modality"]].values.tolist()
        np.testing.assert_array_equal(trace.x, rows["x"])
        np.testing.assert_array_equal(trace.y, rows["y"])
        assert list(trace.marker.symbol) == [MODALITY_SYMBOLS[m] for m in rows["modality"]]
    assert figure.layout.yaxis.scaleanchor == "x"


def test_imports_neither_gradio_nor_torch() -> None:
    code = "import sys, mgn.explore.embeddings; print('gradio' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
