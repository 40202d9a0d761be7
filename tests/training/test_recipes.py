"""Named recipes (``--recipe``): what they resolve to, precedence, errors, and the name in config.json and in the
checkpoints."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from mgn.checkpoint import read_checkpoint
from mgn.models import MGNConfig
from training import train as train_cli
from training.config import RECIPES, ConfigError, TrainConfig, apply_recipe
from training.train import build_config, parse_args

from .conftest import TINY_MGN

# The documented values of ``--recipe mgn-localise`` (README / docs/benchmarks.md): every other setting is official.
MGN_LOCALISE_MODEL = {"segment_head": True}
MGN_LOCALISE_TRAINING = {"lr_gamma": 1.0}  # a constant learning rate: no decay after 10 epochs


def _config(*argv: str) -> TrainConfig:
    return build_config(parse_args(["--data", "d", "--out", "o", *argv]))


def test_mgn_localise_resolves_to_the_documented_values() -> None:
    config = _config("--model", "mgn", "--recipe", "mgn-localise")
    assert config.recipe == "mgn-localise"
    assert config.model_settings() == MGNConfig(**MGN_LOCALISE_MODEL)
    expected = {**asdict(TrainConfig(data="d", out="o")), **MGN_LOCALISE_TRAINING, "recipe": "mgn-localise"}
    expected["model_config"] = MGN_LOCALISE_MODEL
    assert asdict(config) == expected
    assert _config("--recipe", "mgn-localise") == config  # the recipe names its architecture; mgn is the default
    assert RECIPES["mgn-localise"].model == "mgn"


def test_overrides_after_the_recipe_win() -> None:
    config = _config(
        "--model", "mgn", "--recipe", "mgn-localise", "lr_gamma=0.5", "model.segment_head=false", "model.dim=64"
    )
    assert config.recipe == "mgn-localise"  # the name records where the settings started
    assert config.lr_gamma == 0.5
    assert config.model_settings() == MGNConfig(dim=64, segment_head=False)
    assert _config("epochs=3", "--recipe", "mgn-localise").epochs == 3  # key=value may come before the flag too


def test_a_config_file_may_name_the_recipe_and_its_values_win(tmp_path: Path) -> None:
    settings = tmp_path / "run.toml"
    settings.write_text('recipe = "mgn-localise"\nlr_gamma = 0.3\n')
    config = _config("--config", str(settings))
    assert config.recipe == "mgn-localise" and config.lr_gamma == 0.3
    assert config.model_settings() == MGNConfig(**MGN_LOCALISE_MODEL)


def test_default_run_has_no_recipe() -> None:
    config = _config()
    assert config.recipe is None and config.to_dict()["recipe"] is None
    assert config.checkpoint_metadata() == {}
    assert _config("--recipe", "mgn-localise").checkpoint_metadata() == {"recipe": "mgn-localise"}
    refined = _config("--recipe", "mgn-localise", "--refined-labels", "runs/x/labels.npz")
    assert refined.checkpoint_metadata() == {"recipe": "mgn-localise", "refined_labels": "labels.npz"}
    assert _config("--contrastive").checkpoint_metadata() == {"contrastive": "true"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recipe", "mgn-fast"], "unknown recipe 'mgn-fast'; known recipes: 'mgn-localise'"),
        (["--model", "han", "--recipe", "mgn-localise"], "recipe 'mgn-localise' is for model 'mgn', not 'han'"),
        (["--recipe", "mgn-localise", "recipe=han-x"], "unknown recipe 'han-x'"),
    ],
)
def test_bad_recipe_is_one_clear_error(argv: list[str], message: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(*argv)
    assert train_cli.main(["--data", str(tmp_path), "--out", str(tmp_path / "run"), *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp_path / "run").exists()  # nothing written


def test_recipe_errors_outside_the_command_line() -> None:
    with pytest.raises(ConfigError, match="unknown recipe 'x'"):
        apply_recipe(TrainConfig(), "x")
    with pytest.raises(ConfigError, match="unknown recipe 'x'"):
        TrainConfig(recipe="x")


def test_resume_takes_no_recipe(tmp_path: Path, capsys) -> None:
    assert train_cli.main(["--resume", str(tmp_path), "--recipe", "mgn-localise"]) == 2
    assert "give no other settings" in capsys.readouterr().err


def test_recipe_travels_with_the_run_and_its_checkpoints(tiny_data: Path, tmp_path: Path) -> None:
    """config.json and both checkpoints name the recipe; the checkpoint rebuilds the same model config; a resumed
    run reads the same settings back."""
    run = tmp_path / "run"
    argv = ["--recipe", "mgn-localise", "--data", str(tiny_data), "--out", str(run), "--no-progress"]
    assert train_cli.main([*argv, "epochs=1", "batch_size=8", "threads=1", *TINY_MGN]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["recipe"] == "mgn-localise" and saved["lr_gamma"] == 1.0
    assert saved["model_config"]["segment_head"] is True and saved["model_config"]["zero_init_class_tokens"] is True
    expected = build_config(parse_args([*argv, "epochs=1", "batch_size=8", "threads=1", *TINY_MGN]))
    for name in ("best.safetensors", "last.safetensors"):
        checkpoint = read_checkpoint(run / name, arch="mgn")
        assert checkpoint.metadata["recipe"] == "mgn-localise"
        assert checkpoint.config == expected.model_settings()
        assert checkpoint.build_model().config.segment_head
    assert train_cli._resume_config(run).to_dict() == expected.to_dict()
