from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mgn.losses import LossWeights, contrastive_loss, parser_loss, smoothed_targets, weighted_total
from mgn.models import MGN, MGNConfig


def test_official_targets() -> None:
    labels = torch.tensor([[1.0, 0.0, 1.0]])
    targets = smoothed_targets(labels)
    assert targets.audio_target.tolist() == [[1.0, 0.0, 1.0]]  # a = 1.0: no smoothing
    torch.testing.assert_close(targets.visual_target, torch.tensor([[0.95, 0.05, 0.95]]))  # v = 0.9
    assert torch.equal(targets.global_target, labels)


def test_refined_targets_are_hard_zeros_where_removed() -> None:
    labels = torch.tensor([[1.0, 1.0, 0.0]])
    targets = smoothed_targets(
        labels, audio_labels=torch.tensor([[1.0, 0.0, 0.0]]), visual_labels=torch.tensor([[0.0, 1.0, 0.0]])
    )
    assert targets.audio_target.tolist() == [[1.0, 0.0, 0.0]]
    torch.testing.assert_close(targets.visual_target, torch.tensor([[0.0, 0.95, 0.05]]))  # removed -> 0, not 0.05


def test_contrastive_loss_equals_ma_formula() -> None:
    generator = torch.Generator().manual_seed(0)
    audio, visual = torch.randn(3, 10, 16, generator=generator), torch.randn(3, 10, 16, generator=generator)
    logits = F.normalize(audio, dim=-1) @ F.normalize(visual, dim=-1).transpose(1, 2) / 0.2  # (B, T, T)
    soft = torch.full((10, 10), 0.1 / 9).fill_diagonal_(0.9)  # MA's smoothed targets
    expected = -(soft * logits.log_softmax(dim=-1)).sum(dim=-1).mean()
    torch.testing.assert_close(contrastive_loss(audio, visual), expected)
    aligned = contrastive_loss(visual * 5, visual)  # audio equal to its own segment's visual: lower loss
    assert aligned < contrastive_loss(torch.roll(visual, 1, dims=1), visual)


def test_parser_loss_terms_for_mgn() -> None:
    torch.manual_seed(0)
    model = MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1))
    out = model(torch.randn(2, 10, 128), torch.rand(2, 80, 2048), torch.rand(2, 10, 512))
    targets = smoothed_targets(torch.tensor([[1.0] + [0.0] * 24, [0.0, 1.0] + [0.0] * 23]))
    terms = parser_loss(out, targets, LossWeights(contrastive=1.0))
    assert set(terms) == {"global", "audio", "visual", "class_tokens", "contrastive", "total"}
    # class tokens start at zero: every token is classified alike, CE = log(25) per modality
    assert terms["class_tokens"].item() == pytest.approx(2 * torch.log(torch.tensor(25.0)).item(), rel=1e-5)
    expected = F.binary_cross_entropy(out.global_prob.clamp(1e-7, 1 - 1e-7), targets.global_target)
    torch.testing.assert_close(terms["global"], expected)
    total = sum(terms[name] for name in ("global", "audio", "visual", "class_tokens", "contrastive"))
    torch.testing.assert_close(terms["total"], total)


def test_shard_weighting_gives_the_full_batch_gradient() -> None:
    """What DDP averages over 2 unequal shards (5 + 3 clips) equals the gradient of the full batch of 8."""
    torch.manual_seed(0)
    model = MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1, drop_path=0.0, inverted_han_assign=False))
    inputs = (torch.randn(8, 10, 128), torch.rand(8, 10, 2048), torch.rand(8, 10, 512))
    labels = (torch.rand(8, 25) > 0.8).float()
    weights = LossWeights(contrastive=1.0)

    def gradient(rows: slice, scale: float) -> list[torch.Tensor]:
        model.zero_grad()
        out = model(*(x[rows] for x in inputs))
        weighted_total(parser_loss(out, smoothed_targets(labels[rows]), weights), weights, scale).backward()
        return [p.grad.clone() for p in model.parameters()]

    full = gradient(slice(0, 8), 1.0)
    shards = [gradient(slice(0, 5), 5 * 2 / 8), gradient(slice(5, 8), 3 * 2 / 8)]
    for whole, first, second in zip(full, *shards, strict=True):
        torch.testing.assert_close((first + second) / 2, whole, atol=1e-5, rtol=1e-4)
