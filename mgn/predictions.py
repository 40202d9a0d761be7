"""A model's predictions on a split as numpy arrays, and their on-disk cache: everything about them that needs no torch.

:class:`Predictions` holds a model's outputs on every clip of a split and binarises them like the official test loop;
:func:`split_digest` names a split's model inputs; :func:`read_cached_predictions` / :func:`write_cached_predictions`
read and write the ``.npz`` cache that :func:`mgn.inference.predict_cached` keeps. Torch is not imported here, so
the explorer can show cached predictions before (or without) loading torch; running a model is
:mod:`mgn.inference`'s.

Notation: N clips, T = 10 segments, C = 25 classes, D model width.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from mgn.data.llp import Split, pool_frames
from mgn.io import atomic_path
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS
from mgn.metrics import DEFAULT_THRESHOLD, binarize, binarize_modality_gated
from mgn.npz import UNREADABLE, read_npz

__all__ = [
    "GATES",
    "Gate",
    "PROBABILITY_BOUNDS",
    "Predictions",
    "read_cached_predictions",
    "split_digest",
    "write_cached_predictions",
]

Gate = Literal["global", "modality"]
GATES: tuple[str, ...] = get_args(Gate)  # the segment gates, for command-line choices

# Largest valid value of each probability output (all are >= 0). The modality video-level probabilities are sigmoids
# (or, MGN's segment head, attention-weighted means of sigmoids). HAN's fused one is its official MMIL pooling: a
# softmax over time per modality times a softmax over the modalities per segment, summed over both, so up to 2 (the
# demo's HAN reaches 1.65). MGN's segment-level ones are a sigmoid times its soft assignment 1 + softmax (official
# quirk), hence at most 2.
PROBABILITY_BOUNDS: dict[str, float] = {
    "global_prob": 2.0,
    "a_prob": 1.0,
    "v_prob": 1.0,
    "a_frame_prob": 2.0,
    "v_frame_prob": 2.0,
}


@dataclass
class Predictions:
    """A model's outputs on every clip of a split, float32 numpy arrays in split order.

    Attributes:
        filenames: (N,) the clips' full LLP filenames.
        global_prob: (N, C) fused video-level probability (the official gate).
        a_prob, v_prob: (N, C) audio / visual video-level probabilities (MA's gate).
        a_frame_prob, v_frame_prob: (N, T, C) segment-level probabilities.
        audio_class_features, visual_class_features: (N, C, D) MGN's class-aware features, when requested.
    """

    filenames: np.ndarray
    global_prob: np.ndarray
    a_prob: np.ndarray
    v_prob: np.ndarray
    a_frame_prob: np.ndarray
    v_frame_prob: np.ndarray
    audio_class_features: np.ndarray | None = None
    visual_class_features: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.filenames)

    def binarize(self, gate: Gate = "global", threshold: float = DEFAULT_THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
        """Binary segment predictions ``(pred_a, pred_v)``, each (N, C, T) uint8 [clip, class, segment].

        ``gate="global"`` is the official HAN / MGN test loop (both modalities gated by global_prob >= threshold);
        ``gate="modality"`` is MA's (audio gated by a_prob, visual by v_prob).
        """
        if gate == "global":
            return binarize(self.global_prob, self.a_frame_prob, self.v_frame_prob, threshold)
        if gate == "modality":
            return binarize_modality_gated(self.a_prob, self.v_prob, self.a_frame_prob, self.v_frame_prob, threshold)
        raise ValueError(f"gate must be one of {', '.join(map(repr, GATES))}, got {gate!r}")

    def arrays(self) -> dict[str, np.ndarray]:
        """Every non-empty field by name (for saving with ``np.savez``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def split_digest(split: Split) -> str:
    """sha256 (hex) of a split's clip list and model inputs (visual frames averaged, so the full and the pooled
    copy of a split share a digest)."""
    digest = hashlib.sha256("\n".join(map(str, split.filenames)).encode())
    visual = split.visual if split.pooled_visual else pool_frames(np.asarray(split.visual))
    for array in (split.audio, visual, split.visual_st):
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()


def read_cached_predictions(path: str | Path, split: Split, class_features: bool = False) -> Predictions | None:
    """The predictions cached at ``path`` if it exists and is valid for ``split``; None otherwise.

    What is read is checked before it is trusted: a file that cannot be read (truncated, garbage, empty), holds
    other clips, or holds arrays of the wrong shape, non-finite values or probabilities out of range gives one
    warning naming the file (the caller recomputes and replaces it). A valid file without the class-aware features
    asked for by ``class_features`` gives None without a warning (it is extended, not faulty).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        arrays = read_npz(path)
    except UNREADABLE as error:
        problem = f"unreadable ({type(error).__name__}: {error})"
    else:
        problem = _cache_problem(arrays, split, class_features)
        if problem is None:
            return Predictions(**arrays)
        if problem == "":  # valid, but without the class-aware features asked for: extended, not a fault
            return None
    warnings.warn(f"predictions cache {path}: {problem}; recomputing and replacing it", stacklevel=3)
    return None


def write_cached_predictions(path: str | Path, predictions: Predictions, split: Split) -> None:
    """Store ``predictions`` of ``split`` at ``path`` (atomically); a cache that cannot be written (read-only or full
    disk, not a folder) gives one warning and nothing else."""
    try:
        with atomic_path(path) as temporary, open(temporary, "wb") as stream:
            np.savez(stream, **{**predictions.arrays(), "filenames": np.asarray(split.filenames, dtype=str)})
    except OSError as error:
        warnings.warn(f"cannot write the predictions cache {path} ({error}); continuing without it", stacklevel=3)


def _cache_problem(arrays: dict[str, np.ndarray], split: Split, class_features: bool) -> str | None:
    """What is wrong with cached arrays for ``split``: None if nothing, "" if only the class-aware features asked
    for are missing, else a description."""
    count = len(split)
    shapes = {
        "global_prob": (count, NUM_CLASSES),
        "a_prob": (count, NUM_CLASSES),
        "v_prob": (count, NUM_CLASSES),
        "a_frame_prob": (count, NUM_SEGMENTS, NUM_CLASSES),
        "v_frame_prob": (count, NUM_SEGMENTS, NUM_CLASSES),
    }
    known = {"filenames", *shapes, "audio_class_features", "visual_class_features"}
    missing = sorted(({"filenames", *shapes}) - set(arrays))
    if missing:
        return f"missing arrays {missing}"
    if set(arrays) - known:
        return f"unexpected arrays {sorted(set(arrays) - known)}"
    if not np.array_equal(arrays["filenames"], np.asarray(split.filenames)):
        return f"holds other clips than the {count} clips of split {split.name!r}"
    for name, shape in shapes.items():
        array = arrays[name]
        if array.shape != shape or array.dtype != np.float32:
            return f"{name} is {array.dtype} {array.shape}, expected float32 {shape}"
        invalid = ~np.isfinite(array) | (array < 0) | (array > PROBABILITY_BOUNDS[name])
        if invalid.any():
            index = tuple(int(i) for i in np.argwhere(invalid)[0])
            return (
                f"{name} holds {array[index]!r} at {index}, expected a probability in [0, {PROBABILITY_BOUNDS[name]:g}]"
            )
    features = [arrays.get(name) for name in ("audio_class_features", "visual_class_features")]
    if (features[0] is None) != (features[1] is None):
        return "holds the class-aware features of one modality only"
    if features[0] is None:
        return "" if class_features else None
    for name, array in zip(("audio_class_features", "visual_class_features"), features):
        if array.ndim != 3 or array.shape[:2] != (count, NUM_CLASSES) or array.shape != features[0].shape:
            return f"{name} has shape {array.shape}, expected ({count}, {NUM_CLASSES}, D) like its sibling"
        if array.dtype != np.float32 or not np.isfinite(array).all():
            return f"{name} is not finite float32"
    return None
