"""The training configuration: one frozen dataclass whose defaults are the official HAN / MGN recipes.

A run is configured in three layers, later ones winning: the defaults below, an optional ``--config FILE`` (JSON or
TOML with the same keys; model and layout fields in ``model_config`` / ``layout`` tables), and ``key=value``
overrides on the command line (``lr=1e-3``, ``epochs=5``, ``model.dim=64``, ``layout.audio_dir=feats/vggish``).
Values are parsed as JSON where possible (``true``, ``3``, ``"x"``), else taken as strings, and checked against the
field's type.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomllib

from mgn.data.llp import LLPLayout
from mgn.models import HANConfig, MGNConfig, config_from_dict

__all__ = ["ConfigError", "TrainConfig", "apply_overrides", "load_config_file"]


class ConfigError(ValueError):
    """A training configuration value, file or override is invalid."""


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of a run. Defaults: the official recipes (REFERENCE.md 3.5, 4.6)."""

    model: str = "mgn"  # architecture: "mgn" or "han"
    data: str = "data"  # dataset root in the official layout (see mgn.data.llp.LLPLayout)
    out: str = "runs/run"  # run directory: config.json, metrics.jsonl, best/last.safetensors, test_results.json
    model_config: dict[str, Any] = field(default_factory=dict)  # overrides of MGNConfig / HANConfig fields
    layout: dict[str, str] = field(default_factory=dict)  # overrides of LLPLayout fields (file and folder names)
    epochs: int = 40
    batch_size: int = 16  # global batch (split over the processes under torchrun)
    lr: float = 3e-4  # Adam learning rate
    weight_decay: float = 0.0
    lr_step_size: int = 10  # StepLR: multiply the lr by lr_gamma every lr_step_size epochs
    lr_gamma: float = 0.1
    seed: int = 1  # official: torch.manual_seed(1)
    audio_smoothing: float = 1.0  # a: audio target a*y + (1-a)/2 (official: no smoothing)
    visual_smoothing: float = 0.9  # v: visual target v*y + (1-v)/2 (official: 0.95 / 0.05)
    loss_global: float = 1.0  # weight of BCE(global_prob, y)
    loss_audio: float = 1.0  # weight of BCE(a_prob, P_a)
    loss_visual: float = 1.0  # weight of BCE(v_prob, P_v)
    loss_class_tokens: float = 1.0  # weight of MGN's class-token cross-entropy (ignored for HAN)
    contrastive: bool = False  # MA's audio-visual contrastive loss (C)
    contrastive_weight: float = 1.0  # MA: 1
    contrastive_temperature: float = 0.2  # MA: 0.2
    contrastive_smoothing: float = 0.1  # MA: 0.1
    refined_labels: str | None = None  # .npz from training.refine_labels (R): modality-aware targets
    refine_global_target: str = "keep"  # "keep": global target = weak label; "official": MA's aliasing (audio-
    #                                     removed classes also leave the global target)
    gate: str = "global"  # segment-prediction gate for validation / test: "global" (HAN, MGN) or "modality" (MA)
    eval_batch_size: int = 256
    amp: str = "none"  # "none" or "bf16" (autocast; for GPUs)
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    threads: int = 0  # torch CPU threads (0: torch's default)
    checkpoint_every: int = 0  # also save last.safetensors every N optimizer steps (0: at the end of each epoch only)
    cache_features: bool = True  # memory-mapped feature cache next to the data (fast second load)
    deterministic: bool = True  # torch.use_deterministic_algorithms on CPU: bit-reproducible runs

    def __post_init__(self) -> None:
        checks = {
            "model": self.model in ("mgn", "han"),
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 1,
            "lr": self.lr > 0,
            "lr_step_size": self.lr_step_size >= 1,
            "refine_global_target": self.refine_global_target in ("keep", "official"),
            "gate": self.gate in ("global", "modality"),
            "amp": self.amp in ("none", "bf16"),
            "eval_batch_size": self.eval_batch_size >= 1,
            "checkpoint_every": self.checkpoint_every >= 0,
            "threads": self.threads >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(", ".join(f"{name}={getattr(self, name)!r} is invalid" for name in bad))
        self.model_settings()  # validates model_config
        self.llp_layout()  # validates layout

    def model_settings(self) -> HANConfig | MGNConfig:
        """The model config dataclass (official defaults + ``model_config`` overrides)."""
        try:
            return config_from_dict(self.model, dict(self.model_config))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"model_config for {self.model!r}: {error}") from error

    def llp_layout(self) -> LLPLayout:
        known = {f.name for f in fields(LLPLayout)} - {"root"}
        unknown = sorted(set(self.layout) - known)
        if unknown:
            raise ConfigError(f"unknown layout field(s) {unknown}; expected a subset of {sorted(known)}")
        return LLPLayout(root=Path(self.data), **self.layout)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with the *resolved* model config (every field)."""
        values = asdict(self)
        values["model_config"] = asdict(self.model_settings())
        return values


_FIELD_TYPES = {f.name: f.type for f in fields(TrainConfig)}


def _coerce(name: str, value: Any) -> Any:
    """Check / convert an override value against the field's declared type."""
    declared = _FIELD_TYPES[name]
    if declared == "bool":
        if isinstance(value, bool):
            return value
    elif declared == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif declared == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif declared == "str":
        return str(value)
    elif declared == "str | None":
        return None if value is None else str(value)
    raise ConfigError(f"{name} must be of type {declared}, got {value!r}")


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: TrainConfig, overrides: dict[str, Any] | list[str]) -> TrainConfig:
    """A new config with ``overrides`` applied: a dict (from a file) or ``key=value`` strings (from the CLI).

    ``model.<field>`` / ``model_config.<field>`` set a model field and ``layout.<field>`` a layout field.
    """
    if isinstance(overrides, list):
        pairs: dict[str, Any] = {}
        for item in overrides:
            key, separator, text = item.partition("=")
            if not separator or not key:
                raise ConfigError(f"override {item!r} is not of the form key=value (e.g. lr=1e-3, model.dim=64)")
            pairs[key.strip()] = _parse_value(text.strip())
        overrides = pairs
    changes: dict[str, Any] = {}
    model_config = dict(config.model_config)
    layout = dict(config.layout)
    for key, value in overrides.items():
        head, _, tail = key.partition(".")
        if head in ("model", "model_config") and tail:
            model_config[tail] = value
        elif head == "layout" and tail:
            layout[tail] = str(value)
        elif key in ("model_config", "layout") and isinstance(value, dict):
            (model_config if key == "model_config" else layout).update(value)
        elif key in _FIELD_TYPES:
            changes[key] = _coerce(key, value)
        else:
            raise ConfigError(
                f"unknown setting {key!r}; known: {sorted(_FIELD_TYPES)} and model.<field>, layout.<field>"
            )
    return replace(config, **changes, model_config=model_config, layout=layout)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON (``.json``) or TOML (``.toml``) file, as a dict for :func:`apply_overrides`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        if path.suffix == ".toml":
            return tomllib.loads(path.read_text())
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {error}") from error
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected an object of settings at the top level")
    return values
