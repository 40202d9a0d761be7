"""Run a parser over a whole split and score it: the one code path shared by training, evaluation and the app.

``predict`` feeds contiguous slices of the split's arrays to the model (no per-clip file reads), in eval mode under
``torch.no_grad``, on CPU or GPU, and returns float32 numpy arrays. ``score`` binarises them like the official test
loop and computes the official metrics.

Notation: N clips, T = 10 segments, C = 25 classes, D model width.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from mgn.data.llp import Split, pool_frames
from mgn.metrics import DEFAULT_THRESHOLD, Scores, avvp_scores
from mgn.predictions import (  # torch-free: the explorer reads cached predictions without torch
    GATES,
    PROBABILITY_BOUNDS,
    Gate,
    Predictions,
    read_cached_predictions,
    split_digest,
    write_cached_predictions,
)

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

_CLIPS_NAMED = 3  # clips named in an error about model outputs


class NonFiniteOutputError(ValueError):
    """The model produced NaN or infinite outputs (the message names the model, the output and the clips)."""


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


def predict_cached(model: nn.Module, split: Split, cache_path: str | Path | None, **predict_kwargs) -> Predictions:
    """:func:`predict`, stored at ``cache_path`` (``.npz``) and read from there next time.

    The caller names the file after what determines the predictions (e.g. checkpoint and split digests). What is
    read is checked before it is trusted: a cache file that cannot be read (truncated, garbage, empty), holds other
    clips, or holds arrays of the wrong shape, non-finite values or probabilities out of range is recomputed and
    replaced, with one warning naming the file. A cache that cannot be written (read-only or full
    disk, not a folder) gives one warning and the predictions are returned uncached.
    """
    if cache_path is not None:
        cached = read_cached_predictions(cache_path, split, predict_kwargs.get("class_features", False))
        if cached is not None:
            return cached
    predictions = predict(model, split, **predict_kwargs)
    if cache_path is not None:
        write_cached_predictions(cache_path, predictions, split)
    return predictions
