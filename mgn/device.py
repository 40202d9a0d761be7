"""Which torch device to run on: one rule for the command lines and the explorer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported on use, so that importing this module stays cheap
    import torch

__all__ = ["DEVICE_CHOICES", "resolve_device"]

DEVICE_CHOICES = ("auto", "cpu", "cuda")  # what the command lines offer; "cuda:1" and the like are accepted too


def resolve_device(name: str | None = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` (or None) -> the local GPU if there is one, else the CPU; other names as torch understands them.

    Raises:
        ValueError: the name is not a torch device, or names a CUDA device on a machine without CUDA.
    """
    import torch

    if name in (None, "", "auto"):
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {name!r}: expected one of {', '.join(DEVICE_CHOICES)} (or cuda:N)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} was requested but CUDA is not available on this machine (use cpu or auto)")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device {name!r} is not supported: expected one of {', '.join(DEVICE_CHOICES)}")
    return device
