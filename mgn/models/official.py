"""Import weights from the official HAN and MGN code, and present our outputs under the official names.

One pure conversion per architecture (state_dict in, state_dict out, no file I/O), then a strict load:

* MGN: our keys are the official ``MGN_Net`` keys, so the conversion only checks them.
* HAN: ``hat_encoder.layers.0.*`` becomes ``han_layer.*``; the modules the official forward never calls are dropped
  by name (REFERENCE.md 3.3): ``audio_encoder.*``, ``visual_encoder.*``, ``cmt_encoder.*`` (three encoders that are
  built but unused) and ``hat_encoder.norm1.*`` / ``hat_encoder.norm2.*`` (the ``Encoder`` wrapper has norm=None).

Every mismatch (missing key, unexpected key, wrong shape) is reported together, by name, in one error.

A file need not say what it holds: :func:`infer_official_arch_and_config` recognises the architecture from the key
names and reads MGN's width and depths off the tensors. Weights must be floating point (other floating dtypes are
converted to float32 with a warning), and argument values must be within ``mgn.models.CONFIG_LIMITS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mgn.models import HAN, MGN, HANConfig, MGNConfig, architecture_of, build_model, check_config_limits
from mgn.models.weights import WeightsDtypeError, WeightsMismatchError, float32_weights, load_weights_strict

__all__ = [
    "HAN_UNUSED_PREFIXES",
    "OfficialWeightsError",
    "convert_official_han_state_dict",
    "convert_official_mgn_state_dict",
    "from_official_state_dict",
    "infer_official_arch_and_config",
    "load_official_checkpoint",
    "official_outputs",
    "official_config",
]

# Official MMIL_Net modules that exist in its state_dict but are never used by its forward (REFERENCE.md 3.3).
HAN_UNUSED_PREFIXES: tuple[str, ...] = (
    "audio_encoder.",
    "visual_encoder.",
    "cmt_encoder.",
    "hat_encoder.norm1.",
    "hat_encoder.norm2.",
)
_HAN_LAYER_OFFICIAL_PREFIX = "hat_encoder.layers.0."
_HAN_LAYER_PREFIX = "han_layer."

# Official MGN argparse flags that define the model, and the ones that do not (accepted and ignored, so that
# ``vars(args)`` of the official main.py can be passed as it is).
_MGN_MODEL_FLAGS = ("dim", "depth_aud", "depth_vis", "depth_av", "unimodal_assign", "crossmodal_assign")
_OFFICIAL_NON_MODEL_FLAGS = frozenset(
    {
        "audio_dir",
        "video_dir",
        "st_dir",
        "label_train",
        "label_val",
        "label_test",
        "batch_size",
        "epochs",
        "warmup_epochs",
        "lr",
        "weight_decay",
        "model",
        "mode",
        "seed",
        "log_interval",
        "model_save_dir",
        "checkpoint",
        "gpu",
    }
)

# Keys (exact names, or prefixes ending in ".") found in one architecture's state_dict and never in the other's; the
# shared stem (fc_a, fc_v, fc_st, fc_fusion, fc_prob) identifies neither. Our HAN's ``han_layer.`` counts too.
_ARCH_MARKERS: dict[str, tuple[str, ...]] = {
    "mgn": (
        "audio_token",
        "visual_token",
        "audio_cug.",
        "visual_cug.",
        "av_mcg.",
        "fc_prob_a.",
        "fc_prob_v.",
        "fc_cls.",
    ),
    "han": (
        "fc_frame_att.",
        "fc_av_att.",
        "hat_encoder.",
        "han_layer.",
        "audio_encoder.",
        "visual_encoder.",
        "cmt_encoder.",
    ),
}
_OFFICIAL_CLASS = {"mgn": "MGN_Net", "han": "MMIL_Net"}
# MGN depth flag -> the module whose self-attention blocks it counts (keys "<module>.blocks.<i>.*").
_MGN_DEPTH_MODULES = {"depth_aud": "audio_cug", "depth_vis": "visual_cug", "depth_av": "av_mcg"}
_MAX_LISTED = 3

_OFFICIAL_OUTPUT_NAMES = {
    "mgn": ("aud_cls_prob", "vis_cls_prob", "global_prob", "a_prob", "v_prob", "a_frame_prob", "v_frame_prob"),
    "han": ("global_prob", "a_prob", "v_prob", "frame_prob"),
}


class OfficialWeightsError(WeightsMismatchError):
    """An official state_dict or checkpoint cannot be loaded into our model."""


def official_config(arch: str, config: Mapping[str, Any] | None) -> HANConfig | MGNConfig:
    """Our config from the official argument dict.

    Args:
        arch: ``"mgn"`` or ``"han"``.
        config: MGN: the official flags (``dim``, ``depth_aud``, ``depth_vis``, ``depth_av``, ``unimodal_assign``,
            ``crossmodal_assign``; missing ones take the official defaults; the official training flags are ignored).
            HAN: ``{}`` or None (``MMIL_Net()`` takes no arguments).
    """
    config = dict(config or {})
    if arch == "han":
        if config:
            raise ValueError(f"the official HAN (MMIL_Net) takes no arguments, got {sorted(config)}")
        return HANConfig()
    if arch != "mgn":
        raise ValueError(f"unknown architecture {arch!r}; expected 'mgn' or 'han'")
    unknown = sorted(set(config) - set(_MGN_MODEL_FLAGS) - _OFFICIAL_NON_MODEL_FLAGS)
    if unknown:
        raise ValueError(
            f"unknown official MGN argument(s) {unknown}; the model is defined by {list(_MGN_MODEL_FLAGS)}"
        )
    model_config = MGNConfig(**{key: config[key] for key in _MGN_MODEL_FLAGS if key in config})
    check_config_limits(model_config)
    return model_config


def _marked_keys(keys: list[str], markers: tuple[str, ...]) -> list[str]:
    return [key for key in keys if any(key == m or (m.endswith(".") and key.startswith(m)) for m in markers)]


def infer_official_arch_and_config(
    state_dict: Mapping[str, Tensor], source: str = "the state_dict"
) -> tuple[str, dict[str, Any]]:
    """Recognise an official (or our own) HAN / MGN state_dict and the official arguments that built it.

    The architecture comes from the key names (MGN_Net's class tokens and grouping modules, MMIL_Net's attention
    heads and HAN layer); a ``module.`` prefix on every key (nn.DataParallel) is ignored. For MGN the width ``dim``
    is read off ``audio_token`` (C, D) (or ``fc_a.weight`` (D, 128)) and each depth is the number of
    ``<module>.blocks.<i>`` indices of its module; the assignment modes leave no trace in the weights, so they are
    not returned (the official default, soft, applies unless the caller gives them). HAN takes no arguments: ``{}``.

    Args:
        source: what the state_dict is, for messages (a file name).

    Returns:
        (``"mgn"`` or ``"han"``, official argument dict for :func:`official_config`); a value the weights do not
        show is left out, so that loading reports the missing keys by name.

    Raises:
        OfficialWeightsError: the keys are of neither architecture, or of both.
    """
    state_dict = _strip_data_parallel_prefix(state_dict)
    keys = list(state_dict)
    found = {arch: _marked_keys(keys, markers) for arch, markers in _ARCH_MARKERS.items()}
    if found["mgn"] and found["han"]:
        raise OfficialWeightsError(
            f"{source} mixes MGN and HAN weights: it has MGN_Net keys ({_listed(found['mgn'])}) and MMIL_Net keys "
            f"({_listed(found['han'])}); expected the state_dict of one model"
        )
    if not (found["mgn"] or found["han"]):
        seen = f"its {len(keys)} key(s) ({_listed(keys)}) include none" if keys else "it has no tensors, none"
        shown = {arch: [m + "*" if m.endswith(".") else m for m in markers] for arch, markers in _ARCH_MARKERS.items()}
        raise OfficialWeightsError(
            f"{source} is not a HAN or MGN state_dict: {seen} of the keys that identify MGN_Net "
            f"({_listed(shown['mgn'])}) or MMIL_Net ({_listed(shown['han'])})"
        )
    if found["han"]:
        return "han", {}
    config: dict[str, Any] = {}
    width_source = state_dict.get("audio_token")
    if width_source is not None and width_source.dim() == 2:
        config["dim"] = int(width_source.shape[1])  # (C, D)
    elif (fc_a := state_dict.get("fc_a.weight")) is not None and fc_a.dim() == 2:
        config["dim"] = int(fc_a.shape[0])  # (D, 128)
    for flag, module in _MGN_DEPTH_MODULES.items():
        prefix = f"{module}.blocks."
        indices = {key[len(prefix) :].split(".", 1)[0] for key in keys if key.startswith(prefix)}
        numbers = [int(index) for index in indices if index.isdigit()]
        if numbers:
            config[flag] = max(numbers) + 1  # a gap in 0..max is then reported as missing keys
    return "mgn", config


def _listed(keys: list[str]) -> str:
    return ", ".join(keys[:_MAX_LISTED]) + (", ..." if len(keys) > _MAX_LISTED else "")


def convert_official_mgn_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Official ``MGN_Net`` state_dict -> ours. The key names are the same; nothing is renamed or dropped."""
    return dict(state_dict)


def convert_official_han_state_dict(state_dict: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], list[str]]:
    """Official ``MMIL_Net`` state_dict -> ours.

    Returns:
        (converted state_dict, the official keys that were dropped because the official forward never uses them).
    """
    converted: dict[str, Tensor] = {}
    dropped: list[str] = []
    for key, value in state_dict.items():
        if key.startswith(HAN_UNUSED_PREFIXES):
            dropped.append(key)
        elif key.startswith(_HAN_LAYER_OFFICIAL_PREFIX):
            converted[_HAN_LAYER_PREFIX + key[len(_HAN_LAYER_OFFICIAL_PREFIX) :]] = value
        else:
            converted[key] = value
    return converted, dropped


def _strip_data_parallel_prefix(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Weights saved from an ``nn.DataParallel`` wrapper carry ``module.`` on every key; remove it only when every
    key has it (a partial prefix is a real mismatch and is reported as such)."""
    if state_dict and all(key.startswith("module.") for key in state_dict):
        return {key[len("module.") :]: value for key, value in state_dict.items()}
    return dict(state_dict)


def from_official_state_dict(
    arch: str, state_dict: Mapping[str, Tensor], config: Mapping[str, Any] | None = None
) -> nn.Module:
    """Our model with the weights of an official state_dict, in eval mode.

    Args:
        arch: ``"mgn"`` (official ``MGN_Net``) or ``"han"`` (official ``MMIL_Net``).
        state_dict: keyed like the official ``model.state_dict()``.
        config: the official argument dict, e.g. ``{"dim": 128, "depth_aud": 3, "depth_vis": 3, "depth_av": 6,
            "unimodal_assign": "soft", "crossmodal_assign": "soft"}``; ``{}`` for HAN.

    Raises:
        WeightsMismatchError: listing every missing / unexpected key and shape mismatch.
    """
    model = build_model(arch, official_config(arch, config))
    state_dict = _strip_data_parallel_prefix(state_dict)
    if arch == "han":
        converted, _dropped = convert_official_han_state_dict(state_dict)
    else:
        converted = convert_official_mgn_state_dict(state_dict)
    load_weights_strict(model, converted, f"official {arch.upper()} state_dict")
    return model.eval()


def load_official_checkpoint(
    path: str | Path, arch: str | None = None, config: Mapping[str, Any] | None = None
) -> nn.Module:
    """Load a released official checkpoint (``MGN_Net.pt``, ``MMIL_Net.pt``: a pickled state_dict), in eval mode.

    The file is read with ``torch.load(weights_only=True)``, which refuses arbitrary pickled objects.

    Args:
        arch: ``"mgn"`` or ``"han"``; None: recognised from the keys (:func:`infer_official_arch_and_config`).
        config: official arguments (see :func:`from_official_state_dict`); the ones not given are read off the
            weights where they show (MGN ``dim`` and depths), else take the official defaults. Given values that
            disagree with the weights are reported key by key.

    Raises:
        FileNotFoundError: no such file.
        OfficialWeightsError: unreadable, not a state_dict, non-floating weights, unrecognisable or of another
            architecture than ``arch``, bad arguments, or weights that do not fit; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"official checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
        raise OfficialWeightsError(f"{path} is not a readable PyTorch state_dict file: {error}") from error
    if isinstance(payload, Mapping) and "state_dict" in payload and isinstance(payload["state_dict"], Mapping):
        payload = payload["state_dict"]
    if not isinstance(payload, Mapping) or not all(isinstance(value, Tensor) for value in payload.values()):
        raise OfficialWeightsError(f"{path} does not hold a state_dict (a mapping of names to tensors)")
    try:
        payload = float32_weights(payload, str(path))
    except WeightsDtypeError as error:
        raise OfficialWeightsError(str(error)) from None
    arch, config = _resolve_arch_and_config(payload, arch, config, str(path))
    try:
        return from_official_state_dict(arch, payload, config)
    except ValueError as error:  # WeightsMismatchError, or arguments outside their limits
        raise OfficialWeightsError(f"{path}: {error}") from None


def _resolve_arch_and_config(
    state_dict: Mapping[str, Tensor], arch: str | None, config: Mapping[str, Any] | None, source: str
) -> tuple[str, dict[str, Any]]:
    """The architecture and arguments to build: the caller's, completed by what the weights show."""
    if arch is None:
        found_arch, found_config = infer_official_arch_and_config(state_dict, source)
        return found_arch, {**found_config, **(config or {})}
    if arch not in _OFFICIAL_CLASS:  # official_config names the known ones
        return arch, dict(config or {})
    try:
        found_arch, found_config = infer_official_arch_and_config(state_dict, source)
    except OfficialWeightsError:  # unrecognisable: the strict load names every key that does not fit
        return arch, dict(config or {})
    if found_arch != arch:
        raise OfficialWeightsError(
            f"{source} holds {found_arch.upper()} weights (official {_OFFICIAL_CLASS[found_arch]} keys), "
            f"expected {arch.upper()} ({_OFFICIAL_CLASS[arch]})"
        )
    return arch, {**found_config, **(config or {})}


def official_outputs(model: nn.Module, audio: Tensor, visual: Tensor, visual_st: Tensor) -> dict[str, Tensor]:
    """Run ``model`` (in its current train/eval mode, without gradients) and return its outputs under the names
    and layouts of the official forward's return values.

    MGN: aud_cls_prob (C, C), vis_cls_prob (C, C), global_prob, a_prob, v_prob (B, C), a_frame_prob,
    v_frame_prob (B, T, C). HAN: global_prob, a_prob, v_prob (B, C), frame_prob (B, T, 2, C).
    """
    arch = architecture_of(model)
    with torch.no_grad():
        out = model(audio, visual, visual_st)
    if isinstance(model, MGN):
        values = (
            out.audio_class_logits,
            out.visual_class_logits,
            out.global_prob,
            out.a_prob,
            out.v_prob,
            out.a_frame_prob,
            out.v_frame_prob,
        )
    elif isinstance(model, HAN):
        values = (out.global_prob, out.a_prob, out.v_prob, torch.stack((out.a_frame_prob, out.v_frame_prob), dim=2))
    else:  # pragma: no cover - architecture_of already rejects other types
        raise TypeError(type(model).__name__)
    return dict(zip(_OFFICIAL_OUTPUT_NAMES[arch], values, strict=True))
