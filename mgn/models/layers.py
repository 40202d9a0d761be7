"""Building blocks shared by the HAN and MGN models.

Notation (REFERENCE.md): B batch, T = 10 one-second segments, F = 80 frames, C = 25 classes, D model width,
N a generic token count, H attention heads, hd = D / H the head width.

Parameter names follow the official code (``fc1``/``fc2``, ``qkv``/``q_proj``/``k_proj``/``v_proj``/``proj``,
``in_proj_weight``/``out_proj``) so that official state_dicts load without renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mgn.labels import FRAMES_PER_SEGMENT, NUM_FRAMES, NUM_SEGMENTS

__all__ = [
    "CrossAttentionBlock",
    "DropPath",
    "Mlp",
    "MultiHeadAttention",
    "PackedMultiheadAttention",
    "SelfAttentionBlock",
    "fuse_visual_streams",
    "pool_frames",
]


def pool_frames(visual: Tensor) -> Tensor:
    """Mean of each run of 8 consecutive frames: (B, 80, Din) -> (B, 10, Din); (B, 10, Din) passes through.

    The official models apply ``fc_v`` to all 80 frames and then average-pool by 8. A Linear layer commutes with the
    mean, so pooling first gives the same result (to float rounding, ~1e-7) for 8x fewer multiply-adds. Inputs that
    are already pooled (the data layer's ``pooled_visual=True``) are recognised by their length of 10.
    """
    batch, length, channels = visual.shape
    if length == NUM_FRAMES:
        return visual.view(batch, NUM_SEGMENTS, FRAMES_PER_SEGMENT, channels).mean(dim=2)  # (B, T, Din)
    if length == NUM_SEGMENTS:
        return visual
    raise ValueError(
        f"visual features must have {NUM_FRAMES} frames (or {NUM_SEGMENTS} pooled segments) on axis 1, "
        f"got shape {tuple(visual.shape)}"
    )


def fuse_visual_streams(
    visual: Tensor, visual_st: Tensor, fc_v: nn.Linear, fc_st: nn.Linear, fc_fusion: nn.Linear
) -> Tensor:
    """The official visual stem of both models: fc_fusion(concat[pool8(fc_v(2D frames)), fc_st(3D clips)]).

    Args:
        visual: (B, 80, 2048) ResNet-152 frames, or (B, 10, 2048) already pooled.
        visual_st: (B, 10, 512) R(2+1)D-18 clips.

    Returns:
        (B, 10, D) fused visual segment embeddings.
    """
    frames = fc_v(pool_frames(visual))  # (B, T, D)
    clips = fc_st(visual_st)  # (B, T, D)
    return fc_fusion(torch.cat((frames, clips), dim=-1))  # (B, T, 2D) -> (B, T, D)


class Mlp(nn.Module):
    """Linear -> activation -> Linear (no dropout: the official models use drop = 0 in every MLP)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()  # exact erf GELU, as in the official code
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class DropPath(nn.Module):
    """Per-sample stochastic depth: in training, zero a sample's residual branch with probability ``p`` and scale the
    kept ones by 1 / (1 - p); the identity in eval mode."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)  # (B, 1, 1)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention with H heads and scale hd^-0.5, no dropout.

    ``fused_qkv=True`` is the official self-attention layout (one ``qkv`` Linear D -> 3D whose output channels are
    [3 (q, k, v)] x [H] x [hd]); ``fused_qkv=False`` has separate ``q_proj``/``k_proj``/``v_proj`` Linears and serves
    cross-attention. The values are the keys' input in both cases.
    """

    def __init__(self, dim: int, num_heads: int, *, fused_qkv: bool) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.fused_qkv = fused_qkv
        if fused_qkv:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q_proj = nn.Linear(dim, dim)
            self.k_proj = nn.Linear(dim, dim)
            self.v_proj = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def _heads(self, x: Tensor) -> Tensor:
        batch, length, dim = x.shape
        return x.view(batch, length, self.num_heads, dim // self.num_heads).transpose(1, 2)  # (B, H, N, hd)

    def forward(self, query: Tensor, key: Tensor | None = None) -> Tensor:
        """Self-attention when ``key`` is None (requires fused_qkv), else cross-attention query -> key.

        Args:
            query: (B, Nq, D).
            key: (B, Nk, D) or None.

        Returns:
            (B, Nq, D).
        """
        batch, length, dim = query.shape
        if self.fused_qkv:
            if key is not None:
                raise ValueError("a fused-qkv attention layer only does self-attention")
            qkv = self.qkv(query).view(batch, length, 3, self.num_heads, dim // self.num_heads)  # (B, N, 3, H, hd)
            q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, N, hd)
        else:
            key = query if key is None else key
            q, k, v = self._heads(self.q_proj(query)), self._heads(self.k_proj(key)), self._heads(self.v_proj(key))
        out = F.scaled_dot_product_attention(q, k, v)  # (B, H, Nq, hd)
        return self.proj(out.transpose(1, 2).reshape(batch, length, dim))  # (B, Nq, D)


class SelfAttentionBlock(nn.Module):
    """Pre-norm transformer block (the official ``AttnBlock``):
    x <- x + DropPath(MHSA(LN1(x))); x <- x + DropPath(MLP(LN2(x)))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads, fused_qkv=True)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))  # (B, N, D)
        return x + self.drop_path(self.mlp(self.norm2(x)))  # (B, N, D)


class CrossAttentionBlock(nn.Module):
    """Post-norm cross-attention block (the official ``CrossAttnBlock(post_norm=True)``, no LN on q or k):
    h = q + MHA(q, k); h <- h + MLP(LN2(h)); out = LN_post(h)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm_post = nn.LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads, fused_qkv=False)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        x = query + self.attn(query, key)  # (B, Nq, D)
        x = x + self.mlp(self.norm2(x))
        return self.norm_post(x)


class PackedMultiheadAttention(nn.Module):
    """Multi-head attention with the parameter layout of ``torch.nn.MultiheadAttention`` (``in_proj_weight`` stacking
    W_q, W_k, W_v; ``in_proj_bias``; ``out_proj``), batch-first, with dropout on the attention weights in training.

    Numerically the same map as ``nn.MultiheadAttention``; written on ``scaled_dot_product_attention`` so the fused
    CPU/GPU kernels apply.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)  # nn.MultiheadAttention's initialisation
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: Tensor, key: Tensor) -> Tensor:
        """query (B, Nq, D), key = value (B, Nk, D) -> (B, Nq, D)."""
        batch, length, dim = query.shape
        heads, head_dim = self.num_heads, dim // self.num_heads
        w_q, w_kv = self.in_proj_weight.split((dim, 2 * dim))
        b_q, b_kv = self.in_proj_bias.split((dim, 2 * dim))
        if query is key:
            q, k, v = F.linear(query, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)  # 3 x (B, N, D)
        else:
            q = F.linear(query, w_q, b_q)  # (B, Nq, D)
            k, v = F.linear(key, w_kv, b_kv).chunk(2, dim=-1)  # 2 x (B, Nk, D)
        q, k, v = (t.reshape(batch, -1, heads, head_dim).transpose(1, 2) for t in (q, k, v))  # (B, H, N, hd)
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(batch, length, dim))  # (B, Nq, D)
