"""Strict, explained loading of a state_dict into a model."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

__all__ = ["WeightsMismatchError", "load_weights_strict"]

_MAX_LISTED = 20


class WeightsMismatchError(ValueError):
    """A state_dict does not fit the model it is loaded into (keys or shapes)."""


def load_weights_strict(model: nn.Module, state_dict: Mapping[str, Tensor], source: str) -> None:
    """Load ``state_dict`` into ``model`` with ``strict=True`` after checking keys and shapes.

    Args:
        model: the target module (its ``config`` attribute, if any, is named in errors).
        state_dict: name -> tensor; cast to float32.
        source: what the weights are, for the error message (a file name, "official MGN state_dict", ...).

    Raises:
        WeightsMismatchError: listing every missing key, unexpected key and shape mismatch at once.
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
    model.load_state_dict({key: value.to(torch.float32) for key, value in state_dict.items()}, strict=True)
