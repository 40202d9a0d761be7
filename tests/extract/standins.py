"""Small stand-ins for the three networks, with the real input and output shapes, for tests of the folder runner.

The real networks (ResNet-152 above all) take seconds per clip on a CPU; these take milliseconds, so tests can run
whole folders, reruns and kills. Their outputs still depend on the input, so a mixed-up file would show.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from mgn.extract.pipeline import ExtractorConfig, FeatureExtractor


class PooledLinear(nn.Module):
    """Average-pool every axis after the channels down to a few cells, then one linear layer."""

    def __init__(self, in_cells: int, out_dim: int, pool: nn.Module, seed: int, delay_s: float = 0.0) -> None:
        super().__init__()
        self.pool = pool
        self.delay_s = delay_s
        generator = torch.Generator().manual_seed(seed)
        self.linear = nn.Linear(in_cells, out_dim)
        with torch.no_grad():
            self.linear.weight.copy_(torch.randn(out_dim, in_cells, generator=generator) / in_cells**0.5)
            self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.delay_s:
            time.sleep(self.delay_s)  # lets a test kill the process between two videos
        return self.linear(self.pool(x).flatten(1))


def standin_extractor(delay_s: float = 0.0, postprocess: bool = False) -> FeatureExtractor:
    """A :class:`FeatureExtractor` over stand-in networks (CPU, fp32)."""
    networks = {
        "vggish": PooledLinear(1 * 4 * 4, 128, nn.AdaptiveAvgPool2d(4), seed=1, delay_s=delay_s),
        "resnet152": PooledLinear(3 * 2 * 2, 2048, nn.AdaptiveAvgPool2d(2), seed=2),
        "r2plus1d_18": PooledLinear(3 * 2 * 2 * 2, 512, nn.AdaptiveAvgPool3d(2), seed=3),
    }
    return FeatureExtractor(networks, None, ExtractorConfig(device="cpu", vggish_postprocess=postprocess))
