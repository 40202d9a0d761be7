"""t-SNE views of MGN's class tokens and class-aware features (Fig. 2 of the MGN paper), as frames and Plotly figures.

:func:`token_points` embeds the 25 audio and 25 visual learnable class tokens together; :func:`class_feature_points`
embeds the class-aware features of the (clip, class) pairs present in each clip's ground truth, audio and visual
together, with an optional on-disk cache of the 2-D result. :func:`token_figure` and :func:`feature_figure` draw
them: colour = class (``mgn.labels.CLASS_COLORS``), marker symbol = modality (circle audio, diamond visual).

Notation: N clips, C = ``NUM_CLASSES`` = 25 classes, D feature width (MGN's ``dim``, 128 officially).
Point frames hold ``x``, ``y`` (t-SNE coordinates, no unit), ``class_index`` (official order), ``class_name`` (CSV
spelling, ``mgn.labels.CLASSES``) and ``modality`` (``"audio"`` / ``"visual"``); feature frames add ``clip_index``
(position in the split) and ``clip`` (full filename).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import sklearn
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from mgn.explore.checks import binary_array, real_array
from mgn.io import atomic_path
from mgn.labels import CLASS_COLORS, CLASSES, EVAL_MODALITIES, NUM_CLASSES, display_name

__all__ = [
    "FEATURE_PERPLEXITY",
    "MODALITY_SYMBOLS",
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
TOKEN_PERPLEXITY = 10.0  # 50 points: about 10 effective neighbours each
FEATURE_PERPLEXITY = 30.0  # scikit-learn's default, for thousands of points
_EXACT_MAX_POINTS = 100  # exact t-SNE up to here (the 50 class tokens), Barnes-Hut above
_CACHE_FORMAT = 1  # bump when the cached content or its key changes meaning
_TOKEN_MARKER_SIZE = 11
_FEATURE_MARKER_SIZE = 5
_FEATURE_OPACITY = 0.7


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
        ``class_name``, ``modality``.

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
    return _points_frame(xy, class_index, np.repeat(TOKEN_MODALITIES, NUM_CLASSES))


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
    header = {"format": _CACHE_FORMAT, "sklearn": sklearn.__version__, "shape": vectors.shape, **params}
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


def _load_cached(path: Path, num_points: int) -> np.ndarray | None:
    """The cached (P', 2) float32 t-SNE at ``path``, or None after a warning naming the file when it cannot be read
    or holds something else (a wrong shape, dtype or a non-finite value)."""
    try:
        with open(path, "rb") as stream:  # our handle: np.load(path) leaks its own when the zip is damaged
            archive = np.load(stream, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with archive:
                xy = archive["xy"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as error:
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


def _style_scatter(figure: go.Figure, title: str) -> go.Figure:
    """t-SNE axes carry no unit: hide ticks, keep one unit of x equal to one unit of y."""
    figure.update_layout(title=title, template="plotly_white", legend={"itemsizing": "constant"}, hovermode="closest")
    figure.update_xaxes(showticklabels=False, zeroline=False, title=None)
    figure.update_yaxes(showticklabels=False, zeroline=False, title=None, scaleanchor="x", scaleratio=1)
    return figure


def _hover_texts(points: pd.DataFrame) -> list[str]:
    """Per row, ``"Baby cry infant cry (audio)"``."""
    names = [display_name(name) for name in CLASSES]
    return [f"{names[c]} ({m})" for c, m in zip(points["class_index"], points["modality"])]


def token_figure(points: pd.DataFrame) -> go.Figure:
    """Scatter of :func:`token_points`: one trace per modality (marker symbol), colour = class, label = class name.

    Each trace has ``meta = {"role": "tokens", "modality": ...}`` and holds that modality's rows in frame order.
    """
    figure = go.Figure()
    for modality in TOKEN_MODALITIES:
        rows = points[points["modality"] == modality]
        figure.add_trace(
            go.Scatter(
                x=rows["x"],
                y=rows["y"],
                mode="markers+text",
                name=f"{modality} class tokens",
                text=[display_name(name) for name in rows["class_name"]],
                textposition="top center",
                textfont={"size": 9},
                hovertext=_hover_texts(rows),
                hoverinfo="text",
                marker={
                    "color": [CLASS_COLORS[c] for c in rows["class_index"]],
                    "symbol": MODALITY_SYMBOLS[modality],
                    "size": _TOKEN_MARKER_SIZE,
                    "line": {"width": 1, "color": "white"},
                },
                meta={"role": "tokens", "modality": modality},
            )
        )
    symbols = ", ".join(f"{symbol} = {modality}" for modality, symbol in MODALITY_SYMBOLS.items())
    return _style_scatter(figure, f"t-SNE of MGN's class tokens ({symbols})")


def feature_figure(points: pd.DataFrame) -> go.Figure:
    """Scatter of :func:`class_feature_points`: one trace per class present (legend = 25 class names, colour),
    marker symbol = modality, small semi-transparent markers.

    Each trace holds its class's rows in frame order, with ``customdata`` rows ``[clip, class_name, modality]``
    (so that a click can open the clip) and ``meta = {"role": "features", "class_index": c, "class_name": ...}``.
    The subsampling note of ``points.attrs`` (if any) is part of the title.
    """
    figure = go.Figure()
    for class_index, rows in points.groupby("class_index", sort=True):
        class_name = CLASSES[class_index]
        figure.add_trace(
            go.Scatter(
                x=rows["x"],
                y=rows["y"],
                mode="markers",
                name=display_name(class_name),
                customdata=rows[["clip", "class_name", "modality"]].to_numpy(dtype=object),
                hovertext=_hover_texts(rows),
                hovertemplate="%{hovertext}<br>%{customdata[0]}<extra></extra>",
                marker={
                    "color": CLASS_COLORS[class_index],
                    "size": _FEATURE_MARKER_SIZE,
                    "opacity": _FEATURE_OPACITY,
                    "symbol": rows["modality"].map(MODALITY_SYMBOLS).tolist(),
                },
                meta={"role": "features", "class_index": int(class_index), "class_name": class_name},
            )
        )
    symbols = ", ".join(f"{symbol} = {modality}" for modality, symbol in MODALITY_SYMBOLS.items())
    note = points.attrs.get("note")
    title = f"t-SNE of MGN's class-aware features ({symbols})" + (f"<br><sup>{note}</sup>" if note else "")
    return _style_scatter(figure, title)
