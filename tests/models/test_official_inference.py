"""Official .pt files that do not say what they hold: the architecture and the MGN arguments are read off the
weights; the dtype rule; and the errors for files that are of neither architecture, or of both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from mgn.checkpoint import load_any_checkpoint
from mgn.models import HAN, MGN, HANConfig
from mgn.models.official import (
    OfficialWeightsError,
    infer_official_arch_and_config,
    load_official_checkpoint,
    official_config,
    official_outputs,
)

ATOL, RTOL = 1e-5, 1e-4
FIXTURES = {"mgn_small_soft": "mgn", "mgn_small_hard": "mgn", "han_default": "han"}
_DEPTH_AND_WIDTH = ("dim", "depth_aud", "depth_vis", "depth_av")


def _official_han_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Our default HAN's weights under the official MMIL_Net keys, with one of its never-used modules."""
    torch.manual_seed(seed)
    ours = HAN().state_dict()
    official = {key.replace("han_layer.", "hat_encoder.layers.0."): value for key, value in ours.items()}
    official["cmt_encoder.norm1.weight"] = torch.ones(512)
    return official


def _mgn_state(**args) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return MGN(official_config("mgn", args)).state_dict()


def _save(path: Path, state: dict) -> Path:
    torch.save(state, path)
    return path


def _fixture(fixtures_dir: Path, name: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict]:
    path = fixtures_dir / f"{name}.safetensors"
    with safe_open(path, framework="pt") as handle:
        config = json.loads(handle.metadata()["config"])
    tensors = load_file(path)
    state = {key.removeprefix("state."): value for key, value in tensors.items() if key.startswith("state.")}
    return state, tensors, config


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_infers_the_official_fixtures(fixtures_dir: Path, name: str) -> None:
    state, _, config = _fixture(fixtures_dir, name)
    arch, inferred = infer_official_arch_and_config(state)
    assert arch == FIXTURES[name]
    assert inferred == ({key: config[key] for key in _DEPTH_AND_WIDTH} if arch == "mgn" else {})


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_pt_file_without_arch_reproduces_the_official_outputs(tmp_path: Path, fixtures_dir: Path, name: str) -> None:
    """Only what the weights cannot show (MGN's assignment modes) is given; width, depths and architecture are read
    off the file, and the model still matches the official code to 1e-5."""
    torch.set_num_threads(2)
    state, tensors, config = _fixture(fixtures_dir, name)
    path = _save(tmp_path / f"{name}.pt", state)
    modes = {key: config[key] for key in ("unimodal_assign", "crossmodal_assign") if key in config}
    model = load_any_checkpoint(path, official_config=modes)
    assert isinstance(model, MGN if FIXTURES[name] == "mgn" else HAN) and not model.training
    outputs = official_outputs(model, tensors["input.audio"], tensors["input.visual"], tensors["input.visual_st"])
    for key, value in outputs.items():
        torch.testing.assert_close(value, tensors[f"output.{key}"], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize(
    "args",
    [
        {"dim": 48, "depth_aud": 2, "depth_vis": 1, "depth_av": 4},
        {"dim": 16, "depth_aud": 1, "depth_vis": 3, "depth_av": 1, "unimodal_assign": "hard"},
        {},  # the official defaults: 128, 3 / 3 / 6
    ],
)
def test_infers_mgn_width_and_depths(tmp_path: Path, args: dict) -> None:
    state = _mgn_state(**args)
    expected = {key: getattr(official_config("mgn", args), key) for key in _DEPTH_AND_WIDTH}
    assert infer_official_arch_and_config(state) == ("mgn", expected)
    wrapped = {f"module.{key}": value for key, value in state.items()}  # saved from nn.DataParallel
    assert infer_official_arch_and_config(wrapped) == ("mgn", expected)
    model = load_official_checkpoint(_save(tmp_path / "MGN_Net.pt", state), config={"unimodal_assign": "hard"})
    assert all(getattr(model.config, key) == value for key, value in expected.items())
    assert model.config.unimodal_assign == "hard"
    assert all(torch.equal(model.state_dict()[key], value) for key, value in state.items())


def test_infers_han_under_official_and_our_keys(tmp_path: Path) -> None:
    official = _official_han_state()
    assert infer_official_arch_and_config(official) == ("han", {})
    torch.manual_seed(0)
    ours = HAN().state_dict()
    assert infer_official_arch_and_config(ours) == ("han", {})
    model = load_official_checkpoint(_save(tmp_path / "MMIL_Net.pt", official))
    assert isinstance(model, HAN)
    assert torch.equal(model.han_layer.cm_attn.in_proj_weight, official["hat_encoder.layers.0.cm_attn.in_proj_weight"])


def _assert_names_the_file_and_no_flag(message: str, path: Path) -> None:
    assert str(path) in message
    assert not re.search(r"(^|\s)--?[a-z]", message), message  # shown by several command lines and the web app


def test_mixed_state_dict_is_ambiguous(tmp_path: Path) -> None:
    mixed = {**_official_han_state(), **_mgn_state(dim=16, depth_aud=1, depth_vis=1, depth_av=1)}
    with pytest.raises(OfficialWeightsError, match="mixes MGN and HAN weights: it has MGN_Net keys"):
        infer_official_arch_and_config(mixed)
    path = _save(tmp_path / "mixed.pt", mixed)
    with pytest.raises(OfficialWeightsError) as caught:
        load_any_checkpoint(path)
    _assert_names_the_file_and_no_flag(str(caught.value), path)
    assert "MMIL_Net keys (fc_frame_att.weight" in str(caught.value)


@pytest.mark.parametrize("state", [{"encoder.weight": torch.zeros(2, 2), "head.bias": torch.zeros(2)}, {}])
def test_unknown_state_dict(tmp_path: Path, state: dict) -> None:
    path = _save(tmp_path / "foreign.pt", state)
    with pytest.raises(OfficialWeightsError) as caught:
        load_any_checkpoint(path)
    message = str(caught.value)
    _assert_names_the_file_and_no_flag(message, path)
    assert "is not a HAN or MGN state_dict" in message
    assert "MGN_Net (audio_token, visual_token, audio_cug.*, ...)" in message and "MMIL_Net (fc_frame_att.*" in message
    if state:
        assert "its 2 key(s) (encoder.weight, head.bias) include none of" in message


def test_explicit_arch_with_unrecognisable_weights_lists_the_keys(tmp_path: Path) -> None:
    path = _save(tmp_path / "foreign.pt", {"encoder.weight": torch.zeros(2, 2)})
    with pytest.raises(OfficialWeightsError, match=r"(?s)foreign.pt: .*missing keys .*unexpected keys \(1\): encoder"):
        load_official_checkpoint(path, "mgn")


def test_explicit_arch_of_the_other_model(tmp_path: Path) -> None:
    path = _save(tmp_path / "weights.pt", _mgn_state(dim=16, depth_aud=1, depth_vis=1, depth_av=1))
    with pytest.raises(
        OfficialWeightsError, match=r"weights.pt holds MGN weights \(official MGN_Net keys\), expected HAN"
    ):
        load_any_checkpoint(path, "han")


def test_explicit_config_that_disagrees_with_the_weights(tmp_path: Path) -> None:
    path = _save(tmp_path / "MGN_Net.pt", _mgn_state(dim=48, depth_aud=2, depth_vis=1, depth_av=4))
    with pytest.raises(OfficialWeightsError, match=r"(?s)mismatches .*fc_a.weight: expected \(64, 128\), got \(48"):
        load_any_checkpoint(path, official_config={"dim": 64})
    with pytest.raises(OfficialWeightsError, match=r"(?s)MGN_Net.pt: .*missing keys \(12\): av_mcg.blocks.4"):
        load_official_checkpoint(path, "mgn", {"depth_av": 5})
    with pytest.raises(OfficialWeightsError, match=r"MGN_Net.pt: .*MGNConfig.depth_av=500 is outside"):
        load_official_checkpoint(path, "mgn", {"depth_av": 500})


def test_official_arguments_are_bounded() -> None:
    with pytest.raises(ValueError, match=r"MGNConfig.dim=200000 is outside the accepted range"):
        official_config("mgn", {"dim": 200_000})
    with pytest.raises(ValueError, match="depth_av=100000"):
        official_config("mgn", {"depth_av": 100_000})
    assert official_config("han", None) == HANConfig()


def test_integer_weights_in_pt_are_refused(tmp_path: Path) -> None:
    state = _mgn_state(dim=16, depth_aud=1, depth_vis=1, depth_av=1)
    state["fc_cls.bias"] = torch.zeros(25, dtype=torch.int64)
    path = _save(tmp_path / "ints.pt", state)
    with pytest.raises(
        OfficialWeightsError, match=r"ints.pt: model weights must be floating point.*'fc_cls.bias' is int64"
    ):
        load_official_checkpoint(path)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_floating_pt_weights_are_converted_with_one_warning(tmp_path: Path, dtype: torch.dtype) -> None:
    state = _mgn_state(dim=16, depth_aud=1, depth_vis=1, depth_av=1)
    path = _save(tmp_path / "half.pt", {key: value.to(dtype) for key, value in state.items()})
    with pytest.warns(UserWarning) as caught:
        model = load_official_checkpoint(path)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith(f"{path}: {len(state)} of {len(state)} weight tensors are stored as ")
    assert message.endswith("converted to float32")
    assert all(value.dtype == torch.float32 for value in model.state_dict().values())
    assert torch.equal(model.fc_a.weight, state["fc_a.weight"].to(dtype).float())
