"""Everything the explorer shows, computed once at start: the split, each model's predictions and scores, the clip list.

``open_explorer`` loads a split (an LLP-format folder or a split pack), runs each checkpoint over it once (on the GPU
when there is one; cached on disk by checkpoint and data digests), binarises like the official test loop, and builds
the per-clip table. Its methods answer the app's requests (a clip's rendered view: player, timeline, scores, events;
the dataset views; the t-SNE views) from that state, each computed once and cached in memory (per clip in a bounded
LRU); they validate what the browser sends and raise ``ExplorerError`` with a message fit for the user.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from plotly import graph_objects as go

from mgn.checkpoint import OFFICIAL_SUFFIXES, load_any_checkpoint
from mgn.data.llp import DENSE_SPLITS, LLPLayout, Split, load_split
from mgn.data.pack import load_split_pack
from mgn.device import resolve_device
from mgn.events import find_events
from mgn.explore import clips as clip_views
from mgn.explore import dashboard, embeddings
from mgn.explore.memo import KeyedCache
from mgn.explore.player import video_html, video_url
from mgn.explore.timeline import ClipPrediction, timeline_figure, timeline_html, timeline_json
from mgn.inference import GATES, Predictions, predict_cached, split_digest
from mgn.io import file_sha256
from mgn.labels import CLASSES, audio_visual, display_name
from mgn.metrics import Scores, avvp_scores
from mgn.models import MGN, architecture_of

__all__ = [
    "DEFAULT_CLIP_CACHE",
    "ClipView",
    "Explorer",
    "ExplorerError",
    "ModelView",
    "open_explorer",
    "usable_cache_dir",
]

DEFAULT_CLIP_CACHE = 256  # rendered clip views kept in memory (about 60 kB each); the demo has 40 clips
_PAGE_CACHE = 16  # standalone timeline pages (downloads) kept in memory
_EVENT_COLUMNS = ("source", "modality", "class", "onset (s)", "offset (s)")
_DISPLAY_NAMES = tuple(display_name(name) for name in CLASSES)


class ExplorerError(ValueError):
    """A request the explorer cannot answer (unknown clip, bad option); the message is shown to the user."""


@dataclass
class ModelView:
    """One checkpoint's results on the split.

    Attributes:
        name: label in the UI ("MGN", "HAN", or the file name when two share an architecture).
        arch: ``mgn`` or ``han``.
        checkpoint: the file.
        predictions: probabilities (and MGN's class-aware features).
        pred_audio, pred_visual: (N, C, T) uint8 binary predictions [clip, class, segment].
        scores: :func:`mgn.metrics.avvp_scores` of the predictions.
        audio_tokens, visual_tokens: (C, D) MGN's learnable class tokens; None for HAN.
    """

    name: str
    arch: str
    checkpoint: Path
    predictions: Predictions
    pred_audio: np.ndarray
    pred_visual: np.ndarray
    scores: Scores
    audio_tokens: np.ndarray | None = None
    visual_tokens: np.ndarray | None = None


@dataclass(frozen=True)
class ClipView:
    """Everything the clip view shows for one clip, rendered once (shared read-only between requests).

    Attributes:
        clip: the full LLP filename.
        video_html: the player (or the placeholder saying why there is no video).
        figure_json: the timeline figure as Plotly JSON (what the page's plot receives).
        scores: the per-clip F table (:meth:`Explorer.clip_scores`).
        events: the ground-truth and predicted events (:meth:`Explorer.clip_events`).
    """

    clip: str
    video_html: str
    figure_json: str
    scores: pd.DataFrame
    events: pd.DataFrame


@dataclass
class Explorer:
    """The loaded split and models (read-only after construction; safe to share between requests).

    ``clip_cache_size`` bounds the rendered clip views kept in memory (least recently used out).
    """

    split: Split
    models: list[ModelView]
    videos_dir: Path | None
    cache_dir: Path | None
    table: pd.DataFrame
    clip_cache_size: int = DEFAULT_CLIP_CACHE
    _views: KeyedCache = field(init=False, repr=False)
    _pages: KeyedCache = field(init=False, repr=False)
    _memo: KeyedCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._views = KeyedCache(self.clip_cache_size)  # clip index -> ClipView
        self._pages = KeyedCache(_PAGE_CACHE)  # clip index -> standalone HTML page
        self._memo = KeyedCache()  # (view, model[, class]) -> dataset and t-SNE results: at most 29 per model

    # ------------------------------------------------------------------------------------------------- clips
    def index_of(self, clip: str) -> int:
        """Row of a clip given its full filename or video ID."""
        clip = (clip or "").strip()
        try:
            return self.split.index_of(clip)
        except KeyError:
            raise ExplorerError(
                f"unknown clip {clip!r}: it is not in the {self.split.name} split ({len(self.split)} clips)"
            ) from None

    def clip_view(self, clip: str) -> ClipView:
        """The clip's rendered view (player, timeline JSON, scores, events), computed once and kept in the LRU."""
        index = self.index_of(clip)
        return self._views.get(index, lambda: self._render_clip(index))

    def _render_clip(self, index: int) -> ClipView:
        clip = str(self.split.filenames[index])
        return ClipView(
            clip=clip,
            video_html=video_html(
                clip,
                video_url(str(self.split.video_ids[index])) if self.video_path(clip) is not None else None,
                self.expected_video_path(clip),
            ),
            figure_json=timeline_json(*self._timeline_inputs(index)),
            scores=self.clip_scores(clip),
            events=self.clip_events(clip),
        )

    def timeline_page(self, clip: str) -> str:
        """The clip's timeline as a standalone HTML page for download (plotly.js from its CDN), cached."""
        index = self.index_of(clip)
        return self._pages.get(index, lambda: timeline_html(self.timeline(clip), include_plotlyjs="cdn"))

    def clip_predictions(self, index: int) -> list[ClipPrediction]:
        return [
            ClipPrediction(
                name=model.name,
                pred_audio=model.pred_audio[index],
                pred_visual=model.pred_visual[index],
                prob_audio=model.predictions.a_frame_prob[index],
                prob_visual=model.predictions.v_frame_prob[index],
            )
            for model in self.models
        ]

    def timeline(self, clip: str) -> go.Figure:
        """The clip's timeline figure (built anew; :meth:`clip_view` holds its cached JSON)."""
        return timeline_figure(*self._timeline_inputs(self.index_of(clip)))

    def _timeline_inputs(self, index: int) -> tuple[str, np.ndarray, np.ndarray, list[ClipPrediction]]:
        """The arguments of :func:`timeline_figure` for clip ``index``."""
        filename = str(self.split.filenames[index])
        return filename, self.split.gt_audio[index], self.split.gt_visual[index], self.clip_predictions(index)

    def video_path(self, clip: str) -> Path | None:
        """The clip's mp4, or None when no video folder was given or the file is missing."""
        path = self.expected_video_path(clip)
        return path if path is not None and path.is_file() else None

    def expected_video_path(self, clip: str) -> Path | None:
        if self.videos_dir is None:
            return None
        return self.videos_dir / f"{self.split.video_ids[self.index_of(clip)]}.mp4"

    def video_files(self) -> dict[str, Path]:
        """The split's videos that exist, by video ID (``<ID>.mp4`` in the video folder): all the app may serve."""
        if self.videos_dir is None:
            return {}
        paths = {str(video_id): self.videos_dir / f"{video_id}.mp4" for video_id in self.split.video_ids}
        return {video_id: path for video_id, path in paths.items() if path.is_file()}

    def clip_scores(self, clip: str) -> pd.DataFrame:
        """Per-clip F (%) of each model: rows = model x level, columns Audio, Visual, Audio-Visual, Event@AV."""
        index = self.index_of(clip)
        rows = []
        for model in self.models:
            for level in ("segment", "event"):
                f_a, f_v, f_pooled, f_av = model.scores.level(level).per_clip[index]
                rows.append(
                    {
                        "model": model.name,
                        "level": level,
                        "Audio": 100 * f_a,
                        "Visual": 100 * f_v,
                        "Audio-Visual": 100 * f_av,
                        "Event@AV": 100 * f_pooled,
                    }
                )
        return pd.DataFrame(rows).round(1)

    def clip_events(self, clip: str) -> pd.DataFrame:
        """Ground-truth and predicted events of a clip: source, modality, class, onset (s), offset (s); rows by
        source (ground truth, then the models), modality (audio, visual, audio-visual), class, onset."""
        index = self.index_of(clip)
        sources = [("ground truth", self.split.gt_audio[index], self.split.gt_visual[index])]
        sources += [(model.name, model.pred_audio[index], model.pred_visual[index]) for model in self.models]
        rows: dict[str, list] = {column: [] for column in _EVENT_COLUMNS}
        for source, audio, visual in sources:  # (C, T) each
            for modality, matrix in (
                ("audio", audio),
                ("visual", visual),
                ("audio-visual", audio_visual(audio, visual)),
            ):
                classes, onsets, offsets = find_events(matrix)  # (E,) each
                rows["source"] += [source] * len(classes)
                rows["modality"] += [modality] * len(classes)
                rows["class"] += [_DISPLAY_NAMES[c] for c in classes]
                rows["onset (s)"] += onsets.tolist()
                rows["offset (s)"] += offsets.tolist()
        return pd.DataFrame(
            {
                **{column: pd.Series(values, dtype=object) for column, values in rows.items() if "(s)" not in column},
                **{column: pd.Series(values, dtype=np.int64) for column, values in rows.items() if "(s)" in column},
            }
        )

    # --------------------------------------------------------------------------------------------- dataset
    def table1(self, model_index: int = 0) -> pd.DataFrame:
        """The Table-1 rows (segment and event level) with the level as the first column."""
        return dashboard.table1_frame(self._model(model_index).scores).reset_index()

    def per_class(self, model_index: int = 0) -> pd.DataFrame:
        model = self._model(model_index)
        return self._memoised(
            ("per_class", model_index),
            lambda: dashboard.per_class_scores(
                self.split.gt_audio, self.split.gt_visual, model.pred_audio, model.pred_visual
            ),
        )

    def confusion(self, model_index: int = 0, class_name: str | None = None) -> pd.DataFrame:
        model = self._model(model_index)
        class_index = None if not class_name else self.class_index(class_name)
        return self._memoised(
            ("confusion", model_index, class_index),
            lambda: dashboard.modality_confusion(
                self.split.gt_audio, self.split.gt_visual, model.pred_audio, model.pred_visual, class_index=class_index
            ),
        )

    @staticmethod
    def class_index(class_name: str) -> int:
        for index, name in enumerate(CLASSES):
            if class_name in (name, display_name(name)):
                return index
        raise ExplorerError(f"unknown class {class_name!r}")

    # ------------------------------------------------------------------------------------------------ t-SNE
    def token_points(self, model_index: int = 0) -> pd.DataFrame | None:
        """The 50 class tokens in 2-D, or None for a model without class tokens (HAN)."""
        model = self._model(model_index)
        if model.audio_tokens is None:
            return None
        return self._memoised(
            ("tokens", model_index), lambda: embeddings.token_points(model.audio_tokens, model.visual_tokens)
        )

    def feature_points(self, model_index: int = 0) -> pd.DataFrame | None:
        """MGN's class-aware features of the classes present in each clip, in 2-D (cached on disk), or None."""
        model = self._model(model_index)
        features = model.predictions
        if features.audio_class_features is None:
            return None
        present_audio = self.split.gt_audio.any(axis=2)  # (N, C) class audible somewhere in the clip
        present_visual = self.split.gt_visual.any(axis=2)
        return self._memoised(
            ("features", model_index),
            lambda: embeddings.class_feature_points(
                features.audio_class_features,
                features.visual_class_features,
                present_audio,
                present_visual,
                self.split.filenames,
                cache_dir=self.cache_dir,
            ),
        )

    # -------------------------------------------------------------------------------------------- internals
    def _model(self, index: int) -> ModelView:
        if not 0 <= index < len(self.models):
            raise ExplorerError(f"model {index} does not exist ({len(self.models)} loaded)")
        return self.models[index]

    def _memoised(self, key, compute):
        """``compute()`` once per key (concurrent requests for it wait; other keys do not); a ValueError becomes an
        ExplorerError."""
        try:
            return self._memo.get(key, compute)
        except ExplorerError:
            raise
        except ValueError as error:  # e.g. t-SNE refuses identical vectors (untrained, zero class tokens)
            raise ExplorerError(str(error)) from error


def usable_cache_dir(cache_dir: str | Path | None) -> Path | None:
    """``cache_dir`` if it is (or can be made) a folder this process can write in; None otherwise.

    An unusable folder (a file in the way, read-only, no permission) is reported in one warning naming it, and the
    explorer then runs without the cache; a disk that fills up later is reported by the write that fails.
    """
    if cache_dir is None:
        return None
    path = Path(cache_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):  # a probe write, removed at once
            pass
    except OSError as error:
        warnings.warn(f"cache folder {path} is not usable ({error}); running without the cache", stacklevel=2)
        return None
    return path


def _load_data(data: Path, split: str | None, progress: bool) -> tuple[Split, Path | None]:
    """A split from a pack file or an LLP folder, and the default videos folder beside it."""
    if data.is_file():
        loaded = load_split_pack(data)
        if split is not None and loaded.name != split:
            raise ExplorerError(f"{data} holds the {loaded.name!r} split, not {split!r} (leave the split out)")
        return loaded, data.parent / "video"
    if not data.is_dir():
        raise FileNotFoundError(f"data not found: {data} (an LLP-format folder or a .npz split pack)")
    split = split or "test"
    if split not in DENSE_SPLITS:
        raise ExplorerError(f"split {split!r} has no dense ground truth: explore one of {', '.join(DENSE_SPLITS)}")
    layout = LLPLayout(root=data)
    loaded = load_split(layout, split, pooled_visual=True, progress=progress)
    if loaded.gt_audio is None:
        raise ExplorerError(f"split {split!r} has no dense ground truth: explore one of {', '.join(DENSE_SPLITS)}")
    return loaded, layout.resolve(layout.video_dir)


def _model_names(models: Sequence) -> list[str]:
    names = [architecture_of(model).upper() for model in models]
    return names if len(set(names)) == len(names) else [f"{name} ({i + 1})" for i, name in enumerate(names)]


def open_explorer(
    data: str | Path,
    checkpoints: Sequence[str | Path],
    *,
    split: str | None = None,
    videos: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = None,
    gate: str = "global",
    arch: str | None = None,
    progress: bool = True,
    clip_cache_size: int = DEFAULT_CLIP_CACHE,
) -> Explorer:
    """Load the data and 1 or 2 checkpoints and compute everything the explorer shows.

    Args:
        data: an LLP-format folder (``split`` is read from it) or a ``.npz`` split pack.
        checkpoints: our ``.safetensors`` files or official ``.pt`` / ``.pth`` ones (the second is compared with the
            first).
        split: ``val`` or ``test`` of a folder (default ``test``); a pack holds one split (default: that one).
        videos: folder of ``<ID>.mp4``; default: beside a pack, or the layout's ``LLP_dataset/video``.
        cache_dir: where predictions and t-SNE results are cached (None: no cache; an unusable folder: a warning,
            then no cache).
        device: ``cuda`` / ``cpu`` / ``auto`` (None: the GPU when there is one), see :func:`mgn.device.resolve_device`.
        gate: one of :data:`mgn.inference.GATES`: ``global`` (official) or ``modality`` (MA) segment gate.
        arch: the architecture of official ``.pt`` / ``.pth`` files (None: recognised from their weights); our
            checkpoints name their own.
        clip_cache_size: rendered clip views kept in memory.

    Raises:
        FileNotFoundError: the data or a checkpoint does not exist.
        ValueError: (incl. ``ExplorerError``, ``CheckpointError``) a bad option, unreadable data or checkpoint, or a
            model whose outputs are not finite (naming the checkpoint and the clips).
    """
    if not 1 <= len(checkpoints) <= 2:
        raise ValueError(f"give one checkpoint, or two to compare; got {len(checkpoints)}")
    if gate not in GATES:
        raise ExplorerError(f"unknown gate {gate!r}; expected one of {', '.join(GATES)}")
    target = resolve_device(device)
    cache = usable_cache_dir(cache_dir)
    data_split, default_videos = _load_data(Path(data), split, progress)
    data_key = split_digest(data_split)[:16]
    paths = [Path(path) for path in checkpoints]
    loaded = [load_any_checkpoint(path, arch if path.suffix in OFFICIAL_SUFFIXES else None) for path in paths]
    names = _model_names(loaded)
    views = []
    for name, path, model in zip(names, paths, loaded, strict=True):
        cache_path = None if cache is None else cache / f"predictions-{file_sha256(path)[:16]}-{data_key}.npz"
        predictions = predict_cached(
            model.to(target),
            data_split,
            cache_path,
            device=target,
            class_features=True,
            progress=progress,
            source=str(path),
        )
        pred_audio, pred_visual = predictions.binarize(gate)
        tokens = (
            (model.audio_token.detach().cpu().numpy(), model.visual_token.detach().cpu().numpy())
            if isinstance(model, MGN)
            else (None, None)
        )
        scores = avvp_scores(pred_audio, pred_visual, data_split.gt_audio, data_split.gt_visual)
        views.append(
            ModelView(name, architecture_of(model), path, predictions, pred_audio, pred_visual, scores, *tokens)
        )
    compare = views[1] if len(views) == 2 else None
    table = clip_views.clip_table(
        data_split.filenames,
        data_split.gt_audio,
        data_split.gt_visual,
        views[0].pred_audio,
        views[0].pred_visual,
        scores=views[0].scores,
        compare=None if compare is None else (compare.pred_audio, compare.pred_visual),
        compare_scores=None if compare is None else compare.scores,
    )
    videos_dir = Path(videos) if videos is not None else default_videos
    return Explorer(data_split, views, videos_dir, cache, table, clip_cache_size=clip_cache_size)
