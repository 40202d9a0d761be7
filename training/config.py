"""The training configuration: one frozen dataclass whose defaults are the official HAN / MGN recipes.

A run is configured in layers, later ones winning: the defaults below, an optional named recipe (``--recipe NAME``,
one of :data:`RECIPES`: a documented set of values that departs from the official recipe), an optional ``--config
FILE`` (JSON or TOML with the same keys; model and layout fields in ``model_config`` / ``layout`` tables), and
``key=value`` overrides on the command line (``lr=1e-3``, ``epochs=5``, ``model.dim=64``,
``layout.audio_dir=feats/vggish``).
Values are parsed as JSON where possible (``true``, ``3``, ``"x"``), else taken as strings, and checked against the
field's type hint (``int``, ``float``, ``bool``, ``str``, ``Literal[...]``, ``... | None``) and, for numbers, against
the field's accepted range (:data:`FIELD_RANGES`).
"""

from __future__ import annotations

import json
import math
import tomllib
import types
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from mgn.data.llp import LLPLayout
from mgn.inference import Gate
from mgn.models import ARCHITECTURES, HANConfig, MGNConfig, config_from_dict
from mgn.provenance import training_metadata

__all__ = [
    "FIELD_RANGES",
    "RECIPES",
    "ConfigError",
    "Range",
    "Recipe",
    "TrainConfig",
    "apply_overrides",
    "apply_recipe",
    "load_config_file",
    "parse_json_object",
]

Amp = Literal["none", "bf16"]
GlobalTarget = Literal["keep", "official"]


class ConfigError(ValueError):
    """A training configuration value, file or override is invalid."""


@dataclass(frozen=True)
class Range:
    """The accepted values of a numeric setting: finite, ``low <= value <= high`` (``low < value`` if ``open_low``)."""

    low: float
    high: float = math.inf
    open_low: bool = False

    def accepts(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return math.isfinite(value) and above and value <= self.high

    def describe(self) -> str:
        """e.g. ``in [0, 1024]``, ``> 0``, ``>= 1``."""
        if self.high == math.inf:
            return f"{'>' if self.open_low else '>='} {_number(self.low)}"
        return f"in {'(' if self.open_low else '['}{_number(self.low)}, {_number(self.high)}]"


def _number(value: float) -> str:
    """A bound as written by hand: 1000000, not 1e+06."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


_POSITIVE = Range(0.0, open_low=True)
_NON_NEGATIVE = Range(0.0)
_FRACTION = Range(0.0, 1.0)
_COUNT = Range(1, 1_000_000)  # batch sizes: far above any that fits in memory

# Every int / float field of TrainConfig has a range (a test checks it). Bounds far beyond any useful setting, but
# small enough that a typo cannot crash or hang the process (torch.set_num_threads(100000) segfaults).
FIELD_RANGES: dict[str, Range] = {
    "epochs": Range(1, 100_000),
    "batch_size": _COUNT,
    "eval_batch_size": _COUNT,
    "lr": _POSITIVE,
    "weight_decay": _NON_NEGATIVE,
    "lr_step_size": Range(1, 1_000_000),
    "lr_gamma": _POSITIVE,
    "seed": Range(0, 2**32 - 1),  # the epoch order generator is seeded with seed * 100003 + epoch (< 2**64)
    "audio_smoothing": _FRACTION,
    "visual_smoothing": _FRACTION,
    "loss_global": _NON_NEGATIVE,
    "loss_audio": _NON_NEGATIVE,
    "loss_visual": _NON_NEGATIVE,
    "loss_class_tokens": _NON_NEGATIVE,
    "contrastive_weight": _NON_NEGATIVE,
    "contrastive_temperature": _POSITIVE,
    "contrastive_smoothing": Range(0.0, 0.9),  # < (T - 1) / T: the true segment stays the most likely target
    "threads": Range(0, 1024),
    "checkpoint_every": Range(0, 10**12),
}


@dataclass(frozen=True)
class Recipe:
    """A named, documented set of settings that departs from the official defaults.

    Attributes:
        name: what ``--recipe`` takes and what config.json and the checkpoints record.
        model: the architecture it is for.
        summary: one line on what it changes and why.
        settings: TrainConfig fields and model fields (``model.<field>``), as :func:`apply_overrides` takes them.
    """

    name: str
    model: str
    summary: str
    settings: dict[str, Any]


RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="mgn-localise",
            model="mgn",
            summary="MGN whose segment predictions vary within a clip, and that learns on small data",
            settings={
                "model.segment_head": True,  # HAN's segment read-out per modality (see mgn.models.mgn)
                "lr_gamma": 1.0,  # a constant learning rate: no decay after 10 epochs
            },
        ),
    )
}


@dataclass(frozen=True)
class TrainConfig:
    """Every hyper-parameter of a run. Defaults: the official recipes (REFERENCE.md 3.5, 4.6)."""

    model: str = "mgn"  # architecture: a name of mgn.models.ARCHITECTURES ("mgn" or "han")
    recipe: str | None = None  # the named recipe (RECIPES) the settings started from; None: the official one
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
    refine_global_target: GlobalTarget = "keep"  # "keep": global target = weak label; "official": MA's aliasing
    #                                              (audio-removed classes also leave the global target)
    gate: Gate = "global"  # segment-prediction gate for validation / test: "global" (HAN, MGN) or "modality" (MA)
    eval_batch_size: int = 256
    amp: Amp = "none"  # "none" or "bf16" (autocast; for GPUs)
    device: str = "auto"  # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    threads: int = 0  # torch CPU threads (0: torch's default)
    checkpoint_every: int = 0  # also save last.safetensors every N optimizer steps (0: at the end of each epoch only)
    cache_features: bool = True  # memory-mapped feature cache (fast second load)
    feature_cache_dir: str = ""  # the cache's folder; "": <data>/.mgn_cache, or the user cache folder if data is
    #                              read-only (see mgn.data.llp.default_cache_dirs)
    deterministic: bool = True  # torch.use_deterministic_algorithms on CPU: bit-reproducible runs

    def __post_init__(self) -> None:
        problems = [problem for spec in fields(self) if (problem := _check_field(self, spec.name))]
        if problems:
            raise ConfigError("; ".join(problems))
        self.model_settings()  # validates model_config
        self.llp_layout()  # validates layout

    def model_settings(self) -> HANConfig | MGNConfig:
        """The model config dataclass (official defaults + ``model_config`` overrides)."""
        try:
            return config_from_dict(self.model, dict(self.model_config))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"model_config for {self.model!r}: {error}") from error

    def llp_layout(self) -> LLPLayout:
        """Where the data lives: ``data`` as the root, with the ``layout`` overrides."""
        known = {f.name for f in fields(LLPLayout)} - {"root"}
        unknown = sorted(set(self.layout) - known)
        if unknown:
            raise ConfigError(f"unknown layout field(s) {unknown}; expected a subset of {sorted(known)}")
        return LLPLayout(root=Path(self.data), **self.layout)

    def checkpoint_metadata(self) -> dict[str, str]:
        """What the run's checkpoints record about its settings beyond the model config (:mod:`mgn.provenance`):
        the recipe, and MA's contrastive loss and refined labels where used."""
        return training_metadata(self.recipe, self.contrastive, self.refined_labels)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, with the *resolved* model config (every field)."""
        values = asdict(self)
        values["model_config"] = asdict(self.model_settings())
        return values


_HINTS: dict[str, Any] = get_type_hints(TrainConfig)
_CHOICES: dict[str, tuple[str, ...]] = {"model": tuple(ARCHITECTURES)}  # choices that are not Literal hints
_NON_EMPTY = ("data", "out", "device")


def _describe(hint: Any) -> str:
    """A type hint in words: ``int``, ``one of 'none', 'bf16'``, ``str or null``."""
    if get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(hint))
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join("null" if arg is type(None) else _describe(arg) for arg in get_args(hint))
    origin = get_origin(hint) or hint
    return "a table (dict)" if origin is dict else getattr(origin, "__name__", str(hint))


def _matches(hint: Any, value: Any) -> bool:
    """Whether ``value`` is of type ``hint`` (bool is not an int; an int is a float)."""
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint) and isinstance(value, str)
    if origin in (Union, types.UnionType):
        return any(_matches(arg, value) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is dict:
        key_type, value_type = get_args(hint)
        return isinstance(value, dict) and all(
            isinstance(key, key_type) and (value_type is Any or isinstance(item, value_type))
            for key, item in value.items()
        )
    return isinstance(value, hint)


def _check_field(config: TrainConfig, name: str) -> str | None:
    """What is wrong with one field of ``config``, or None."""
    value, hint = getattr(config, name), _HINTS[name]
    if not _matches(hint, value):
        return f"{name}={value!r} is invalid: expected {_describe(hint)}"
    if name in _CHOICES and value not in _CHOICES[name]:
        return f"{name}={value!r} is invalid: expected one of {', '.join(map(repr, _CHOICES[name]))}"
    if name in FIELD_RANGES and not FIELD_RANGES[name].accepts(value):
        kind = "an integer" if hint is int else "a finite number"
        return f"{name}={value!r} is invalid: expected {kind} {FIELD_RANGES[name].describe()}"
    if name in _NON_EMPTY and not value:
        return f"{name}={value!r} is invalid: expected a non-empty string"
    if name == "recipe" and value is not None:
        if value not in RECIPES:
            return _unknown_recipe(value)
        if RECIPES[value].model != config.model:
            return f"recipe {value!r} is for model {RECIPES[value].model!r}, not {config.model!r}"
    return None


def _unknown_recipe(name: Any) -> str:
    return f"unknown recipe {name!r}; known recipes: {', '.join(map(repr, RECIPES))}"


def apply_recipe(config: TrainConfig, name: str) -> TrainConfig:
    """``config`` with the settings of recipe ``name`` (and ``model`` and ``recipe`` set to it).

    Raises:
        ConfigError: an unknown recipe, naming the known ones.
    """
    recipe = RECIPES.get(name)
    if recipe is None:
        raise ConfigError(_unknown_recipe(name))
    return apply_overrides(config, {"model": recipe.model, "recipe": recipe.name, **recipe.settings})


def _coerce(name: str, value: Any) -> Any:
    """Convert an override value to the field's type where that is lossless (int -> float, scalar -> str)."""
    hint = _HINTS[name]
    accepts_none = get_origin(hint) in (Union, types.UnionType) and type(None) in get_args(hint)
    if value is None and accepts_none:
        return None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if str in (hint, *get_args(hint)) and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # out=2024, data=3: JSON parsed them as numbers
    if not _matches(hint, value):
        raise ConfigError(f"{name} must be {_describe(hint)}, got {value!r}")
    return value


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(config: TrainConfig, overrides: dict[str, Any] | list[str]) -> TrainConfig:
    """A new config with ``overrides`` applied: a dict (from a file) or ``key=value`` strings (from the CLI).

    ``model.<field>`` / ``model_config.<field>`` set a model field and ``layout.<field>`` a layout field.

    Raises:
        ConfigError: naming the setting and what was expected.
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
        elif key in ("model_config", "layout"):
            if not isinstance(value, dict):
                raise ConfigError(f"{key} must be a table of fields, got {value!r}")
            if key == "model_config":
                model_config.update(value)
            else:
                layout.update({name: str(entry) for name, entry in value.items()})
        elif key in _HINTS:
            changes[key] = _coerce(key, value)
        else:
            raise ConfigError(f"unknown setting {key!r}; known: {sorted(_HINTS)} and model.<field>, layout.<field>")
    return replace(config, **changes, model_config=model_config, layout=layout)


def parse_json_object(text: str, source: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object; ``source`` (a file or a flag) is named in errors, with line and column.

    Raises:
        ConfigError: not valid JSON, or not an object.
    """
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        position = f"line {error.lineno}, column {error.colno}"
        raise ConfigError(f"{source}: not valid JSON: {error.msg} at {position}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{source}: expected a JSON object ({{...}}) at the top level, found {type(values).__name__}")
    return values


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON (``.json``) or TOML (``.toml``) file, as a dict for :func:`apply_overrides`.

    Raises:
        ConfigError: missing, unreadable or invalid file, naming it (and the line of a syntax error).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read it as UTF-8 text: {error}") from None
    if path.suffix != ".toml":
        return parse_json_object(text, str(path))
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
