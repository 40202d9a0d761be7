"""Everything the explorer shows, computed once at start: the split, each model's predictions and scores, the clip list.

``open_explorer`` loads a split (an LLP-format folder or a split pack) and, for each checkpoint, its predictions on
the split: read from the on-disk cache (named by the checkpoint's and the data's digests) when it holds them, else by
running the model once (on the GPU when there is one) and caching them. Torch is imported only to run a model (or to
read an official ``.pt`` file): with cached predictions the explorer starts without it. scikit-learn is imported
only for the t-SNE views, when first asked for.

The :class:`Explorer`'s methods answer the app's requests from that state: a clip's rendered view (player, timeline,
scores, events), the clip list, the dataset views, the disagreements of two models and the t-SNE views, each
computed once and cached in memory (bounded where the keys are open-ended). Every score can be asked for at another
probability threshold than the official 0.5 (binarised by the official rule, :meth:`Predictions.binarize`) and
against another ground truth (a :class:`GroundTruth`, e.g. a session's own annotations; default: the split's). They
validate what the browser sends and raise ``ExplorerError`` with a message fit for the user.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from mgn.data.llp import DENSE_SPLITS, LLPLayout, Split, load_split
from mgn.data.pack import load_split_pack
from mgn.events import find_events
from mgn.explore import clips as clip_views
from mgn.explore import dashboard
from mgn.explore.audio_strip import AudioStrip, audio_strip
from mgn.explore.memo import KeyedCache
from mgn.explore.player import video_html, video_url
from mgn.explore.timeline import ClipPrediction, timeline_figure, timeline_html, timeline_json
from mgn.io import file_sha256
from mgn.labels import CLASSES, audio_visual, display_name
from mgn.metrics import DEFAULT_THRESHOLD, Scores, avvp_scores
from mgn.predictions import GATES, Predictions, read_cached_predictions, split_digest, write_cached_predictions
from mgn.provenance import training_name

if TYPE_CHECKING:  # plotly's figure type; torch is imported only where a model runs
    from plotly import graph_objects as go

__all__ = [
    "DEFAULT_CLIP_CACHE",
    "OFFICIAL_THRESHOLD",
    "THRESHOLD_RANGE",
    "ClipView",
    "Explorer",
    "ExplorerError",
    "GroundTruth",
    "ModelView",
    "Scoring",
    "default_model_names",
    "open_explorer",
    "usable_cache_dir",
]

DEFAULT_CLIP_CACHE = 256  # rendered clip views kept in memory (about 60 kB each); the demo has 40 clips
OFFICIAL_THRESHOLD = DEFAULT_THRESHOLD  # 0.5, the official test loop's (video-level gate and segments alike)
THRESHOLD_RANGE = (0.05, 0.95)  # thresholds the explorer accepts, inclusive
_PAGE_CACHE = 4  # standalone timeline pages (downloads, about 5 MB each with plotly.js inline) kept in memory
_SCORING_CACHE = 8  # (threshold, ground truth) pairs kept scored (about 1 MB per 1,000 clips each)
_THRESHOLD_DECIMALS = 3  # thresholds are keys: 0.55 and 0.5500000001 (a slider's float) are the same
_EVENT_COLUMNS = ("source", "modality", "class", "onset (s)", "offset (s)")
_DISPLAY_NAMES = tuple(display_name(name) for name in CLASSES)
_CPU_DEVICES = (None, "", "auto", "cpu")  # devices that need no check before loading (no torch import)


class ExplorerError(ValueError):
    """A request the explorer cannot answer (unknown clip, bad option); the message is shown to the user."""


@dataclass(frozen=True, eq=False)  # eq=False: array fields have no truth value to compare
class GroundTruth:
    """The dense labels that clips are shown and scored against.

    Attributes:
        audio: (N, C, T) uint8 0/1 [clip, class, segment], split order.
        visual: same layout.
        key: names this ground truth in the explorer's caches (``"split"``: the split's own annotations); two
            different ground truths must have different keys.
    """

    audio: np.ndarray
    visual: np.ndarray
    key: str = "split"


@dataclass
class ModelView:
    """One checkpoint's results on the split.

    Attributes:
        name: its label in the page (``--label``, or :func:`default_model_names`: architecture, how it was trained and
            run folder, e.g. ``"MGN mgn-localise +R (runs/demo_r)"``).
        short_name: the shortest label that still tells the models apart (``"MGN"`` next to a ``"HAN"``): column
            headers and timeline lanes.
        arch: ``mgn`` or ``han``.
        training: how the checkpoint was trained, as it records it (:func:`mgn.provenance.training_name`: the
            recipe and MA's additions, e.g. ``"mgn-localise +R"``), None for the official recipe and for files
            without it.
        checkpoint: the file.
        predictions: probabilities (and MGN's class-aware features).
        pred_audio, pred_visual: (N, C, T) uint8 binary predictions at the official threshold [clip, class, segment].
        scores: :func:`mgn.metrics.avvp_scores` of those against the split's ground truth.
        audio_tokens, visual_tokens: (C, D) MGN's learnable class tokens; None for HAN.
    """

    name: str
    short_name: str
    arch: str
    training: str | None
    checkpoint: Path
    predictions: Predictions
    pred_audio: np.ndarray
    pred_visual: np.ndarray
    scores: Scores
    audio_tokens: np.ndarray | None = None
    visual_tokens: np.ndarray | None = None


@dataclass(frozen=True)
class Scoring:
    """Every model's binary predictions and official scores at one threshold against one ground truth.

    Attributes:
        threshold: the probability threshold (video-level gate and segments alike, as the official test loop).
        gt: the ground truth scored against.
        preds: per model ``(pred_audio, pred_visual)``, each (N, C, T) uint8 [clip, class, segment].
        scores: per model, :func:`mgn.metrics.avvp_scores`.
        table: the clip list (:func:`mgn.explore.clips.clip_table`), both models' columns in compare mode.
    """

    threshold: float
    gt: GroundTruth
    preds: list[tuple[np.ndarray, np.ndarray]]
    scores: list[Scores]
    table: pd.DataFrame


@dataclass(frozen=True)
class ClipView:
    """Everything the clip view shows for one clip at one threshold, rendered once (shared read-only).

    Attributes:
        clip: the full LLP filename.
        threshold: the probability threshold the predictions were binarised at.
        video_html: the player (or the placeholder saying why there is no video).
        figure_json: the timeline figure as Plotly JSON (what the page's plot receives).
        scores: the per-clip F table (:meth:`Explorer.clip_scores`).
        events: the ground-truth and predicted events (:meth:`Explorer.clip_events`).
    """

    clip: str
    threshold: float
    video_html: str
    figure_json: str
    scores: pd.DataFrame
    events: pd.DataFrame


@dataclass
class Explorer:
    """The loaded split and models (read-only after construction; safe to share between requests).

    ``clip_cache_size`` bounds the rendered clip views kept in memory (least recently used out). ``gate`` is the
    segment gate predictions are binarised with (:data:`mgn.predictions.GATES`).
    """

    split: Split
    models: list[ModelView]
    videos_dir: Path | None
    cache_dir: Path | None
    gate: str = "global"
    clip_cache_size: int = DEFAULT_CLIP_CACHE
    _views: KeyedCache = field(init=False, repr=False)
    _pages: KeyedCache = field(init=False, repr=False)
    _scorings: KeyedCache = field(init=False, repr=False)
    _memo: KeyedCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._views = KeyedCache(self.clip_cache_size)  # (clip index, threshold, gt key) -> ClipView
        self._pages = KeyedCache(_PAGE_CACHE)  # (clip index, threshold, gt key) -> standalone HTML page
        self._scorings = KeyedCache(_SCORING_CACHE)  # (threshold, gt key) -> Scoring
        self._memo = KeyedCache(64)  # (view, model, threshold, gt key[, class]) -> dataset and t-SNE results

    # ------------------------------------------------------------------------------------------ scoring
    @property
    def ground_truth(self) -> GroundTruth:
        """The split's own dense annotations."""
        return GroundTruth(self.split.gt_audio, self.split.gt_visual)

    @property
    def compare(self) -> bool:
        """Whether two models are loaded (compare mode)."""
        return len(self.models) == 2

    @property
    def model_names(self) -> list[str]:
        return [model.name for model in self.models]

    @staticmethod
    def check_threshold(threshold: float | None) -> float:
        """A threshold as the explorer keys it (rounded to 3 decimals); None is the official 0.5.

        Raises:
            ExplorerError: not a number in :data:`THRESHOLD_RANGE`.
        """
        if threshold is None:
            return OFFICIAL_THRESHOLD
        try:
            value = float(threshold)
        except (TypeError, ValueError):
            value = math.nan
        low, high = THRESHOLD_RANGE
        if not low <= value <= high:  # NaN fails too
            raise ExplorerError(f"threshold must be a number from {low} to {high}, got {threshold!r}")
        return round(value, _THRESHOLD_DECIMALS)

    def scoring(self, threshold: float | None = None, gt: GroundTruth | None = None) -> Scoring:
        """Every model's predictions and scores at ``threshold`` against ``gt`` (default: the split's), and the clip
        list; computed once per (threshold, ground truth) and kept in a bounded cache."""
        threshold = self.check_threshold(threshold)
        gt = gt or self.ground_truth
        return self._scorings.get((threshold, gt.key), lambda: self._score(threshold, gt))

    def _score(self, threshold: float, gt: GroundTruth) -> Scoring:
        official = threshold == OFFICIAL_THRESHOLD and gt.key == "split"
        preds, scores = [], []
        for model in self.models:
            if threshold == OFFICIAL_THRESHOLD:
                pred = (model.pred_audio, model.pred_visual)
            else:
                pred = model.predictions.binarize(self.gate, threshold)  # (N, C, T) uint8 each, the official rule
            preds.append(pred)
            scores.append(model.scores if official else avvp_scores(*pred, gt.audio, gt.visual))
        table = clip_views.clip_table(
            self.split.filenames,
            gt.audio,
            gt.visual,
            *preds[0],
            scores=scores[0],
            compare=preds[1] if self.compare else None,
            compare_scores=scores[1] if self.compare else None,
        )
        return Scoring(threshold, gt, preds, scores, table)

    @property
    def table(self) -> pd.DataFrame:
        """The clip list at the official threshold against the split's ground truth."""
        return self.scoring().table

    def clip_list(
        self,
        *,
        query: str = "",
        classes: Sequence[str] = (),
        modality: str = "any",
        error: str = "any",
        sort: str = "split order",
        model: int = 0,
        threshold: float | None = None,
        gt: GroundTruth | None = None,
    ) -> pd.DataFrame:
        """The clip table's rows that pass the filters, sorted (see :func:`mgn.explore.clips.filter_clips` and
        :func:`~mgn.explore.clips.sort_clips`; ``model`` is whose predictions, errors and scores count)."""
        table = self.scoring(threshold, gt).table
        try:
            chosen = clip_views.filter_clips(
                table, query=query or "", classes=classes or (), modality=modality, error=error, model=model
            )
            return clip_views.sort_clips(chosen, sort, model)
        except ValueError as problem:
            raise ExplorerError(str(problem)) from None

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

    def clip_view(self, clip: str, threshold: float | None = None, gt: GroundTruth | None = None) -> ClipView:
        """The clip's rendered view (player, timeline JSON, scores, events), computed once and kept in the LRU."""
        index, scoring = self.index_of(clip), self.scoring(threshold, gt)
        key = (index, scoring.threshold, scoring.gt.key)
        return self._views.get(key, lambda: self._render_clip(index, scoring))

    def _render_clip(self, index: int, scoring: Scoring) -> ClipView:
        clip = str(self.split.filenames[index])
        return ClipView(
            clip=clip,
            threshold=scoring.threshold,
            video_html=video_html(
                clip,
                video_url(str(self.split.video_ids[index])) if self.video_path(clip) is not None else None,
                self.expected_video_path(clip),
            ),
            figure_json=timeline_json(
                *self._timeline_inputs(index, scoring), **self._timeline_options(index, scoring), include_config=True
            ),
            scores=self._clip_scores(index, scoring),
            events=self._clip_events(index, scoring),
        )

    def timeline_page(self, clip: str, threshold: float | None = None, gt: GroundTruth | None = None) -> str:
        """The clip's timeline as a self-contained HTML page for download (plotly.js inline: opens offline), cached."""
        index, scoring = self.index_of(clip), self.scoring(threshold, gt)
        return self._pages.get(
            (index, scoring.threshold, scoring.gt.key),
            lambda: timeline_html(self.clip_view(clip, scoring.threshold, gt).figure_json),
        )

    def audio_strip(self, clip: str) -> AudioStrip | None:
        """The log-mel strip of the clip's sound (:func:`mgn.explore.audio_strip.audio_strip`, cached on disk by the
        video's digest), or None when there is no video; an unreadable video gives one warning and None."""
        path = self.video_path(clip)
        if path is None:
            return None
        try:
            return audio_strip(path, cache_dir=self.cache_dir)
        except ValueError as error:  # MediaError: not a media file ffmpeg can decode
            warnings.warn(f"no sound strip for {clip}: {error}", stacklevel=2)
            return None

    def clip_predictions(self, index: int, scoring: Scoring | None = None) -> list[ClipPrediction]:
        """Each model's predictions of clip ``index`` as the timeline takes them (binarised as ``scoring``), with the
        video-level probabilities that gate its segments under the explorer's gate."""
        scoring = scoring or self.scoring()
        predictions = []
        for model, (pred_audio, pred_visual) in zip(self.models, scoring.preds, strict=True):
            outputs = model.predictions
            gates = (
                (outputs.global_prob[index], outputs.global_prob[index])
                if self.gate == "global"
                else (outputs.a_prob[index], outputs.v_prob[index])
            )
            predictions.append(
                ClipPrediction(
                    name=model.short_name,
                    pred_audio=pred_audio[index],
                    pred_visual=pred_visual[index],
                    prob_audio=outputs.a_frame_prob[index],
                    prob_visual=outputs.v_frame_prob[index],
                    gate_audio=gates[0],
                    gate_visual=gates[1],
                )
            )
        return predictions

    def timeline(self, clip: str, threshold: float | None = None, gt: GroundTruth | None = None) -> go.Figure:
        """The clip's timeline figure (built anew; :meth:`clip_view` holds its cached JSON)."""
        index, scoring = self.index_of(clip), self.scoring(threshold, gt)
        return timeline_figure(*self._timeline_inputs(index, scoring), **self._timeline_options(index, scoring))

    def _timeline_inputs(self, index: int, scoring: Scoring) -> tuple[str, np.ndarray, np.ndarray, list]:
        """The positional arguments of :func:`timeline_figure` for clip ``index``."""
        filename = str(self.split.filenames[index])
        return filename, scoring.gt.audio[index], scoring.gt.visual[index], self.clip_predictions(index, scoring)

    def _timeline_options(self, index: int, scoring: Scoring) -> dict:
        """The keyword arguments of :func:`timeline_figure` for clip ``index``: the threshold (the predictions given
        are binarised at it already; the figure names it and the official value) and the sound strip."""
        return {"threshold": scoring.threshold, "audio_strip": self.audio_strip(str(self.split.filenames[index]))}

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

    def clip_scores(self, clip: str, threshold: float | None = None, gt: GroundTruth | None = None) -> pd.DataFrame:
        """Per-clip F (%) of each model: rows = model x level, columns Audio, Visual, Audio-Visual, Event@AV."""
        return self._clip_scores(self.index_of(clip), self.scoring(threshold, gt))

    def _clip_scores(self, index: int, scoring: Scoring) -> pd.DataFrame:
        rows = []
        for model, scores in zip(self.models, scoring.scores, strict=True):
            for level in ("segment", "event"):
                f_a, f_v, f_pooled, f_av = scores.level(level).per_clip[index]
                rows.append(
                    {
                        "model": model.short_name,
                        "level": level,
                        "Audio": 100 * f_a,
                        "Visual": 100 * f_v,
                        "Audio-Visual": 100 * f_av,
                        "Event@AV": 100 * f_pooled,
                    }
                )
        return pd.DataFrame(rows).round(1)

    def clip_events(self, clip: str, threshold: float | None = None, gt: GroundTruth | None = None) -> pd.DataFrame:
        """Ground-truth and predicted events of a clip: source, modality, class, onset (s), offset (s); rows by
        source (ground truth, then the models), modality (audio, visual, audio-visual), class, onset."""
        return self._clip_events(self.index_of(clip), self.scoring(threshold, gt))

    def _clip_events(self, index: int, scoring: Scoring) -> pd.DataFrame:
        sources = [("ground truth", scoring.gt.audio[index], scoring.gt.visual[index])]
        sources += [
            (model.short_name, pred_audio[index], pred_visual[index])
            for model, (pred_audio, pred_visual) in zip(self.models, scoring.preds, strict=True)
        ]
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
    def table1(self, model_index: int = 0, threshold: float | None = None, gt: GroundTruth | None = None):
        """The Table-1 rows (segment and event level) of one model, with the level as the first column."""
        self._model(model_index)
        return dashboard.table1_frame(self.scoring(threshold, gt).scores[model_index]).reset_index()

    def table1_comparison(self, threshold: float | None = None, gt: GroundTruth | None = None) -> pd.DataFrame:
        """Table 1 of every model side by side (one row per level and metric; columns by short name), with the
        difference in compare mode (:func:`mgn.explore.dashboard.table1_comparison`)."""
        return dashboard.table1_comparison(self.scoring(threshold, gt).scores, [m.short_name for m in self.models])

    def per_class(self, model_index: int = 0, threshold: float | None = None, gt: GroundTruth | None = None):
        """Segment-level F per class and modality (:func:`mgn.explore.dashboard.per_class_scores`)."""
        self._model(model_index)
        scoring = self.scoring(threshold, gt)
        pred_audio, pred_visual = scoring.preds[model_index]
        return self._memoised(
            ("per_class", model_index, scoring.threshold, scoring.gt.key),
            lambda: dashboard.per_class_scores(scoring.gt.audio, scoring.gt.visual, pred_audio, pred_visual),
        )

    def confusion(
        self,
        model_index: int = 0,
        class_name: str | None = None,
        threshold: float | None = None,
        gt: GroundTruth | None = None,
    ) -> pd.DataFrame:
        """The modality confusion of one model, of all classes or one (:func:`dashboard.modality_confusion`)."""
        self._model(model_index)
        class_index = None if not class_name else self.class_index(class_name)
        scoring = self.scoring(threshold, gt)
        pred_audio, pred_visual = scoring.preds[model_index]
        return self._memoised(
            ("confusion", model_index, class_index, scoring.threshold, scoring.gt.key),
            lambda: dashboard.modality_confusion(
                scoring.gt.audio, scoring.gt.visual, pred_audio, pred_visual, class_index=class_index
            ),
        )

    def disagreements(self, threshold: float | None = None, gt: GroundTruth | None = None) -> pd.DataFrame:
        """Compare mode: where one model is right and the other wrong (:func:`mgn.explore.clips.disagreements`).

        Raises:
            ExplorerError: only one model is loaded.
        """
        if not self.compare:
            raise ExplorerError("disagreements need two models: start the app with --compare CHECKPOINT")
        scoring = self.scoring(threshold, gt)
        return self._memoised(
            ("disagreements", scoring.threshold, scoring.gt.key),
            lambda: clip_views.disagreements(
                self.split.filenames,
                scoring.gt.audio,
                scoring.gt.visual,
                scoring.preds[0],
                scoring.preds[1],
                [model.short_name for model in self.models],
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
        from mgn.explore import embeddings  # scikit-learn: imported when a t-SNE is first asked for

        return self._memoised(
            ("tokens", model_index), lambda: embeddings.token_points(model.audio_tokens, model.visual_tokens)
        )

    def feature_points(self, model_index: int = 0) -> pd.DataFrame | None:
        """MGN's class-aware features of the classes present in each clip, in 2-D (cached on disk), or None."""
        model = self._model(model_index)
        features = model.predictions
        if features.audio_class_features is None:
            return None
        from mgn.explore import embeddings  # scikit-learn: imported when a t-SNE is first asked for

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
        if not isinstance(index, int) or not 0 <= index < len(self.models):
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


# ---------------------------------------------------------------------------------------------------------------------
# checkpoints and their predictions


@dataclass
class _Loaded:
    """What the explorer keeps of one checkpoint (see :class:`ModelView`)."""

    path: Path
    arch: str
    training: str | None
    predictions: Predictions
    audio_tokens: np.ndarray | None
    visual_tokens: np.ndarray | None


def _our_checkpoint_header(path: Path) -> tuple[str, str | None, np.ndarray | None, np.ndarray | None] | None:
    """``(arch, training, audio_tokens, visual_tokens)`` of one of our ``.safetensors`` checkpoints, read without torch
    (safetensors' numpy reader); None for any other file or one this cannot read (the full load reports why).

    Only called for a file whose predictions are cached under its SHA-256, i.e. one that loaded and ran before.
    """
    from safetensors import safe_open  # a small module; kept with its only use

    try:
        with safe_open(path, framework="numpy") as handle:
            metadata = dict(handle.metadata() or {})
            arch = metadata.get("arch")
            tokens = (
                (handle.get_tensor("audio_token"), handle.get_tensor("visual_token")) if arch == "mgn" else (None, None)
            )
    except Exception:  # noqa: BLE001 - any unreadable header (SafetensorError, a bfloat16 tensor, ...): load fully
        return None
    if arch not in ("mgn", "han"):
        return None
    return arch, training_name(metadata), *tokens


def _cached_checkpoint(path: Path, split: Split, cache_path: Path | None) -> tuple[_Loaded | None, bool]:
    """One of our checkpoints whose predictions on ``split`` are cached at ``cache_path``, read without torch (None
    when they are not, the file is official or there is no cache: the model has to be loaded, :func:`_load_model`),
    and whether the cache was read (a bad cache file is then reported already)."""
    header = _our_checkpoint_header(path) if cache_path is not None and path.suffix == ".safetensors" else None
    if header is None:
        return None, False
    found_arch, training, audio_tokens, visual_tokens = header
    cached = read_cached_predictions(cache_path, split, class_features=found_arch == "mgn")  # HAN has none
    return (None if cached is None else _Loaded(path, found_arch, training, cached, audio_tokens, visual_tokens)), True


def _load_model(path: Path, arch: str | None):
    """The checkpoint's model (torch), checked as :func:`mgn.checkpoint.load_any_checkpoint` checks it, and how it was
    trained (:func:`mgn.provenance.training_name`)."""
    from mgn.checkpoint import OFFICIAL_SUFFIXES, load_any_checkpoint, read_checkpoint

    if path.suffix in OFFICIAL_SUFFIXES:
        return load_any_checkpoint(path, arch), None
    checkpoint = read_checkpoint(path)  # read once: the weights and the metadata (load_any_checkpoint reads it too)
    return checkpoint.build_model(), training_name(checkpoint.metadata)


def _run_model(
    model,
    training: str | None,
    path: Path,
    split: Split,
    cache_path: Path | None,
    device: str | None,
    progress: bool,
    cache_read: bool,
) -> _Loaded:
    """The model's predictions on ``split``: the cached ones when valid (an official file's; ``cache_read``: the
    cache was read already and did not hold them), else computed (on ``device``) and cached."""
    from mgn.device import resolve_device
    from mgn.inference import predict
    from mgn.models import MGN, architecture_of

    is_mgn = isinstance(model, MGN)
    predictions = (
        None if cache_path is None or cache_read else read_cached_predictions(cache_path, split, class_features=is_mgn)
    )
    if predictions is None:
        target = resolve_device(device)
        predictions = predict(
            model.to(target), split, device=target, class_features=True, progress=progress, source=str(path)
        )
        if cache_path is not None:
            write_cached_predictions(cache_path, predictions, split)
    tokens = (
        (model.audio_token.detach().cpu().numpy(), model.visual_token.detach().cpu().numpy())
        if is_mgn
        else (None, None)
    )
    return _Loaded(path, architecture_of(model), training, predictions, *tokens)


def _run_folder(path: Path) -> str:
    """A checkpoint's run folder as its last two path parts: ``runs/demo/best.safetensors`` -> ``runs/demo``."""
    parts = path.resolve().parent.parts
    return "/".join(parts[-2:]) if len(parts) > 1 else str(path.resolve().parent)


def default_model_names(
    paths: Sequence[Path], archs: Sequence[str], trainings: Sequence[str | None]
) -> tuple[list[str], list[str]]:
    """Default labels of the loaded checkpoints and their short forms.

    A label is the architecture, how it was trained when the checkpoint records a departure from the official
    recipe (:func:`mgn.provenance.training_name`), and the run folder: ``"MGN mgn-localise +R (runs/demo_r)"``.
    Labels that would still be equal (two checkpoints of one run) add the file name (``"MGN (runs/x, last)"``), then
    the position. The short form is the first of architecture, architecture + training, label that tells the models
    apart (``"MGN"`` and ``"HAN"``).
    """
    kinds = [arch.upper() + (f" {how}" if how else "") for arch, how in zip(archs, trainings, strict=True)]
    names = [f"{kind} ({_run_folder(path)})" for kind, path in zip(kinds, paths, strict=True)]
    if len(set(names)) < len(names):
        names = [f"{kind} ({_run_folder(path)}, {path.stem})" for kind, path in zip(kinds, paths, strict=True)]
    if len(set(names)) < len(names):
        names = [f"{name} #{position + 1}" for position, name in enumerate(names)]
    for candidates in ([arch.upper() for arch in archs], kinds, names):
        if len(set(candidates)) == len(candidates):
            return names, list(candidates)
    return names, names  # unreachable: the names are distinct


def _model_names(loaded: Sequence[_Loaded], labels: Sequence[str | None]) -> tuple[list[str], list[str]]:
    """Labels (``labels`` where given, :func:`default_model_names` among the others) and their short forms; a given
    label is its own short form, a default one is shortened only as far as it stays apart from every other name."""
    given = [label.strip() if label is not None and label.strip() else None for label in labels]
    unnamed = [position for position, label in enumerate(given) if label is None]
    defaults, default_shorts = default_model_names(
        [loaded[i].path for i in unnamed], [loaded[i].arch for i in unnamed], [loaded[i].training for i in unnamed]
    )
    names, shorts = list(given), list(given)
    for position, name, short in zip(unnamed, defaults, default_shorts, strict=True):
        names[position] = name
        taken = {other for i, other in enumerate(given) if other is not None and i != position}
        shorts[position] = short if short not in taken else name
    if len(set(names)) < len(names) or len(set(shorts)) < len(shorts):
        raise ExplorerError(f"two models have the same label {names[0]!r}: give --label and --compare-label")
    return names, shorts


def open_explorer(
    data: str | Path,
    checkpoints: Sequence[str | Path],
    *,
    labels: Sequence[str | None] = (),
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
        labels: each checkpoint's label in the page (None or missing: :func:`default_model_names`).
        split: ``val`` or ``test`` of a folder (default ``test``); a pack holds one split (default: that one).
        videos: folder of ``<ID>.mp4``; default: beside a pack, or the layout's ``LLP_dataset/video``.
        cache_dir: where predictions and t-SNE results are cached (None: no cache; an unusable folder: a warning,
            then no cache). With the predictions cached, torch is not imported (our ``.safetensors`` checkpoints).
        device: ``cuda`` / ``cpu`` / ``auto`` (None: the GPU when there is one), see :func:`mgn.device.resolve_device`;
            used only when a model has to run.
        gate: one of :data:`mgn.predictions.GATES`: ``global`` (official) or ``modality`` (MA) segment gate.
        arch: the architecture of official ``.pt`` / ``.pth`` files (None: recognised from their weights); our
            checkpoints name their own.
        clip_cache_size: rendered clip views kept in memory.

    Raises:
        FileNotFoundError: the data or a checkpoint does not exist.
        ValueError: (incl. ``ExplorerError``, ``CheckpointError``) a bad option, unreadable data or checkpoint, two
            equal labels, or a model whose outputs are not finite (naming the checkpoint and the clips).
    """
    if not 1 <= len(checkpoints) <= 2:
        raise ValueError(f"give one checkpoint, or two to compare; got {len(checkpoints)}")
    if len(labels) > len(checkpoints):
        raise ValueError(f"give at most one label per checkpoint; got {len(labels)} for {len(checkpoints)}")
    if gate not in GATES:
        raise ExplorerError(f"unknown gate {gate!r}; expected one of {', '.join(GATES)}")
    if device not in _CPU_DEVICES:  # a GPU asked for: checked before anything is loaded (this imports torch)
        from mgn.device import resolve_device

        resolve_device(device)
    cache = usable_cache_dir(cache_dir)
    data_split, default_videos = _load_data(Path(data), split, progress)
    data_key = split_digest(data_split)[:16]
    paths = [Path(path) for path in checkpoints]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
    cache_paths = [
        None if cache is None else cache / f"predictions-{file_sha256(path)[:16]}-{data_key}.npz" for path in paths
    ]
    found = [_cached_checkpoint(path, data_split, cache_path) for path, cache_path in zip(paths, cache_paths)]
    loaded = [item for item, _ in found]
    # The others are loaded (and checked) before any of them runs: a bad second checkpoint fails at once.
    models = {i: _load_model(paths[i], arch) for i, item in enumerate(loaded) if item is None}
    for i, (model, training) in models.items():
        loaded[i] = _run_model(model, training, paths[i], data_split, cache_paths[i], device, progress, found[i][1])
    names, shorts = _model_names(loaded, list(labels) + [None] * (len(loaded) - len(labels)))
    views = []
    for name, short, item in zip(names, shorts, loaded, strict=True):
        pred_audio, pred_visual = item.predictions.binarize(gate)  # (N, C, T) uint8 each
        scores = avvp_scores(pred_audio, pred_visual, data_split.gt_audio, data_split.gt_visual)
        views.append(
            ModelView(
                name,
                short,
                item.arch,
                item.training,
                item.path,
                item.predictions,
                pred_audio,
                pred_visual,
                scores,
                item.audio_tokens,
                item.visual_tokens,
            )
        )
    videos_dir = Path(videos) if videos is not None else default_videos
    return Explorer(data_split, views, videos_dir, cache, gate=gate, clip_cache_size=clip_cache_size)
