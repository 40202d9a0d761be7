"""Parser models: HAN (the LLP baseline) and MGN, with their config dataclasses and a name -> builder registry."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from torch import nn

from mgn.models.han import HAN, HANConfig
from mgn.models.mgn import MGN, MGNConfig
from mgn.models.output import ParserOutput

__all__ = [
    "ARCHITECTURES",
    "HAN",
    "HANConfig",
    "MGN",
    "MGNConfig",
    "ParserOutput",
    "architecture_of",
    "build_model",
    "config_from_dict",
    "config_to_dict",
]

# name -> (config class, model class); a plain constant table, never mutated.
ARCHITECTURES: dict[str, tuple[type, type[nn.Module]]] = {
    "han": (HANConfig, HAN),
    "mgn": (MGNConfig, MGN),
}


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
