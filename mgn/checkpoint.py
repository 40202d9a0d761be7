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

import hashlib
import json
import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from mgn import __version__
from mgn.download import is_url, stream_to_file
from mgn.io import atomic_path, file_sha256
from mgn.models import (
    HANConfig,
    MGNConfig,
    architecture_of,
    build_model,
    check_config_limits,
    config_from_dict,
    config_to_dict,
    expected_state_dict_shapes,
)
from mgn.models.weights import WeightsDtypeError, WeightsMismatchError, float32_weights, load_weights_strict

__all__ = [
    "FetchedCheckpoint",
    "fetch_checkpoint",
    "CHECKPOINT_FORMAT",
    "OFFICIAL_SUFFIXES",
    "Checkpoint",
    "CheckpointError",
    "CheckpointMismatchError",
    "load_any_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "mgn-checkpoint/1"
EXTRA_PREFIX = "extra/"
_RESERVED_METADATA = ("format", "arch", "config", "mgn_version")
OFFICIAL_SUFFIXES = (".pt", ".pth")  # official HAN / MGN weights: pickled state_dicts
_MAX_LISTED = 5  # keys named per kind of mismatch


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not an mgn checkpoint of the expected kind."""


class CheckpointMismatchError(CheckpointError, WeightsMismatchError):
    """A checkpoint's stored weights do not have the keys and shapes its metadata config builds."""


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

    Nothing in the file is trusted before it is checked, and the checks run before any tensor data is read or any
    model is built: the metadata config must be a valid config within sane limits (``check_config_limits``), and
    the stored weights must have exactly the keys and shapes that config produces (compared with the model built on
    the ``meta`` device, which allocates nothing). Weights must be floating point; float16, bfloat16 and float64
    are converted to float32 with one warning.

    Args:
        arch: if given, the architecture the caller expects; another one is an error.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: not a safetensors file, not an mgn checkpoint, bad config, another architecture, or
            non-floating weights.
        CheckpointMismatchError: (a CheckpointError and a WeightsMismatchError) the weights' keys or shapes are not
            those of the metadata config.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable .safetensors checkpoint: {error}") from error
    found_arch, config = _config_from_metadata(path, metadata, arch)
    _check_weight_shapes(path, found_arch, config, {key: shape for key, shape in shapes.items() if not _is_extra(key)})
    try:
        with safe_open(path, framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 - safe_open has no items()
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable .safetensors checkpoint: {error}") from error
    try:
        state_dict = float32_weights({key: value for key, value in tensors.items() if not _is_extra(key)}, str(path))
    except WeightsDtypeError as error:
        raise CheckpointError(str(error)) from None
    extra = {key[len(EXTRA_PREFIX) :]: value for key, value in tensors.items() if _is_extra(key)}
    return Checkpoint(path, found_arch, config, state_dict, extra, metadata)


def _is_extra(key: str) -> bool:
    return key.startswith(EXTRA_PREFIX)


def _config_from_metadata(path: Path, metadata: dict[str, str], arch: str | None) -> tuple[str, HANConfig | MGNConfig]:
    """The architecture and the checked config of a checkpoint's metadata (see :func:`read_checkpoint`)."""
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not an mgn checkpoint: metadata 'format' is {metadata.get('format')!r}, expected "
            f"{CHECKPOINT_FORMAT!r} (official .pt weights are imported with mgn.models.official)"
        )
    found_arch = metadata.get("arch", "")
    if arch is not None and found_arch != arch:
        raise CheckpointError(f"{path} holds a {found_arch!r} model, expected {arch!r}")
    try:
        values = json.loads(metadata["config"])
        if not isinstance(values, dict):
            raise TypeError(f"expected a JSON object, got {type(values).__name__}")
        config = config_from_dict(found_arch, values)
        check_config_limits(config)
    except (KeyError, TypeError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        raise CheckpointError(f"{path}: invalid model config in metadata: {error}") from error
    return found_arch, config


def _check_weight_shapes(
    path: Path, arch: str, config: HANConfig | MGNConfig, shapes: dict[str, tuple[int, ...]]
) -> None:
    """Raise CheckpointMismatchError unless ``shapes`` (stored model weights, key -> shape) are exactly what
    ``config`` builds."""
    expected = expected_state_dict_shapes(arch, config)
    missing = [key for key in expected if key not in shapes]
    unexpected = [key for key in shapes if key not in expected]
    mismatched = [
        f"{key}: config gives {expected[key]}, file has {shapes[key]}"
        for key in expected
        if key in shapes and shapes[key] != expected[key]
    ]
    if not (missing or unexpected or mismatched):
        return
    lines = [f"{path}: the stored weights do not match the metadata config {config}:"]
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)):
        if items:
            listed = ", ".join(items[:_MAX_LISTED]) + (" ..." if len(items) > _MAX_LISTED else "")
            lines.append(f"  {title} ({len(items)}): {listed}")
    raise CheckpointMismatchError("\n".join(lines))


def load_checkpoint(path: str | Path, *, arch: str | None = None) -> nn.Module:
    """The model stored in a checkpoint file, in eval mode (see :func:`read_checkpoint` for errors)."""
    return read_checkpoint(path, arch=arch).build_model()


def load_any_checkpoint(path: str | Path, arch: str | None = None, official_config: dict | None = None) -> nn.Module:
    """The model in our ``.safetensors`` checkpoint, or in an official ``.pt`` / ``.pth`` state_dict, in eval mode.

    Args:
        arch: the expected architecture (``han`` or ``mgn``); None accepts either. For official files, None means
            the architecture is recognised from the state_dict's keys.
        official_config: official files only: the official model arguments (see :mod:`mgn.models.official`);
            those not given are read off the weights (MGN width and depths), the rest take the official defaults.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: see :func:`read_checkpoint`.
        OfficialWeightsError: (a ValueError) an official file that is unreadable, unrecognisable or does not fit.
    """
    path = Path(path)
    if path.suffix in OFFICIAL_SUFFIXES:
        from mgn.models.official import load_official_checkpoint

        return load_official_checkpoint(path, arch, official_config)
    return load_checkpoint(path, arch=arch)


@dataclass(frozen=True)
class FetchedCheckpoint:
    """A checkpoint given by path or address: the local file, its SHA-256, and whether it was just downloaded."""

    path: Path
    sha256: str
    downloaded: bool


def default_checkpoint_cache() -> Path:
    """``$MGN_CACHE_DIR/checkpoints`` if that variable is set, else ``~/.cache/mgn/checkpoints``."""
    root = os.environ.get("MGN_CACHE_DIR")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "mgn") / "checkpoints"


def fetch_checkpoint(
    source: str | Path, *, cache_dir: str | Path | None = None, progress: bool = True, timeout: float = 60.0
) -> FetchedCheckpoint:
    """A local checkpoint file for ``source``: a path as it is, an https address downloaded once into the cache.

    The cached copy of an address lives at ``<cache>/<first 16 hex digits of sha256(address)>/<file name>``, so the
    same address is fetched once and two addresses never share a file. Nothing is unpickled here; what the file holds
    is read later by :func:`load_any_checkpoint` (safetensors, or ``torch.load(weights_only=True)`` for ``.pt``).

    Raises:
        FileNotFoundError: a local path that does not exist.
        DownloadError: the address cannot be fetched (the message says why).
    """
    if not is_url(str(source)):
        path = Path(source).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path}")
        return FetchedCheckpoint(path, file_sha256(path), downloaded=False)
    url = str(source)
    name = Path(urllib.parse.urlparse(url).path).name or "checkpoint"
    folder = (Path(cache_dir).expanduser() if cache_dir is not None else default_checkpoint_cache()) / (
        hashlib.sha256(url.encode()).hexdigest()[:16]
    )
    path = folder / name
    if path.is_file():
        return FetchedCheckpoint(path, file_sha256(path), downloaded=False)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as staging:
        stream_to_file(url, staging, timeout=timeout, progress=progress)
    return FetchedCheckpoint(path, file_sha256(path), downloaded=True)
