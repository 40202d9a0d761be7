"""t-SNE views of MGN's class tokens and class-aware features (Fig. 2 of the MGN paper), as frames and Plotly figures.

:func:`token_points` embeds the 25 audio and 25 visual learnable class tokens together; :func:`class_feature_points`
embeds the class-aware features of the (clip, class) pairs present in each clip's ground truth, audio and visual
together, with an optional on-disk cache of the 2-D result. :func:`token_figure` and :func:`feature_figure` draw
them, each with one sentence saying what to look for (:data:`TOKEN_EXPLANATION`, :data:`FEATURE_EXPLANATION`):

* tokens: colour and marker symbol = modality (``mgn.explore.colors.MODALITY_COLORS``, :data:`MODALITY_SYMBOLS`),
  a thin line joins each class's audio and visual token, class names on hover and on at most :data:`MAX_LABELS`
  well-spread pairs;
* features: colour = class (``mgn.labels.CLASS_COLORS``), symbol = modality, one legend entry per class (clicking it
  shows or hides both modalities), names of at most :data:`MAX_LABELS` well-spread classes on the plot.

Both figures take the width of their container (no fixed width; the height is fixed) and keep their legend below
the plot, horizontal, so that they also work on a phone.

Notation: N clips, C = ``NUM_CLASSES`` = 25 classes, D feature width (MGN's ``dim``, 128 officially).
Point frames hold ``x``, ``y`` (t-SNE coordinates, no unit), ``class_index`` (official order), ``class_name`` (CSV
spelling, ``mgn.labels.CLASSES``) and ``modality`` (``"audio"`` / ``"visual"``); token frames add ``av_distance``
(see :func:`token_points`), feature frames ``clip_index`` (position in the split) and ``clip`` (full filename).

scikit-learn is imported only when a t-SNE is computed (it takes seconds to import; the app serves its first page
without it).
"""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
import warnings
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from mgn.explore.checks import binary_array, real_array
from mgn.explore.colors import MODALITY_COLORS  # the explorer's one colour scheme
from mgn.io import atomic_path
from mgn.labels import CLASS_COLORS, CLASSES, EVAL_MODALITIES, NUM_CLASSES, display_name
from mgn.npz import UNREADABLE, read_npz

__all__ = [
    "FEATURE_EXPLANATION",
    "FEATURE_PERPLEXITY",
    "MAX_LABELS",
    "MODALITY_SYMBOLS",
    "TOKEN_EXPLANATION",
    "TOKEN_MODALITIES",
    "TOKEN_PERPLEXITY",
    "class_feature_points",
    "feature_figure",
    "token_figure",
    "token_points",
]

# The modalities with class tokens and class-aware features: audio and visual (audio-visual is derived from them).
TOKEN_MODALITIES: tuple[str, ...] = EVAL_MODALITIES[:2]
MODALITY_SYMBOLS: dict[str, str] = {"audio": "circle", "visual": "diamond"}
_SYMBOL_GLYPHS: dict[str, str] = {"circle": "\u25cf", "diamond": "\u25c6"}  # the symbols as text: ● ◆
TOKEN_PERPLEXITY = 10.0  # 50 points: about 10 effective neighbours each
FEATURE_PERPLEXITY = 30.0  # scikit-learn's default, for thousands of points
_EXACT_MAX_POINTS = 100  # exact t-SNE up to here (the 50 class tokens), Barnes-Hut above
_CACHE_FORMAT = 1  # bump when the cached content or its key changes meaning

# What to look for (after Fig. 2 of the MGN paper), shown under each figure's title.
TOKEN_EXPLANATION = (
    "Look for 25 pairs standing apart (one shared classifier names both tokens of a class), with short lines for "
    "classes usually heard and seen together."
)
FEATURE_EXPLANATION = (
    "Look for one compact cloud per class, apart from the others, its audio and visual points close when the class "
    "is both heard and seen."
)
MAX_LABELS = 8  # the most class names written on a figure at once (the others on hover)

_TOKEN_MARKER_SIZE = 12
_FEATURE_MARKER_SIZE = 6
_FEATURE_OPACITY = 0.7
_LINK_COLOR = "#9ca3af"  # the audio-visual line of a class: thin, neutral grey under the markers
_TOKEN_OUTLINE = "rgba(0, 0, 0, 0.45)"  # a thin dark edge: the light modality colours stand out on white
_TOKEN_HEIGHT = 640  # px; the width follows the container
_FEATURE_HEIGHT = 760
_FONT_PX = 13
_LABEL_FONT_PX = 12
_CAPTION_CHARS = 58  # subtitle line length: about 350 px at 12 px, which a 390 px phone screen still shows whole
_TITLE_TOP_PX = 34  # the title starts below Plotly's mode bar (top right), which a phone's width would put over it
# Buttons of the mode bar left out: selections mean nothing here, and fewer buttons leave room on a phone.
_MODEBAR_REMOVE = ("lasso2d", "select2d", "zoomIn2d", "zoomOut2d", "autoScale2d")
# Label placement assumes the smallest plot area the figures are made for (in the explorer on a 390 px phone: 304 px
# wide and at least 330 px tall, measured), so that labels that do not touch there do not touch on a larger plot.
_REFERENCE_PLOT_PX = 290.0
_LABEL_GAP_PX = 4.0
_MEDOID_SAMPLE = 400  # a class's label sits on its medoid, computed on at most this many of its points


# ---------------------------------------------------------------------------------------------------------------------
# t-SNE


def _perplexity(num_points: int, wanted: float) -> float:
    """``wanted``, lowered for small inputs: scikit-learn needs perplexity < n and uses 3 * perplexity neighbours."""
    return min(wanted, (num_points - 1) / 3)


def _tsne(vectors: np.ndarray, *, perplexity: float, seed: int, threads: int | None) -> np.ndarray:
    """(n, D) -> (n, 2) float32 t-SNE coordinates (PCA initialisation, fixed seed, ``threads`` OpenMP/BLAS threads).

    Up to :data:`_EXACT_MAX_POINTS` points use the exact gradient (as fast there, and free of the Barnes-Hut
    approximation); more use Barnes-Hut.

    Raises:
        ValueError: fewer than 4 points, a NaN or infinite value, or all vectors identical (scikit-learn's PCA
            initialisation divides by zero there; an untrained MGN has all-zero class tokens).
    """
    if len(vectors) < 4:
        raise ValueError(f"t-SNE needs at least 4 points, found {len(vectors)}")
    if not np.isfinite(vectors).all():
        row = int(np.argwhere(~np.isfinite(vectors))[0, 0])
        raise ValueError(f"vector {row} of {len(vectors)} contains NaN or infinity")
    if np.ptp(vectors, axis=0).max() == 0:
        raise ValueError(f"all {len(vectors)} vectors are identical (an untrained MGN has all-zero class tokens)")
    from sklearn.manifold import TSNE  # imported here: 1-2 s to import, only t-SNE needs it
    from threadpoolctl import threadpool_limits  # scikit-learn's, imported with it

    method = "exact" if len(vectors) <= _EXACT_MAX_POINTS else "barnes_hut"
    tsne = TSNE(
        n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", method=method, random_state=seed
    )
    with threadpool_limits(limits=threads):
        return tsne.fit_transform(vectors).astype(np.float32)


def _as_vectors(values: np.ndarray, name: str, shape: tuple[int | str, ...], layout: str) -> np.ndarray:
    """``values`` as a float32 array of ``shape`` (see :func:`mgn.explore.checks.real_array`), last axis = D."""
    return real_array(values, name, shape, layout).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------------------------------------------------
# class tokens


def token_points(
    audio_tokens: np.ndarray, visual_tokens: np.ndarray, *, seed: int = 0, threads: int | None = 1
) -> pd.DataFrame:
    """t-SNE of MGN's 25 audio and 25 visual learnable class tokens, embedded together.

    Args:
        audio_tokens: (C, D) audio class tokens (MGN's ``audio_token`` parameter), class order.
        visual_tokens: (C, D) visual class tokens (``visual_token``).
        seed: t-SNE ``random_state`` (with PCA initialisation and the exact gradient used for 50 points, the result
            hardly depends on it); the result is deterministic.
        threads: OpenMP / BLAS threads for t-SNE; None: the libraries' default (all cores). The default 1 makes the
            result independent of the machine's core count (Barnes-Hut sums in thread order) and is often faster on
            a busy machine, where competing OpenMP threads spin.

    Returns:
        2 C = 50 rows, audio tokens first (class order), then visual: ``x``, ``y``, ``class_index``,
        ``class_name``, ``modality`` and ``av_distance``, the Euclidean distance between the class's audio and
        visual token in the D-dimensional token space (the same on both rows of a class). ``attrs`` holds
        ``cross_class_distance``, the median distance between an audio token and the visual token of another class
        (the scale ``av_distance`` is read against), and ``token_width`` (D).

    Raises:
        ValueError: a shape other than (C, D) with equal D, non-finite values, or identical tokens.
    """
    audio = _as_vectors(audio_tokens, "audio_tokens", (NUM_CLASSES, "D"), "[class, feature]")
    visual = _as_vectors(visual_tokens, "visual_tokens", (NUM_CLASSES, "D"), "[class, feature]")
    if audio.shape != visual.shape:
        raise ValueError(
            f"audio_tokens and visual_tokens: expected ({NUM_CLASSES}, D) [class, feature] with the same D, "
            f"found {audio.shape}, {visual.shape}"
        )
    vectors = np.concatenate([audio, visual])  # (2C, D)
    xy = _tsne(vectors, perplexity=_perplexity(len(vectors), TOKEN_PERPLEXITY), seed=seed, threads=threads)
    class_index = np.tile(np.arange(NUM_CLASSES), len(TOKEN_MODALITIES))  # (2C,)
    frame = _points_frame(xy, class_index, np.repeat(TOKEN_MODALITIES, NUM_CLASSES))
    pair_distance, cross_class = _pair_distances(audio, visual)  # (C,), scalar
    frame["av_distance"] = np.tile(pair_distance, len(TOKEN_MODALITIES))  # (2C,)
    frame.attrs |= {"cross_class_distance": cross_class, "token_width": int(audio.shape[1])}
    return frame


def _pair_distances(audio: np.ndarray, visual: np.ndarray) -> tuple[np.ndarray, float]:
    """(K, d) audio and visual vectors of the same K classes (row k = class k in both) -> the (K,) Euclidean distance
    between each class's audio and visual vector, and the median distance between the audio vector of one class and
    the visual vector of another (NaN for K = 1)."""
    distances = np.linalg.norm(audio[:, None].astype(np.float64) - visual[None], axis=-1)  # (K, K) [audio, visual]
    other = ~np.eye(len(audio), dtype=bool)
    return np.diagonal(distances).copy(), float(np.median(distances[other])) if other.any() else float("nan")


def _points_frame(xy: np.ndarray, class_index: np.ndarray, modality: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "class_index": class_index.astype(np.int64),
            "class_name": np.asarray(CLASSES)[class_index],
            "modality": modality,
        }
    )


# ---------------------------------------------------------------------------------------------------------------------
# class-aware features


def _present_pairs(present: np.ndarray, name: str, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(clip, class) indices of the True cells of an (N, C) presence matrix, clip-major."""
    return np.nonzero(binary_array(present, name, shape, "[clip, class]"))


def _cache_key(vectors: np.ndarray, params: dict[str, object]) -> str:
    """sha256 of the exact t-SNE input and every parameter that changes the result."""
    digest = hashlib.sha256()
    header = {"format": _CACHE_FORMAT, "sklearn": version("scikit-learn"), "shape": vectors.shape, **params}
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _load_cached(path: Path, num_points: int) -> np.ndarray | None:
    """The cached (P', 2) float32 t-SNE at ``path``, or None after a warning naming the file when it cannot be read
    or holds something else (a wrong shape, dtype or a non-finite value)."""
    try:
        xy = read_npz(path, ["xy"])["xy"]
    except UNREADABLE as error:
        problem = f"unreadable ({type(error).__name__}: {error})"
    else:
        if xy.shape == (num_points, 2) and xy.dtype == np.float32 and np.isfinite(xy).all():
            return xy
        problem = f"holds {xy.dtype} {xy.shape} (finite: {bool(np.isfinite(xy).all())}), expected finite float32 "
        problem += f"({num_points}, 2)"
    warnings.warn(f"t-SNE cache {path}: {problem}; recomputing and replacing it", stacklevel=4)
    return None


def _kept_pairs(
    presence: dict[str, np.ndarray], shape: tuple[int, int], *, seed: int, max_points: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The (clip, class, modality) triples to embed: present pairs, audio first, each clip-major, subsampled above
    ``max_points`` (uniformly, seeded, kept in order). Returns ``(clip_index, class_index, modality,
    present_points)``, the arrays (P',) each."""
    pairs = {m: _present_pairs(presence[m], f"{m}_present", shape) for m in TOKEN_MODALITIES}  # (clip, class) each
    clip_index = np.concatenate([pairs[m][0] for m in TOKEN_MODALITIES])  # (P,)
    class_index = np.concatenate([pairs[m][1] for m in TOKEN_MODALITIES])  # (P,)
    modality = np.repeat(TOKEN_MODALITIES, [len(pairs[m][0]) for m in TOKEN_MODALITIES])  # (P,)
    present_points = len(clip_index)
    if present_points == 0:
        raise ValueError("audio_present and visual_present mark no (clip, class) pair: nothing to embed")
    rows = np.arange(present_points)
    if max_points is not None and present_points > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(present_points, size=max_points, replace=False))
    return clip_index[rows], class_index[rows], modality[rows], present_points


def _cached_tsne(
    vectors: np.ndarray, *, perplexity: float, seed: int, threads: int | None, cache_dir: Path | str | None
) -> tuple[np.ndarray, str, Path | None]:
    """:func:`_tsne`, read from / written to ``cache_dir`` when given. Returns ``(xy, "hit" | "miss" | "off",
    cache_path)``; "off" (and no path) also when the cache file could not be written (after a warning)."""
    if cache_dir is None:
        return _tsne(vectors, perplexity=perplexity, seed=seed, threads=threads), "off", None
    thread_key = threads if threads is not None else f"default of {os.cpu_count()} CPUs"
    key = _cache_key(vectors, {"seed": seed, "perplexity": perplexity, "threads": thread_key})
    path = Path(cache_dir) / f"tsne-{key[:32]}.npz"
    if path.is_file():
        xy = _load_cached(path, len(vectors))
        if xy is not None:
            return xy, "hit", path
    xy = _tsne(vectors, perplexity=perplexity, seed=seed, threads=threads)  # (P', 2)
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:  # readers never see a partial file
            np.savez(stream, xy=xy)
    except OSError as error:  # read-only or full disk, a file where the folder should be
        warnings.warn(f"cannot write the t-SNE cache {path} ({error}); continuing without it", stacklevel=3)
        return xy, "off", None
    return xy, "miss", path


def class_feature_points(
    audio_features: np.ndarray,
    visual_features: np.ndarray,
    audio_present: np.ndarray,
    visual_present: np.ndarray,
    filenames: Sequence[str] | np.ndarray,
    *,
    seed: int = 0,
    max_points: int | None = 6000,
    cache_dir: Path | str | None = None,
    threads: int | None = 1,
) -> pd.DataFrame:
    """t-SNE of MGN's class-aware features of the (clip, class) pairs present in each modality (paper Fig. 2).

    Audio feature ``[n, c]`` is kept when ``audio_present[n, c]``, visual likewise; all kept vectors are embedded
    together. Above ``max_points`` kept pairs, a uniform random subset of ``max_points`` (drawn with ``seed``,
    in row order) is embedded instead.

    Args:
        audio_features: (N, C, D) class-aware audio features [clip, class, feature] (``Predictions``'
            ``audio_class_features``).
        visual_features: (N, C, D) class-aware visual features.
        audio_present: (N, C) bool, class c is in clip n's audio ground truth (e.g. ``gt_a.any(axis=2)``).
        visual_present: (N, C) bool, the same for the visual ground truth.
        filenames: (N,) full LLP filenames, split order.
        seed: seeds both the subsample and t-SNE.
        max_points: most points to embed; None embeds all.
        cache_dir: folder for the 2-D result, keyed by a sha256 of the embedded vectors and parameters; None: no
            cache. A hit skips t-SNE entirely; a cache file that cannot be read or holds anything but the expected
            finite (P', 2) coordinates is recomputed and replaced, and one that cannot be written is skipped, each
            with a warning naming the file.
        threads: OpenMP / BLAS threads for t-SNE, as in :func:`token_points`; part of the cache key, since the
            Barnes-Hut result depends on it.

    Returns:
        One row per embedded pair, audio rows first, each clip-major: ``x``, ``y``, ``class_index``,
        ``class_name``, ``modality``, ``clip_index``, ``clip``. ``attrs`` holds ``present_points`` (pairs before
        subsampling), ``subsampled`` (bool), ``note`` (one line for the UI), ``perplexity``, ``seed`` and ``cache``
        (``"hit"``, ``"miss"`` or ``"off"``) with ``cache_path``.

    Raises:
        ValueError: mismatched shapes, no present pair, ``max_points`` < 4, non-finite or identical vectors.
    """
    layout = "[clip, class, feature]"
    features = {
        "audio": _as_vectors(audio_features, "audio_features", ("N", NUM_CLASSES, "D"), layout),
        "visual": _as_vectors(visual_features, "visual_features", ("N", NUM_CLASSES, "D"), layout),
    }
    shape = features["audio"].shape
    if features["visual"].shape != shape:
        raise ValueError(
            f"audio_features and visual_features: expected (N, {NUM_CLASSES}, D) {layout} with the same N and D, "
            f"found {shape}, {features['visual'].shape}"
        )
    clips = np.asarray(filenames, dtype=str)
    if clips.shape != (shape[0],):
        raise ValueError(f"filenames: expected {shape[0]} names (one per clip), found shape {clips.shape}")
    if max_points is not None and max_points < 4:
        raise ValueError(f"max_points must be None or >= 4, got {max_points}")

    clip_index, class_index, modality, present_points = _kept_pairs(
        {"audio": audio_present, "visual": visual_present}, shape[:2], seed=seed, max_points=max_points
    )  # (P',) each
    vectors = np.empty((len(clip_index), shape[2]), dtype=np.float32)  # (P', D)
    for name in TOKEN_MODALITIES:
        picked = modality == name
        vectors[picked] = features[name][clip_index[picked], class_index[picked]]
    perplexity = _perplexity(len(vectors), FEATURE_PERPLEXITY)
    xy, cache, cache_path = _cached_tsne(
        vectors, perplexity=perplexity, seed=seed, threads=threads, cache_dir=cache_dir
    )  # (P', 2)

    frame = _points_frame(xy, class_index, modality)
    frame["clip_index"] = clip_index.astype(np.int64)
    frame["clip"] = clips[clip_index]
    subsampled = len(frame) < present_points
    note = f"{len(frame)} of {present_points} present (clip, class) pairs"
    frame.attrs |= {
        "present_points": present_points,
        "subsampled": subsampled,
        "note": note + (f" (random subsample, seed {seed})" if subsampled else ""),
        "perplexity": perplexity,
        "seed": seed,
        "cache": cache,
        "cache_path": None if cache_path is None else str(cache_path),
    }
    return frame


# ---------------------------------------------------------------------------------------------------------------------
# figures


def _caption(*sentences: str) -> str:
    """The sentences as a Plotly subtitle: wrapped at :data:`_CAPTION_CHARS` with ``<br>`` (Plotly does not wrap)."""
    return "<br>".join(line for sentence in sentences for line in textwrap.wrap(sentence, _CAPTION_CHARS))


def _style_scatter(
    traces: list[go.Scatter], title: str, caption: str, *, height: int, legend_title: str | None = None
) -> go.Figure:
    """The figure of ``traces`` (made in one go: plotly.py takes about 5 times longer to add 50 traces one by one)
    with the common layout of the two t-SNE figures.

    The width follows the container (``autosize``, no width set) and the height is fixed; title and caption are
    left-aligned above the plot (below the mode bar), the legend is horizontal below it (scrolling when taller than
    a third of the figure), so that the plot keeps the full width on a phone. t-SNE axes carry no unit: ticks
    hidden, and each axis fills its side of the plot (an equal scale would leave a wide screen's plot a narrow
    column), so distances are read on hover rather than by eye across directions.
    """
    caption_lines = caption.count("<br>") + 1
    figure = go.Figure(data=traces)
    figure.update_layout(
        title={
            "text": title,
            "subtitle": {"text": caption, "font": {"size": 12, "color": "#4b5563"}},
            "x": 0,
            "xref": "paper",
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": _TITLE_TOP_PX},
            "font": {"size": 16},
        },
        template="plotly_white",
        autosize=True,
        height=height,
        margin={"l": 10, "r": 10, "t": _TITLE_TOP_PX + 40 + 16 * caption_lines, "b": 10, "autoexpand": True},
        modebar={"remove": list(_MODEBAR_REMOVE)},
        font={"size": _FONT_PX},
        hoverlabel={"font": {"size": _FONT_PX}},
        hovermode="closest",
        legend={
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": -0.01,
            "yanchor": "top",
            "itemsizing": "constant",
            "maxheight": 0.34,
            "title": {"text": legend_title or "", "side": "top"},
            "font": {"size": 12},
        },
    )
    figure.update_xaxes(showticklabels=False, zeroline=False, title=None)
    figure.update_yaxes(showticklabels=False, zeroline=False, title=None)
    return figure


def _spread_labels(
    anchors: np.ndarray,
    texts: Sequence[str],
    extent: np.ndarray,
    limit: int,
    *,
    marker_px: float,
    obstacles: np.ndarray | None = None,
) -> tuple[list[int], list[str]]:
    """Which of the candidate labels to write, and where: at most ``limit``, far apart, none touching another.

    Args:
        anchors: (K, 2) data coordinates of the labelled spots; each label is drawn above its spot.
        texts: (K,) the labels.
        extent: (P, 2) every plotted point (they set the axis ranges).
        limit: the most labels to keep.
        marker_px: the marker size at the spots (the text starts above the marker).
        obstacles: (K, M, 2) per label, the M markers its text must not cover (e.g. other classes' tokens); None:
            labels may cover markers.

    Returns:
        ``(indices, positions)``: indices into ``anchors`` in the order chosen, farthest-point order (the spot
        farthest from the centre of ``extent`` first, then each time the spot farthest from those already chosen),
        skipping a label whose box would overlap a chosen one, cover one of its obstacles or leave the plot; and
        their Plotly ``textposition``: ``"top center"``, or near a side ``"top right"`` / ``"top left"`` (the text
        starts or ends at its spot, so that it stays inside). Boxes are sized for a plot area of
        :data:`_REFERENCE_PLOT_PX` px square (a phone), so that they do not touch on any larger plot either.
    """
    if limit <= 0 or len(anchors) == 0:
        return [], []
    low, high = extent.min(axis=0), extent.max(axis=0)  # (2,) each
    pad = 0.05 * np.where(high > low, high - low, 1.0)  # (2,) about autorange's margin on each side
    low, high = low - pad, high + pad
    unit_px = _REFERENCE_PLOT_PX / (high - low)  # (2,) px per data unit along x and y
    width = np.array([0.6 * _LABEL_FONT_PX * len(text) for text in texts]) / unit_px[0]  # (K,) about 0.6 em a char
    x = anchors[:, 0]  # (K,)
    position = np.where(
        x - width / 2 < low[0], "top right", np.where(x + width / 2 > high[0], "top left", "top center")
    )
    left = np.select([position == "top right", position == "top left"], [x, x - width], x - width / 2)  # (K,)
    right = left + width  # (K,)
    bottom = anchors[:, 1] + (marker_px / 2) / unit_px[1]  # (K,) the text sits above the marker
    top = bottom + 1.3 * _LABEL_FONT_PX / unit_px[1]  # (K,)
    gap_x, gap_y = _LABEL_GAP_PX / unit_px  # data units
    candidate = (left >= low[0]) & (right <= high[0]) & (top <= high[1])  # (K,) inside the plot
    if obstacles is not None:  # (K, M, 2): any obstacle marker inside the label's box (grown by half a marker)
        grow_x, grow_y = (marker_px / 2) / unit_px
        covered = (
            (obstacles[..., 0] > left[:, None] - grow_x)
            & (obstacles[..., 0] < right[:, None] + grow_x)
            & (obstacles[..., 1] > bottom[:, None] - grow_y)
            & (obstacles[..., 1] < top[:, None] + grow_y)
        )  # (K, M)
        candidate &= ~covered.any(axis=1)

    scaled = anchors * unit_px  # (K, 2) in reference px: "far apart" as seen on the screen
    nearest = np.linalg.norm(scaled - (low + high) / 2 * unit_px, axis=1)  # (K,) to the centre, then to the chosen
    chosen: list[int] = []
    while len(chosen) < limit and candidate.any():
        k = int(np.flatnonzero(candidate)[np.argmax(nearest[candidate])])
        candidate[k] = False
        overlaps = any(
            left[k] < right[j] + gap_x
            and left[j] < right[k] + gap_x
            and bottom[k] < top[j] + gap_y
            and bottom[j] < top[k] + gap_y
            for j in chosen
        )
        if not overlaps:
            chosen.append(k)
            nearest = np.minimum(nearest, np.linalg.norm(scaled - scaled[k], axis=1))
    return chosen, [str(position[k]) for k in chosen]


def _label_trace(
    anchors: np.ndarray,
    texts: Sequence[str],
    extent: np.ndarray,
    limit: int,
    *,
    marker_px: float,
    obstacles: np.ndarray | None = None,
) -> go.Scatter:
    """The always-on class names: a text-only trace (no legend entry, no hover, no click) of the labels
    :func:`_spread_labels` keeps; ``meta = {"role": "labels"}``."""
    keep, positions = _spread_labels(anchors, texts, extent, limit, marker_px=marker_px, obstacles=obstacles)
    return go.Scatter(
        x=anchors[keep, 0],
        y=anchors[keep, 1],
        mode="text",
        text=[texts[k] for k in keep],
        textposition=positions,
        textfont={"size": _LABEL_FONT_PX, "color": "#1f2937", "shadow": "auto"},
        hoverinfo="skip",
        showlegend=False,
        cliponaxis=False,
        meta={"role": "labels"},
    )


def _ratio(value: float, scale: float) -> str:
    return f"{value / scale:.2f}" if np.isfinite(scale) and scale > 0 else "n/a"


def _distance_texts(points: pd.DataFrame, audio: pd.DataFrame, visual: pd.DataFrame) -> list[str]:
    """Per class of ``audio`` / ``visual`` (the two modalities' token rows, paired by class, same order): its
    audio-visual token distance in the plane and in token space, each also as a multiple of the median distance
    between the audio token of one class and the visual token of another (two short hover lines: a phone shows
    them whole)."""
    plane, plane_scale = _pair_distances(audio[["x", "y"]].to_numpy(), visual[["x", "y"]].to_numpy())  # (K,), scalar
    space_scale = float(points.attrs.get("cross_class_distance", np.nan))
    width = points.attrs.get("token_width", "D")
    return [
        f"audio\u2013visual gap in the t-SNE plane: {d2:.2f} ({_ratio(d2, plane_scale)}\u00d7 median)<br>"
        f"in token space ({width}-d): {dd:.3g} ({_ratio(dd, space_scale)}\u00d7 median)"
        for d2, dd in zip(plane, audio["av_distance"])
    ]


def token_figure(points: pd.DataFrame, *, max_labels: int = MAX_LABELS) -> go.Figure:
    """Scatter of :func:`token_points`: one trace per modality (its own colour and symbol, the legend's only two
    entries), a thin line joining each class's audio and visual token, class names on hover and on at most
    ``max_labels`` well-spread classes, and :data:`TOKEN_EXPLANATION` under the title.

    Traces, bottom to top: one line per class present in both modalities, from its audio to its visual token
    (``meta = {"role": "link", "class_index": c, "class_name": ...}``); invisible markers at the lines' midpoints
    (``meta = {"role": "link_hover"}``, classes in the lines' order), hovering the class name and the audio-visual
    distance in the t-SNE plane and in token space (the tokens hover the same); one marker trace per modality
    (``meta = {"role": "tokens", "modality": ...}``, that modality's rows in frame order); the labels (``meta =
    {"role": "labels"}``, above their class's two tokens).
    """
    audio = points[points["modality"] == "audio"].set_index("class_index", drop=False)
    visual = points[points["modality"] == "visual"].set_index("class_index", drop=False)
    paired = audio.index.intersection(visual.index).sort_values()
    audio, visual = audio.loc[paired], visual.loc[paired]
    distances = dict(zip(paired, _distance_texts(points, audio, visual)))  # class -> two hover lines

    traces: list[go.Scatter] = []
    ends = np.stack([audio[["x", "y"]].to_numpy(float), visual[["x", "y"]].to_numpy(float)], axis=1)  # (K, 2, 2)
    names = [display_name(name) for name in audio["class_name"]]  # (K,)
    for k, class_index in enumerate(paired):
        traces.append(
            go.Scatter(
                x=ends[k, :, 0],
                y=ends[k, :, 1],
                mode="lines",
                line={"color": _LINK_COLOR, "width": 1.2},
                hoverinfo="skip",  # the midpoints below hover instead: line ends would take the tokens' hover
                showlegend=False,
                meta={"role": "link", "class_index": int(class_index), "class_name": CLASSES[class_index]},
            )
        )
    middle = ends.mean(axis=1)  # (K, 2)
    traces.append(
        go.Scatter(
            x=middle[:, 0],
            y=middle[:, 1],
            mode="markers",
            marker={"size": _TOKEN_MARKER_SIZE, "opacity": 0},
            hovertext=[
                f"<b>{name}</b>: its audio and visual token<br>{distances[c]}" for name, c in zip(names, paired)
            ],
            hoverinfo="text",
            showlegend=False,
            meta={"role": "link_hover"},
        )
    )
    for modality in TOKEN_MODALITIES:
        rows = points[points["modality"] == modality]
        traces.append(
            go.Scatter(
                x=rows["x"],
                y=rows["y"],
                mode="markers",
                name=f"{modality} class token",
                hovertext=[
                    f"<b>{display_name(CLASSES[c])}</b> \u00b7 {modality} token"
                    + (f"<br>{distances[c]}" if c in distances else "")
                    for c in rows["class_index"]
                ],
                hoverinfo="text",
                marker={
                    "color": MODALITY_COLORS[modality],
                    "symbol": MODALITY_SYMBOLS[modality],
                    "size": _TOKEN_MARKER_SIZE,
                    "line": {"width": 1, "color": _TOKEN_OUTLINE},
                },
                meta={"role": "tokens", "modality": modality},
            )
        )
    anchors = np.stack([ends[:, :, 0].mean(axis=1), ends[:, :, 1].max(axis=1)], axis=1)  # (K, 2) above both tokens
    extent = points[["x", "y"]].to_numpy(float)  # (2C, 2)
    others = ~np.eye(len(paired), dtype=bool)  # (K, K) a label may cover its own class's tokens only
    # (K, 2 (K - 1), 2): per label, the other classes' tokens
    obstacles = np.stack([ends[others[k]].reshape(-1, 2) for k in range(len(paired))]) if len(paired) else None
    labels = _label_trace(anchors, names, extent, max_labels, marker_px=_TOKEN_MARKER_SIZE, obstacles=obstacles)
    traces.append(labels)
    caption = _caption(
        "A line joins each class's audio and visual token; hover for the class and how far apart they are "
        "(also as a multiple of the median for tokens of different classes).",
        TOKEN_EXPLANATION,
    )
    return _style_scatter(traces, "t-SNE of MGN's class tokens", caption, height=_TOKEN_HEIGHT)


def _medoid(xy: np.ndarray) -> np.ndarray:
    """(n, 2) -> (2,) the point with the smallest summed distance to the others (of at most :data:`_MEDOID_SAMPLE`
    evenly spaced ones): a label placed there sits on the class's densest part, never between two of its clouds."""
    sample = xy[np.unique(np.linspace(0, len(xy) - 1, min(len(xy), _MEDOID_SAMPLE)).astype(int))]  # (s, 2)
    return sample[np.linalg.norm(sample[:, None] - sample[None], axis=-1).sum(axis=1).argmin()]


def feature_figure(points: pd.DataFrame, *, max_labels: int = MAX_LABELS) -> go.Figure:
    """Scatter of :func:`class_feature_points`: colour = class, marker symbol = modality, small semi-transparent
    markers; one legend entry per class present (clicking it shows or hides the class in both modalities,
    double-clicking shows it alone), the names of at most ``max_labels`` well-spread classes on the plot, and
    :data:`FEATURE_EXPLANATION` (plus the subsampling note of ``points.attrs``, if any) under the title.

    Traces: one per (class, modality) present, classes in index order, audio before visual (``meta = {"role":
    "features", "class_index": c, "class_name": ..., "modality": ...}``; legend group = the class, shown once),
    holding those rows in frame order with ``customdata`` rows ``[clip, class_name, modality]`` (a click opens the
    clip, see ``mgn.explore.player``); then the labels (``meta = {"role": "labels"}``, each on its class's medoid).
    """
    traces: list[go.Scatter] = []
    in_legend: set[int] = set()  # classes with a legend entry already (the first of their traces has it)
    for (class_index, modality), rows in points.groupby(["class_index", "modality"], sort=True):
        class_name = CLASSES[class_index]
        traces.append(
            go.Scatter(
                x=rows["x"],
                y=rows["y"],
                mode="markers",
                name=display_name(class_name),
                legendgroup=class_name,
                showlegend=class_index not in in_legend,
                customdata=rows[["clip", "class_name", "modality"]].to_numpy(dtype=object),
                hovertemplate=f"<b>{display_name(class_name)}</b> \u00b7 {modality} feature<br>%{{customdata[0]}}"
                "<br><i>click to open the clip</i><extra></extra>",
                marker={
                    "color": CLASS_COLORS[class_index],
                    "size": _FEATURE_MARKER_SIZE,
                    "opacity": _FEATURE_OPACITY,
                    "symbol": MODALITY_SYMBOLS[modality],
                },
                meta={
                    "role": "features",
                    "class_index": int(class_index),
                    "class_name": class_name,
                    "modality": modality,
                },
            )
        )
        in_legend.add(class_index)
    classes = sorted(points["class_index"].unique())
    anchors = np.array(
        [_medoid(points.loc[points["class_index"] == c, ["x", "y"]].to_numpy(float)) for c in classes]
    ).reshape(-1, 2)  # (K, 2)
    names = [display_name(CLASSES[c]) for c in classes]
    extent = points[["x", "y"]].to_numpy(float)  # (P', 2)
    traces.append(_label_trace(anchors, names, extent, max_labels, marker_px=_FEATURE_MARKER_SIZE))
    key = ", ".join(f"{_SYMBOL_GLYPHS[MODALITY_SYMBOLS[m]]} {m}" for m in TOKEN_MODALITIES)
    note = points.attrs.get("note")
    caption = _caption(
        f"Colour = class, {key}" + (f"; {note}" if note else "") + ". Click a point to open its clip.",
        FEATURE_EXPLANATION,
    )
    return _style_scatter(
        traces,
        "t-SNE of MGN's class-aware features",
        caption,
        height=_FEATURE_HEIGHT,
        legend_title="Class (click: hide/show, double-click: only this one)",
    )
