"""A restatement of the official HAN / MGN forward passes in the official *order of computation*, for benchmarks.

It reads the parameters of our modules (so both compute the same function on the same weights) but computes the way
the official code does: ``fc_v`` on all 80 frames followed by average pooling, explicit attention (matmul, softmax,
matmul), ``nn.MultiheadAttention``-style sequence-first calls for HAN, and HAN's shared layer called once per
direction. ``bench/train_speed.py`` times it beside our implementation and checks that both give the same outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mgn.models import HAN, MGN
from mgn.models.grouping import AssignAttention, GroupingBlock, GroupingEncoder, straight_through_one_hot
from mgn.models.layers import DropPath, Mlp, MultiHeadAttention, PackedMultiheadAttention, SelfAttentionBlock
from mgn.models.output import ParserOutput

__all__ = ["official_order_forward"]


def _official_visual(model: nn.Module, visual: Tensor, visual_st: Tensor) -> Tensor:
    frames = model.fc_v(visual).permute(0, 2, 1).unsqueeze(-1)  # (B, D, 80, 1): Linear on every frame first
    frames = F.avg_pool2d(frames, (8, 1)).squeeze(-1).permute(0, 2, 1)  # (B, 10, D)
    return model.fc_fusion(torch.cat((frames, model.fc_st(visual_st)), dim=-1))


def _mlp(mlp: Mlp, x: Tensor) -> Tensor:
    return mlp.fc2(F.gelu(mlp.fc1(x)))


def _attention(attn: MultiHeadAttention, query: Tensor, key: Tensor | None) -> Tensor:
    batch, length, dim = query.shape
    heads = attn.num_heads
    if attn.fused_qkv:
        qkv = attn.qkv(query).reshape(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
    else:
        key = query if key is None else key
        split = lambda x: x.reshape(batch, -1, heads, dim // heads).permute(0, 2, 1, 3)  # noqa: E731
        q, k, v = split(attn.q_proj(query)), split(attn.k_proj(key)), split(attn.v_proj(key))
    weights = ((q @ k.transpose(-2, -1)) * (dim // heads) ** -0.5).softmax(dim=-1)
    return attn.proj((weights @ v).permute(0, 2, 1, 3).reshape(batch, length, dim))


def _drop_path(drop: DropPath, x: Tensor) -> Tensor:
    if drop.p == 0.0 or not drop.training:
        return x
    keep = 1.0 - drop.p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x.div(keep) * mask


def _self_block(block: SelfAttentionBlock, x: Tensor) -> Tensor:
    x = x + _drop_path(block.drop_path, _attention(block.attn, block.norm1(x), None))
    return x + _drop_path(block.drop_path, _mlp(block.mlp, block.norm2(x)))


def _assign(assign: AssignAttention, groups: Tensor, segments: Tensor) -> tuple[Tensor, Tensor]:
    logits = (assign.q_proj(groups) @ assign.k_proj(segments).transpose(-2, -1)) * assign.scale
    if assign.hard and assign.training:
        gumbels = torch.distributions.Gumbel(torch.tensor(0.0), torch.tensor(1.0)).sample(logits.shape)
        attn = straight_through_one_hot(((logits + gumbels) / assign.gumbel_tau).softmax(dim=-2), -2)
    elif assign.hard:
        attn = straight_through_one_hot(logits.softmax(dim=-2), -2)
    else:
        attn = logits.softmax(dim=-2)
    soft = 1.0 + logits.softmax(dim=-2).softmax(dim=-1) if assign.one_plus_soft_map else logits.softmax(dim=-2)
    weights = attn / (attn.sum(dim=-1, keepdim=True) + assign.assign_eps)
    return assign.proj(weights @ assign.v_proj(segments)), attn.clone() if assign.hard else soft


def _grouping(block: GroupingBlock, segments: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor]:
    tokens, segments = block.norm_tokens(tokens), block.norm_x(segments)
    projected = block.norm_post_tokens(_mlp(block.mlp_inter, tokens.transpose(1, 2)).transpose(1, 2))
    cross = block.pre_assign_attn
    hidden = projected + _attention(cross.attn, projected, segments)
    projected = cross.norm_post(hidden + _mlp(cross.mlp, cross.norm2(hidden)))
    new, attn = _assign(block.assign, projected, segments)
    new = new + projected
    return new + _mlp(block.mlp_channels, block.norm_new_x(new)), attn


def _encoder(encoder: GroupingEncoder, x: Tensor, tokens: Tensor, other: Tensor | None = None):
    tokens = tokens.expand(x.size(0), -1, -1)
    length = x.shape[1]
    joint = torch.cat([x, tokens], dim=1)
    for block in encoder.blocks:
        joint = _self_block(block, joint)
    segments, tokens = joint[:, :length], joint[:, length:]
    if encoder.han_encoder is not None and other is not None:
        segments, _ = _grouping(encoder.han_encoder, segments, other)
    return _grouping(encoder.grouping, segments, tokens)


def _mgn(model: MGN, audio: Tensor, visual: Tensor, visual_st: Tensor) -> ParserOutput:
    audio_embed = model.fc_a(audio)
    visual_embed = _official_visual(model, visual, visual_st)
    visual_groups, visual_map = _encoder(model.visual_cug, visual_embed, model.visual_token)
    audio_groups, audio_map = _encoder(model.audio_cug, audio_embed, model.audio_token, visual_embed)
    fused, _ = _encoder(model.av_mcg, audio_groups, visual_groups)
    global_prob = torch.sigmoid(model.fc_prob(fused)).sum(dim=-1)
    a_prob = torch.sigmoid(model.fc_prob_a(audio_groups))
    v_prob = torch.sigmoid(model.fc_prob_v(visual_groups))
    return ParserOutput(
        global_prob=global_prob,
        a_prob=a_prob.sum(dim=-1),
        v_prob=v_prob.sum(dim=-1),
        a_frame_prob=(a_prob * audio_map).permute(0, 2, 1),
        v_frame_prob=(v_prob * visual_map).permute(0, 2, 1),
        audio_query=audio_embed,
        visual_key=visual_embed,
        audio_class_logits=model.fc_cls(model.audio_token),
        visual_class_logits=model.fc_cls(model.visual_token),
    )


def _packed_mha(attn: PackedMultiheadAttention, query: Tensor, key: Tensor) -> Tensor:
    """``nn.MultiheadAttention``'s functional path, sequence-first, as the official HANLayer calls it."""
    out, _ = F.multi_head_attention_forward(
        query,
        key,
        key,
        query.shape[-1],
        attn.num_heads,
        attn.in_proj_weight,
        attn.in_proj_bias,
        None,
        None,
        False,
        attn.dropout,
        attn.out_proj.weight,
        attn.out_proj.bias,
        training=attn.training,
        need_weights=False,
    )
    return out


def _han_layer(model: HAN, query: Tensor, other: Tensor) -> Tensor:
    layer = model.han_layer
    query, other = query.permute(1, 0, 2), other.permute(1, 0, 2)
    cross = _packed_mha(layer.cm_attn, query, other)
    itself = _packed_mha(layer.self_attn, query, query)
    query = layer.norm1(query + layer.dropout11(cross) + layer.dropout12(itself))
    query = layer.norm2(query + layer.dropout2(layer.linear2(layer.dropout(F.relu(layer.linear1(query))))))
    return query.permute(1, 0, 2)


def _han(model: HAN, audio: Tensor, visual: Tensor, visual_st: Tensor) -> ParserOutput:
    audio_embed = model.fc_a(audio)
    visual_embed = _official_visual(model, visual, visual_st)
    audio_out, visual_out = _han_layer(model, audio_embed, visual_embed), _han_layer(model, visual_embed, audio_embed)
    x = torch.cat([audio_out.unsqueeze(-2), visual_out.unsqueeze(-2)], dim=-2)
    frame_prob = torch.sigmoid(model.fc_prob(x))
    temporal = torch.softmax(model.fc_frame_att(x), dim=1) * frame_prob
    global_prob = (temporal * torch.softmax(model.fc_av_att(x), dim=2)).sum(dim=2).sum(dim=1)
    return ParserOutput(
        global_prob=global_prob,
        a_prob=temporal[:, :, 0, :].sum(dim=1),
        v_prob=temporal[:, :, 1, :].sum(dim=1),
        a_frame_prob=frame_prob[:, :, 0, :],
        v_frame_prob=frame_prob[:, :, 1, :],
        audio_query=audio_out,
        visual_key=visual_embed,
    )


def official_order_forward(model: nn.Module, audio: Tensor, visual: Tensor, visual_st: Tensor) -> ParserOutput:
    """The official computation, with ``model``'s parameters; ``visual`` must hold all 80 frames."""
    if isinstance(model, MGN):
        return _mgn(model, audio, visual, visual_st)
    if isinstance(model, HAN):
        return _han(model, audio, visual, visual_st)
    raise TypeError(type(model).__name__)
