from __future__ import annotations

import pytest
import torch
from torch import nn

from mgn.models import HAN, HANConfig
from mgn.models.layers import PackedMultiheadAttention


def test_default_config_and_size() -> None:
    config = HANConfig()
    assert (config.dim, config.num_heads, config.ffn_dim, config.dropout) == (512, 1, 512, 0.1)
    assert sum(p.numel() for p in HAN().parameters()) == 4_569_675


@pytest.mark.parametrize("kwargs", [{"dim": 0}, {"dim": 10, "num_heads": 3}, {"dropout": 1.0}])
def test_bad_config_is_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="HANConfig"):
        HANConfig(**kwargs)


@pytest.mark.parametrize("num_heads", [1, 4])
def test_packed_attention_equals_torch_multihead_attention(num_heads: int) -> None:
    torch.manual_seed(0)
    ours = PackedMultiheadAttention(16, num_heads, dropout=0.0).eval()
    with torch.no_grad():
        ours.in_proj_bias.normal_()
        ours.out_proj.bias.normal_()
    reference = nn.MultiheadAttention(16, num_heads).eval()  # sequence-first, like the official code
    reference.load_state_dict(ours.state_dict())
    query, key = torch.randn(2, 10, 16), torch.randn(2, 10, 16)
    for q, k in ((query, key), (query, query)):
        expected = reference(q.transpose(0, 1), k.transpose(0, 1), k.transpose(0, 1))[0].transpose(0, 1)
        torch.testing.assert_close(ours(q, k), expected, atol=1e-6, rtol=1e-5)


def test_outputs_are_probabilities_and_pool_consistently(inputs) -> None:
    torch.manual_seed(0)
    model = HAN().eval()
    out = model(*inputs)
    for value in (out.global_prob, out.a_prob, out.v_prob, out.a_frame_prob, out.v_frame_prob):
        assert ((value >= 0) & (value <= 1)).all()
    assert out.a_frame_prob.shape == (3, 10, 25) and out.audio_query.shape == (3, 10, 512)
    # a_prob is the time-attention pooling of the audio frame probabilities, so it lies within their range
    assert (out.a_prob <= out.a_frame_prob.amax(dim=1) + 1e-6).all()
    assert (out.a_prob >= out.a_frame_prob.amin(dim=1) - 1e-6).all()


def test_dropout_only_in_training(inputs) -> None:
    torch.manual_seed(0)
    model = HAN().eval()
    torch.testing.assert_close(model(*inputs).global_prob, model(*inputs).global_prob, atol=0, rtol=0)
    model.train()
    assert not torch.allclose(model(*inputs).global_prob, model(*inputs).global_prob)


def test_every_parameter_gets_a_gradient(inputs) -> None:
    torch.manual_seed(0)
    model = HAN().train()
    out = model(*inputs)
    (out.global_prob.sum() + out.a_prob.sum() + out.v_prob.sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
