"""Our own checkpoints: ``.safetensors`` files that rebuild their model.

A checkpoint holds the model's state_dict under its own keys, optional extra tensors under keys that start with
``extra/`` (training state: optimizer moments, RNG states, ...), and string metadata:

* ``format``: ``mgn-checkpoint/1``;
* ``arch``: ``han`` or ``mgn``;
* ``config``: the model config dataclass as JSON (every field, so a later change of defaults cannot change the model);
* ``mgn_version`` and any caller-supplied string fields (e.g. ``epoch``, ``val_type_at_av``).

Nothing is unpickled: safetensors stores raw tensors and JSON. Writes are atomic (temporary file + rename), so a
kill during a save leaves the previous file intact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from mgn import __version__
from mgn.io import atomic_path
from mgn.models import HANConfig, MGNConfig, architecture_of, build_model, config_from_dict, config_to_dict
from mgn.models.weights import load_weights_strict

__all__ = [
    "CHECKPOINT_FORMAT",
    "OFFICIAL_SUFFIXES",
    "Checkpoint",
    "CheckpointError",
    "load_any_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "mgn-checkpoint/1"
EXTRA_PREFIX = "extra/"
_RESERVED_METADATA = ("format", "arch", "config", "mgn_version")
OFFICIAL_SUFFIXES = (".pt", ".pth")  # official HAN / MGN weights: pickled state_dicts


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not an mgn checkpoint of the expected kind."""


@dataclass
class Checkpoint:
    """The content of a checkpoint file.

    Attributes:
        path: where it was read from.
        arch: ``han`` or ``mgn``.
        config: the model config.
        state_dict: model weights (float32).
        extra: extra tensors, keys without the ``extra/`` prefix.
        metadata: every metadata string, the reserved ones included.
    """

    path: Path
    arch: str
    config: HANConfig | MGNConfig
    state_dict: dict[str, Tensor]
    extra: dict[str, Tensor]
    metadata: dict[str, str]

    def build_model(self) -> nn.Module:
        """The model with these weights, in eval mode."""
        model = build_model(self.arch, self.config)
        load_weights_strict(model, self.state_dict, str(self.path))
        return model.eval()


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    metadata: dict[str, Any] | None = None,
    extra: dict[str, Tensor] | None = None,
) -> Path:
    """Write ``model`` (an unwrapped HAN or MGN, never a DDP or compiled wrapper) to ``path`` atomically.

    Args:
        metadata: extra string-able fields (non-strings are JSON-encoded); the reserved names are refused.
        extra: extra tensors stored under ``extra/<name>``.
    """
    path = Path(path)
    arch = architecture_of(model)
    fields = {"format": CHECKPOINT_FORMAT, "arch": arch, "config": json.dumps(config_to_dict(model.config))}
    fields["mgn_version"] = __version__
    for key, value in (metadata or {}).items():
        if key in _RESERVED_METADATA:
            raise ValueError(f"metadata key {key!r} is reserved by the checkpoint format")
        fields[key] = value if isinstance(value, str) else json.dumps(value)
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()}
    for key, value in (extra or {}).items():
        tensors[EXTRA_PREFIX + key] = value.detach().to("cpu").contiguous()
    with atomic_path(path) as temporary:
        save_file(tensors, temporary, metadata=fields)
    return path


def read_checkpoint(path: str | Path, *, arch: str | None = None) -> Checkpoint:
    """Read a checkpoint file without building the model.

    Args:
        arch: if given, the architecture the caller expects; another one is an error.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a safetensors file, not an mgn checkpoint, bad config, or another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 - safe_open has no items()
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable .safetensors checkpoint: {error}") from error
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not an mgn checkpoint: metadata 'format' is {metadata.get('format')!r}, expected "
            f"{CHECKPOINT_FORMAT!r} (official .pt weights are imported with mgn.models.official)"
        )
    found_arch = metadata.get("arch", "")
    if arch is not None and found_arch != arch:
        raise CheckpointError(f"{path} holds a {found_arch!r} model, expected {arch!r}")
    try:
        config = config_from_dict(found_arch, json.loads(metadata["config"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path}: invalid model config in metadata: {error}") from error
    state_dict = {key: value for key, value in tensors.items() if not key.startswith(EXTRA_PREFIX)}
    extra = {key[len(EXTRA_PREFIX) :]: value for key, value in tensors.items() if key.startswith(EXTRA_PREFIX)}
    return Checkpoint(path, found_arch, config, state_dict, extra, metadata)


def load_checkpoint(path: str | Path, *, arch: str | None = None) -> nn.Module:
    """The model stored in a checkpoint file, in eval mode (see :func:`read_checkpoint` for errors)."""
    return read_checkpoint(path, arch=arch).build_model()


def load_any_checkpoint(path: str | Path, arch: str | None = None, official_config: dict | None = None) -> nn.Module:
    """Our ``.safetensors`` checkpoint, or an official ``.pt`` / ``.pth`` state_dict (then ``arch`` is required and
    ``official_config`` holds the official model arguments, see :mod:`mgn.models.official`)."""
    path = Path(path)
    if path.suffix in OFFICIAL_SUFFIXES:
        if arch is None:
            raise ValueError(f"{path} is an official PyTorch file: give the architecture (--arch mgn or --arch han)")
        from mgn.models.official import load_official_checkpoint

        return load_official_checkpoint(path, arch, official_config or {})
    return load_checkpoint(path, arch=arch)
