"""Importing official weights: conversions, config mapping, .pt files, and the errors for broken input."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from mgn.models import HAN, MGN, MGNConfig
from mgn.models.official import (
    OfficialWeightsError,
    from_official_state_dict,
    load_official_checkpoint,
    official_config,
    official_outputs,
)
from mgn.models.weights import WeightsMismatchError

SMALL_ARGS = {
    "dim": 32,
    "depth_aud": 1,
    "depth_vis": 1,
    "depth_av": 2,
    "unimodal_assign": "hard",
    "crossmodal_assign": "soft",
}


@pytest.fixture
def mgn_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return MGN(official_config("mgn", SMALL_ARGS)).state_dict()


def test_official_config_mapping() -> None:
    assert official_config("mgn", {}) == MGNConfig()
    config = official_config("mgn", {**SMALL_ARGS, "lr": 3e-4, "batch_size": 16, "mode": "train"})  # vars(args)
    assert (config.dim, config.depth_av, config.unimodal_assign) == (32, 2, "hard")
    with pytest.raises(ValueError, match="unknown official MGN argument"):
        official_config("mgn", {"dims": 128})
    with pytest.raises(ValueError, match="takes no arguments"):
        official_config("han", {"dim": 512})
    with pytest.raises(ValueError, match="unknown architecture"):
        official_config("avel", {})


def test_round_trip_through_official_state_dict(mgn_state, inputs) -> None:
    model = from_official_state_dict("mgn", mgn_state, SMALL_ARGS)
    assert not model.training
    assert all(torch.equal(model.state_dict()[key], value) for key, value in mgn_state.items())
    outputs = official_outputs(model, *inputs)
    assert outputs["a_frame_prob"].shape == (3, 10, 25) and outputs["aud_cls_prob"].shape == (25, 25)


def test_data_parallel_prefix_is_accepted(mgn_state) -> None:
    wrapped = {f"module.{key}": value for key, value in mgn_state.items()}
    model = from_official_state_dict("mgn", wrapped, SMALL_ARGS)
    assert torch.equal(model.fc_a.weight, mgn_state["fc_a.weight"])


def test_mismatches_are_listed_by_name(mgn_state) -> None:
    broken = dict(mgn_state)
    del broken["fc_cls.bias"]
    broken["extra_head.weight"] = torch.zeros(3)
    broken["fc_a.weight"] = torch.zeros(32, 64)
    with pytest.raises(WeightsMismatchError) as caught:
        from_official_state_dict("mgn", broken, SMALL_ARGS)
    message = str(caught.value)
    assert "missing keys (1): fc_cls.bias" in message
    assert "unexpected keys (1): extra_head.weight" in message
    assert "fc_a.weight: expected (32, 128), got (32, 64)" in message


def test_wrong_config_for_weights_is_reported(mgn_state) -> None:
    with pytest.raises(WeightsMismatchError, match="shape mismatches"):
        from_official_state_dict("mgn", mgn_state, {**SMALL_ARGS, "dim": 64})
    with pytest.raises(WeightsMismatchError, match="missing keys"):
        from_official_state_dict("mgn", mgn_state, {**SMALL_ARGS, "depth_av": 3})


def test_han_import_drops_unused_modules_only() -> None:
    torch.manual_seed(0)
    ours = HAN().state_dict()
    official = {key.replace("han_layer.", "hat_encoder.layers.0."): value for key, value in ours.items()}
    official["cmt_encoder.norm1.weight"] = torch.ones(512)  # a never-used module: dropped
    official["hat_encoder.norm2.bias"] = torch.zeros(512)  # the Encoder's unused norm: dropped
    model = from_official_state_dict("han", official, {})
    assert torch.equal(model.han_layer.cm_attn.in_proj_weight, ours["han_layer.cm_attn.in_proj_weight"])
    official["hat_encoder.layers.0.linear3.weight"] = torch.zeros(1)  # unknown: not silently dropped
    with pytest.raises(WeightsMismatchError, match="han_layer.linear3.weight"):
        from_official_state_dict("han", official, {})


def test_load_official_pt_file(tmp_path: Path, mgn_state, inputs) -> None:
    path = tmp_path / "MGN_Net.pt"
    torch.save(mgn_state, path)
    model = load_official_checkpoint(path, "mgn", SMALL_ARGS)
    reference = from_official_state_dict("mgn", mgn_state, SMALL_ARGS)
    torch.testing.assert_close(model(*inputs).global_prob, reference(*inputs).global_prob, atol=0, rtol=0)
    nested = tmp_path / "nested.pt"
    torch.save({"state_dict": mgn_state, "epoch": 3}, nested)
    assert isinstance(load_official_checkpoint(nested, "mgn", SMALL_ARGS), MGN)


class _Payload:  # an arbitrary object: weights_only loading must refuse to unpickle it
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_bad_official_files(tmp_path: Path, mgn_state) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_official_checkpoint(tmp_path / "missing.pt", "mgn", SMALL_ARGS)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x80\x04 not a checkpoint at all")
    with pytest.raises(OfficialWeightsError, match="corrupt.pt"):
        load_official_checkpoint(corrupt, "mgn", SMALL_ARGS)
    unsafe = tmp_path / "unsafe.pt"
    with unsafe.open("wb") as handle:
        pickle.dump({"fc_a.weight": _Payload()}, handle)
    with pytest.raises(OfficialWeightsError, match="unsafe.pt"):
        load_official_checkpoint(unsafe, "mgn", SMALL_ARGS)
    truncated = tmp_path / "truncated.pt"
    torch.save(mgn_state, truncated)
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(OfficialWeightsError, match="truncated.pt"):
        load_official_checkpoint(truncated, "mgn", SMALL_ARGS)
    not_a_dict = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], not_a_dict)
    with pytest.raises(OfficialWeightsError, match="does not hold a state_dict"):
        load_official_checkpoint(not_a_dict, "mgn", SMALL_ARGS)
    wrong_arch = tmp_path / "han_weights.pt"
    torch.save(HAN().state_dict(), wrong_arch)
    with pytest.raises(OfficialWeightsError, match="han_weights.pt"):
        load_official_checkpoint(wrong_arch, "mgn", SMALL_ARGS)
