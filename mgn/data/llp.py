"""The official LLP on-disk layout, and a split loaded into contiguous in-memory arrays.

``LLPLayout`` says where the files are (defaults follow the official repositories: ``data/AVVP_train.csv``,
``data/feats/vggish/<ID>.npy``, ...). ``load_annotations`` reads a split's labels and dense ground truth without any
feature file (for metrics and the app); ``load_split`` adds the three feature streams as ``(N, ...)`` arrays, read
once (optionally through a memory-mapped cache), so that training never opens per-video files in its loop.
A split without clips is an error; ``check_disjoint_splits`` refuses a clip that is in two splits.

Notation: N clips, C = 25 classes, T = 10 one-second segments, F = 80 frames.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mgn.data.annotations import (
    VIDEO_ID_LENGTH,
    IgnoredRow,
    LLPAnnotationWarning,
    LLPFormatError,
    dense_ground_truth,
    describe_ignored_rows,
    find_ignored_rows,
    parse_filename,
    read_dense_annotations,
    read_weak_labels,
    video_id_of,
    weak_label_matrix,
)
from mgn.data.features import (
    FEATURE_SHAPES,
    FEATURE_STREAMS,
    FeatureCacheError,
    FeatureFileError,
    check_reader_count,
    load_feature_arrays,
    load_feature_arrays_cached,
    open_feature_cache,
    pool_frames,
    read_feature_file,
)
from mgn.io import file_sha256
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DENSE_SPLITS",
    "FEATURE_SHAPES",
    "FEATURE_STREAMS",
    "SPLITS",
    "Annotations",
    "FeatureCacheWarning",
    "FeatureFileError",
    "IgnoredRow",
    "LLPAnnotationWarning",
    "LLPFormatError",
    "LLPLayout",
    "Split",
    "SplitOverlapError",
    "check_disjoint_splits",
    "default_cache_dirs",
    "dense_ground_truth",
    "load_annotations",
    "load_split",
    "parse_filename",
    "pool_frames",
    "read_dense_annotations",
    "read_feature_file",
    "read_weak_labels",
    "video_id_of",
    "weak_label_matrix",
]

SPLITS = ("train", "val", "test")
DENSE_SPLITS = ("val", "test")  # the splits whose clips have rows in the eval CSVs; train has weak labels only
CACHE_DIRNAME = ".mgn_cache"  # the feature cache's default folder, under the dataset root
USER_CACHE_SUBDIR = ("mgn", "features")  # ... or under the user cache folder ($XDG_CACHE_HOME or ~/.cache)
_LISTED_CLIPS = 5  # clips named in an overlap error


class SplitOverlapError(LLPFormatError):
    """The same clip (YouTube ID) is in two splits' CSVs; the message names the CSVs, a count and examples."""


class FeatureCacheWarning(UserWarning):
    """The feature cache could not be used where asked (read-only or full); features were cached elsewhere or not."""


@dataclass(frozen=True)
class LLPLayout:
    """Where an LLP-format dataset lives. Relative entries resolve against `root`; absolute ones are used as is.

    Defaults follow the official repos (root 'data': data/AVVP_train.csv, data/feats/vggish/<ID>.npy, ...).
    To evaluate against the MGN repository's old audio annotations, point ``eval_audio_csv`` at that file.
    """

    root: Path = Path("data")
    train_csv: str = "AVVP_train.csv"
    val_csv: str = "AVVP_val_pd.csv"
    test_csv: str = "AVVP_test_pd.csv"
    full_csv: str = "AVVP_dataset_full.csv"
    eval_audio_csv: str = "AVVP_eval_audio.csv"
    eval_visual_csv: str = "AVVP_eval_visual.csv"
    audio_dir: str = "feats/vggish"  # <ID>.npy, (10, 128) float32
    visual_dir: str = "feats/res152"  # <ID>.npy, (80, 2048) float32
    visual_st_dir: str = "feats/r2plus1d_18"  # <ID>.npy, (10, 512) float32
    video_dir: str = "LLP_dataset/video"  # <ID>.mp4 (optional, for the app)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def resolve(self, entry: str | Path) -> Path:
        """``entry`` if absolute, else ``root / entry``."""
        path = Path(entry)
        return path if path.is_absolute() else self.root / path

    def split_csv(self, split: str) -> Path:
        """Weak-label CSV of ``split`` (one of ``SPLITS``)."""
        _check_split(split)
        return self.resolve(getattr(self, f"{split}_csv"))

    def eval_csv(self, modality: str) -> Path:
        """Dense eval CSV of ``modality``: ``'audio'`` or ``'visual'``."""
        if modality not in ("audio", "visual"):
            raise ValueError(f"unknown eval modality {modality!r}; expected 'audio' or 'visual'")
        return self.resolve(getattr(self, f"eval_{modality}_csv"))

    def feature_dir(self, stream: str) -> Path:
        """Folder of a feature stream's per-clip ``.npy`` files (``stream`` in ``FEATURE_STREAMS``)."""
        if stream not in FEATURE_STREAMS:
            raise ValueError(f"unknown feature stream {stream!r}; expected one of {FEATURE_STREAMS}")
        return self.resolve(getattr(self, f"{stream}_dir"))

    def feature_path(self, stream: str, video_id: str) -> Path:
        """``<feature_dir>/<video_id>.npy``; ``video_id`` is the 11-character YouTube ID, not the full filename."""
        return self.feature_dir(stream) / f"{video_id}.npy"

    def video_path(self, video_id: str) -> Path:
        """``<video_dir>/<video_id>.mp4``."""
        return self.resolve(self.video_dir) / f"{video_id}.mp4"

    def fingerprint(self) -> str:
        """Every location, absolute, as one JSON string (part of the feature cache key)."""
        entries = {f.name: os.path.abspath(self.resolve(getattr(self, f.name))) for f in fields(self)}
        return json.dumps(entries, sort_keys=True)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")


# ---------------------------------------------------------------------------------------------------------- annotations


@dataclass(frozen=True, eq=False)
class Annotations:
    """A split's labels without features: everything the metrics and the app need."""

    split: str
    filenames: np.ndarray  # (N,) str: full LLP filename <ID>_<start>_<end>, split CSV order
    video_ids: np.ndarray  # (N,) str: 11-char YouTube ID
    labels: np.ndarray  # (N, C) float32 video-level 0/1 (weak labels of the split CSV)
    gt_audio: np.ndarray | None  # (N, C, T) uint8 [clip, class, segment]; None when the split has no dense labels
    gt_visual: np.ndarray | None  # (N, C, T) uint8
    ignored_rows: tuple[IgnoredRow, ...] = ()  # eval-CSV rows the official evaluation ignores (reported once)

    @property
    def gt_av(self) -> np.ndarray | None:
        """``(N, C, T)`` uint8 audio-visual GT = audio AND visual (same class, same segment); None without GT."""
        return _gt_av(self.gt_audio, self.gt_visual)

    def __len__(self) -> int:
        return len(self.filenames)

    def index_of(self, filename_or_video_id: str) -> int:
        """Row of a clip given its full filename or its 11-character YouTube ID (KeyError naming the split)."""
        return _index_of(self.filenames, self.video_ids, filename_or_video_id, self.split)


def _gt_av(gt_audio: np.ndarray | None, gt_visual: np.ndarray | None) -> np.ndarray | None:
    if gt_audio is None or gt_visual is None:
        return None
    return gt_audio * gt_visual


def _index_of(filenames: np.ndarray, video_ids: np.ndarray, key: str, split: str) -> int:
    for values in (filenames, video_ids):
        hits = np.flatnonzero(values == key)
        if hits.size:
            return int(hits[0])
    raise KeyError(f"{key!r} is neither a filename nor a video ID of split {split!r} ({len(filenames)} clips)")


def _dense_clip_filenames(layout: LLPLayout, split: str, filenames: np.ndarray) -> set[str]:
    """Filenames of every clip with dense labels (val and test; a dense split whose CSV is absent is skipped)."""
    clips = set(filenames)
    for other in DENSE_SPLITS:
        path = layout.split_csv(other)
        if other != split and path.is_file():
            clips.update(read_weak_labels(path)["filename"])
    return clips


def _read_split_csv(layout: LLPLayout, split: str) -> pd.DataFrame:
    """A split's weak-label table; a split without clips (a header-only CSV) is an error naming the file."""
    path = layout.split_csv(split)
    weak = read_weak_labels(path)
    if weak.empty:
        raise LLPFormatError(f"{path}: the {split} split has no clips (only a header); expected at least one clip")
    return weak


def _read_annotations(layout: LLPLayout, split: str) -> Annotations:
    weak = _read_split_csv(layout, split)
    filenames = weak["filename"].to_numpy(dtype=str)  # (N,)
    video_ids = weak["filename"].str.slice(0, VIDEO_ID_LENGTH).to_numpy(dtype=str)  # (N,)
    labels = weak_label_matrix(weak["event_labels"].tolist())  # (N, C)
    if split not in DENSE_SPLITS:
        return Annotations(split, filenames, video_ids, labels, None, None)
    dense_clips = _dense_clip_filenames(layout, split, filenames)
    ground_truth, ignored = {}, []
    for modality in ("audio", "visual"):
        path = layout.eval_csv(modality)
        dense = read_dense_annotations(path)
        ground_truth[modality] = dense_ground_truth(filenames, dense)  # (N, C, T)
        ignored.extend(find_ignored_rows(dense, dense_clips, path))
    return Annotations(
        split, filenames, video_ids, labels, ground_truth["audio"], ground_truth["visual"], tuple(ignored)
    )


def _warn_ignored(annotations: Annotations, stacklevel: int) -> None:
    if annotations.ignored_rows:
        message = describe_ignored_rows(annotations.ignored_rows)
        warnings.warn(LLPAnnotationWarning(message), stacklevel=stacklevel + 1)


def load_annotations(layout: LLPLayout, split: str, *, warn: bool = True) -> Annotations:
    """Read a split's weak labels and, for val/test, its dense audio/visual ground truth (no feature file is read).

    Dense GT is built exactly like the official evaluation (see ``dense_ground_truth``). Eval-CSV rows that it
    silently ignores (orphans matching no val/test clip, empty or reversed intervals, unknown classes) are ignored the
    same way, kept in ``Annotations.ignored_rows`` and reported in a single ``LLPAnnotationWarning``. The report
    covers the whole eval CSVs (orphan = matching no clip of val or test), so val and test give the same text, which
    Python's default warning filter shows once per calling line.

    Args:
        layout: where the CSVs live.
        split: ``'train'``, ``'val'`` or ``'test'``; train gets ``gt_audio = gt_visual = None``.
        warn: emit the warning (the rows are recorded either way).

    Raises:
        FileNotFoundError: a CSV (the split's, or an eval CSV for val/test) is missing.
        LLPFormatError: a malformed CSV, naming file and line, or a split CSV without clips.
    """
    _check_split(split)
    annotations = _read_annotations(layout, split)
    if warn:
        _warn_ignored(annotations, stacklevel=2)
    return annotations


def check_disjoint_splits(layout: LLPLayout, splits: Sequence[str] = SPLITS) -> None:
    """Refuse a clip that is in two of ``splits`` (compared by YouTube ID, which keys the feature files).

    Splits whose CSV does not exist are skipped (e.g. a dataset without a test split).

    Raises:
        SplitOverlapError: naming both CSVs, the number of shared clips and the first few.
        LLPFormatError: a malformed split CSV.
    """
    tables = {}
    for split in splits:
        _check_split(split)
        if layout.split_csv(split).is_file():
            tables[split] = read_weak_labels(layout.split_csv(split))
    names = list(tables)
    for position, first in enumerate(names):
        ids = set(tables[first]["filename"].str.slice(0, VIDEO_ID_LENGTH))
        for second in names[position + 1 :]:
            shared = [name for name in tables[second]["filename"] if name[:VIDEO_ID_LENGTH] in ids]
            if shared:
                examples = ", ".join(repr(name) for name in shared[:_LISTED_CLIPS])
                more = f" and {len(shared) - _LISTED_CLIPS} more" if len(shared) > _LISTED_CLIPS else ""
                raise SplitOverlapError(
                    f"{len(shared)} clip(s) of {layout.split_csv(second)} are also in {layout.split_csv(first)} "
                    f"(same YouTube ID): {examples}{more}; a clip may belong to one split only"
                )


# --------------------------------------------------------------------------------------------------------------- splits


@dataclass(eq=False)
class Split:
    """One LLP split in memory: labels, dense GT and the three feature streams as contiguous arrays."""

    name: str
    filenames: np.ndarray  # (N,) str: full LLP filename <ID>_<start>_<end>
    video_ids: np.ndarray  # (N,) str: 11-char YouTube ID
    labels: np.ndarray  # (N, C) float32 video-level 0/1 (weak labels of the split CSV)
    audio: np.ndarray  # (N, T, 128) float32   (may be np.memmap)
    visual: np.ndarray  # (N, F, 2048) float32, or (N, T, 2048) when loaded with pooled visual frames
    visual_st: np.ndarray  # (N, T, 512) float32
    gt_audio: np.ndarray | None  # (N, C, T) uint8 [clip, class, segment]; None when the split has no dense labels
    gt_visual: np.ndarray | None  # (N, C, T) uint8

    def __post_init__(self) -> None:
        count = len(self.filenames)
        expected = {
            "video_ids": [(count,)],
            "labels": [(count, NUM_CLASSES)],
            "audio": [(count, *FEATURE_SHAPES["audio"])],
            "visual": [(count, *FEATURE_SHAPES["visual"]), (count, NUM_SEGMENTS, FEATURE_SHAPES["visual"][1])],
            "visual_st": [(count, *FEATURE_SHAPES["visual_st"])],
            "gt_audio": [(count, NUM_CLASSES, NUM_SEGMENTS), None],
            "gt_visual": [(count, NUM_CLASSES, NUM_SEGMENTS), None],
        }
        for name, shapes in expected.items():
            value = getattr(self, name)
            shape = None if value is None else tuple(value.shape)
            if shape not in shapes:
                raise ValueError(f"Split {self.name!r}: {name} has shape {shape}, expected one of {shapes}")

    @property
    def gt_av(self) -> np.ndarray | None:
        """``(N, C, T)`` uint8 audio-visual GT = audio AND visual; None when the split has no dense labels."""
        return _gt_av(self.gt_audio, self.gt_visual)

    @property
    def pooled_visual(self) -> bool:
        """Whether ``visual`` holds 8-frame means ``(N, T, 2048)`` rather than all frames."""
        return self.visual.shape[1] == NUM_SEGMENTS

    def __len__(self) -> int:
        return len(self.filenames)

    def index_of(self, filename_or_video_id: str) -> int:
        """Row of a clip given its full filename or its 11-character YouTube ID.

        Raises:
            KeyError: naming the split when no clip matches.
        """
        return _index_of(self.filenames, self.video_ids, filename_or_video_id, self.name)

    def subset(self, indices: Sequence[int] | np.ndarray) -> Split:
        """A new in-memory Split holding rows ``indices`` (in that order)."""
        rows = np.asarray(indices, dtype=np.int64)

        def take(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else np.ascontiguousarray(array[rows])

        return Split(
            self.name,
            self.filenames[rows],
            self.video_ids[rows],
            take(self.labels),
            take(self.audio),
            take(self.visual),
            take(self.visual_st),
            take(self.gt_audio),
            take(self.gt_visual),
        )


def default_cache_dirs(layout: LLPLayout) -> tuple[Path, ...]:
    """Where ``load_split(cache=True)`` keeps the feature cache when no ``cache_dir`` is given, in order of preference:
    ``<root>/.mgn_cache``, then ``<user cache>/mgn/features`` (``$XDG_CACHE_HOME``, else ``~/.cache``) for datasets
    that are read-only. Cache keys hold the dataset's absolute paths, so datasets never share entries."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    user_cache = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return layout.resolve(CACHE_DIRNAME), user_cache.joinpath(*USER_CACHE_SUBDIR)


def load_split(
    layout: LLPLayout,
    split: str,
    *,
    pooled_visual: bool = False,
    cache: bool = False,
    progress: bool = True,
    cache_dir: Path | None = None,
    num_workers: int = 4,
) -> Split:
    """Load a split's annotations and all its features into contiguous ``(N, ...)`` arrays.

    Args:
        layout: where the CSVs and ``feats/`` folders live.
        split: ``'train'``, ``'val'`` or ``'test'``.
        pooled_visual: keep the 8-frame means ``(N, 10, 2048)`` (8x less memory) instead of ``(N, 80, 2048)``.
        cache: read / write a memory-mapped cache ``<cache_dir>/<split>-<variant>-<key>/{audio,visual,visual_st}.npy``,
            keyed by the split CSV's content, the layout, the pooled flag and every feature file's size and mtime.
            A second load opens the cache without reading any per-clip file. A cache folder that cannot be written
            (read-only, full) is never fatal: the next candidate is used, or none, with a ``FeatureCacheWarning``.
        progress: tqdm bar while reading feature files.
        cache_dir: where the cache lives; default: the first writable of :func:`default_cache_dirs`.
        num_workers: reader threads for the feature files.

    Raises:
        FeatureFileError: a missing, unreadable, wrong-shape, non-float32 or non-finite feature file (named).
        LLPFormatError / FileNotFoundError: as ``load_annotations``.
        ValueError: ``num_workers`` outside [1, 64].
    """
    _check_split(split)
    check_reader_count(num_workers)
    annotations = _read_annotations(layout, split)
    _warn_ignored(annotations, stacklevel=2)
    paths = {s: [layout.feature_path(s, video_id) for video_id in annotations.video_ids] for s in FEATURE_STREAMS}
    arrays = None
    if cache:
        candidates = (Path(cache_dir),) if cache_dir is not None else default_cache_dirs(layout)
        extra_key = f"{file_sha256(layout.split_csv(split))}\n{layout.fingerprint()}"
        arrays = _load_through_cache(paths, candidates, split, pooled_visual, extra_key, progress, num_workers)
    if arrays is None:
        arrays = load_feature_arrays(
            paths,
            pooled_visual=pooled_visual,
            progress=progress,
            description=f"loading {split} features",
            num_workers=num_workers,
        )
    return Split(
        split,
        annotations.filenames,
        annotations.video_ids,
        annotations.labels,
        arrays["audio"],
        arrays["visual"],
        arrays["visual_st"],
        annotations.gt_audio,
        annotations.gt_visual,
    )


def _load_through_cache(
    paths: dict[str, list[Path]],
    candidates: Sequence[Path],
    split: str,
    pooled_visual: bool,
    extra_key: str,
    progress: bool,
    num_workers: int,
) -> dict[str, np.ndarray] | None:
    """The arrays through the first cache folder of ``candidates`` that holds them or can be written; None (with a
    warning) when none can."""
    for directory in candidates:
        hit = open_feature_cache(paths, directory, split, pooled_visual=pooled_visual, extra_key=extra_key)
        if hit is not None:
            return hit
    failures = []
    for directory in candidates:
        try:
            arrays = load_feature_arrays_cached(
                paths,
                directory,
                split,
                pooled_visual=pooled_visual,
                extra_key=extra_key,
                progress=progress,
                num_workers=num_workers,
            )
        except FeatureCacheError as error:
            failures.append(str(error))
            continue
        if failures:
            message = f"{'; '.join(failures)}; the {split} features are cached in {directory} instead"
            warnings.warn(FeatureCacheWarning(message), stacklevel=3)
        return arrays
    message = (
        f"{'; '.join(failures)}; loading the {split} features without a cache (choose a writable folder: "
        "load_split(cache_dir=...), or feature_cache_dir=DIR for training)"
    )
    warnings.warn(FeatureCacheWarning(message), stacklevel=3)
    return None
