"""Our ResNet-152, R(2+1)D-18 and VGGish have the reference state_dict layout and reproduce the reference outputs
(``../shared/reference/backbones``: torchvision 0.29.1 and torchvggish 0.2 run on deterministic stand-in weights)."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch
from safetensors import safe_open

from mgn.extract.backbones import BACKBONES, build, expected_shapes

RTOL = 1e-4  # relative to the largest reference value (the fixtures' README: relative 1e-4, float32)
# name -> (fixture input key, fixture output key)
FIXTURE_KEYS = {
    "resnet152": ("input", "output"),
    "r2plus1d_18": ("input", "output"),
    "vggish": ("examples", "embedding"),
}


@pytest.fixture(scope="module")
def backbones_dir(reference_dir: Path) -> Path:
    path = reference_dir / "backbones"
    if not path.is_dir():
        message = f"{path} not found: the backbone fixtures are only present beside the project checkout"
        if os.environ.get("MGN_REQUIRE_SHARED") == "1":
            pytest.fail(message + " (MGN_REQUIRE_SHARED=1)")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def weights_rule(backbones_dir: Path) -> ModuleType:
    """``weights_rule.py`` beside the fixtures, imported by path (it is not part of any package)."""
    spec = importlib.util.spec_from_file_location("backbone_weights_rule", backbones_dir / "weights_rule.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _fixture(backbones_dir: Path, name: str) -> tuple[dict[str, torch.Tensor], dict[str, tuple[int, ...]], int]:
    """Tensors, the reference ``{key: shape}`` table and the weights seed of ``<name>.safetensors``."""
    with safe_open(backbones_dir / f"{name}.safetensors", framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    shapes = {key: tuple(shape) for key, shape in json.loads(metadata["shapes"]).items()}
    return tensors, shapes, int(metadata["seed"])


@pytest.mark.parametrize("name", sorted(FIXTURE_KEYS))
def test_state_dict_layout_is_the_reference_one(backbones_dir: Path, name: str) -> None:
    _, reference, _ = _fixture(backbones_dir, name)
    dropped = BACKBONES[name].dropped_keys
    assert set(dropped) <= reference.keys()  # the classifier we drop is really in the published layout
    assert expected_shapes(name) == {key: shape for key, shape in reference.items() if key not in dropped}


@pytest.mark.parametrize("name", sorted(FIXTURE_KEYS))
def test_outputs_match_reference(backbones_dir: Path, weights_rule: ModuleType, two_threads: None, name: str) -> None:
    tensors, shapes, seed = _fixture(backbones_dir, name)
    model = build(name, weights_rule.rule_state_dict(shapes, seed))  # the full reference dict, classifier included
    assert not model.training
    input_key, output_key = FIXTURE_KEYS[name]
    inputs = tensors[input_key]
    if name == "vggish":
        inputs = inputs[:, None].float()  # (B, 96, 64) float64 log-mel examples -> (B, 1, 96, 64) float32
    reference = tensors[output_key]
    with torch.no_grad():
        output = model(inputs)
    assert output.shape == reference.shape == (inputs.shape[0], BACKBONES[name].out_features)
    torch.testing.assert_close(output, reference, rtol=RTOL, atol=RTOL * reference.abs().max().item())


def _empty_state_dict(name: str) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape) for key, shape in expected_shapes(name).items()}


def test_build_names_missing_unexpected_and_misshaped_keys() -> None:
    state = _empty_state_dict("vggish")
    del state["embeddings.4.bias"]
    state["embeddings.6.weight"] = torch.empty(3)
    state["features.0.weight"] = torch.empty(64, 3, 3, 3)
    with pytest.raises(ValueError, match=r"^vggish: .*") as caught:
        build("vggish", state)
    message = str(caught.value)
    assert "missing keys: embeddings.4.bias" in message
    assert "unexpected keys: embeddings.6.weight" in message
    assert "features.0.weight (64, 3, 3, 3) (expected (64, 1, 3, 3))" in message


def test_build_drops_only_the_classifier() -> None:
    state = _empty_state_dict("vggish")
    state["fc.weight"] = torch.empty(1000, 2048)  # only ResNet / R(2+1)D files carry a classifier
    with pytest.raises(ValueError, match=r"vggish: .*unexpected keys: fc\.weight"):
        build("vggish", state)


def test_build_rejects_unknown_names_and_non_tensors() -> None:
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet50'.*r2plus1d_18.*resnet152.*vggish"):
        build("resnet50", {})
    state = _empty_state_dict("vggish")
    state["features.0.bias"] = [0.0] * 64
    with pytest.raises(ValueError, match=r"vggish: state_dict values must be tensors; not for features\.0\.bias"):
        build("vggish", state)
