"""The feature pipeline on the real networks (deterministic stand-in weights, ``../shared/reference/backbones``): the
fused CPU backbones reproduce the reference outputs, a clip gives the official layout deterministically, repeated
rows are computed once, and bf16 stays close to fp32."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from safetensors import safe_open

from mgn.extract import backbones
from mgn.extract.pipeline import NETWORKS, ExtractorConfig, FeatureExtractor, _bf16_supported_on_cpu, prepare_inputs
from mgn.extract.weights import PCAParams

from .standins import standin_extractor

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_VIDEO = REPO_ROOT / "assets" / "demo" / "video" / "05B9bTFLYXp.mp4"
FIXTURE_KEYS = {
    "resnet152": ("input", "output"),
    "r2plus1d_18": ("input", "output"),
    "vggish": ("examples", "embedding"),
}

needs_fusion = pytest.mark.skipif(not backbones.cpu_fusion_available(), reason="this torch has no oneDNN fused convs")


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
def two_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def fixtures(backbones_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Each backbone's reference tensors (input, output, VGGish's PCA)."""
    result = {}
    for name in NETWORKS:
        with safe_open(backbones_dir / f"{name}.safetensors", framework="pt") as handle:
            result[name] = {key: handle.get_tensor(key) for key in handle.keys()}
    return result


@pytest.fixture(scope="module")
def state_dicts(backbones_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The reference state_dicts (classifiers included) of the stand-in weights the fixtures were made with."""
    spec = importlib.util.spec_from_file_location("backbone_weights_rule", backbones_dir / "weights_rule.py")
    rule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rule)
    result = {}
    for name in NETWORKS:
        with safe_open(backbones_dir / f"{name}.safetensors", framework="pt") as handle:
            metadata = handle.metadata()
        shapes = {key: tuple(shape) for key, shape in json.loads(metadata["shapes"]).items()}
        result[name] = rule.rule_state_dict(shapes, int(metadata["seed"]))
    return result


@pytest.fixture(scope="module")
def pca(fixtures: dict[str, dict[str, torch.Tensor]]) -> PCAParams:
    return PCAParams(fixtures["vggish"]["pca_eigen_vectors"].float(), fixtures["vggish"]["pca_means"].float())


@pytest.fixture(scope="module")
def extractor(state_dicts, pca: PCAParams, two_threads: None) -> FeatureExtractor:
    return FeatureExtractor.from_state_dicts(state_dicts, pca, ExtractorConfig(device="cpu"))


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first second of a demo video (8 frames at 8 fps: the 80 frames repeat each one ten times)."""
    path = tmp_path_factory.mktemp("clip") / "short.mp4"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(DEMO_VIDEO), "-t", "1"]
    subprocess.run([*command, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    return path


def _fixture_input(fixtures, name: str) -> torch.Tensor:
    tensor = fixtures[name][FIXTURE_KEYS[name][0]]
    return tensor[:, None].float() if name == "vggish" else tensor  # VGGish: (B, 96, 64) float64 -> (B, 1, 96, 64)


def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


@pytest.mark.slow
@needs_fusion
@pytest.mark.parametrize("name", NETWORKS)
def test_fused_backbones_reproduce_the_reference(extractor, fixtures, name: str) -> None:
    fused = extractor.networks[name]
    assert not isinstance(fused, backbones.BACKBONES[name].make)  # the fused copy runs, not the plain module
    reference = fixtures[name][FIXTURE_KEYS[name][1]]
    with torch.inference_mode():
        output = fused(_fixture_input(fixtures, name))
    # the reference tolerance is relative 1e-4; folding BatchNorm changes only float32 rounding, far below it
    torch.testing.assert_close(output, reference, rtol=1e-5, atol=1e-5 * reference.abs().max().item())


@pytest.mark.slow
@needs_fusion
def test_fused_weights_reordered_for_a_shape_give_the_same_numbers(extractor) -> None:
    """A batch of 8 runs on weights reordered once for its shape (and kept); batches of 4 on the plain weights."""
    rng = np.random.default_rng(2)
    items = {"vggish": (1, 96, 64), "resnet152": (3, 32, 32), "r2plus1d_18": (3, 8, 16, 16)}  # small images, clips
    for name, item in items.items():
        fused = extractor.networks[name]
        x = torch.from_numpy(rng.standard_normal((8, *item)).astype(np.float32))
        with torch.inference_mode():
            whole = fused(x)
            halves = torch.cat([fused(x[:4]), fused(x[4:])])
        first = next(module for module in fused.modules() if hasattr(module, "packed"))
        assert (tuple(x.shape), torch.get_num_threads()) in first.packed, name
        assert all(key[0][0] >= 8 for key in first.packed), name  # batches of 4 were not reordered for
        torch.testing.assert_close(whole, halves, rtol=1e-5, atol=1e-5 * whole.abs().max().item())


def test_fuse_for_cpu_refuses_other_modules_and_training_mode() -> None:
    if not backbones.cpu_fusion_available():
        with pytest.raises(RuntimeError, match="no oneDNN"):
            backbones.fuse_for_cpu(torch.nn.Linear(2, 2))
        return
    with pytest.raises(TypeError, match="expected a ResNet152, R2Plus1D18 or VGGish, found Linear"):
        backbones.fuse_for_cpu(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="training mode"):
        backbones.fuse_for_cpu(backbones.VGGish().train())


def test_repeated_rows_are_computed_once_and_put_back() -> None:
    extractor = standin_extractor()
    calls = []
    network = extractor.networks["resnet152"]
    network.register_forward_hook(lambda module, args, output: calls.append(args[0].shape[0]))
    rng = np.random.default_rng(0)
    distinct = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    batch = distinct[[0, 0, 0, 1, 2, 2, 3, 0]]  # runs of equal adjacent rows; the last 0 is not adjacent to the first
    result = extractor.run_network("resnet152", batch)
    assert calls == [5]  # 0, 1, 2, 3, 0
    with torch.inference_mode():
        expected = network(torch.from_numpy(batch)).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6)
    calls.clear()
    assert extractor.run_network("resnet152", distinct).shape == (4, 2048) and calls == [4]


@pytest.mark.slow
def test_a_clip_gives_the_official_layout_deterministically(extractor, short_clip: Path) -> None:
    inputs = prepare_inputs(short_clip)
    features = extractor.features(inputs)
    for array, shape in ((features.audio, (10, 128)), (features.visual, (80, 2048)), (features.visual_st, (10, 512))):
        assert array.shape == shape and array.dtype == np.float32 and np.isfinite(array).all()
    levels = features.audio  # VGGish postprocess: 8-bit levels
    assert levels.min() >= 0 and levels.max() <= 255 and np.array_equal(levels, np.round(levels))
    # the 1-s clip's 8 frames differ, and each repeats ten times among the 80
    assert np.ptp(features.visual, axis=0).max() > 0
    repeated = [index for index in range(1, 80) if np.array_equal(inputs.images[index], inputs.images[index - 1])]
    assert len(repeated) >= 70 and all(np.array_equal(features.visual[i], features.visual[i - 1]) for i in repeated)
    # deterministic: the same inputs give the same numbers (VGGish and ResNet-152, cheap here with its 8 distinct
    # frames, rerun; R(2+1)D-18 runs the same way)
    np.testing.assert_array_equal(extractor.run_network("resnet152", inputs.images), features.visual)
    raw = extractor.run_network("vggish", inputs.log_mel)
    np.testing.assert_array_equal(raw, extractor.run_network("vggish", inputs.log_mel))


@pytest.mark.slow
def test_bf16_stays_close_to_fp32(state_dicts, pca: PCAParams, extractor: FeatureExtractor) -> None:
    config = ExtractorConfig(device="cpu", precision="bf16")
    if _bf16_supported_on_cpu():
        bf16 = FeatureExtractor.from_state_dicts(state_dicts, pca, config)
    else:
        with pytest.warns(UserWarning, match="no native bfloat16"):
            bf16 = FeatureExtractor.from_state_dicts(state_dicts, pca, config)
    rng = np.random.default_rng(1)
    small = {  # one small input each: emulated bf16 (CPUs without AVX-512 BF16 / AMX) is very slow
        "vggish": rng.standard_normal((1, 1, 96, 64)).astype(np.float32),
        "resnet152": rng.standard_normal((1, 3, 32, 32)).astype(np.float32),
        "r2plus1d_18": rng.standard_normal((1, 3, 8, 16, 16)).astype(np.float32),
    }
    for name, batch in small.items():
        low, full = bf16.run_network(name, batch), extractor.run_network(name, batch)
        assert low.dtype == np.float32 and low.shape == full.shape
        assert _min_cosine(low, full) >= 0.99, name
