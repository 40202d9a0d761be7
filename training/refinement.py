"""MA's modality-aware label refinement (R), adapted to HAN and MGN: the swap test and the refined-labels file.

Swap test (Wu & Yang, CVPR 2021; REFERENCE_MA.md 2.2, 4.3). For each training clip n draw one partner m that shares
no weak label with it, and run the trained model on (A_n, V_n), on (A_n, V_m) (visual swapped) and on (A_m, V_n)
(audio swapped), reading the video-level modality probabilities p^a, p^v. With the per-class error rates of the
original pass against the weak labels, err^m_c = 1 - mean_n [(p^m_nc > 0.5) = y_nc], and r^m_c = err^m_c / max_k
err^m_k, a weak label c of clip n is

* removed from the **visual** labels (judged audio-only) iff
  p^v_c(A_m, V_n) < 0.5 r^v_c and p^a_c(A_m, V_n) < 0.5 r^v_c;
* removed from the **audio** labels (judged visual-only) iff
  p^a_c(A_n, V_m) < 0.5 r^a_c and p^v_c(A_n, V_m) < 0.5 r^a_c.

A class whose error rate is 0 is never flipped. Refined labels are saved as ``.npz`` keyed by filename (not by row).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mgn.data.llp import Split
from mgn.inference import predict
from mgn.io import atomic_path
from mgn.labels import NUM_CLASSES

__all__ = [
    "REFINED_LABELS_FORMAT",
    "RefinedLabels",
    "RefinedLabelsError",
    "SwapTest",
    "draw_partners",
    "estimate_modality_labels",
    "load_refined_labels",
    "save_refined_labels",
    "split_fingerprint",
    "swap_test",
]

REFINED_LABELS_FORMAT = "mgn-refined-labels/1"
_LABEL_ARRAYS = ("labels", "audio_labels", "visual_labels")  # (N, C) 0/1 each
_DECISION_THRESHOLD = 0.5  # MA: 0.5 x normalised class error; and 0.5 on probabilities for the error statistics


class RefinedLabelsError(ValueError):
    """A refined-labels file is unreadable or was made for another dataset."""


def split_fingerprint(filenames: np.ndarray, labels: np.ndarray) -> str:
    """A short hash of a split's clip list and weak labels, to tie a labels file to its dataset."""
    digest = hashlib.sha256("\n".join(map(str, filenames)).encode())
    digest.update(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    return digest.hexdigest()[:16]


@dataclass
class RefinedLabels:
    """Modality-aware labels of a training split, (N, C) uint8 each, in the split's clip order."""

    filenames: np.ndarray
    labels: np.ndarray
    audio_labels: np.ndarray
    visual_labels: np.ndarray


def draw_partners(labels: np.ndarray, rng: np.random.Generator, max_rounds: int = 1000) -> np.ndarray:
    """For every clip, a uniformly drawn partner clip sharing no label (redrawn until it shares none).

    Args:
        labels: (N, C) 0/1 weak labels.

    Returns:
        (N,) int64 partner indices.
    """
    count = len(labels)
    binary = labels > 0.5
    partners = rng.integers(0, count, size=count)
    for _ in range(max_rounds):
        clash = (binary & binary[partners]).any(axis=1)  # (N,) shares a label (a clip always clashes with itself)
        if not clash.any():
            return partners
        partners[clash] = rng.integers(0, count, size=int(clash.sum()))
    stuck = np.flatnonzero((binary & binary[partners]).any(axis=1))
    raise ValueError(
        f"{len(stuck)} clips found no partner without a shared label in {max_rounds} draws "
        f"(e.g. row {stuck[0]}): is one class in nearly every clip?"
    )


@dataclass
class SwapTest:
    """Outputs of the swap test, (N, C) float32 probabilities unless noted."""

    partners: np.ndarray  # (N,) int64
    a_prob: np.ndarray  # original (A_n, V_n)
    v_prob: np.ndarray
    a_prob_visual_swapped: np.ndarray  # (A_n, V_m)
    v_prob_visual_swapped: np.ndarray
    a_prob_audio_swapped: np.ndarray  # (A_m, V_n)
    v_prob_audio_swapped: np.ndarray


def swap_test(
    model: nn.Module,
    split: Split,
    partners: np.ndarray,
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    progress: bool = True,
) -> SwapTest:
    """Run the three forward passes of MA's swap test over a (training) split."""
    original = predict(model, split, batch_size=batch_size, device=device, progress=progress)
    swapped = {}
    for name, stream in (("visual", ("visual", "visual_st")), ("audio", ("audio",))):
        mixed = split.subset(np.arange(len(split)))  # a copy we can overwrite
        for field_name in stream:
            setattr(mixed, field_name, np.ascontiguousarray(getattr(split, field_name)[partners]))
        mixed.name = f"{split.name} ({name} swapped)"
        swapped[name] = predict(model, mixed, batch_size=batch_size, device=device, progress=progress)
    return SwapTest(
        partners=partners,
        a_prob=original.a_prob,
        v_prob=original.v_prob,
        a_prob_visual_swapped=swapped["visual"].a_prob,
        v_prob_visual_swapped=swapped["visual"].v_prob,
        a_prob_audio_swapped=swapped["audio"].a_prob,
        v_prob_audio_swapped=swapped["audio"].v_prob,
    )


def _normalised_error(prob: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """r_c = err_c / max_k err_k with err_c the error rate of [prob > 0.5] against the weak labels; NaN if all 0."""
    error = 1.0 - ((prob > _DECISION_THRESHOLD) == (labels > 0.5)).mean(axis=0)  # (C,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return error / error.max()


def estimate_modality_labels(test: SwapTest, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """MA's decision rule. Returns (audio_labels, visual_labels) (N, C) uint8 and the per-class thresholds."""
    weak = labels > 0.5
    threshold_v = _DECISION_THRESHOLD * _normalised_error(test.v_prob, labels)  # (C,)
    threshold_a = _DECISION_THRESHOLD * _normalised_error(test.a_prob, labels)
    with np.errstate(invalid="ignore"):  # NaN thresholds (a class with zero error) compare False: never flipped
        remove_visual = weak & (test.v_prob_audio_swapped < threshold_v) & (test.a_prob_audio_swapped < threshold_v)
        remove_audio = weak & (test.a_prob_visual_swapped < threshold_a) & (test.v_prob_visual_swapped < threshold_a)
    audio_labels = (weak & ~remove_audio).astype(np.uint8)
    visual_labels = (weak & ~remove_visual).astype(np.uint8)
    return audio_labels, visual_labels, {"threshold_audio": threshold_a, "threshold_visual": threshold_v}


def save_refined_labels(
    path: str | Path,
    split: Split,
    audio_labels: np.ndarray,
    visual_labels: np.ndarray,
    *,
    extra: dict[str, np.ndarray] | None = None,
    info: dict | None = None,
) -> Path:
    """Write a refined-labels ``.npz`` (keyed by filename, with the split's fingerprint)."""
    path = Path(path)
    labels = (split.labels > 0.5).astype(np.uint8)
    meta = {
        "format": REFINED_LABELS_FORMAT,
        "split": split.name,
        "clips": len(split),
        "fingerprint": split_fingerprint(split.filenames, labels),
        **(info or {}),
    }
    with atomic_path(path) as temporary, open(temporary, "wb") as stream:
        np.savez_compressed(
            stream,
            filenames=np.asarray(split.filenames, dtype=str),
            labels=labels,
            audio_labels=audio_labels.astype(np.uint8),
            visual_labels=visual_labels.astype(np.uint8),
            meta=np.array(json.dumps(meta)),
            **(extra or {}),
        )
    return path


def _check_label_arrays(path: Path, data: dict[str, np.ndarray], split: Split) -> None:
    """Unique filenames (M,), 0/1 label arrays (M, C) each, and M = the clips of ``split`` (RefinedLabelsError naming
    the array, the expected and the found shape)."""
    filenames = data["filenames"]
    if filenames.ndim != 1:
        raise RefinedLabelsError(f"{path}: 'filenames' has shape {filenames.shape}, expected one dimension (clips,)")
    expected = (len(filenames), NUM_CLASSES)
    for key in _LABEL_ARRAYS:
        if data[key].shape != expected:
            raise RefinedLabelsError(
                f"{path}: {key!r} has shape {data[key].shape}, expected {expected} (one row per filename, one column "
                "per class)"
            )
        if not np.isin(data[key], (0, 1)).all():
            raise RefinedLabelsError(f"{path}: {key!r} holds values other than 0 and 1")
    if len(set(filenames.tolist())) != len(filenames):
        raise RefinedLabelsError(f"{path}: 'filenames' repeats clips")
    if len(filenames) != len(split):
        raise RefinedLabelsError(
            f"{path} holds the labels of {len(filenames)} clips, shape {expected}; the {split.name} split has "
            f"{len(split)} clips, so expected shape {(len(split), NUM_CLASSES)}: it was made for another dataset"
        )


def load_refined_labels(path: str | Path, split: Split) -> RefinedLabels:
    """Read a refined-labels file and align it with ``split`` by filename.

    Raises:
        FileNotFoundError: no such file.
        RefinedLabelsError: unreadable, of another format, arrays of the wrong shape (naming expected and found), or
            made for another dataset (clips missing, or weak labels that differ from the split's).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"refined-labels file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise RefinedLabelsError(f"{path} is not a refined-labels file: expected an .npz from training.refine_labels")
    try:
        with np.load(path, allow_pickle=False) as archive:
            data = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise RefinedLabelsError(f"{path} is not a readable refined-labels file: {error}") from error
    missing = [key for key in (*_LABEL_ARRAYS, "filenames", "meta") if key not in data]
    if missing:
        raise RefinedLabelsError(f"{path} is not a refined-labels file: missing array(s) {missing}")
    try:
        meta = json.loads(str(data["meta"]))
    except ValueError as error:
        raise RefinedLabelsError(f"{path}: unreadable 'meta' record: {error}") from error
    if not isinstance(meta, dict) or meta.get("format") != REFINED_LABELS_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else meta
        raise RefinedLabelsError(f"{path}: format {found!r}, expected {REFINED_LABELS_FORMAT!r}")
    _check_label_arrays(path, data, split)
    rows = {name: index for index, name in enumerate(data["filenames"].tolist())}
    missing = [name for name in split.filenames.tolist() if name not in rows]
    if missing:
        raise RefinedLabelsError(
            f"{path} was made for another dataset: {len(missing)} of the {len(split)} {split.name} clips are not in it "
            f"(e.g. {missing[0]!r}); its fingerprint is {meta.get('fingerprint')}"
        )
    order = np.array([rows[name] for name in split.filenames.tolist()])
    weak = (split.labels > 0.5).astype(np.uint8)
    if not np.array_equal(data["labels"][order], weak):
        differing = np.flatnonzero((data["labels"][order] != weak).any(axis=1))
        raise RefinedLabelsError(
            f"{path} was made for another dataset: the weak labels of {len(differing)} clips differ "
            f"from {split.name} (e.g. {split.filenames[differing[0]]!r})"
        )
    audio_labels, visual_labels = data["audio_labels"][order], data["visual_labels"][order]
    if ((audio_labels > weak) | (visual_labels > weak)).any():
        raise RefinedLabelsError(f"{path}: refined labels must be a subset of the weak labels")
    return RefinedLabels(split.filenames, weak, audio_labels, visual_labels)
