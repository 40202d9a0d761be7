from __future__ import annotations

import pytest
import torch


def random_inputs(batch: int, seed: int = 0, frames: int = 80) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features shaped like LLP's: audio (B, 10, 128), visual (B, frames, 2048), visual_st (B, 10, 512)."""
    generator = torch.Generator().manual_seed(seed)
    audio = torch.randn(batch, 10, 128, generator=generator)
    visual = torch.randn(batch, frames, 2048, generator=generator).abs()
    visual_st = torch.randn(batch, 10, 512, generator=generator).abs()
    return audio, visual, visual_st


@pytest.fixture
def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return random_inputs(batch=3)
