"""One video -> the three LLP feature arrays: ``vggish (10, 128)``, ``res152 (80, 2048)``, ``r2plus1d_18 (10, 512)``.

The work is split in two so that a folder can overlap them: :func:`prepare_inputs` decodes a video and builds the
three networks' inputs (ffmpeg and PIL, CPU, fine in a worker thread), and :meth:`FeatureExtractor.features` runs the
networks (batched, on the GPU when there is one). :meth:`FeatureExtractor.extract` does both for one file.

Videos that are not 10 s long are handled as the official scripts handle them: the 80 frames are spread over the
whole video (repeating frames of a shorter one), and so are the 10 audio examples (of the ``floor(duration / 0.96)``
VGGish examples, 10 are picked by the same ``np.round(np.linspace(...))`` rule; a video under 0.96 s gets examples of
silence). A video without an audio stream gets the features of silence, with a warning.

Speed. On a CPU, float32 features run through :func:`backbones.fuse_for_cpu` (BatchNorm folded, oneDNN convolutions
with fused ReLU / residual add, channels-last; the same numbers to float32 rounding); ``cpu_fusion=False`` runs the
plain modules. Rows equal to the row before them (a repeated frame of a short video, a still picture) are computed
once. Threads: torch's intra-op thread count is the caller's to set (``torch.set_num_threads``); nothing here changes
global state. bf16 on a CPU runs bfloat16 copies of the networks (channels-last): it can only pay off on CPUs with
native bf16 (AVX-512 BF16 / AMX; not measured on such a CPU yet); elsewhere it is emulated, 2x (VGGish) to 40x
(R(2+1)D-18) slower than float32 (AVX2, torch 2.13), and a warning says so.

VGGish postprocess. The released LLP features do not say whether their VGGish embeddings went through VGGish's PCA
+ 8-bit postprocess. The default here is to apply it (``vggish_postprocess=True``): it is the default of the
published torchvggish model (``torch.hub.load("harritaylor/torchvggish", "vggish")``, whose weights these are) and of
TensorFlow's reference VGGish inference, so it is what the common routes to "VGGish features" produce. Pass
``vggish_postprocess=False`` (``--vggish raw``) for the raw 128-d embedding.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from mgn.extract import backbones, weights
from mgn.extract.audio import EXAMPLE_FRAMES, MEL_BANDS, SAMPLE_RATE, decode_audio, log_mel_examples, vggish_postprocess
from mgn.extract.video import pick_frame_indices, r2plus1d_inputs, resnet_inputs, sample_frames
from mgn.labels import NUM_FRAMES, NUM_SEGMENTS

__all__ = [
    "ClipFeatures",
    "ExtractorConfig",
    "FeatureExtractor",
    "ModelInputs",
    "Precision",
    "prepare_inputs",
    "warn_if_silent",
]

Precision = Literal["fp32", "bf16"]
NETWORKS = ("vggish", "resnet152", "r2plus1d_18")


@dataclass(frozen=True)
class ExtractorConfig:
    """How features are computed.

    Attributes:
        device: ``auto`` (the GPU when there is one), ``cpu``, ``cuda``.
        batch_size: images per ResNet-152 forward pass (80 per clip; R(2+1)D-18 and VGGish take a clip's 10 at once).
        precision: ``fp32`` (default, the reference numbers) or ``bf16`` (GPU: autocast; CPU: bfloat16 copies of the
            networks; for GPUs and CPUs with AMX / AVX-512 BF16, at a small cost in fidelity; emulated and much slower
            than fp32 on other CPUs).
        vggish_postprocess: apply VGGish's PCA + 8-bit postprocess (see the module docstring).
        cpu_fusion: on a CPU in fp32, run the backbones through :func:`backbones.fuse_for_cpu` (same numbers to
            float32 rounding, faster); False runs the plain modules. Networks of other types always run as given.
    """

    device: str = "auto"
    batch_size: int = 40
    precision: Precision = "fp32"
    vggish_postprocess: bool = True
    cpu_fusion: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= 1024:
            raise ValueError(f"batch_size: expected an integer in [1, 1024], found {self.batch_size}")
        if self.precision not in ("fp32", "bf16"):
            raise ValueError(f"precision: expected 'fp32' or 'bf16', found {self.precision!r}")


@dataclass(frozen=True)
class ModelInputs:
    """The three networks' inputs for one clip (float32, CPU)."""

    log_mel: np.ndarray  # (10, 1, 96, 64) VGGish examples
    images: np.ndarray  # (80, 3, 224, 224) ResNet-152 frames
    clips: np.ndarray  # (10, 3, 8, 112, 112) R(2+1)D-18 clips
    has_audio: bool  # False: the file has no audio stream and log_mel holds silence


@dataclass(frozen=True)
class ClipFeatures:
    """One clip's features, float32, in the official layout's shapes; keys of :meth:`streams` are the data layer's
    feature streams (``audio`` -> ``feats/vggish``, ``visual`` -> ``feats/res152``, ``visual_st`` ->
    ``feats/r2plus1d_18``)."""

    audio: np.ndarray  # (10, 128)
    visual: np.ndarray  # (80, 2048)
    visual_st: np.ndarray  # (10, 512)

    def streams(self) -> dict[str, np.ndarray]:
        return {"audio": self.audio, "visual": self.visual, "visual_st": self.visual_st}


def _ten_examples(waveform: np.ndarray) -> np.ndarray:
    """VGGish examples of the whole waveform, 10 of them picked evenly: ``(10, 96, 64)`` float64."""
    examples = log_mel_examples(waveform, SAMPLE_RATE)  # (N, 96, 64)
    if len(examples) == 0:  # under 0.96 s of audio: examples of silence
        silence_samples = int(round(SAMPLE_RATE * (EXAMPLE_FRAMES + 1.5) / 100))
        examples = log_mel_examples(np.zeros(silence_samples), SAMPLE_RATE)
    return examples[pick_frame_indices(len(examples), NUM_SEGMENTS)]


def prepare_inputs(path: str | Path, *, start: float = 0.0, duration: float | None = None) -> ModelInputs:
    """Decode a video (or its window ``[start, start + duration)``) and build the networks' inputs.

    CPU work only, and it warns of nothing, so it is safe in a worker thread: a missing audio stream is reported by
    ``has_audio``.

    Raises:
        MediaError: the file is missing, empty, corrupt or has no video stream.
    """
    frames = sample_frames(path, start=start, duration=duration)  # (80, H, W, 3) uint8
    waveform, has_audio = decode_audio(path, start=start, duration=duration)
    log_mel = _ten_examples(waveform).astype(np.float32)[:, None]  # (10, 1, 96, 64)
    assert log_mel.shape == (NUM_SEGMENTS, 1, EXAMPLE_FRAMES, MEL_BANDS)
    return ModelInputs(log_mel, resnet_inputs(frames), r2plus1d_inputs(frames), has_audio=has_audio)


def warn_if_silent(path: str | Path, inputs: ModelInputs) -> None:
    """The warning for a video without an audio stream (from the thread that owns the warnings machinery)."""
    if not inputs.has_audio:
        warnings.warn(f"{path}: no audio stream; its audio features are those of silence", stacklevel=3)


def _bf16_supported_on_cpu() -> bool:
    """Whether this CPU computes bfloat16 natively through oneDNN (AVX-512 BF16 / AMX / AVX-NE-CONVERT)."""
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(check()) if check is not None else False
    except RuntimeError:
        return False


def _bf16_cpu_copy(model: nn.Module) -> nn.Module:
    """A bfloat16 copy of a network for the CPU, convolution weights channels-last (what oneDNN's bf16 kernels
    want); faster than autocast, which casts every weight on every call."""
    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    for module in bf16.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)):
            layout = torch.channels_last_3d if isinstance(module, nn.Conv3d) else torch.channels_last
            module.weight.data = module.weight.data.contiguous(memory_format=layout)
    return _Bf16Inputs(bf16)


class _Bf16Inputs(nn.Module):
    """Casts the float32 input to bfloat16 (channels-last when 4-D or 5-D) before the wrapped network."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(torch.bfloat16)
        if x.ndim in (4, 5):
            x = x.contiguous(memory_format=torch.channels_last if x.ndim == 4 else torch.channels_last_3d)
        return self.model(x)


_OURS = (backbones.ResNet152, backbones.R2Plus1D18, backbones.VGGish)


def _distinct_rows(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows to compute and, for every row, which of them it equals: ``(kept (K,), inverse (N,))`` where equal adjacent
    rows are computed once (the 80 frames of a video under 10 s repeat, so do those of a still picture); None when
    no row repeats the one before it."""
    if len(batch) < 2:
        return None
    changes = np.fromiter(
        (not np.array_equal(batch[index], batch[index - 1]) for index in range(1, len(batch))), bool, len(batch) - 1
    )
    if changes.all():
        return None
    kept = np.flatnonzero(np.concatenate(([True], changes)))  # first row of each run of equal rows
    inverse = np.concatenate(([0], np.cumsum(changes)))  # run of each row
    return kept, inverse


class FeatureExtractor:
    """The three networks (eval mode, on one device, ready to run: see ``cpu_fusion``) and VGGish's PCA parameters."""

    def __init__(
        self,
        networks: Mapping[str, nn.Module],
        pca: weights.PCAParams | None,
        config: ExtractorConfig = ExtractorConfig(),
    ) -> None:
        from mgn.device import resolve_device

        missing = sorted(set(NETWORKS) - set(networks))
        if missing:
            raise ValueError(f"networks: missing {missing}; expected {list(NETWORKS)}")
        if config.vggish_postprocess and pca is None:
            raise ValueError("vggish_postprocess needs the VGGish PCA parameters (pca)")
        self.config = config
        self.device = resolve_device(config.device)
        self.networks = {name: self._prepared(networks[name].to(self.device).eval()) for name in NETWORKS}
        self.pca = pca

    def _prepared(self, network: nn.Module) -> nn.Module:
        """The module that computes: fused (CPU fp32), a bfloat16 copy (CPU bf16) or the network itself."""
        if self.device.type != "cpu":
            return network  # GPU: cuDNN as given (bf16 through autocast)
        if self.config.precision == "bf16":
            if not _bf16_supported_on_cpu():
                warnings.warn(
                    "precision bf16: this CPU has no native bfloat16 (AVX-512 BF16 / AMX); it is emulated and much "
                    "slower than fp32",
                    stacklevel=4,
                )
            return _bf16_cpu_copy(network)
        if self.config.cpu_fusion and isinstance(network, _OURS) and backbones.cpu_fusion_available():
            return backbones.fuse_for_cpu(network)
        return network

    @classmethod
    def from_state_dicts(
        cls,
        state_dicts: Mapping[str, Mapping[str, torch.Tensor]],
        pca: weights.PCAParams | None,
        config: ExtractorConfig = ExtractorConfig(),
    ) -> FeatureExtractor:
        """Networks built from state_dicts under the reference key names (see :func:`backbones.build`)."""
        return cls({name: backbones.build(name, state_dicts[name]) for name in NETWORKS}, pca, config)

    @classmethod
    def from_published_weights(
        cls,
        config: ExtractorConfig = ExtractorConfig(),
        *,
        weights_dir: str | Path | None = None,
        cache_dir: str | Path | None = None,
        download: bool = True,
        progress: bool = True,
    ) -> FeatureExtractor:
        """Networks with the published weights: from ``weights_dir``, else the cache, else downloaded once.

        Raises:
            WeightsUnavailable: a file is missing and cannot be downloaded (the message says where to put it).
        """
        where = {"weights_dir": weights_dir, "cache_dir": cache_dir, "download": download, "progress": progress}
        state_dicts = {name: weights.load_state_dict(name, **where) for name in NETWORKS}
        pca = weights.load_pca_params(**where) if config.vggish_postprocess else None
        return cls.from_state_dicts(state_dicts, pca, config)

    def run_network(self, network: str, batch: np.ndarray) -> np.ndarray:
        """One network (``vggish``, ``resnet152`` or ``r2plus1d_18``) over ``batch`` (float32, CPU), in chunks of at
        most ``batch_size`` rows, of near-equal sizes (80 frames: two of 40); float32 features on the CPU. A row equal
        to the row before it is computed once."""
        distinct = _distinct_rows(batch)
        if distinct is not None:
            batch = batch[distinct[0]]
        model = self.networks[network]
        outputs = []
        autocast = self.config.precision == "bf16" and self.device.type != "cpu"  # CPU: bfloat16 copies instead
        chunks = -(-len(batch) // self.config.batch_size)  # as many as batch_size needs, of near-equal sizes
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            for chunk in np.array_split(batch, chunks):
                outputs.append(model(torch.from_numpy(chunk).to(self.device)).float().cpu())
        result = (outputs[0] if len(outputs) == 1 else torch.cat(outputs)).numpy()
        if distinct is not None:
            result = result[distinct[1]]  # back to one row per input row
        return result

    def features(self, inputs: ModelInputs) -> ClipFeatures:
        """The clip's three feature arrays from its prepared inputs."""
        audio = self.run_network("vggish", inputs.log_mel)  # (10, 128) raw embedding
        if self.config.vggish_postprocess:
            audio = vggish_postprocess(audio, self.pca.eigen_vectors.numpy(), self.pca.means.numpy())
        visual = self.run_network("resnet152", inputs.images)  # (80, 2048)
        visual_st = self.run_network("r2plus1d_18", inputs.clips)  # (10, 512)
        assert visual.shape == (NUM_FRAMES, 2048) and visual_st.shape == (NUM_SEGMENTS, 512)
        return ClipFeatures(audio.astype(np.float32), visual.astype(np.float32), visual_st.astype(np.float32))

    def extract(self, path: str | Path) -> ClipFeatures:
        """Decode ``path`` and compute its features (warning when it has no audio stream)."""
        inputs = prepare_inputs(path)
        warn_if_silent(path, inputs)
        return self.features(inputs)
