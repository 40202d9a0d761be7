"""The input checks of the explorer's public functions, written once so that every bad array reads the same.

A check names the argument, what was expected (shape with the axes' names, real numbers, 0/1 values) and the first
offending entry. The public entry points (``timeline_figure``, ``ClipPrediction``, ``clip_table``,
``per_class_scores``, ``modality_confusion``, ``token_points``, ``class_feature_points``) check their arguments with
these; their internal helpers trust what was checked. Imports neither gradio nor torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["binary_array", "raise_at_first", "real_array", "shape_text"]

Shape = tuple[int | str, ...]  # an int: that size exactly; a str: any size, named (e.g. "N" clips, "D" features)


def shape_text(shape: Shape) -> str:
    """``(N, 25, 10)`` for ``("N", 25, 10)``."""
    return "(" + ", ".join(str(size) for size in shape) + ("," if len(shape) == 1 else "") + ")"


def real_array(values: Any, name: str, shape: Shape, layout: str) -> np.ndarray:
    """``values`` as a numpy array of real numbers (bool, int or float) of ``shape``.

    Args:
        values: anything ``np.asarray`` takes.
        name: the argument's name, first in the message.
        shape: the expected shape; a str entry accepts any size along that axis.
        layout: the axes' meaning, e.g. ``"[clip, class, segment]"``.

    Raises:
        ValueError: ``"{name}: expected shape ... found ..."`` or ``"{name}: expected real numbers, found dtype ..."``.
    """
    array = np.asarray(values)
    if array.ndim != len(shape) or any(
        isinstance(size, int) and size != found for size, found in zip(shape, array.shape)
    ):
        raise ValueError(f"{name}: expected shape {shape_text(shape)} {layout}, found {array.shape}")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number)) or np.iscomplexobj(array):
        raise ValueError(f"{name}: expected real numbers, found dtype {array.dtype}")
    return array


def raise_at_first(invalid: np.ndarray, array: np.ndarray, name: str, expected: str, layout: str) -> None:
    """Raise ``"{name}: {expected}, found {value} at {layout} {index}"`` for the first entry where ``invalid``."""
    if invalid.any():
        index = tuple(int(i) for i in np.argwhere(invalid)[0])
        raise ValueError(f"{name}: {expected}, found {array[index].item()!r} at {layout} {index}")


def binary_array(values: Any, name: str, shape: Shape, layout: str) -> np.ndarray:
    """``values`` as a bool array of ``shape`` whose entries were all 0 or 1 (see :func:`real_array`).

    Raises:
        ValueError: the shape or dtype is wrong, or an entry is neither 0 nor 1 (named with its index).
    """
    array = real_array(values, name, shape, layout)
    if array.dtype == np.bool_:
        return array
    binary = array == 1
    raise_at_first(~binary & (array != 0), array, name, "values must be 0 or 1", layout)
    return binary
