"""Parser models: HAN (the LLP baseline) and MGN, with their config dataclasses and a name -> builder registry.

Configs read from files (checkpoint metadata, official argument dicts) are untrusted: :func:`check_config_limits`
bounds every field to a sane range before anything is built, and :func:`expected_state_dict_shapes` gives the exact
key -> shape table a config produces without allocating its weights (the model is built on the ``meta`` device).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from mgn.models.han import HAN, HANConfig
from mgn.models.mgn import MGN, MGNConfig
from mgn.models.output import ParserOutput

__all__ = [
    "ARCHITECTURES",
    "CONFIG_LIMITS",
    "HAN",
    "HANConfig",
    "MGN",
    "MGNConfig",
    "ParserOutput",
    "architecture_of",
    "FieldLimit",
    "build_model",
    "check_config_limits",
    "config_from_dict",
    "config_to_dict",
    "expected_state_dict_shapes",
]

# name -> (config class, model class); a plain constant table, never mutated.
ARCHITECTURES: dict[str, tuple[type, type[nn.Module]]] = {
    "han": (HANConfig, HAN),
    "mgn": (MGNConfig, MGN),
}


@dataclass(frozen=True)
class FieldLimit:
    """The accepted values of one config field.

    Attributes:
        kind: ``int``, ``float`` (an int is accepted too; NaN and infinities never are), ``bool`` or ``choice``.
        low, high: inclusive bounds (None: unbounded); ``open_low`` / ``open_high`` make them exclusive.
        choices: the accepted strings of a ``choice`` field.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """The accepted values in words, e.g. ``an integer in [1, 8192]``."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(choice) for choice in self.choices)
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        interval = f"{'(' if self.open_low else '['}{low}, {high}{')' if self.open_high else ']'}"
        return f"{'an integer' if self.kind == 'int' else 'a finite number'} in {interval}"

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (as read from JSON) is of the right type and within the bounds."""
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "choice":
            return isinstance(value, str) and value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or (value < self.high if self.open_high else value <= self.high)


# Sane ranges of every config field: far beyond any published or useful setting, small enough that a config within
# them cannot take minutes to build. Widths up to 8192, depths up to 64 blocks, feature sizes up to 16384.
_WIDTH = FieldLimit("int", 1, 8192)
_FEATURES = FieldLimit("int", 1, 16384)
_CLASSES = FieldLimit("int", 1, 4096)
_DEPTH = FieldLimit("int", 1, 64)
_PROBABILITY = FieldLimit("float", 0.0, 1.0, open_high=True)  # dropout-like rates: [0, 1)
_RATIO = FieldLimit("float", 0.0, 16.0, open_low=True)  # hidden width / D: (0, 16]
_ASSIGN = FieldLimit("choice", choices=("soft", "hard"))
_FLAG = FieldLimit("bool")
CONFIG_LIMITS: dict[type, dict[str, FieldLimit]] = {
    HANConfig: {
        "dim": _WIDTH,
        "num_heads": _WIDTH,
        "ffn_dim": FieldLimit("int", 1, 32768),
        "dropout": _PROBABILITY,
        "audio_dim": _FEATURES,
        "visual_dim": _FEATURES,
        "visual_st_dim": _FEATURES,
        "num_classes": _CLASSES,
    },
    MGNConfig: {
        "dim": _WIDTH,
        "depth_aud": _DEPTH,
        "depth_vis": _DEPTH,
        "depth_av": _DEPTH,
        "unimodal_assign": _ASSIGN,
        "crossmodal_assign": _ASSIGN,
        "num_heads": _WIDTH,
        "mlp_ratio": _RATIO,
        "token_mlp_ratio": _RATIO,
        "drop_path": _PROBABILITY,
        "gumbel_tau": FieldLimit("float", 0.0, None, open_low=True),
        "assign_eps": FieldLimit("float", 0.0, None),
        "audio_dim": _FEATURES,
        "visual_dim": _FEATURES,
        "visual_st_dim": _FEATURES,
        "num_classes": _CLASSES,
        "num_segments": FieldLimit("int", 1, 1024),
        "inverted_han_assign": _FLAG,
        "one_plus_soft_map": _FLAG,
        "zero_init_class_tokens": _FLAG,
        "segment_head": _FLAG,
    },
}


def check_config_limits(config: HANConfig | MGNConfig) -> None:
    """Check that every field of ``config`` has the right type and a sane value (see ``CONFIG_LIMITS``), and that the
    widths the model derives from them are whole: D divisible by the heads, MLP hidden widths of at least 1.

    Raises:
        ValueError: naming the first bad field, its value and the accepted range, e.g.
            ``MGNConfig.dim=200000 is outside the accepted range: an integer in [1, 8192]``.
    """
    name = type(config).__name__
    limits = CONFIG_LIMITS.get(type(config))
    if limits is None:
        raise TypeError(f"{name} is not a parser config")
    for field in fields(config):
        value = getattr(config, field.name)
        limit = limits[field.name]
        if not limit.accepts(value):
            raise ValueError(f"{name}.{field.name}={value!r} is outside the accepted range: {limit.describe()}")
    if config.dim % config.num_heads:
        raise ValueError(f"{name}.dim ({config.dim}) must be divisible by num_heads ({config.num_heads})")
    if isinstance(config, MGNConfig):
        for ratio in ("mlp_ratio", "token_mlp_ratio"):
            if int(getattr(config, ratio) * config.dim) < 1:  # the hidden width the blocks build
                raise ValueError(
                    f"{name}.{ratio}={getattr(config, ratio)!r} x dim={config.dim} gives an MLP of width 0"
                )


def expected_state_dict_shapes(arch: str, config: HANConfig | MGNConfig) -> dict[str, tuple[int, ...]]:
    """The key -> shape table of ``build_model(arch, config).state_dict()``, exactly, without allocating weights.

    The model is built on the ``meta`` device (shapes only, no storage), so the cost does not depend on the width;
    it grows with the number of blocks, which is why :func:`check_config_limits` should pass first.
    """
    with torch.device("meta"):
        model = build_model(arch, config)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _spec(arch: str) -> tuple[type, type[nn.Module]]:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {sorted(ARCHITECTURES)}") from None


def config_from_dict(arch: str, values: dict[str, Any]) -> HANConfig | MGNConfig:
    """Our config dataclass for ``arch`` from a dict of its field values (unknown keys are an error)."""
    config_class, _ = _spec(arch)
    known = {field.name for field in fields(config_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {arch} config field(s) {unknown}; expected a subset of {sorted(known)}")
    return config_class(**values)


def config_to_dict(config: HANConfig | MGNConfig) -> dict[str, Any]:
    """All fields of a config dataclass as a JSON-ready dict."""
    return asdict(config)


def build_model(arch: str, config: HANConfig | MGNConfig | dict[str, Any] | None = None) -> nn.Module:
    """A freshly initialised model of architecture ``arch`` ('han' or 'mgn')."""
    config_class, model_class = _spec(arch)
    if isinstance(config, dict):
        config = config_from_dict(arch, config)
    if config is not None and not isinstance(config, config_class):
        raise TypeError(f"architecture {arch!r} takes a {config_class.__name__}, got {type(config).__name__}")
    return model_class(config)


def architecture_of(model: nn.Module) -> str:
    """The registry name of a model instance."""
    for name, (_, model_class) in ARCHITECTURES.items():
        if type(model) is model_class:
            return name
    raise TypeError(f"{type(model).__name__} is not a registered parser architecture")
