"""Run a parser over a whole split and score it: the one code path shared by training, evaluation and the app.

``predict`` feeds contiguous slices of the split's arrays to the model (no per-clip file reads), in eval mode under
``torch.no_grad``, on CPU or GPU, and returns float32 numpy arrays. ``score`` binarises them like the official test
loop and computes the official metrics.

Notation: N clips, T = 10 segments, C = 25 classes, D model width.
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings
import zipfile
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mgn.data.llp import Split, pool_frames
from mgn.io import atomic_path
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS
from mgn.metrics import DEFAULT_THRESHOLD, Scores, avvp_scores, binarize, binarize_modality_gated

__all__ = [
    "GATES",
    "Gate",
    "NonFiniteOutputError",
    "PROBABILITY_BOUNDS",
    "Predictions",
    "predict",
    "predict_cached",
    "score",
    "split_digest",
    "split_tensors",
]

Gate = Literal["global", "modality"]
GATES: tuple[str, ...] = get_args(Gate)  # the segment gates, for command-line choices

# Largest valid value of each probability output (all are >= 0). Video-level probabilities are sigmoids; MGN's
# segment-level ones are a sigmoid times its soft assignment 1 + softmax (official quirk), hence at most 2.
PROBABILITY_BOUNDS: dict[str, float] = {
    "global_prob": 1.0,
    "a_prob": 1.0,
    "v_prob": 1.0,
    "a_frame_prob": 2.0,
    "v_frame_prob": 2.0,
}
_CLIPS_NAMED = 3  # clips named in an error about model outputs


class NonFiniteOutputError(ValueError):
    """The model produced NaN or infinite outputs (the message names the model, the output and the clips)."""


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


def split_tensors(split: Split, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The split's model inputs and labels as float32 tensors on ``device``, visual frames averaged per segment.

    Returns ``audio`` (N, T, 128), ``visual`` (N, T, 2048), ``visual_st`` (N, T, 512), ``labels`` (N, C). Averaging
    the 8 frames of a segment before the model is exact (both models average right after a Linear layer) and keeps
    an LLP-sized training split at about 1 GB.
    """
    visual = split.visual if split.pooled_visual else pool_frames(np.asarray(split.visual))  # (N, T, 2048)
    arrays = {"audio": split.audio, "visual": visual, "visual_st": split.visual_st, "labels": split.labels}
    return {name: torch.from_numpy(np.array(array, dtype=np.float32)).to(device) for name, array in arrays.items()}


def predict(
    model: nn.Module,
    split: Split,
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    class_features: bool = False,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = False,
    source: str | None = None,
) -> Predictions:
    """Run ``model`` over every clip of ``split`` in eval mode, without gradients.

    Args:
        model: a HAN or MGN (any module returning :class:`~mgn.models.ParserOutput`).
        split: the clips; its visual frames may be full (N, 80, 2048) or pooled (N, 10, 2048).
        batch_size: clips per forward pass (results do not depend on it beyond float rounding).
        device: where to run; default: the model's device.
        class_features: also keep MGN's (N, C, D) class-aware features (for the t-SNE view).
        autocast_dtype: e.g. ``torch.bfloat16`` to run under autocast on GPU.
        progress: show a tqdm bar.
        source: what the model is (e.g. its checkpoint file), named in errors.

    Raises:
        NonFiniteOutputError: an output is NaN or infinite; the message names ``source``, the output and the first
            clips (and the largest input feature of the first one: huge features overflow inside the model).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    collected: dict[str, list[np.ndarray]] = {}
    starts = range(0, len(split), batch_size)
    autocast = (
        torch.autocast(device_type=device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    )
    try:
        with torch.no_grad(), autocast:
            for start in tqdm(starts, desc=f"predicting {split.name}", unit="batch", disable=not progress):
                rows = slice(start, start + batch_size)
                inputs = [
                    torch.from_numpy(np.array(array[rows], dtype=np.float32)).to(device)
                    for array in (split.audio, split.visual, split.visual_st)
                ]
                out = model(*inputs)
                values = {
                    "global_prob": out.global_prob,
                    "a_prob": out.a_prob,
                    "v_prob": out.v_prob,
                    "a_frame_prob": out.a_frame_prob,
                    "v_frame_prob": out.v_frame_prob,
                }
                if class_features and out.audio_class_features is not None:
                    values["audio_class_features"] = out.audio_class_features
                    values["visual_class_features"] = out.visual_class_features
                for name, value in values.items():
                    array = value.float().cpu().numpy()  # (B, ...)
                    _check_finite(array, name, split, start, source)
                    collected.setdefault(name, []).append(array)
    finally:
        model.train(was_training)
    arrays = {name: np.concatenate(parts) for name, parts in collected.items()}
    return Predictions(filenames=np.asarray(split.filenames), **arrays)


def _check_finite(array: np.ndarray, name: str, split: Split, start: int, source: str | None) -> None:
    """Raise :class:`NonFiniteOutputError` when the batch output ``array`` (B, ...) of clips ``start...`` holds a
    NaN or an infinity."""
    bad = ~np.isfinite(array).reshape(len(array), -1).all(axis=1)  # (B,) clip has a non-finite value
    if not bad.any():
        return
    rows = start + np.flatnonzero(bad)  # clip indices in the split
    named = ", ".join(str(split.filenames[row]) for row in rows[:_CLIPS_NAMED])
    more = f" and {len(rows) - _CLIPS_NAMED} more in this batch" if len(rows) > _CLIPS_NAMED else ""
    largest = max(float(np.max(np.abs(stream[rows[0]]))) for stream in (split.audio, split.visual, split.visual_st))
    raise NonFiniteOutputError(
        f"{source or 'the model'}: non-finite {name} (NaN or infinity) on split {split.name!r}, clip(s) {named}{more}; "
        f"the largest input feature of {split.filenames[rows[0]]} is {largest:.3g} in absolute value"
    )


def score(
    predictions: Predictions,
    gt_audio: np.ndarray,
    gt_visual: np.ndarray,
    *,
    gate: Gate = "global",
    threshold: float = DEFAULT_THRESHOLD,
) -> Scores:
    """Official AVVP scores (see :func:`mgn.metrics.avvp_scores`) of ``predictions`` against dense GT
    (N, C, T) uint8 [clip, class, segment]."""
    if gt_audio is None or gt_visual is None:
        raise ValueError("this split has no dense ground truth (only val and test do)")
    pred_a, pred_v = predictions.binarize(gate, threshold)
    return avvp_scores(pred_a, pred_v, gt_audio, gt_visual)


def split_digest(split: Split) -> str:
    """sha256 (hex) of a split's clip list and model inputs (visual frames averaged, so the full and the pooled
    copy of a split share a digest)."""
    digest = hashlib.sha256("\n".join(map(str, split.filenames)).encode())
    visual = split.visual if split.pooled_visual else pool_frames(np.asarray(split.visual))
    for array in (split.audio, visual, split.visual_st):
        digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    return digest.hexdigest()


def predict_cached(model: nn.Module, split: Split, cache_path: str | Path | None, **predict_kwargs) -> Predictions:
    """:func:`predict`, stored at ``cache_path`` (``.npz``) and read from there next time.

    The caller names the file after what determines the predictions (e.g. checkpoint and split digests). What is
    read is checked before it is trusted: a cache file that cannot be read (truncated, garbage, empty), holds other
    clips, or holds arrays of the wrong shape, non-finite values or probabilities out of range is recomputed and
    replaced, with one warning naming the file. A cache that cannot be written (read-only or full
    disk, not a folder) gives one warning and the predictions are returned uncached.
    """
    if cache_path is not None:
        cached = _read_cached(Path(cache_path), split, predict_kwargs.get("class_features", False))
        if cached is not None:
            return cached
    predictions = predict(model, split, **predict_kwargs)
    if cache_path is not None:
        try:
            with atomic_path(cache_path) as temporary, open(temporary, "wb") as stream:
                np.savez(stream, **{**predictions.arrays(), "filenames": np.asarray(split.filenames, dtype=str)})
        except OSError as error:
            warnings.warn(
                f"cannot write the predictions cache {cache_path} ({error}); continuing without it",
                stacklevel=2,
            )
    return predictions


# Errors np.load and reading the members of a damaged .npz raise.
_UNREADABLE = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def _read_cached(path: Path, split: Split, class_features: bool) -> Predictions | None:
    """The predictions cached at ``path`` if it exists and is valid for ``split``; None (after a warning when the
    file exists but is not valid) otherwise."""
    if not path.is_file():
        return None
    try:
        with open(path, "rb") as stream:  # our handle: np.load(path) leaks its own when the zip is damaged
            archive = np.load(stream, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with archive:
                arrays = {name: archive[name] for name in archive.files}
    except _UNREADABLE as error:
        problem = f"unreadable ({type(error).__name__}: {error})"
    else:
        problem = _cache_problem(arrays, split, class_features)
        if problem is None:
            return Predictions(**arrays)
        if problem == "":  # valid, but without the class-aware features asked for: extended, not a fault
            return None
    warnings.warn(f"predictions cache {path}: {problem}; recomputing and replacing it", stacklevel=3)
    return None


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
