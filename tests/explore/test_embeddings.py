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
from mgn.explore.colors import MODALITY_COLORS  # the explorer's one colour scheme
from mgn.explore.embeddings import (
    FEATURE_EXPLANATION,
    MAX_LABELS,
    MODALITY_SYMBOLS,
    TOKEN_EXPLANATION,
    TOKEN_MODALITIES,
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
    assert list(points.columns) == ["x", "y", "class_index", "class_name", "modality", "av_distance"]
    assert len(points) == 2 * NUM_CLASSES
    assert points["class_index"].tolist() == list(range(NUM_CLASSES)) * 2
    assert points["class_name"].tolist() == list(CLASSES) * 2
    assert points["modality"].tolist() == ["audio"] * NUM_CLASSES + ["visual"] * NUM_CLASSES
    assert np.isfinite(points[["x", "y"]].to_numpy()).all()
    pd.testing.assert_frame_equal(points, token_points(audio, visual, seed=3))
    # av_distance: the class's audio-visual distance in token space, on both of its rows
    np.testing.assert_allclose(points["av_distance"], np.tile(np.linalg.norm(audio - visual, axis=1), 2), rtol=1e-5)
    cross = np.linalg.norm(audio[:, None] - visual[None], axis=-1)[~np.eye(NUM_CLASSES, dtype=bool)]  # (C (C - 1),)
    assert points.attrs["cross_class_distance"] == pytest.approx(np.median(cross), rel=1e-5)
    assert points.attrs["token_width"] == WIDTH


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

    def FailingTSNE(*_: object, **__: object) -> np.ndarray:  # noqa: N802 (stands in for the class)
        raise AssertionError("t-SNE must not run on a cache hit")

    monkeypatch.setattr(embeddings, "_tsne", FailingTSNE)
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


def _traces(figure, role: str) -> list:
    return [trace for trace in figure.data if (trace.meta or {}).get("role") == role]


def _token_frame(seed: int = 0) -> pd.DataFrame:
    """Real t-SNE of random tokens: 50 rows."""
    rng = np.random.default_rng(seed)
    return token_points(*rng.normal(size=(2, NUM_CLASSES, WIDTH)))


def _caption_text(figure) -> str:
    """The figure's title and subtitle as plain text (line breaks become spaces)."""
    return f"{figure.layout.title.text} {figure.layout.title.subtitle.text}".replace("<br>", " ")


def _assert_responsive(figure) -> None:
    """No fixed width (the container's), a legend below the plot and horizontal, t-SNE axes without ticks."""
    layout = figure.layout
    assert layout.width is None and layout.autosize is True and layout.height is not None
    assert layout.legend.orientation == "h" and layout.legend.yanchor == "top" and layout.legend.y <= 0
    assert layout.xaxis.showticklabels is False and layout.yaxis.showticklabels is False
    assert layout.yaxis.scaleanchor is None  # each axis fills its side: no narrow column on a wide screen
    lines = layout.title.subtitle.text.split("<br>")
    assert max(len(line) for line in lines) <= 60  # Plotly does not wrap: short lines fit a 390 px phone


def test_token_figure_markers_and_legend() -> None:
    points = _token_frame()
    figure = token_figure(points)
    tokens = _traces(figure, "tokens")
    assert [trace.meta for trace in tokens] == [{"role": "tokens", "modality": m} for m in TOKEN_MODALITIES]
    # the legend: exactly the two modalities, each one colour and one symbol, different from the other's
    assert [trace.name for trace in figure.data if trace.showlegend is not False] == [
        "audio class token",
        "visual class token",
    ]
    assert len({trace.marker.color for trace in tokens}) == len({trace.marker.symbol for trace in tokens}) == 2
    for trace in tokens:
        modality = trace.meta["modality"]
        rows = points[points["modality"] == modality]
        np.testing.assert_array_equal(trace.x, rows["x"])
        np.testing.assert_array_equal(trace.y, rows["y"])
        assert trace.marker.color == MODALITY_COLORS[modality]  # one string, not a per-point list
        assert trace.marker.symbol == MODALITY_SYMBOLS[modality]
        assert trace.mode == "markers" and trace.text is None  # names on hover, not on every point
        for hover, name in zip(trace.hovertext, rows["class_name"]):
            assert hover.startswith(f"<b>{display_name(name)}</b> \u00b7 {modality} token")
            assert "t-SNE plane" in hover and "token space" in hover
    _assert_responsive(figure)
    assert TOKEN_EXPLANATION.split()[0] in _caption_text(figure)
    assert " ".join(TOKEN_EXPLANATION.split()) in " ".join(_caption_text(figure).split())


def test_token_figure_joins_each_class_once() -> None:
    points = _token_frame(seed=1)
    figure = token_figure(points)
    links = _traces(figure, "link")
    assert [trace.meta["class_index"] for trace in links] == list(range(NUM_CLASSES))
    by_class = points.set_index(["modality", "class_index"])
    for trace in links:
        c = trace.meta["class_index"]
        assert trace.meta["class_name"] == CLASSES[c] and trace.mode == "lines" and trace.showlegend is False
        assert trace.line.width <= 1.5  # thin
        np.testing.assert_allclose(list(zip(trace.x, trace.y)), by_class.loc[[("audio", c), ("visual", c)], ["x", "y"]])
    # the links' hover sits on their midpoints, naming the class and both distances
    (hover,) = _traces(figure, "link_hover")
    assert hover.marker.opacity == 0 and len(hover.x) == NUM_CLASSES
    for c, (x, y, text) in enumerate(zip(hover.x, hover.y, hover.hovertext)):
        audio, visual = by_class.loc[("audio", c), ["x", "y"]], by_class.loc[("visual", c), ["x", "y"]]
        assert (x, y) == pytest.approx(((audio["x"] + visual["x"]) / 2, (audio["y"] + visual["y"]) / 2))
        plane = np.hypot(audio["x"] - visual["x"], audio["y"] - visual["y"])
        space = by_class.loc[("audio", c), "av_distance"]
        assert text.startswith(f"<b>{display_name(CLASSES[c])}</b>")
        assert f"t-SNE plane: {plane:.2f}" in text and f"token space ({WIDTH}-d): {space:.3g}" in text


def test_token_figure_links_only_classes_in_both_modalities() -> None:
    points = _token_frame()
    kept = points[~((points["modality"] == "visual") & points["class_index"].isin([3, 7]))]  # no visual Dog, Fire alarm
    figure = token_figure(kept)
    assert [trace.meta["class_index"] for trace in _traces(figure, "link")] == sorted(set(range(NUM_CLASSES)) - {3, 7})
    assert sum(len(trace.x) for trace in _traces(figure, "tokens")) == len(kept)
    dog = next(text for text in _traces(figure, "tokens")[0].hovertext if text.startswith("<b>Dog</b>"))
    assert "<br>" not in dog  # no partner: no distance
    alone = token_figure(points[points["modality"] == "audio"])  # no class in both: no line, no label, no error
    assert not _traces(alone, "link") and len(_traces(alone, "labels")[0].text) == 0


def test_token_labels_are_few_spread_and_named() -> None:
    points = _token_frame()
    figure = token_figure(points)
    (labels,) = _traces(figure, "labels")
    assert 1 <= len(labels.text) <= MAX_LABELS
    assert labels.hoverinfo == "skip" and labels.showlegend is False and labels.mode == "text"
    assert set(labels.text) <= {display_name(name) for name in CLASSES} and len(set(labels.text)) == len(labels.text)
    # no other trace writes text on the plot
    assert all(trace.text is None for trace in figure.data if trace.meta["role"] != "labels")
    assert len(token_figure(points, max_labels=3).data[-1].text) <= 3
    assert len(token_figure(points, max_labels=0).data[-1].text) == 0


def test_labels_never_overlap_and_stack_points_get_one() -> None:
    """Labels are boxes of about 0.6 em per character and 1.3 em high, above their spot, on the reference plot (a
    phone's): no two kept boxes intersect, none leaves the plot (near a side, the text runs inwards from its spot),
    and a heap of identical spots gets one label, not a pile."""
    rng = np.random.default_rng(5)
    texts = [display_name(name) for name in CLASSES]
    size = embeddings._REFERENCE_PLOT_PX
    assert size <= 304  # the plot's width in the explorer on a 390 px phone
    for trial in range(20):
        anchors = rng.normal(size=(25, 2)) * rng.uniform(0.1, 10, size=2)  # (K, 2) any aspect ratio
        kept, positions = embeddings._spread_labels(anchors, texts, anchors, MAX_LABELS, marker_px=12)
        assert 1 <= len(kept) <= MAX_LABELS and len(set(kept)) == len(kept), trial
        low = anchors.min(axis=0) - 0.05 * np.ptp(anchors, axis=0)  # (2,) the axis ranges, with autorange's margin
        px = (anchors - low) / (1.1 * np.ptp(anchors, axis=0)) * size  # (K, 2) in px of the reference plot
        boxes = []
        for k, position in zip(kept, positions):
            width = 0.6 * 12 * len(texts[k])
            left = {"top center": px[k, 0] - width / 2, "top right": px[k, 0], "top left": px[k, 0] - width}[position]
            assert 0 <= left and left + width <= size, (trial, texts[k], position)
            boxes.append((left, left + width, px[k, 1], px[k, 1] + 1.3 * 12))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2], (trial, a, b)
    heap = np.zeros((25, 2))
    spread = np.array([[0.0, 0.0], [10.0, 10.0]])
    kept, _ = embeddings._spread_labels(heap, texts, np.r_[heap, spread], MAX_LABELS, marker_px=12)
    assert len(kept) == 1


def test_feature_figure_customdata_matches_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A click on a point opens ``customdata[0]`` (mgn.explore.player): every point carries its own row."""
    monkeypatch.setattr(embeddings, "_tsne", _first_two_dims)
    points = class_feature_points(**_feature_inputs(num_clips=8))
    figure = feature_figure(points)
    features = _traces(figure, "features")
    assert sum(len(trace.x) for trace in features) == len(points)
    expected = sorted(points.groupby(["class_index", "modality"]).groups)
    assert [(trace.meta["class_index"], trace.meta["modality"]) for trace in features] == expected
    for trace in features:
        c, modality = trace.meta["class_index"], trace.meta["modality"]
        rows = points[(points["class_index"] == c) & (points["modality"] == modality)]
        assert trace.name == display_name(trace.meta["class_name"]) and trace.meta["class_name"] == CLASSES[c]
        assert trace.marker.color == CLASS_COLORS[c]
        assert trace.marker.symbol == MODALITY_SYMBOLS[modality]
        assert [list(row) for row in trace.customdata] == rows[["clip", "class_name", "modality"]].values.tolist()
        np.testing.assert_array_equal(trace.x, rows["x"])
        np.testing.assert_array_equal(trace.y, rows["y"])
        assert "%{customdata[0]}" in trace.hovertemplate


def test_feature_figure_legend_and_caption(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embeddings, "_tsne", _first_two_dims)
    points = class_feature_points(**_feature_inputs(num_clips=40), max_points=60)
    figure = feature_figure(points)
    features = _traces(figure, "features")
    # one legend entry per class present, its group holding both modalities (a click hides or shows the class)
    shown = [trace for trace in features if trace.showlegend is not False]
    assert [trace.meta["class_index"] for trace in shown] == sorted(points["class_index"].unique())
    for trace in features:
        assert trace.legendgroup == trace.meta["class_name"]
    assert "click" in figure.layout.legend.title.text
    (labels,) = _traces(figure, "labels")
    assert 1 <= len(labels.text) <= MAX_LABELS and labels.hoverinfo == "skip"
    assert all(trace.text is None for trace in features)
    caption = " ".join(_caption_text(figure).split())
    assert " ".join(FEATURE_EXPLANATION.split()) in caption
    assert points.attrs["note"] in caption and "Click a point to open its clip" in caption
    _assert_responsive(figure)


def test_feature_labels_sit_on_their_class() -> None:
    """A label is written on a point of its class (its medoid), above its densest part."""
    rng = np.random.default_rng(3)
    centres = {0: (0.0, 0.0), 5: (50.0, 0.0), 9: (0.0, 50.0)}
    rows = []
    for c, (cx, cy) in centres.items():
        for modality in TOKEN_MODALITIES:
            for i, (x, y) in enumerate(rng.normal(size=(30, 2)) + (cx, cy)):
                rows.append({"x": x, "y": y, "class_index": c, "class_name": CLASSES[c], "modality": modality,
                             "clip_index": i, "clip": f"{i:011d}_0_10"})  # fmt: skip
    points = pd.DataFrame(rows)
    (labels,) = _traces(feature_figure(points), "labels")
    assert sorted(labels.text) == sorted(display_name(CLASSES[c]) for c in centres)
    for text, x, y in zip(labels.text, labels.x, labels.y):
        c = next(c for c in centres if display_name(CLASSES[c]) == text)
        own = points[points["class_index"] == c]
        assert ((own["x"] == x) & (own["y"] == y)).any()  # a real point of the class
        assert np.hypot(x - centres[c][0], y - centres[c][1]) < 1.0  # near the centre of its cloud


def test_imports_neither_gradio_nor_torch_nor_sklearn() -> None:
    """scikit-learn takes seconds to import: the app's first page must not wait for it."""
    code = "import sys, mgn.explore.embeddings; print(*(m in sys.modules for m in ('gradio', 'torch', 'sklearn')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False", "False"]
