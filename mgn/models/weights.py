"""Strict, explained loading of a state_dict into a model, and the dtype rule for stored weights."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import torch
from torch import Tensor, nn

__all__ = ["WeightsDtypeError", "WeightsMismatchError", "float32_weights", "load_weights_strict"]

_MAX_LISTED = 20
_MAX_DTYPE_LISTED = 5


class WeightsMismatchError(ValueError):
    """A state_dict does not fit the model it is loaded into (keys or shapes)."""


class WeightsDtypeError(WeightsMismatchError):
    """A state_dict holds model weights that are not floating point (int64, bool, ...)."""


def float32_weights(state_dict: Mapping[str, Tensor], source: str) -> dict[str, Tensor]:
    """The weights of ``state_dict`` as float32, after checking that they are floating point.

    Model weights are real numbers: an integer or boolean tensor among them is a damaged or foreign file, never
    something to cast. Other floating dtypes (float16, bfloat16, float64, ...) are converted to float32, with one
    warning per call that names ``source``, the number of converted tensors and an example key.

    Args:
        state_dict: name -> tensor, model weights only (no optimizer or RNG state).
        source: what the weights are, for messages (a file name, "official MGN state_dict", ...).

    Raises:
        WeightsDtypeError: naming every non-floating tensor (the first few) and its dtype.
    """
    not_floating = [(key, value.dtype) for key, value in state_dict.items() if not value.is_floating_point()]
    if not_floating:
        listed = ", ".join(f"{key!r} is {_dtype_name(dtype)}" for key, dtype in not_floating[:_MAX_DTYPE_LISTED])
        more = " ..." if len(not_floating) > _MAX_DTYPE_LISTED else ""
        raise WeightsDtypeError(
            f"{source}: model weights must be floating point, but {len(not_floating)} tensor(s) are not: {listed}{more}"
        )
    converted = [key for key, value in state_dict.items() if value.dtype != torch.float32]
    if converted:
        dtypes = sorted({_dtype_name(state_dict[key].dtype) for key in converted})
        warnings.warn(
            f"{source}: {len(converted)} of {len(state_dict)} weight tensors are stored as {'/'.join(dtypes)} "
            f"(e.g. {converted[0]!r}); converted to float32",
            UserWarning,
            stacklevel=2,
        )
    return {key: value.to(torch.float32) for key, value in state_dict.items()}


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def load_weights_strict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Load ``state_dict`` into ``model`` with ``strict=True`` after checking keys, shapes and dtypes.

    Args:
        model: the target module (its ``config`` attribute, if any, is named in errors).
        state_dict: name -> tensor; floating point, converted to float32 (see :func:`float32_weights`).
        source: what the weights are, for the error message (a file name, "official MGN state_dict", ...).

    Raises:
        WeightsMismatchError: listing every missing key, unexpected key and shape mismatch at once.
        WeightsDtypeError: a tensor is not floating point.
    """
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    mismatched = [
        f"{key}: expected {tuple(expected[key].shape)}, got {tuple(state_dict[key].shape)}"
        for key in expected
        if key in state_dict and tuple(state_dict[key].shape) != tuple(expected[key].shape)
    ]
    if missing or unexpected or mismatched:
        described = f"{type(model).__name__}({getattr(model, 'config', '')})"
        lines = [f"{source} does not match {described}:"]
        for title, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", mismatched),
        ):
            if items:
                listed = ", ".join(items[:_MAX_LISTED]) + (" ..." if len(items) > _MAX_LISTED else "")
                lines.append(f"  {title} ({len(items)}): {listed}")
        raise WeightsMismatchError("\n".join(lines))
    model.load_state_dict(float32_weights(state_dict, source), strict=True)
