"""One's own annotated videos as a new LLP-format dataset: the CSVs and the feature files that ``load_split`` and
``training.train`` read.

A clip to export is a :class:`LabelledClip`: an LLP filename, its split, its video-level labels, its dense labels
per modality and its three feature arrays (what "Parse a video" extracts for each 10-s window:
:func:`window_clips`). :func:`export_llp_dataset` writes, into one folder, in the official layout
(``mgn.data.llp.LLPLayout`` defaults):

- ``AVVP_train.csv``, ``AVVP_val_pd.csv``, ``AVVP_test_pd.csv``: the weak labels (``filename<TAB>event_labels``) of
  the clips of each split (a split without clips gets no file: the loader refuses an empty split);
  ``AVVP_dataset_full.csv``: every clip's;
- ``AVVP_eval_audio.csv`` / ``AVVP_eval_visual.csv``: the dense labels of the val and test clips as events
  (``filename<TAB>onset<TAB>offset<TAB>event_labels``, maximal runs of segments, class then onset order);
- ``AVVP_train_eval_audio.csv`` / ``AVVP_train_eval_visual.csv`` (when there are train clips): the dense labels of
  the train clips in the same format. LLP's train split has weak labels only, so nothing reads these files for
  training; they keep what was annotated (and point a layout's ``eval_*_csv`` at them to score the train clips);
- ``feats/vggish/<ID>.npy`` (10, 128), ``feats/res152/<ID>.npy`` (80, 2048), ``feats/r2plus1d_18/<ID>.npy``
  (10, 512), float32.

A clip's weak labels are its declared labels plus every class with a segment in either modality (in LLP the dense
labels' classes are among the video's labels). Features are keyed by the 11-character video ID, so two clips must
not share one. ``training.train`` needs a train and a val split (val scores each epoch); test is optional.
:func:`assign_splits` draws splits deterministically; :func:`clips_from_store` gathers the clips added to an
``AnnotationStore`` with their labels; :func:`dataset_archive` gives the same files as one zip (a download).

Notation: C = 25 classes, T = 10 segments.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mgn.annotations.errors import AnnotationError
from mgn.annotations.validation import EDITABLE_MODALITIES, check_labels, check_new_clip_name
from mgn.data.annotations import DENSE_COLUMNS, VIDEO_ID_LENGTH, WEAK_COLUMNS
from mgn.data.features import FEATURE_SHAPES, FEATURE_STREAMS, FeatureFileError, read_feature_file
from mgn.data.llp import SPLITS, LLPLayout
from mgn.events import find_events
from mgn.io import atomic_path
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS

if TYPE_CHECKING:
    from mgn.annotations.store import AnnotationStore

__all__ = [
    "TRAIN_EVAL_FILES",
    "DatasetExport",
    "LabelledClip",
    "assign_splits",
    "clips_from_store",
    "dataset_archive",
    "dataset_files",
    "export_llp_dataset",
    "window_clips",
]

TRAIN_EVAL_FILES = {"audio": "AVVP_train_eval_audio.csv", "visual": "AVVP_train_eval_visual.csv"}
_ARCHIVE_DATE = (2020, 1, 1, 0, 0, 0)
_SEED_BYTES = 8


def _binary_rows(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != (NUM_CLASSES, NUM_SEGMENTS):
        raise AnnotationError(f"{name}: expected (C, T) = ({NUM_CLASSES}, {NUM_SEGMENTS}) 0/1, found {array.shape}")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.integer)) or not np.isin(array, (0, 1)).all():
        raise AnnotationError(f"{name}: expected 0/1 (bool or integer) segment labels")
    return array.astype(np.uint8)


def _feature_array(values: Any, name: str, stream: str) -> np.ndarray:
    array = np.asarray(values)
    if array.shape != FEATURE_SHAPES[stream]:
        raise AnnotationError(f"{name}: expected shape {FEATURE_SHAPES[stream]} ({stream}), found {array.shape}")
    if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
        raise AnnotationError(f"{name}: expected finite floating-point features")
    return np.ascontiguousarray(array, dtype=np.float32)


@dataclass(frozen=True, eq=False)
class LabelledClip:
    """One clip of a new dataset. Checked on construction (``AnnotationError`` naming the clip and field).

    Attributes:
        filename: LLP filename ``<11-char ID>_<start>_<end>`` with ``end = start + 10``.
        split: ``'train'``, ``'val'`` or ``'test'``.
        labels: video-level labels as constructed: declared classes plus every class with a segment (official
            order; at least one).
        gt_audio, gt_visual: (C, T) uint8 dense labels [class, segment].
        features: ``{'audio': (10, 128), 'visual': (80, 2048), 'visual_st': (10, 512)}`` float32.
    """

    filename: str
    split: str
    labels: tuple[str, ...]
    gt_audio: np.ndarray
    gt_visual: np.ndarray
    features: Mapping[str, np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        clip = check_new_clip_name(self.filename)
        where = f"clip {clip!r}: "
        if self.split not in SPLITS:
            raise AnnotationError(f"{where}split {self.split!r}; expected one of {SPLITS}")
        audio = _binary_rows(self.gt_audio, f"{where}gt_audio")
        visual = _binary_rows(self.gt_visual, f"{where}gt_visual")
        present = (audio.any(1) | visual.any(1)).nonzero()[0]  # (K,) classes with a segment
        declared = list(self.labels) if not isinstance(self.labels, str) else self.labels.split(",")
        names = [*declared, *(CLASSES[index] for index in present)]
        if not names:
            raise AnnotationError(f"{where}no video-level label and no segment: label at least one class")
        if not isinstance(self.features, Mapping) or set(self.features) != set(FEATURE_STREAMS):
            found = sorted(self.features) if isinstance(self.features, Mapping) else type(self.features).__name__
            raise AnnotationError(f"{where}features must map exactly {list(FEATURE_STREAMS)} to arrays, got {found}")
        features = {
            stream: _feature_array(self.features[stream], f"{where}features[{stream!r}]", stream)
            for stream in FEATURE_STREAMS
        }
        object.__setattr__(self, "labels", check_labels(names, where))
        object.__setattr__(self, "gt_audio", audio)
        object.__setattr__(self, "gt_visual", visual)
        object.__setattr__(self, "features", features)

    @property
    def video_id(self) -> str:
        return self.filename[:VIDEO_ID_LENGTH]


@dataclass(frozen=True)
class DatasetExport:
    """What ``export_llp_dataset`` wrote."""

    root: Path
    files: tuple[Path, ...]  # every file written, CSVs first
    clips: dict[str, int]  # split -> number of clips
    notes: tuple[str, ...]  # what the user should know (e.g. no val clip: training.train cannot use the folder)


def _event_lines(clips: Iterable[LabelledClip], modality: str) -> list[str]:
    lines = ["\t".join(DENSE_COLUMNS)]
    for clip in clips:
        classes, onsets, offsets = find_events(getattr(clip, f"gt_{modality}"))  # (E,) each, class then onset
        lines.extend(
            f"{clip.filename}\t{onset}\t{offset}\t{CLASSES[index]}"
            for index, onset, offset in zip(classes.tolist(), onsets.tolist(), offsets.tolist())
        )
    return lines


def _weak_lines(clips: Iterable[LabelledClip]) -> list[str]:
    return ["\t".join(WEAK_COLUMNS), *(f"{clip.filename}\t{','.join(clip.labels)}" for clip in clips)]


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _check_clips(clips: Sequence[LabelledClip]) -> None:
    if not clips:
        raise AnnotationError("no clip to export: annotate at least one clip")
    seen: dict[str, str] = {}
    for clip in clips:
        if not isinstance(clip, LabelledClip):
            raise AnnotationError(f"expected LabelledClip items, got {type(clip).__name__}")
        if clip.video_id in seen:
            raise AnnotationError(
                f"clips {seen[clip.video_id]!r} and {clip.filename!r} share the video ID {clip.video_id!r}; feature "
                "files are keyed by it (feats/vggish/<ID>.npy): one clip per video ID"
            )
        seen[clip.video_id] = clip.filename


def dataset_files(clips: Sequence[LabelledClip]) -> dict[str, bytes]:
    """Every file of the dataset (module docstring): relative POSIX path -> bytes, CSVs first.

    Raises:
        AnnotationError: no clip, or two clips with one video ID.
    """
    _check_clips(clips)
    layout = LLPLayout(root=Path())
    by_split = {split: [clip for clip in clips if clip.split == split] for split in SPLITS}
    dense = by_split["val"] + by_split["test"]
    texts: dict[str, list[str]] = {}
    for split in SPLITS:
        if by_split[split]:
            texts[getattr(layout, f"{split}_csv")] = _weak_lines(by_split[split])
    texts[layout.full_csv] = _weak_lines(clip for split in SPLITS for clip in by_split[split])
    for modality in EDITABLE_MODALITIES:
        texts[getattr(layout, f"eval_{modality}_csv")] = _event_lines(dense, modality)
    if by_split["train"]:
        for modality in EDITABLE_MODALITIES:
            texts[TRAIN_EVAL_FILES[modality]] = _event_lines(by_split["train"], modality)
    files = {name: ("\n".join(lines) + "\n").encode("utf-8") for name, lines in texts.items()}
    for clip in clips:
        for stream in FEATURE_STREAMS:
            files[f"{getattr(layout, f'{stream}_dir')}/{clip.video_id}.npy"] = _npy(clip.features[stream])
    return files


def _notes(clips: Sequence[LabelledClip]) -> tuple[str, ...]:
    counts = {split: sum(clip.split == split for clip in clips) for split in SPLITS}
    missing = [split for split in ("train", "val") if not counts[split]]
    if missing:
        return (
            f"no {' or '.join(missing)} clip: training.train needs a train and a val split (val is scored every "
            "epoch); assign some clips to them",
        )
    return ()


def export_llp_dataset(out_dir: str | Path, clips: Sequence[LabelledClip], *, force: bool = False) -> DatasetExport:
    """Write the dataset of the module docstring into ``out_dir`` (created if needed); each file atomically.

    Args:
        clips: the clips, in the order their rows are written.
        force: replace files of an earlier export; without it, a folder already holding any of the files is refused.

    Raises:
        AnnotationError: no clip, two clips sharing a video ID, ``out_dir`` is a file, or it already holds a file
            to write (nothing is written then).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AnnotationError(f"dataset folder {out_dir} is a file; expected a folder")
    files = dataset_files(clips)
    existing = [name for name in files if (out_dir / name).exists()]
    if existing and not force:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise AnnotationError(
            f"dataset folder {out_dir} already holds {shown}; choose a new folder, or force=True to replace them"
        )
    written = []
    for name, content in files.items():
        path = out_dir / name
        with atomic_path(path) as temporary:
            temporary.write_bytes(content)
        written.append(path)
    counts = {split: sum(clip.split == split for clip in clips) for split in SPLITS}
    return DatasetExport(out_dir, tuple(written), counts, _notes(clips))


def dataset_archive(clips: Sequence[LabelledClip]) -> bytes:
    """The files of ``export_llp_dataset`` as one zip (paths relative to the dataset root; fixed dates, so the same
    clips give the same bytes). Unzipped, the folder is the dataset."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in dataset_files(clips).items():
            info = zipfile.ZipInfo(name, date_time=_ARCHIVE_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def assign_splits(
    filenames: Sequence[str],
    *,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    seed: int = 0,
    groups: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A deterministic split for each clip: ``{filename: 'train' | 'val' | 'test'}``.

    Groups (default: each clip its own; give e.g. the source video of each window, so that windows of one video
    stay together) are ordered by a hash of (seed, group) and dealt out: the first ``round(val_fraction * G)``
    groups to val (at least one when ``val_fraction > 0`` and two groups or more are left), the next ones to test
    likewise, the rest to train (always at least one group). The same inputs give the same splits on any
    machine.

    Raises:
        AnnotationError: fractions outside [0, 1) or summing to 1 or more, duplicate filenames, a clip without a
            group.
    """
    if len(set(filenames)) != len(filenames):
        raise AnnotationError("assign_splits: duplicate filenames")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise AnnotationError(f"assign_splits: {name} must be in [0, 1), got {value!r}")
    if val_fraction + test_fraction >= 1:
        raise AnnotationError("assign_splits: val_fraction + test_fraction must leave clips for train (< 1)")
    group_of = {name: name for name in filenames} if groups is None else dict(groups)
    missing = [name for name in filenames if name not in group_of]
    if missing:
        raise AnnotationError(f"assign_splits: no group for {missing[:3]}")
    unique = list(dict.fromkeys(group_of[name] for name in filenames))

    def rank(group: str) -> bytes:
        return hashlib.sha256(seed.to_bytes(_SEED_BYTES, "big", signed=True) + group.encode()).digest()

    ordered = sorted(unique, key=rank)
    sizes, remaining = [], len(unique)
    for fraction in (val_fraction, test_fraction):
        size = round(fraction * len(unique))
        if fraction > 0 and remaining >= 2:
            size = max(size, 1)
        size = max(0, min(size, remaining - 1))  # at least one group stays for train
        sizes.append(size)
        remaining -= size
    split_of_group = {group: "val" for group in ordered[: sizes[0]]}
    split_of_group |= {group: "test" for group in ordered[sizes[0] : sizes[0] + sizes[1]]}
    return {name: split_of_group.get(group_of[name], "train") for name in filenames}


def window_clips(parsed: Any) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The LLP clips of a parsed video (``mgn.parse_video.ParsedVideo``: its ``windows`` and their ``features``):
    ``[(filename, {'audio', 'visual', 'visual_st'} arrays)]`` in time order.

    Each window is named ``<its video ID>_<start>_<start + 10>`` (whole seconds): a 10-s LLP clip. A video shorter
    than 10 s is one window whose 10 segments last ``duration / 10`` s each, still named as a 10-s clip.
    """
    clips = []
    for window, features in zip(parsed.windows, parsed.features, strict=True):
        start = int(window.start)
        streams = features.streams() if hasattr(features, "streams") else dict(features)
        clips.append((f"{window.video_id}_{start}_{start + NUM_SEGMENTS}", streams))
    return clips


def _features_from_folder(folder: Path, clip: str) -> dict[str, np.ndarray]:
    layout = LLPLayout(root=folder)
    try:
        return {
            stream: read_feature_file(layout.feature_path(stream, clip[:VIDEO_ID_LENGTH]), stream)
            for stream in FEATURE_STREAMS
        }
    except FeatureFileError as error:
        raise AnnotationError(f"clip {clip!r}: {error}") from None


def clips_from_store(
    store: AnnotationStore,
    features: Mapping[str, Mapping[str, np.ndarray]] | str | Path,
    splits: Mapping[str, str] | None = None,
    *,
    clips: Sequence[str] | None = None,
) -> list[LabelledClip]:
    """The clips of ``store`` (default: those added with ``add_clip``) with their current labels, ready for
    ``export_llp_dataset``.

    Args:
        features: ``{filename: {'audio', 'visual', 'visual_st'} arrays}`` (e.g. from :func:`window_clips`), or a
            folder in the official layout (``feats/vggish/<ID>.npy`` ...: the "features zip" of Parse a video,
            unzipped).
        splits: ``{filename: split}``; default :func:`assign_splits` with its defaults.
        clips: which clips (default ``store.clips("new")``); data clips work too (their labels with the edits).

    Raises:
        AnnotationError: an unknown clip, a clip without features or split, bad features (naming the clip).
    """
    names = list(store.clips("new") if clips is None else clips)
    splits = assign_splits(names) if splits is None else splits
    result = []
    for name in names:
        truth = store.ground_truth(name)
        if isinstance(features, (str, Path)):
            arrays = _features_from_folder(Path(features), name)
        elif name in features:
            arrays = features[name]
        else:
            raise AnnotationError(f"clip {name!r}: no features given (parse its video, or give the features folder)")
        if name not in splits:
            raise AnnotationError(f"clip {name!r}: no split given")
        result.append(LabelledClip(name, splits[name], store.labels(name), truth["audio"], truth["visual"], arrays))
    return result
