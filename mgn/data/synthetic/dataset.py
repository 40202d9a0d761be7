"""A whole synthetic LLP dataset: IDs, annotations, features, CSVs and ``.npy`` files in the official layout.

Randomness: ``SeedSequence(seed).spawn`` gives independent streams for the signatures, and, per split, the clip IDs,
the annotations and one stream per clip for its features. Nothing else draws random numbers (video rendering is a
deterministic function of a clip's annotations), so the same seed gives byte-identical files with or without
videos, and a split's annotations do not depend on the size of the other splits.

Files written under ``out_dir`` (names from ``LLPLayout`` defaults, so ``load_split`` reads them as real LLP):
``AVVP_train.csv``, ``AVVP_val_pd.csv``, ``AVVP_test_pd.csv``, ``AVVP_dataset_full.csv``, ``AVVP_eval_audio.csv``,
``AVVP_eval_visual.csv``, ``feats/{vggish,res152,r2plus1d_18}/<ID>.npy``, optionally ``LLP_dataset/video/<ID>.mp4``,
plus ``synthetic_meta.json`` (version, config, seed, sizes) and ``synthetic_truth.npz`` (dense truth of every split,
train included, which the official pipeline never sees).
"""

from __future__ import annotations

import io
import json
import string
import time
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from mgn.data.annotations import VIDEO_ID_LENGTH, video_id_of
from mgn.data.features import pool_frames
from mgn.data.llp import DENSE_SPLITS, FEATURE_STREAMS, SPLITS, LLPLayout
from mgn.data.synthetic.annotations import sample_annotations, weak_labels
from mgn.data.synthetic.config import GENERATOR_VERSION, SyntheticConfig
from mgn.data.synthetic.features import ClipFeatures, Signatures, draw_signatures, synthesize_clip_features
from mgn.events import find_events
from mgn.io import write_text_atomic
from mgn.labels import CLASSES

__all__ = [
    "GENERATOR_NAME",
    "LLP_SIZES",
    "META_FILENAME",
    "TRUTH_FILENAME",
    "GeneratedDataset",
    "SyntheticSplit",
    "generate_dataset",
    "read_truth",
    "synthesize_splits",
]

GENERATOR_NAME = "mgn.data.synthetic"
META_FILENAME = "synthetic_meta.json"
TRUTH_FILENAME = "synthetic_truth.npz"
LLP_SIZES: dict[str, int] = {"train": 10_000, "val": 649, "test": 1_200}  # clips per split in real LLP
_ID_ALPHABET = np.array(list(string.ascii_letters + string.digits + "-_"))  # YouTube ID characters
_START_STEPS = 30  # clip start times 0, 10, ..., 290 s into the (imaginary) source video
_CLIP_SECONDS = 10
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamp: the truth file is byte-identical for a seed


@dataclass(frozen=True)
class SyntheticSplit:
    """One synthetic split in memory. N clips, C = 25, T = 10, F = 80 (or T when visual features are pooled)."""

    name: str  # 'train', 'val' or 'test'
    filenames: np.ndarray  # (N,) str, '<ID>_<start>_<end>'
    labels: np.ndarray  # (N, C) float32 weak labels
    gt_audio: np.ndarray  # (N, C, T) uint8 [clip, class, segment]
    gt_visual: np.ndarray  # (N, C, T) uint8
    audio: np.ndarray | None  # (N, T, 128) float32, None without features
    visual: np.ndarray | None  # (N, F, 2048) float32, or (N, T, 2048) segment means when pooled
    visual_st: np.ndarray | None  # (N, T, 512) float32


@dataclass(frozen=True)
class GeneratedDataset:
    """What ``generate_dataset`` wrote, and how long it took."""

    layout: LLPLayout
    sizes: dict[str, int]
    seed: int
    feature_seconds: float  # wall time of feature synthesis and writing, all splits
    video_seconds: float  # wall time of video rendering (0 without videos)

    @property
    def clips_per_second(self) -> float:
        """Feature throughput (clips written per second of wall time)."""
        return sum(self.sizes.values()) / max(self.feature_seconds, 1e-9)


@dataclass(frozen=True)
class _SplitPlan:
    """Everything about a split except its features."""

    name: str
    filenames: list[str]
    gt_audio: np.ndarray  # (N, C, T) uint8
    gt_visual: np.ndarray  # (N, C, T) uint8
    feature_seeds: list[np.random.SeedSequence]  # one per clip


def _check_sizes(sizes: Mapping[str, int]) -> dict[str, int]:
    unknown = sorted(set(sizes) - set(SPLITS))
    if unknown:
        raise ValueError(f"unknown split names {unknown} in sizes; expected keys among {SPLITS}")
    checked = {}
    for split in SPLITS:
        size = sizes.get(split, 0)
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"sizes[{split!r}] must be an integer >= 0, got {size!r}")
        checked[split] = int(size)
    return checked


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def _draw_ids(rng: np.random.Generator, count: int, taken: set[str]) -> list[str]:
    """``count`` new 11-character IDs, unique and not in ``taken`` (which is updated)."""
    ids: list[str] = []
    while len(ids) < count:
        characters = _ID_ALPHABET[rng.integers(0, len(_ID_ALPHABET), size=(count - len(ids), VIDEO_ID_LENGTH))]
        for video_id in ("".join(row) for row in characters):
            if video_id not in taken:  # a collision (astronomically rare) is redrawn from the same stream
                taken.add(video_id)
                ids.append(video_id)
    return ids


def _plan(sizes: dict[str, int], seed: int, config: SyntheticConfig) -> tuple[Signatures, dict[str, _SplitPlan]]:
    signature_seed, id_seed, annotation_seed, feature_seed = np.random.SeedSequence(seed).spawn(4)
    id_seeds = dict(zip(SPLITS, id_seed.spawn(len(SPLITS))))
    annotation_seeds = dict(zip(SPLITS, annotation_seed.spawn(len(SPLITS))))
    feature_seeds = dict(zip(SPLITS, feature_seed.spawn(len(SPLITS))))
    signatures = draw_signatures(np.random.default_rng(signature_seed), config)
    taken: set[str] = set()
    plans = {}
    for split in SPLITS:  # IDs in split order, so that no ID repeats across splits
        count = sizes[split]
        id_rng = np.random.default_rng(id_seeds[split])
        ids = _draw_ids(id_rng, count, taken)
        starts = _CLIP_SECONDS * id_rng.integers(0, _START_STEPS, size=count)
        kind = "eval" if split in DENSE_SPLITS else "train"
        gt_audio, gt_visual = sample_annotations(np.random.default_rng(annotation_seeds[split]), count, kind, config)
        plans[split] = _SplitPlan(
            name=split,
            filenames=[f"{video_id}_{start}_{start + _CLIP_SECONDS}" for video_id, start in zip(ids, starts.tolist())],
            gt_audio=gt_audio,
            gt_visual=gt_visual,
            feature_seeds=feature_seeds[split].spawn(count),
        )
    return signatures, plans


def synthesize_splits(
    sizes: Mapping[str, int],
    seed: int,
    config: SyntheticConfig = SyntheticConfig(),
    *,
    features: bool = True,
    pooled_visual: bool = False,
    progress: bool = False,
) -> dict[str, SyntheticSplit]:
    """The splits that ``generate_dataset(out_dir, config, sizes, seed)`` writes, in memory (same values).

    Args:
        sizes: clips per split, keys among 'train', 'val', 'test' (missing keys mean 0).
        seed: integer >= 0.
        config: generator knobs.
        features: False to skip feature synthesis (annotations only; fast).
        pooled_visual: return the 2D visual stream as (N, T, 2048) segment means (as ``load_split(pooled_visual=True)``)
            instead of (N, F, 2048) frames, which needs 8x less memory.
        progress: show a tqdm bar per split.
    """
    signatures, plans = _plan(_check_sizes(sizes), _check_seed(seed), config)
    splits = {}
    for split, plan in plans.items():
        streams: dict[str, list[np.ndarray]] = {modality: [] for modality in FEATURE_STREAMS}
        if features:
            for index in tqdm(range(len(plan.filenames)), desc=f"features {split}", unit="clip", disable=not progress):
                clip = _clip_features(plan, index, signatures, config)
                streams["audio"].append(clip.audio)
                streams["visual"].append(pool_frames(clip.visual) if pooled_visual else clip.visual)
                streams["visual_st"].append(clip.visual_st)
        stacked = {modality: np.stack(arrays) if features and arrays else None for modality, arrays in streams.items()}
        splits[split] = SyntheticSplit(
            name=split,
            filenames=np.array(plan.filenames, dtype=str),
            labels=weak_labels(plan.gt_audio, plan.gt_visual),
            gt_audio=plan.gt_audio,
            gt_visual=plan.gt_visual,
            audio=stacked["audio"],
            visual=stacked["visual"],
            visual_st=stacked["visual_st"],
        )
    return splits


def _clip_features(plan: _SplitPlan, index: int, signatures: Signatures, config: SyntheticConfig) -> ClipFeatures:
    rng = np.random.default_rng(plan.feature_seeds[index])
    return synthesize_clip_features(rng, plan.gt_audio[index], plan.gt_visual[index], signatures, config)


# --- writing ---------------------------------------------------------------------------------------------------------


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, sep="\t", index=False, lineterminator="\n")


def _weak_table(plan: _SplitPlan) -> pd.DataFrame:
    labels = weak_labels(plan.gt_audio, plan.gt_visual).astype(bool)  # (N, C)
    event_labels = [",".join(CLASSES[index] for index in np.flatnonzero(row)) for row in labels]
    return pd.DataFrame({"filename": plan.filenames, "event_labels": event_labels})


def _dense_table(plans: list[_SplitPlan], modality: str) -> pd.DataFrame:
    """One row per event (maximal run) of the given splits, in split, clip, class and onset order."""
    frames = []
    for plan in plans:
        clip, class_index, onset, offset = find_events(plan.gt_audio if modality == "audio" else plan.gt_visual)
        frames.append(
            pd.DataFrame(
                {
                    "filename": np.array(plan.filenames, dtype=object)[clip],
                    "onset": onset,
                    "offset": offset,
                    "event_labels": np.array(CLASSES, dtype=object)[class_index],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _write_csvs(layout: LLPLayout, plans: dict[str, _SplitPlan]) -> None:
    weak = {split: _weak_table(plan) for split, plan in plans.items()}
    for split in SPLITS:
        _write_table(weak[split], layout.split_csv(split))
    _write_table(pd.concat([weak[split] for split in SPLITS], ignore_index=True), layout.resolve(layout.full_csv))
    for modality in ("audio", "visual"):
        _write_table(_dense_table([plans[split] for split in DENSE_SPLITS], modality), layout.eval_csv(modality))


def _write_truth(path: Path, plans: dict[str, _SplitPlan]) -> None:
    """``<split>_filenames`` (N,) str, ``<split>_gt_audio`` / ``<split>_gt_visual`` (N, C, T) uint8, per split."""
    arrays = {}
    for split, plan in plans.items():
        arrays[f"{split}_filenames"] = np.array(plan.filenames, dtype=f"<U{VIDEO_ID_LENGTH + 16}")
        arrays[f"{split}_gt_audio"] = plan.gt_audio
        arrays[f"{split}_gt_visual"] = plan.gt_visual
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE),
                buffer.getvalue(),
                compress_type=zipfile.ZIP_DEFLATED,
            )


def read_truth(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """``synthetic_truth.npz`` -> {split: {'filenames', 'gt_audio', 'gt_visual'}} (dense truth, train included)."""
    with np.load(path, allow_pickle=False) as archive:
        return {
            split: {key: archive[f"{split}_{key}"] for key in ("filenames", "gt_audio", "gt_visual")}
            for split in SPLITS
            if f"{split}_filenames" in archive
        }


def _write_meta(
    path: Path, seed: int, sizes: dict[str, int], config: SyntheticConfig, videos: bool, complete: bool
) -> None:
    meta = {
        "generator": GENERATOR_NAME,
        "version": GENERATOR_VERSION,
        "seed": seed,
        "sizes": sizes,
        "videos": videos,
        "complete": complete,  # false while writing: an interrupted run can be regenerated in place
        "config": config.to_dict(),
    }
    write_text_atomic(path, json.dumps(meta, indent=2) + "\n")


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{path}: cannot read the synthetic metadata ({error}); remove the folder or use --force"
        ) from error
    if not isinstance(meta, dict) or meta.get("generator") != GENERATOR_NAME:
        raise ValueError(
            f"{path}: not written by {GENERATOR_NAME} (generator field "
            f"{meta.get('generator') if isinstance(meta, dict) else None!r}); use --force to overwrite"
        )
    return meta


def _remove_previous_output(layout: LLPLayout) -> None:
    """Delete the files a previous synthetic run wrote (per its full CSV); leave anything else alone."""
    full_csv = layout.resolve(layout.full_csv)
    if full_csv.is_file():
        filenames = pd.read_csv(full_csv, sep="\t", usecols=["filename"], dtype=str)["filename"]
        for video_id in map(video_id_of, filenames):
            for modality in FEATURE_STREAMS:
                layout.feature_path(modality, video_id).unlink(missing_ok=True)
            layout.video_path(video_id).unlink(missing_ok=True)
    for split in SPLITS:
        layout.split_csv(split).unlink(missing_ok=True)
    for path in (
        full_csv,
        layout.eval_csv("audio"),
        layout.eval_csv("visual"),
        layout.root / TRUTH_FILENAME,
        layout.root / META_FILENAME,
    ):
        path.unlink(missing_ok=True)


def _prepare_output_dir(layout: LLPLayout, force: bool) -> None:
    root = layout.root
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output path {root} exists and is not a folder")
    if not root.exists() or not any(root.iterdir()):
        root.mkdir(parents=True, exist_ok=True)
    elif (root / META_FILENAME).is_file():
        _read_meta(root / META_FILENAME)  # raises unless it is ours
        _remove_previous_output(layout)
    elif not force:
        raise FileExistsError(
            f"output folder {root} is not empty and holds no {META_FILENAME}, so it is not a previous synthetic "
            f"dataset; refusing to write into it. Pick an empty folder, or pass --force (force=True) to write anyway "
            f"(files with the same names are then overwritten)"
        )
    for modality in FEATURE_STREAMS:
        layout.feature_dir(modality).mkdir(parents=True, exist_ok=True)


def _write_features(
    layout: LLPLayout, plan: _SplitPlan, signatures: Signatures, config: SyntheticConfig, progress: bool
) -> None:
    for index in tqdm(range(len(plan.filenames)), desc=f"features {plan.name}", unit="clip", disable=not progress):
        clip = _clip_features(plan, index, signatures, config)
        video_id = video_id_of(plan.filenames[index])
        for modality in FEATURE_STREAMS:
            np.save(layout.feature_path(modality, video_id), getattr(clip, modality), allow_pickle=False)


def _render_videos(layout: LLPLayout, plan: _SplitPlan, progress: bool) -> None:
    from mgn.data.render import render_clip  # moviepy is only needed with videos

    layout.resolve(layout.video_dir).mkdir(parents=True, exist_ok=True)
    for index in tqdm(range(len(plan.filenames)), desc=f"videos {plan.name}", unit="clip", disable=not progress):
        filename = plan.filenames[index]
        render_clip(
            layout.video_path(video_id_of(filename)), plan.gt_audio[index], plan.gt_visual[index], title=filename
        )


def generate_dataset(
    out_dir: str | Path,
    config: SyntheticConfig = SyntheticConfig(),
    sizes: Mapping[str, int] = LLP_SIZES,
    seed: int = 0,
    *,
    videos: bool = False,
    force: bool = False,
    progress: bool = True,
) -> GeneratedDataset:
    """Write a synthetic dataset in the LLP layout under ``out_dir`` (see the module docstring for the files).

    Args:
        out_dir: target folder; created if missing. It must be empty or a previous synthetic output (whose files
            are then replaced), unless ``force``.
        config: generator knobs (recorded in ``synthetic_meta.json``).
        sizes: clips per split; keys among 'train', 'val', 'test' (missing means 0). Default: real LLP sizes.
        seed: integer >= 0; the same seed and config give byte-identical CSV, ``.npy``, meta and truth files.
        videos: also render ``LLP_dataset/video/<ID>.mp4`` per clip (slow: about 0.4 s per clip).
        force: write into a non-empty folder that is not a previous synthetic output.
        progress: tqdm bars.

    Raises:
        FileExistsError: ``out_dir`` is non-empty, not a previous synthetic output, and ``force`` is False.
    """
    sizes, seed = _check_sizes(sizes), _check_seed(seed)
    layout = LLPLayout(root=Path(out_dir))
    _prepare_output_dir(layout, force)
    meta_path = layout.root / META_FILENAME
    _write_meta(meta_path, seed, sizes, config, videos, complete=False)
    signatures, plans = _plan(sizes, seed, config)
    _write_csvs(layout, plans)
    _write_truth(layout.root / TRUTH_FILENAME, plans)
    started = time.perf_counter()
    for plan in plans.values():
        _write_features(layout, plan, signatures, config, progress)
    feature_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if videos:
        for plan in plans.values():
            _render_videos(layout, plan, progress)
    video_seconds = time.perf_counter() - started if videos else 0.0
    _write_meta(meta_path, seed, sizes, config, videos, complete=True)
    return GeneratedDataset(
        layout=layout, sizes=sizes, seed=seed, feature_seconds=feature_seconds, video_seconds=video_seconds
    )
