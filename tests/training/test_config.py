from __future__ import annotations

import json
from pathlib import Path

import pytest

from mgn.models import HANConfig, MGNConfig
from training.config import ConfigError, TrainConfig, apply_overrides, load_config_file
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
        ("epochs=2.5", "epochs must be of type int"),
        ("contrastive=yes", "contrastive must be of type bool"),
        ("learning_rate=1", "unknown setting 'learning_rate'"),
        ("lr", "not of the form key=value"),
        ("model.width=3", "model_config"),
        ("model.unimodal_assign=gumbel", "unimodal_assign"),
        ("layout.feature_root=x", "unknown layout field"),
        ("gate=segment", "gate='segment' is invalid"),
        ("batch_size=0", "batch_size=0 is invalid"),
        ("amp=fp8", "amp='fp8' is invalid"),
    ],
)
def test_bad_overrides(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(TrainConfig(), [override])


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
    broken = tmp_path / "broken.json"
    broken.write_text("{epochs: 3")
    with pytest.raises(ConfigError, match="broken.json: not valid JSON"):
        load_config_file(broken)
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="object of settings"):
        load_config_file(listing)
