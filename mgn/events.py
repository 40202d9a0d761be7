"""Events: maximal runs of positive segments, and their overlap; the one place this is computed.

An *event* of a 0/1 row over the T segments of a clip is a maximal run of 1s, written as the half-open segment
interval ``[onset, offset)`` (integer seconds, since segments are one second long). The official metrics, the
eval-CSV export, the synthetic annotations and the explorer's timeline all use this definition.
"""

from __future__ import annotations

import numpy as np

__all__ = ["find_events", "segment_iou"]


def find_events(rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every event of a 0/1 (or bool) array whose last axis is the segment axis.

    Args:
        rows: ``(..., T)`` 0/1 values, e.g. ``(N, C, T)`` [clip, class, segment] or ``(C, T)`` [class, segment].

    Returns:
        One int64 array per leading axis (the event's index along it), then ``onset`` and ``offset``: all of equal
        length, sorted by the leading indices and then by onset; event ``k`` covers segments ``[onset[k], offset[k])``.
    """
    binary = np.asarray(rows) != 0
    pad = [(0, 0)] * (binary.ndim - 1) + [(1, 1)]
    steps = np.diff(np.pad(binary.astype(np.int8), pad), axis=-1)  # (..., T + 1): +1 at onsets, -1 one past offsets
    *leading, onset = np.nonzero(steps == 1)
    offset = np.nonzero(steps == -1)[-1]  # same lexicographic order as the onsets: one offset per onset
    return (*leading, onset, offset)


def segment_iou(first: tuple[int, int], second: tuple[int, int]) -> float:
    """Intersection over union of two segment intervals ``[onset, offset)`` (0.0 when they do not overlap)."""
    intersection = max(0, min(first[1], second[1]) - max(first[0], second[0]))
    union = (first[1] - first[0]) + (second[1] - second[0]) - intersection
    return intersection / union if union > 0 else 0.0
