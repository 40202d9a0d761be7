from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mgn.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from mgn.models import HAN, MGN, HANConfig, MGNConfig
from mgn.models.weights import WeightsMismatchError


def _inputs(batch: int = 2):
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(batch, 10, 128, generator=generator),
        torch.rand(batch, 80, 2048, generator=generator),
        torch.rand(batch, 10, 512, generator=generator),
    )


@pytest.mark.parametrize(
    "model",
    [
        MGN(
            MGNConfig(
                dim=32, depth_aud=1, depth_vis=2, depth_av=1, unimodal_assign="hard", zero_init_class_tokens=False
            )
        ),
        HAN(HANConfig(dim=64, ffn_dim=32)),
    ],
    ids=["mgn", "han"],
)
def test_round_trip_rebuilds_the_same_model(tmp_path: Path, model: torch.nn.Module) -> None:
    path = save_checkpoint(tmp_path / "run" / "best.safetensors", model.eval(), metadata={"epoch": 7, "note": "x"})
    loaded = load_checkpoint(path)
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    torch.testing.assert_close(loaded(*_inputs()).global_prob, model(*_inputs()).global_prob, atol=0, rtol=0)
    checkpoint = read_checkpoint(path)
    assert checkpoint.metadata["format"] == CHECKPOINT_FORMAT
    assert json.loads(checkpoint.metadata["config"]) == json.loads(json.dumps(model.config.__dict__))
    assert checkpoint.metadata["epoch"] == "7" and checkpoint.metadata["note"] == "x"
    assert [p.name for p in path.parent.iterdir()] == ["best.safetensors"]  # no temporary file left behind


def test_extra_tensors_round_trip(tmp_path: Path) -> None:
    model = HAN(HANConfig(dim=16, ffn_dim=16))
    extra = {"optimizer/step": torch.tensor(12), "rng/torch": torch.arange(5, dtype=torch.uint8)}
    path = save_checkpoint(tmp_path / "last.safetensors", model, extra=extra)
    checkpoint = read_checkpoint(path)
    assert set(checkpoint.extra) == set(extra)
    assert all(torch.equal(checkpoint.extra[key], value) for key, value in extra.items())
    assert not any(key.startswith("extra/") for key in checkpoint.state_dict)


def test_reserved_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x.safetensors", HAN(HANConfig(dim=16, ffn_dim=16)), metadata={"arch": "mgn"})


def test_bad_checkpoints(tmp_path: Path) -> None:
    model = MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1))
    good = save_checkpoint(tmp_path / "good.safetensors", model)
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        load_checkpoint(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="holds a 'mgn' model, expected 'han'"):
        load_checkpoint(good, arch="han")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt.safetensors"):
        load_checkpoint(corrupt)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated.safetensors"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not an mgn checkpoint"):
        load_checkpoint(foreign)
    bad_config = tmp_path / "bad_config.safetensors"
    save_file(
        model.state_dict(),
        bad_config,
        metadata={"format": CHECKPOINT_FORMAT, "arch": "mgn", "config": json.dumps({"dim": 16, "width": 3})},
    )
    with pytest.raises(CheckpointError, match="width"):
        load_checkpoint(bad_config)
    missing_tensor = tmp_path / "missing_tensor.safetensors"
    state = dict(model.state_dict())
    del state["fc_prob.bias"]
    save_file(state, missing_tensor, metadata=read_checkpoint(good).metadata)
    with pytest.raises(WeightsMismatchError, match="fc_prob.bias"):
        load_checkpoint(missing_tensor)


def test_an_interrupted_save_leaves_the_previous_file_intact(tmp_path: Path, monkeypatch) -> None:
    """Saves write a temporary file and rename it: a crash (or kill) mid-save cannot corrupt the checkpoint."""
    import mgn.checkpoint as checkpoint_module

    model = HAN(HANConfig(dim=16, ffn_dim=16))
    path = save_checkpoint(tmp_path / "last.safetensors", model, metadata={"epoch": 1})
    before = path.read_bytes()

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise KeyboardInterrupt  # e.g. the user pressed Ctrl-C mid-save

    monkeypatch.setattr(checkpoint_module, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, metadata={"epoch": 2})
    assert path.read_bytes() == before and read_checkpoint(path).metadata["epoch"] == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]
