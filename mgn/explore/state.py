"""Everything the explorer shows, computed once at start: the split, each model's predictions and scores, the clip list.

``open_explorer`` loads a split (an LLP-format folder or a split pack), runs each checkpoint over it once (on the GPU
when there is one; cached on disk by checkpoint and data digests), binarises like the official test loop, and builds
the per-clip table. Its methods answer the app's requests (a clip's timeline, video, scores, events; the dataset
views; the t-SNE views) from that state; they validate what the browser sends and raise ``ExplorerError`` with a
message fit for the user.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from plotly import graph_objects as go

from mgn.checkpoint import load_any_checkpoint
from mgn.data.llp import LLPLayout, Split, load_split
from mgn.data.pack import load_split_pack
from mgn.explore import clips as clip_views
from mgn.explore import dashboard, embeddings
from mgn.explore.timeline import ClipPrediction, timeline_figure
from mgn.export import prediction_events
from mgn.inference import Predictions, predict_cached, split_digest
from mgn.io import file_sha256
from mgn.labels import CLASSES, display_name
from mgn.metrics import avvp_scores
from mgn.models import MGN, architecture_of

__all__ = ["Explorer", "ExplorerError", "ModelView", "open_explorer"]


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
        scores: ``mgn.metrics.avvp_scores`` of the predictions.
        audio_tokens, visual_tokens: (C, D) MGN's learnable class tokens; None for HAN.
    """

    name: str
    arch: str
    checkpoint: Path
    predictions: Predictions
    pred_audio: np.ndarray
    pred_visual: np.ndarray
    scores: dict
    audio_tokens: np.ndarray | None = None
    visual_tokens: np.ndarray | None = None


@dataclass
class Explorer:
    """The loaded split and models (read-only after construction; safe to share between requests)."""

    split: Split
    models: list[ModelView]
    videos_dir: Path | None
    cache_dir: Path | None
    table: pd.DataFrame
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

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
        index = self.index_of(clip)
        filename = str(self.split.filenames[index])
        return timeline_figure(
            filename, self.split.gt_audio[index], self.split.gt_visual[index], self.clip_predictions(index)
        )

    def video_path(self, clip: str) -> Path | None:
        """The clip's mp4, or None when no video folder was given or the file is missing."""
        if self.videos_dir is None:
            return None
        path = self.videos_dir / f"{self.split.video_ids[self.index_of(clip)]}.mp4"
        return path if path.is_file() else None

    def expected_video_path(self, clip: str) -> Path | None:
        if self.videos_dir is None:
            return None
        return self.videos_dir / f"{self.split.video_ids[self.index_of(clip)]}.mp4"

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
        """Ground-truth and predicted events of a clip: source, modality, class, onset (s), offset (s)."""
        index = self.index_of(clip)
        name = [str(self.split.filenames[index])]
        sources = [("ground truth", self.split.gt_audio[index], self.split.gt_visual[index])]
        sources += [(model.name, model.pred_audio[index], model.pred_visual[index]) for model in self.models]
        frames = []
        for source, audio, visual in sources:
            for modality, matrix in (("audio", audio), ("visual", visual), ("audio-visual", audio * visual)):
                events = prediction_events(name, matrix[None])
                frames.append(
                    pd.DataFrame(
                        {
                            "source": source,
                            "modality": modality,
                            "class": [display_name(c) for c in events["event_labels"]],
                            "onset (s)": events["onset"],
                            "offset (s)": events["offset"],
                        }
                    )
                )
        return pd.concat(frames, ignore_index=True)

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
        return dashboard.modality_confusion(
            self.split.gt_audio, self.split.gt_visual, model.pred_audio, model.pred_visual, class_index=class_index
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
        """``compute()`` once per key (even under concurrent requests); a ValueError becomes an ExplorerError."""
        with self._lock:
            if key not in self._memo:
                try:
                    self._memo[key] = compute()
                except ValueError as error:  # e.g. t-SNE refuses identical vectors (untrained, zero class tokens)
                    raise ExplorerError(str(error)) from error
            return self._memo[key]


def _load_data(data: Path, split: str, progress: bool) -> tuple[Split, Path | None]:
    """A split from a pack file or an LLP folder, and the default videos folder beside it."""
    if data.is_file():
        return load_split_pack(data), data.parent / "video"
    if not data.is_dir():
        raise FileNotFoundError(f"data not found: {data} (an LLP-format folder or a .npz split pack)")
    layout = LLPLayout(root=data)
    loaded = load_split(layout, split, pooled_visual=True, progress=progress)
    if loaded.gt_audio is None:
        raise ExplorerError(f"split {split!r} has no dense ground truth: explore val or test")
    return loaded, layout.resolve(layout.video_dir)


def _model_names(models: Sequence) -> list[str]:
    names = [architecture_of(model).upper() for model in models]
    return names if len(set(names)) == len(names) else [f"{name} ({i + 1})" for i, name in enumerate(names)]


def open_explorer(
    data: str | Path,
    checkpoints: Sequence[str | Path],
    *,
    split: str = "test",
    videos: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = None,
    gate: str = "global",
    progress: bool = True,
) -> Explorer:
    """Load the data and 1 or 2 checkpoints and compute everything the explorer shows.

    Args:
        data: an LLP-format folder (``split`` is read from it) or a ``.npz`` split pack.
        checkpoints: our ``.safetensors`` files (the second one is compared with the first).
        videos: folder of ``<ID>.mp4``; default: beside a pack, or the layout's ``LLP_dataset/video``.
        cache_dir: where predictions and t-SNE results are cached (None: no cache).
        device: ``cuda`` / ``cpu``; default: the GPU when there is one.
        gate: ``global`` (official) or ``modality`` (MA) segment gate.
    """
    import torch

    if not 1 <= len(checkpoints) <= 2:
        raise ValueError(f"give one checkpoint, or two to compare; got {len(checkpoints)}")
    data_split, default_videos = _load_data(Path(data), split, progress)
    cache = Path(cache_dir) if cache_dir is not None else None
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    data_key = split_digest(data_split)[:16]
    loaded = [load_any_checkpoint(path) for path in checkpoints]
    names = _model_names(loaded)
    views = []
    for name, path, model in zip(names, checkpoints, loaded, strict=True):
        cache_path = None if cache is None else cache / f"predictions-{file_sha256(path)[:16]}-{data_key}.npz"
        predictions = predict_cached(
            model.to(target), data_split, cache_path, device=target, class_features=True, progress=progress
        )
        pred_audio, pred_visual = predictions.binarize(gate)
        tokens = (
            (model.audio_token.detach().cpu().numpy(), model.visual_token.detach().cpu().numpy())
            if isinstance(model, MGN)
            else (None, None)
        )
        views.append(
            ModelView(
                name,
                architecture_of(model),
                Path(path),
                predictions,
                pred_audio,
                pred_visual,
                avvp_scores(pred_audio, pred_visual, data_split.gt_audio, data_split.gt_visual),
                *tokens,
            )
        )
    compare = (views[1].pred_audio, views[1].pred_visual) if len(views) == 2 else None
    table = clip_views.clip_table(
        data_split.filenames,
        data_split.gt_audio,
        data_split.gt_visual,
        views[0].pred_audio,
        views[0].pred_visual,
        compare=compare,
    )
    return Explorer(data_split, views, Path(videos) if videos is not None else default_videos, cache, table)
