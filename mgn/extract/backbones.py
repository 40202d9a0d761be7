"""The three frozen networks that made the LLP features: ResNet-152, R(2+1)D-18 and VGGish.

Each is defined here with the reference implementation's exact ``state_dict`` key names and shapes, so the published
weight files (:mod:`mgn.extract.weights`) load unchanged, and computes the same function (checked against reference
outputs in ``tests/extract/test_backbones.py`` to relative 1e-4):

* ``resnet152``: torchvision's ``resnet152`` (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
  arXiv:1512.03385; torchvision 0.29 ``models/resnet.py``, BSD-3-Clause): Bottleneck blocks [3, 8, 36, 3] with the
  stride in the 3x3 convolution ("ResNet v1.5"), BatchNorm eps 1e-5. The feature is the global-average-pooled
  (B, 2048) vector; the ImageNet classifier ``fc`` is not built (the official LLP scripts drop it too).
* ``r2plus1d_18``: torchvision's ``video.r2plus1d_18`` (Tran et al., "A Closer Look at Spatiotemporal Convolutions
  for Action Recognition", CVPR 2018, arXiv:1711.11248; torchvision ``models/video/resnet.py``): R(2+1)D stem,
  BasicBlocks [2, 2, 2, 2] whose 3x3x3 convolutions are factorised into (1, 3, 3) spatial + (3, 1, 1) temporal ones
  with as many parameters. Used as AVVP-ECCV20's ``extract_3D_feat.py`` uses it (``children()[:-1]``: everything but
  the Kinetics classifier ``fc``), the average-pooled (B, 512) vector.
* ``vggish``: torchvggish 0.2 (github.com/harritaylor/torchvggish, Apache-2.0), a port of TensorFlow's VGGish
  (Hershey et al., "CNN Architectures for Large-Scale Audio Classification", ICASSP 2017, arXiv:1609.09430). Input:
  (B, 1, 96, 64) log-mel examples; output: the raw (B, 128) embedding (after its final ReLU). The PCA / 8-bit
  postprocess is not part of the network (its parameters: :func:`mgn.extract.weights.load_pca_params`).

Published files carry the classifier ``fc.weight`` / ``fc.bias`` of ResNet-152 and R(2+1)D-18; :func:`build` drops
them by name (:attr:`BackboneSpec.dropped_keys`). Any other missing, unexpected or mis-shaped key is an error.

Fast CPU inference. :func:`fuse_for_cpu` turns a built backbone into an inference-only copy that computes the same
function to float32 rounding with less CPU time (AVX2, torch 2.13: ResNet-152 1.25-1.6x, R(2+1)D-18 1.7x, see
``bench/extract_speed.py``): every BatchNorm is folded into the convolution before it, each convolution runs as one
oneDNN call with its ReLU (or residual add + ReLU) fused in, on channels-last activations, with its weight reordered
into oneDNN's layout once instead of on every call.

Notation: B batch, C channels, T frames, H height, W width (in pixels after each stride).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

__all__ = [
    "BACKBONES",
    "BackboneSpec",
    "Bottleneck",
    "Conv2Plus1D",
    "R2Plus1D18",
    "ResNet152",
    "VGGish",
    "VideoBasicBlock",
    "build",
    "cpu_fusion_available",
    "expected_shapes",
    "fuse_for_cpu",
]

_MAX_LISTED_KEYS = 8  # how many offending keys an error message spells out


# ResNet-152 ------------------------------------------------------------------------------------------------------


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand (x4), each followed by BatchNorm, plus a shortcut that
    is a strided 1x1 convolution + BatchNorm when the shape changes; ReLU after the sum."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, H, W) -> (B, 4 width, H / stride, W / stride)
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))  # (B, width, H, W)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, width, H / s, W / s)
        out = self.bn3(self.conv3(out))  # (B, 4 width, H / s, W / s)
        return self.relu(out + shortcut)


class ResNet152(nn.Module):
    """ImageNet ResNet (torchvision layout) up to the global average pool: (B, 3, H, W) normalised images ->
    (B, 2048) features.

    Args:
        blocks: Bottleneck blocks per stage; (3, 8, 36, 3) is ResNet-152.
    """

    widths = (64, 128, 256, 512)  # bottleneck width of each stage; the stage outputs 4x as many channels

    def __init__(self, blocks: tuple[int, int, int, int] = (3, 8, 36, 3)) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        for index, (count, width) in enumerate(zip(blocks, self.widths)):
            stride = 1 if index == 0 else 2
            stage = []
            for block in range(count):
                stage.append(Bottleneck(in_channels, width, stride if block == 0 else 1))
                in_channels = width * Bottleneck.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*stage))  # layer1 .. layer4, the reference names
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.out_features = in_channels

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H / 4, W / 4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 2048, H / 32, W / 32)
        return torch.flatten(self.avgpool(x), 1)  # (B, 2048)


# R(2+1)D-18 ------------------------------------------------------------------------------------------------------


def _conv3d(
    in_channels: int, out_channels: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]
) -> nn.Conv3d:
    """Bias-free Conv3d with 'same' padding for odd kernels: (k - 1) // 2 per axis."""
    padding = tuple((size - 1) // 2 for size in kernel)
    return nn.Conv3d(in_channels, out_channels, kernel, stride=stride, padding=padding, bias=False)


class Conv2Plus1D(nn.Sequential):
    """A 3x3x3 convolution factorised as (1, 3, 3) spatial -> BatchNorm -> ReLU -> (3, 1, 1) temporal, no biases;
    the stride applies in space in the first and in time in the second."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, stride: int = 1) -> None:
        super().__init__(
            _conv3d(in_channels, mid_channels, (1, 3, 3), (1, stride, stride)),
            nn.BatchNorm3d(mid_channels),
            nn.ReLU(inplace=True),
            _conv3d(mid_channels, out_channels, (3, 1, 1), (stride, 1, 1)),
        )


class VideoBasicBlock(nn.Module):
    """Two (2+1)D convolutions with BatchNorm, ReLU between and after the residual sum; the shortcut is a strided
    1x1x1 convolution + BatchNorm when the shape changes.

    The hidden width of both factorised convolutions is ``(in * out * 27) // (in * 9 + 3 * out)`` (computed once
    from the block's input and output widths, as the reference does), which gives the (2+1)D pair about the
    parameter count of a full 3x3x3 convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        mid_channels = (in_channels * out_channels * 3 * 3 * 3) // (in_channels * 3 * 3 + 3 * out_channels)
        self.conv1 = nn.Sequential(
            Conv2Plus1D(in_channels, out_channels, mid_channels, stride),
            nn.BatchNorm3d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            Conv2Plus1D(out_channels, out_channels, mid_channels),
            nn.BatchNorm3d(out_channels),
        )
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm3d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, T, H, W) -> (B, C_out, T / s, H / s, W / s)
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


class R2Plus1D18(nn.Module):
    """Kinetics R(2+1)D (torchvision ``VideoResNet`` layout) up to the global average pool: (B, 3, T, H, W)
    normalised clips -> (B, 512) features.

    Args:
        blocks: BasicBlocks per stage; (2, 2, 2, 2) is R(2+1)D-18.
    """

    widths = (64, 128, 256, 512)  # output channels of each stage

    def __init__(self, blocks: tuple[int, int, int, int] = (2, 2, 2, 2)) -> None:
        super().__init__()
        self.stem = nn.Sequential(  # a (2+1)D 7x7x3 convolution with a fixed 45-channel middle
            _conv3d(3, 45, (1, 7, 7), (1, 2, 2)),
            nn.BatchNorm3d(45),
            nn.ReLU(inplace=True),
            _conv3d(45, 64, (3, 1, 1), (1, 1, 1)),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )
        in_channels = 64
        for index, (count, width) in enumerate(zip(blocks, self.widths)):
            stride = 1 if index == 0 else 2
            stage = []
            for block in range(count):
                stage.append(VideoBasicBlock(in_channels, width, stride if block == 0 else 1))
                in_channels = width
            setattr(self, f"layer{index + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.out_features = in_channels

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, T, H, W)
        x = self.stem(x)  # (B, 64, T, H / 2, W / 2)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 512, T / 8, H / 16, W / 16)
        return torch.flatten(self.avgpool(x), 1)  # (B, 512)


# VGGish ----------------------------------------------------------------------------------------------------------


class VGGish(nn.Module):
    """AudioSet VGGish (torchvggish layout): (B, 1, 96, 64) log-mel examples (96 frames of 10 ms, 64 mel bands)
    -> (B, 128) raw embeddings, before PCA.

    ``features``: 3x3 convolutions (padding 1) with ReLU and 2x2 max pools, channels 64, M, 128, M, 256, 256, M, 512,
    512, M; ``embeddings``: Linear 12288 -> 4096 -> 4096 -> 128, each followed by ReLU (the last one too, as in the
    TensorFlow model). The TensorFlow original flattens channels-last, so the (B, 512, 6, 4) feature map is flattened
    in (H, W, C) order: that is the order the ported first Linear layer expects.
    """

    layout = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M")  # conv widths, "M" = 2x2 max pool
    embedding_dim = 128

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 1
        for item in self.layout:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(in_channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                in_channels = item
        self.features = nn.Sequential(*layers)
        self.embeddings = nn.Sequential(
            nn.Linear(512 * 6 * 4, 4096),  # (H, W, C) = (6, 4, 512) after four halvings of (96, 64)
            nn.ReLU(inplace=True),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, self.embedding_dim),
            nn.ReLU(inplace=True),
        )
        self.out_features = self.embedding_dim

    def forward(self, x: Tensor) -> Tensor:  # (B, 1, 96, 64)
        x = self.features(x)  # (B, 512, 6, 4)
        x = x.permute(0, 2, 3, 1).flatten(1)  # (B, 6, 4, 512) -> (B, 12288), TensorFlow's channels-last order
        return self.embeddings(x)  # (B, 128)


# registry and loading --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackboneSpec:
    """How to make one backbone and what its published weight file holds beyond it."""

    make: Callable[[], nn.Module]  # builds the network (random weights)
    input_shape: str  # what one batch looks like, for messages and docs
    out_features: int  # width of the feature vector it returns
    dropped_keys: tuple[str, ...] = ()  # keys of the published file that are not built (the classifier)


BACKBONES: Mapping[str, BackboneSpec] = MappingProxyType(
    {
        "resnet152": BackboneSpec(
            ResNet152, "(B, 3, 224, 224) ImageNet-normalised images", 2048, ("fc.weight", "fc.bias")
        ),
        "r2plus1d_18": BackboneSpec(
            R2Plus1D18, "(B, 3, 8, 112, 112) Kinetics-normalised clips", 512, ("fc.weight", "fc.bias")
        ),
        "vggish": BackboneSpec(VGGish, "(B, 1, 96, 64) log-mel examples", 128),
    }
)


def _spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    return BACKBONES[name]


def _skeleton(name: str) -> nn.Module:
    """The network on the meta device: shapes without memory or a random initialisation."""
    with torch.device("meta"):
        return _spec(name).make()


def expected_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of the state_dict :func:`build` loads for ``name`` (the published file's, minus
    :attr:`BackboneSpec.dropped_keys`)."""
    return {key: tuple(value.shape) for key, value in _skeleton(name).state_dict().items()}


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED_KEYS])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > _MAX_LISTED_KEYS else "")


def build(name: str, state_dict: Mapping[str, Tensor]) -> nn.Module:
    """The backbone ``name`` with the weights ``state_dict``, in eval mode, on the CPU, float32.

    Args:
        name: ``"resnet152"``, ``"r2plus1d_18"`` or ``"vggish"`` (:data:`BACKBONES`).
        state_dict: reference key names (the published ``.pth`` files' layout). The classifier keys of
            :attr:`BackboneSpec.dropped_keys` may be present and are ignored.

    Raises:
        ValueError: unknown ``name``; a non-tensor value; a missing, unexpected or mis-shaped key (the message names
            the network, the keys and the shapes).
    """
    spec = _spec(name)
    model = _skeleton(name)
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    kept = {key: value for key, value in state_dict.items() if key not in spec.dropped_keys}
    not_tensors = [key for key, value in kept.items() if not isinstance(value, Tensor)]
    if not_tensors:
        raise ValueError(f"{name}: state_dict values must be tensors; not for {_listed(not_tensors)}")
    missing = sorted(expected.keys() - kept.keys())
    unexpected = sorted(kept.keys() - expected.keys())
    mismatched = sorted(key for key in expected.keys() & kept.keys() if tuple(kept[key].shape) != expected[key])
    problems = []
    if missing:
        problems.append(f"missing keys: {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listed(unexpected)}")
    if mismatched:
        shapes = [f"{key} {tuple(kept[key].shape)} (expected {expected[key]})" for key in mismatched]
        problems.append(f"shape mismatches: {_listed(shapes)}")
    if problems:
        raise ValueError(f"{name}: the state_dict does not fit the reference layout; " + "; ".join(problems))
    model = model.to_empty(device="cpu")  # uninitialised memory: every tensor is overwritten below
    model.load_state_dict(kept, strict=True)  # copies, casting to float32 (int64 for num_batches_tracked)
    return model.eval()


# fast CPU inference ----------------------------------------------------------------------------------------------


@functools.cache
def cpu_fusion_available() -> bool:
    """Whether :func:`fuse_for_cpu` works here: a torch build with oneDNN (mkldnn) whose fused convolutions run on this
    CPU and agree with ``nn.functional.conv2d`` (checked once, on a tiny convolution)."""
    ops = torch.ops.mkldnn
    if not (
        torch.backends.mkldnn.is_available()
        and hasattr(ops, "_convolution_pointwise")
        and hasattr(ops, "_reorder_convolution_weight")
    ):
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 5, 5, generator=generator).contiguous(memory_format=torch.channels_last)
    weight, bias = torch.randn(3, 4, 3, 3, generator=generator), torch.randn(3, generator=generator)
    geometry = ([1, 1], [1, 1], [1, 1], 1)
    try:
        with torch.inference_mode():
            packed = ops._reorder_convolution_weight(weight, *geometry, list(x.shape))
            fused = ops._convolution_pointwise(x, packed, bias, *geometry, "relu", [], "")
            expected = torch.relu(nn.functional.conv2d(x, weight, bias, padding=1))
    except (RuntimeError, NotImplementedError):
        return False
    return bool(torch.allclose(fused, expected, rtol=1e-4, atol=1e-4))


_PACKED_SHAPES = 2  # reordered weights kept per convolution: the (at most two) chunk sizes of a near-even split
_MIN_PACKED_BATCH = 8  # below this, pass the plain weight: reordering it once costs more than it saves
_PACK_LOCK = threading.Lock()


class _FusedConv(nn.Module):
    """Convolution (+ folded BatchNorm) (+ ReLU), one oneDNN call; float32, CPU, inference only.

    A plain ``nn.Conv2d`` / ``nn.Conv3d`` reorders its weight into oneDNN's blocked layout on every call. This keeps it
    reordered per input shape and thread count (the last two seen, batches of 8 or more): oneDNN's preferred layout
    depends on both, so a weight reordered for another shape would be reordered again on every call, slowly. Reordering
    all of ResNet-152's weights takes about 1.5 s (oneDNN picks its kernels for the shape); smaller batches pass the
    plain weight, which oneDNN reorders per call as ``nn.Conv2d`` does.
    """

    def __init__(self, conv: nn.Conv2d | nn.Conv3d, norm: nn.BatchNorm2d | nn.BatchNorm3d | None, relu: bool) -> None:
        super().__init__()
        weight = conv.weight.detach()
        bias = None if conv.bias is None else conv.bias.detach()
        if norm is not None:
            weight, bias = fuse_conv_bn_weights(
                weight, bias, norm.running_mean, norm.running_var, norm.eps, norm.weight, norm.bias
            )
        self.register_buffer("weight", weight.detach().float().contiguous(), persistent=False)
        self.register_buffer("bias", None if bias is None else bias.detach().float().contiguous(), persistent=False)
        self.geometry = (list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups)
        self.activation = "relu" if relu else "none"
        self.packed: dict[tuple, Tensor] = {}  # (input shape, threads) -> weight in oneDNN's layout, oldest first

    def _weight_for(self, x: Tensor) -> Tensor:
        key = (tuple(x.shape), torch.get_num_threads())
        weight = self.packed.get(key)
        if weight is not None:
            return weight
        if x.shape[0] < _MIN_PACKED_BATCH:
            return self.weight
        weight = torch.ops.mkldnn._reorder_convolution_weight(self.weight, *self.geometry, list(x.shape))
        with _PACK_LOCK:  # two threads may run the network at once
            self.packed[key] = weight
            while len(self.packed) > _PACKED_SHAPES:
                del self.packed[next(iter(self.packed))]
        return weight

    def forward(self, x: Tensor) -> Tensor:
        return torch.ops.mkldnn._convolution_pointwise(
            x, self._weight_for(x), self.bias, *self.geometry, self.activation, [], ""
        )

    def add_relu(self, x: Tensor, residual: Tensor) -> Tensor:
        """``relu(conv(x) + residual)`` in one call (the end of a residual block)."""
        return torch.ops.mkldnn._convolution_pointwise.binary(
            x, residual, self._weight_for(x), self.bias, *self.geometry, "add", 1.0, "relu", [], ""
        )


class _FusedBottleneck(nn.Module):
    def __init__(self, block: Bottleneck) -> None:
        super().__init__()
        self.conv1 = _FusedConv(block.conv1, block.bn1, relu=True)
        self.conv2 = _FusedConv(block.conv2, block.bn2, relu=True)
        self.conv3 = _FusedConv(block.conv3, block.bn3, relu=False)  # + shortcut, then ReLU
        self.downsample = None if block.downsample is None else _FusedConv(*block.downsample, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.conv3.add_relu(self.conv2(self.conv1(x)), shortcut)


class _FusedResNet(nn.Module):
    def __init__(self, model: ResNet152) -> None:
        super().__init__()
        self.stem = _FusedConv(model.conv1, model.bn1, relu=True)
        self.maxpool = model.maxpool
        stages = (model.layer1, model.layer2, model.layer3, model.layer4)
        self.blocks = nn.Sequential(*[_FusedBottleneck(block) for stage in stages for block in stage])
        self.out_features = model.out_features

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, H, W)
        x = self.maxpool(self.stem(x.contiguous(memory_format=torch.channels_last)))
        x = self.blocks(x)  # (B, 2048, H / 32, W / 32), channels-last
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)  # (B, 2048)


class _FusedVideoBlock(nn.Module):
    def __init__(self, block: VideoBasicBlock) -> None:
        super().__init__()
        (first, first_norm, _), (second, second_norm) = block.conv1, block.conv2
        self.spatial1 = _FusedConv(first[0], first[1], relu=True)
        self.temporal1 = _FusedConv(first[3], first_norm, relu=True)
        self.spatial2 = _FusedConv(second[0], second[1], relu=True)
        self.temporal2 = _FusedConv(second[3], second_norm, relu=False)  # + shortcut, then ReLU
        self.downsample = None if block.downsample is None else _FusedConv(*block.downsample, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.temporal2.add_relu(self.spatial2(self.temporal1(self.spatial1(x))), shortcut)


class _FusedR2Plus1D(nn.Module):
    def __init__(self, model: R2Plus1D18) -> None:
        super().__init__()
        stem = model.stem
        self.stem = nn.Sequential(_FusedConv(stem[0], stem[1], relu=True), _FusedConv(stem[3], stem[4], relu=True))
        stages = (model.layer1, model.layer2, model.layer3, model.layer4)
        self.blocks = nn.Sequential(*[_FusedVideoBlock(block) for stage in stages for block in stage])
        self.out_features = model.out_features

    def forward(self, x: Tensor) -> Tensor:  # (B, 3, T, H, W)
        x = self.blocks(self.stem(x.contiguous(memory_format=torch.channels_last_3d)))
        return torch.flatten(nn.functional.adaptive_avg_pool3d(x, 1), 1)  # (B, 512)


class _FusedVGGish(nn.Module):
    def __init__(self, model: VGGish) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for layer in model.features:
            if isinstance(layer, nn.Conv2d):
                layers.append(_FusedConv(layer, None, relu=True))  # the ReLU after it is fused in
            elif isinstance(layer, nn.MaxPool2d):
                layers.append(layer)
        self.features = nn.Sequential(*layers)
        self.embeddings = model.embeddings
        self.out_features = model.out_features

    def forward(self, x: Tensor) -> Tensor:  # (B, 1, 96, 64)
        x = self.features(x.contiguous(memory_format=torch.channels_last))  # (B, 512, 6, 4) channels-last
        return self.embeddings(x.permute(0, 2, 3, 1).flatten(1))  # (H, W, C) order, as VGGish.forward


_FUSED = ((ResNet152, _FusedResNet), (R2Plus1D18, _FusedR2Plus1D), (VGGish, _FusedVGGish))


def fuse_for_cpu(model: nn.Module) -> nn.Module:
    """A fast float32 CPU inference copy of a backbone built here (see the module docstring); same outputs to float32
    rounding. Call it under ``torch.inference_mode()`` or ``torch.no_grad()``; it has no training mode.

    The copy shares the backbone's Linear layers (VGGish); its convolution weights are new tensors (BatchNorm folded).

    Raises:
        TypeError: ``model`` is not a :class:`ResNet152`, :class:`R2Plus1D18` or :class:`VGGish`.
        ValueError: ``model`` is in training mode.
        RuntimeError: this torch has no oneDNN fused convolutions (:func:`cpu_fusion_available` is False).
    """
    if not cpu_fusion_available():
        raise RuntimeError("fuse_for_cpu: this torch build has no oneDNN (mkldnn) fused convolutions")
    for kind, fused in _FUSED:
        if isinstance(model, kind):
            if model.training:
                raise ValueError("fuse_for_cpu: the model is in training mode; BatchNorm folding needs eval()")
            return fused(model).eval()
    raise TypeError(f"fuse_for_cpu: expected a ResNet152, R2Plus1D18 or VGGish, found {type(model).__name__}")
