"""Grouping blocks of MGN: segments are assigned to group (class) tokens, soft or hard.

Follows the official ``nets/grouping.py`` of stoneMo/MGN (commit 11be034), itself derived from GroupViT, including
its quirks, each behind a flag whose default is the official behaviour (REFERENCE.md 4.3-4.4):

* the soft class -> segment map that MGN multiplies into its segment-level probabilities is
  ``1 + softmax_over_segments(softmax_over_groups(logits))`` (``one_plus_soft_map``), not the assignment itself;
  every entry lies in about [1.04, 1.23] for 10 segments, so soft segment-level probabilities are nearly flat in time;
* assignment weights are divided by (their sum over segments + ``assign_eps`` = 1);
* hard assignment uses Gumbel noise (tau = 1) in training and a noise-free arg-max in eval, both in the
  straight-through form ``one_hot - stopgrad(y) + y``.

Notation: B batch, L segment tokens, S group tokens (S_in in, S_out out), D width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mgn.models.layers import CrossAttentionBlock, Mlp, SelfAttentionBlock

__all__ = ["AssignAttention", "GroupingBlock", "GroupingEncoder", "GroupingEncoderOutput", "straight_through_one_hot"]

# The softmax of an assignment runs over the group-token axis of a (B, S, L) logit map.
_GROUP_AXIS = -2
_SEGMENT_AXIS = -1


def straight_through_one_hot(probs: Tensor, dim: int) -> Tensor:
    """One-hot of the arg-max along ``dim`` in the forward pass, gradient of ``probs`` in the backward pass."""
    index = probs.argmax(dim=dim, keepdim=True)
    one_hot = torch.zeros_like(probs).scatter_(dim, index, 1.0)
    return one_hot - probs.detach() + probs


class AssignAttention(nn.Module):
    """One-head attention that assigns L segment tokens to S group tokens.

    logits = (W_q g)(W_k x)^T * D^-0.5, shape (B, S, L); A = softmax (or straight-through one-hot) of the logits
    along the *group* axis; the output is W_proj(A / (sum_L A + eps) @ W_v x).
    Keys: ``q_proj``, ``k_proj``, ``v_proj``, ``proj``.
    """

    def __init__(self, dim: int, *, hard: bool, gumbel_tau: float, assign_eps: float, one_plus_soft_map: bool) -> None:
        super().__init__()
        self.scale = dim**-0.5  # one head: head width = D
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.hard = hard  # hard assignment also means Gumbel noise in training (the official gumbel = hard)
        self.gumbel_tau = gumbel_tau
        self.assign_eps = assign_eps
        self.one_plus_soft_map = one_plus_soft_map

    def assignment(self, logits: Tensor) -> Tensor:
        """Assignment A (B, S, L) from logits (B, S, L): softmax over groups, one-hot if hard."""
        if self.hard and self.training:
            gumbel_noise = -torch.empty_like(logits).exponential_().log()  # ~ Gumbel(0, 1)
            probs = F.softmax((logits + gumbel_noise) / self.gumbel_tau, dim=_GROUP_AXIS)
            return straight_through_one_hot(probs, _GROUP_AXIS)
        probs = F.softmax(logits, dim=_GROUP_AXIS)  # (B, S, L): each segment's posterior over groups
        return straight_through_one_hot(probs, _GROUP_AXIS) if self.hard else probs

    def soft_map(self, logits: Tensor) -> Tensor:
        """The noise-free soft class -> segment map (B, S, L) that MGN reads for soft segment predictions."""
        probs = F.softmax(logits, dim=_GROUP_AXIS)
        if self.one_plus_soft_map:
            return 1.0 + F.softmax(probs, dim=_SEGMENT_AXIS)  # official: entries in [1 + 1/(1+9e), 1 + e/(e+9)]
        return probs

    def forward(self, groups: Tensor, segments: Tensor) -> tuple[Tensor, Tensor]:
        """Args: groups (B, S, D), segments (B, L, D).

        Returns:
            (output (B, S, D), map (B, S, L)): the map is the assignment itself when hard, the soft map when soft
            (what the official model returns under the key of its mode).
        """
        logits = self.q_proj(groups) @ self.k_proj(segments).transpose(1, 2) * self.scale  # (B, S, L)
        assign = self.assignment(logits)
        weights = assign / (assign.sum(dim=_SEGMENT_AXIS, keepdim=True) + self.assign_eps)  # (B, S, L)
        output = self.proj(weights @ self.v_proj(segments))  # (B, S, D)
        return output, assign if self.hard else self.soft_map(logits)


class GroupingBlock(nn.Module):
    """Official ``GroupingBlock`` (and ``GroupingBlock_Han``, a byte-for-byte copy of it).

    1. g <- LN_tokens(g), x <- LN_x(x);
    2. token mixing: g_p = LN_post_tokens(MLP over the token axis, S_in -> token_mlp_ratio * D -> S_out);
    3. g_p <- CrossAttentionBlock(g_p, x) (post-norm);
    4. (o, A) = AssignAttention(g_p, x); n = o + g_p;
    5. out = n + MLP(LN_new_x(n)).
    """

    def __init__(
        self,
        dim: int,
        *,
        num_input_tokens: int,
        num_output_tokens: int,
        num_heads: int,
        mlp_ratio: float,
        token_mlp_ratio: float,
        hard: bool,
        gumbel_tau: float,
        assign_eps: float,
        one_plus_soft_map: bool,
    ) -> None:
        super().__init__()
        self.norm_tokens = nn.LayerNorm(dim)
        self.mlp_inter = Mlp(num_input_tokens, int(token_mlp_ratio * dim), num_output_tokens)
        self.norm_post_tokens = nn.LayerNorm(dim)
        self.norm_x = nn.LayerNorm(dim)
        self.pre_assign_attn = CrossAttentionBlock(dim, num_heads, mlp_ratio)
        self.assign = AssignAttention(
            dim, hard=hard, gumbel_tau=gumbel_tau, assign_eps=assign_eps, one_plus_soft_map=one_plus_soft_map
        )
        self.norm_new_x = nn.LayerNorm(dim)
        self.mlp_channels = Mlp(dim, int(mlp_ratio * dim))

    def forward(self, segments: Tensor, group_tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Args: segments (B, L, D), group_tokens (B, S_in, D).
        Returns (groups (B, S_out, D), assignment map (B, S_out, L))."""
        group_tokens = self.norm_tokens(group_tokens)
        segments = self.norm_x(segments)
        projected = self.mlp_inter(group_tokens.transpose(1, 2)).transpose(1, 2)  # (B, D, S_in) -> (B, S_out, D)
        projected = self.pre_assign_attn(self.norm_post_tokens(projected), segments)  # (B, S_out, D)
        assigned, assignment = self.assign(projected, segments)
        groups = assigned + projected
        return groups + self.mlp_channels(self.norm_new_x(groups)), assignment


@dataclass
class GroupingEncoderOutput:
    """What a :class:`GroupingEncoder` computes.

    Attributes:
        groups: (B, S, D) grouped (class-aware) features, one per group token.
        assignment: (B, S, L) class -> segment map of the final grouping block: the hard one-hot assignment, or the
            soft map (see :meth:`AssignAttention.soft_map`).
        segments: (B, L, D) segment tokens after the self-attention blocks.
        grouped_segments: (B, L, D) what the final grouping block grouped: ``segments``, or the output of the
            cross-modal regrouping step in the audio branch.
    """

    groups: Tensor
    assignment: Tensor
    segments: Tensor
    grouped_segments: Tensor


class GroupingEncoder(nn.Module):
    """Official ``ModalityTrans``: self-attention over [segments ; group tokens], then grouping.

    With ``regroup_tokens > 0`` (MGN's audio branch, the official ``use_han``) the segment tokens are first
    re-expressed by a grouping block whose ``regroup_tokens`` queries come from another modality (the visual segment
    embeddings); its output replaces the segments. Keys: ``blocks.{i}``, ``han_encoder`` (if any), ``grouping``.
    """

    def __init__(
        self,
        dim: int,
        *,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        token_mlp_ratio: float,
        drop_path: float,
        num_group_tokens: int,
        hard: bool,
        regroup_tokens: int = 0,
        regroup_hard: bool = False,
        gumbel_tau: float,
        assign_eps: float,
        one_plus_soft_map: bool,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(SelfAttentionBlock(dim, num_heads, mlp_ratio, drop_path) for _ in range(depth))
        shared = dict(
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            token_mlp_ratio=token_mlp_ratio,
            gumbel_tau=gumbel_tau,
            assign_eps=assign_eps,
            one_plus_soft_map=one_plus_soft_map,
        )
        self.han_encoder = (
            GroupingBlock(
                dim, num_input_tokens=regroup_tokens, num_output_tokens=regroup_tokens, hard=regroup_hard, **shared
            )
            if regroup_tokens
            else None
        )
        self.grouping = GroupingBlock(
            dim, num_input_tokens=num_group_tokens, num_output_tokens=num_group_tokens, hard=hard, **shared
        )

    def forward(self, segments: Tensor, group_tokens: Tensor, other: Tensor | None = None) -> GroupingEncoderOutput:
        """Args:
        segments: (B, L, D) segment tokens.
        group_tokens: (S, D) learnable tokens or (B, S, D) per-sample tokens.
        other: (B, T, D) the other modality's tokens for the regrouping step (audio branch only).
        """
        batch, length, _ = segments.shape
        tokens = torch.cat((segments, group_tokens.expand(batch, -1, -1)), dim=1)  # (B, L + S, D)
        for block in self.blocks:
            tokens = block(tokens)
        segments, group_tokens = tokens[:, :length], tokens[:, length:]  # (B, L, D), (B, S, D)
        grouped_segments = segments
        if self.han_encoder is not None and other is not None:
            grouped_segments, _ = self.han_encoder(segments, other)  # (B, T, D): one token per query of `other`
        groups, assignment = self.grouping(grouped_segments, group_tokens)
        return GroupingEncoderOutput(groups, assignment, segments, grouped_segments)
