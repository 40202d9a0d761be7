from __future__ import annotations

import json
import math
from pathlib import Path
from typing import get_args, get_type_hints

import pytest

from mgn.inference import Gate
from mgn.models import ARCHITECTURES, HANConfig, MGNConfig
from training.config import FIELD_RANGES, ConfigError, TrainConfig, apply_overrides, load_config_file
from training.train import build_config, parse_args


def test_defaults_are_the_official_recipe() -> None:
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.lr, config.weight_decay) == (40, 16, 3e-4, 0.0)
    assert (config.lr_step_size, config.lr_gamma, config.seed) == (10, 0.1, 1)
    assert (config.audio_smoothing, config.visual_smoothing) == (1.0, 0.9)
    assert (config.loss_global, config.loss_audio, config.loss_visual, config.loss_class_tokens) == (1, 1, 1, 1)
    assert not config.contrastive and config.gate == "global"
    assert config.model_settings() == MGNConfig()
    assert TrainConfig(model="han").model_settings() == HANConfig()


def test_overrides_with_types_and_nested_fields() -> None:
    config = apply_overrides(
        TrainConfig(),
        [
            "lr=1e-3",
            "epochs=5",
            "contrastive=true",
            "model.dim=64",
            "model.unimodal_assign=hard",
            "layout.audio_dir=feats/vgg",
            "gate=modality",
        ],
    )
    assert (config.lr, config.epochs, config.contrastive, config.gate) == (1e-3, 5, True, "modality")
    assert config.model_settings() == MGNConfig(dim=64, unimodal_assign="hard")
    assert config.llp_layout().feature_dir("audio").as_posix() == "data/feats/vgg"
    assert apply_overrides(TrainConfig(), ["lr=1"]).lr == 1.0  # an int where a float is expected is fine


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("epochs=2.5", "epochs must be int, got 2.5"),
        ("contrastive=yes", "contrastive must be bool, got 'yes'"),
        ("learning_rate=1", "unknown setting 'learning_rate'"),
        ("lr", "not of the form key=value"),
        ("model.width=3", "model_config"),
        ("model.unimodal_assign=gumbel", "unimodal_assign"),
        ("layout.feature_root=x", "unknown layout field"),
        ("gate=segment", "gate must be one of 'global', 'modality', got 'segment'"),
        ("amp=fp8", "amp must be one of 'none', 'bf16', got 'fp8'"),
        ("model=vit", "model='vit' is invalid: expected one of"),
        ("batch_size=0", r"batch_size=0 is invalid: expected an integer in \[1, 1000000\]"),
        ("threads=100000", r"threads=100000 is invalid: expected an integer in \[0, 1024\]"),
        ("threads=5000", r"threads=5000 is invalid"),
        ("threads=-1", r"threads=-1 is invalid"),
        ("epochs=0", r"epochs=0 is invalid: expected an integer in \[1, 100000\]"),
        ("eval_batch_size=10000000", "eval_batch_size=10000000 is invalid"),
        ("lr=0", "lr=0.0 is invalid: expected a finite number > 0"),
        ("lr=NaN", "lr=nan is invalid"),
        ("lr=Infinity", "lr=inf is invalid"),
        ("weight_decay=-1", "weight_decay=-1.0 is invalid: expected a finite number >= 0"),
        ("seed=-1", "seed=-1 is invalid"),
        ("visual_smoothing=1.5", r"visual_smoothing=1.5 is invalid: expected a finite number in \[0, 1\]"),
        ("contrastive_temperature=0", "contrastive_temperature=0.0 is invalid"),
        ("checkpoint_every=-5", "checkpoint_every=-5 is invalid"),
        ('out=""', "out='' is invalid: expected a non-empty string"),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(TrainConfig(), [override])


def test_several_bad_values_are_reported_together_and_direct_construction_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"epochs=0 is invalid.*; threads=5000 is invalid"):
        TrainConfig(epochs=0, threads=5000)
    with pytest.raises(ConfigError, match="batch_size='16' is invalid: expected int"):
        TrainConfig(batch_size="16")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="contrastive=1 is invalid: expected bool"):
        TrainConfig(contrastive=1)  # type: ignore[arg-type]


def test_every_numeric_setting_has_a_range_and_choices_come_from_the_registries() -> None:
    hints = get_type_hints(TrainConfig)
    numeric = {name for name, hint in hints.items() if hint in (int, float)}
    assert numeric == set(FIELD_RANGES)
    for name in numeric:  # the defaults are inside their own ranges
        assert FIELD_RANGES[name].accepts(getattr(TrainConfig(), name)), name
    assert not FIELD_RANGES["lr"].accepts(math.inf) and not FIELD_RANGES["lr"].accepts(math.nan)
    assert get_args(hints["gate"]) == get_args(Gate)
    for arch in ARCHITECTURES:  # every registered architecture is accepted, on the command line too
        assert TrainConfig(model=arch).model == arch
        assert parse_args(["--model", arch]).model == arch
    with pytest.raises(SystemExit):
        parse_args(["--model", "vit"])


def test_coercion_follows_the_type_hints() -> None:
    config = apply_overrides(TrainConfig(), ["lr=1", "out=2024", "refined_labels=null", "data=runs"])
    assert (config.lr, config.out, config.refined_labels, config.data) == (1.0, "2024", None, "runs")
    assert isinstance(config.lr, float)
    config = apply_overrides(TrainConfig(), {"refined_labels": "x.npz", "layout": {"audio_dir": 5}})
    assert config.refined_labels == "x.npz" and config.layout == {"audio_dir": "5"}
    with pytest.raises(ConfigError, match="layout must be a table"):
        apply_overrides(TrainConfig(), {"layout": "feats"})


def test_config_files_and_precedence(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('model = "han"\nepochs = 7\nlr = 1e-4\n[model_config]\nffn_dim = 256\n')
    args = parse_args(["--config", str(toml), "--data", "d", "--out", "o", "--contrastive", "epochs=9"])
    config = build_config(args)
    assert (config.model, config.epochs, config.lr, config.contrastive, config.data) == ("han", 9, 1e-4, True, "d")
    assert config.model_settings() == HANConfig(ffn_dim=256)
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps(config.to_dict()))
    assert (
        apply_overrides(TrainConfig(), load_config_file(as_json)).to_dict() == config.to_dict()
    )  # config.json reloads


def test_bad_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="it is a directory"):
        load_config_file(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "epochs": 3,\n  lr: 1\n}')
    with pytest.raises(ConfigError, match="broken.json: not valid JSON: .* at line 3, column 3"):
        load_config_file(broken)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="list.json: expected a JSON object"):
        load_config_file(listing)
    toml = tmp_path / "bad.toml"
    toml.write_text("epochs = \n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML: .*line 1"):
        load_config_file(toml)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="binary.json: cannot read it as UTF-8"):
        load_config_file(binary)
