"""MGN: Multi-modal Grouping Network for weakly-supervised audio-visual video parsing.

Paper: Shentong Mo, Yapeng Tian, "Multi-modal Grouping Network for Weakly-Supervised Audio-Visual Video Parsing",
NeurIPS 2022. Official code: github.com/stoneMo/MGN at commit 11be034 (``nets/mgn.py``, ``nets/grouping.py``);
this file reproduces its forward pass to float32 rounding (tested against outputs of the official code).

Departures, each behind a config flag whose default is the official behaviour (REFERENCE.md 4, 6):

* ``inverted_han_assign``: the audio branch's cross-modal regrouping block runs hard Gumbel assignment when the
  unimodal mode is soft and soft when it is hard (the official flags are inverted);
* ``one_plus_soft_map``: the soft map behind segment predictions is 1 + softmax_t(softmax_k(logits)), nearly flat
  in time (see :mod:`mgn.models.grouping`); False uses the per-segment class posterior softmax_k(logits) instead;
* ``zero_init_class_tokens``: the 25 audio and 25 visual class tokens start at zero (the official init hook never
  reaches them);
* 2D visual frames are averaged by 8 *before* ``fc_v`` instead of after: exactly the same map (Linear commutes with
  the mean), 8x cheaper.

One opt-in change that is not an official quirk but a different read-out (recipe ``mgn-localise`` in
``training.config``), off by default:

* ``segment_head``: the official segment probabilities are the video-level probability times the soft map, whose
  entries lie in [1.04, 1.23], so under the official 0.5 gate a class is on in all ten segments or in none. With
  ``segment_head``, MGN's class-aware segment features (the audio and visual segment tokens after self-attention
  over [segments; class tokens]) go through one HAN hybrid-attention layer (self- and cross-modal attention, shared
  by both directions; REFERENCE.md 3.1 step 5) and HAN's read-out (3.2) per modality: segment probabilities
  ``sigmoid(fc_frame(x_t))``, and the modality's video-level probability as their attentive MIL pooling over time,
  ``sum_t softmax_t(fc_frame_att(x))_t * sigmoid(fc_frame(x_t))``. The weak-label losses on ``a_prob`` / ``v_prob``
  thus train the segment probabilities. The fused probability (the gate) still comes from the cross-modal grouping;
  the class-token heads ``fc_prob_a`` / ``fc_prob_v`` are not built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from mgn.labels import NUM_CLASSES, NUM_SEGMENTS
from mgn.models.grouping import GroupingEncoder
from mgn.models.han import HANLayer
from mgn.models.layers import fuse_visual_streams
from mgn.models.output import ParserOutput

__all__ = ["MGN", "MGNConfig"]

AssignMode = Literal["soft", "hard"]


@dataclass(frozen=True)
class MGNConfig:
    """MGN hyper-parameters; defaults are the official ones (``main.py`` flags and hard-coded constants)."""

    dim: int = 128  # D, width of every token (official --dim)
    depth_aud: int = 3  # self-attention blocks in the audio class-aware unimodal grouping (--depth_aud)
    depth_vis: int = 3  # same for the visual branch (--depth_vis)
    depth_av: int = 6  # self-attention blocks in the modality-aware cross-modal grouping (--depth_av)
    unimodal_assign: AssignMode = "soft"  # assignment of the audio / visual grouping blocks (--unimodal_assign)
    crossmodal_assign: AssignMode = "soft"  # assignment of the cross-modal grouping block (--crossmodal_assign)
    num_heads: int = 8  # heads of every self- and pre-assignment cross-attention (the assignment has 1 head)
    mlp_ratio: float = 4.0  # channel-MLP hidden width / D
    token_mlp_ratio: float = 0.5  # token-mixing MLP hidden width / D (independent of the token count)
    drop_path: float = 0.1  # stochastic depth of every self-attention block (constant, not ramped)
    gumbel_tau: float = 1.0  # Gumbel-softmax temperature of hard assignment in training
    assign_eps: float = 1.0  # assignment weights are divided by (sum over segments + assign_eps)
    audio_dim: int = 128  # VGGish embedding size
    visual_dim: int = 2048  # ResNet-152 frame feature size
    visual_st_dim: int = 512  # R(2+1)D-18 clip feature size
    num_classes: int = NUM_CLASSES  # C, also the number of class tokens per modality
    num_segments: int = NUM_SEGMENTS  # T, also the number of regrouping tokens of the audio branch
    inverted_han_assign: bool = True  # official quirk: regrouping block assignment is the opposite of unimodal
    one_plus_soft_map: bool = True  # official quirk: soft map 1 + softmax_t(softmax_k); False: softmax_k
    zero_init_class_tokens: bool = True  # official: class tokens start at 0; False: trunc-normal(0.02)
    segment_head: bool = False  # official: no; True: hybrid attention + HAN's segment read-out per modality (above)

    def __post_init__(self) -> None:
        for name in ("unimodal_assign", "crossmodal_assign"):
            if getattr(self, name) not in ("soft", "hard"):
                raise ValueError(f"MGNConfig.{name} must be 'soft' or 'hard', got {getattr(self, name)!r}")
        for name in ("dim", "depth_aud", "depth_vis", "depth_av", "num_heads", "num_classes", "num_segments"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MGNConfig.{name} must be a positive integer, got {value!r}")
        if self.dim % self.num_heads:
            raise ValueError(f"MGNConfig.dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")

    @property
    def regroup_hard(self) -> bool:
        """Whether the audio branch's regrouping block uses hard (Gumbel) assignment."""
        unimodal_hard = self.unimodal_assign == "hard"
        return not unimodal_hard if self.inverted_han_assign else unimodal_hard


class MGN(nn.Module):
    """Multi-modal Grouping Network. Keys are those of the official ``MGN_Net`` state_dict (322 tensors at the
    default config, 4,366,065 parameters)."""

    def __init__(self, config: MGNConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MGNConfig()
        dim, classes = config.dim, config.num_classes
        self.fc_a = nn.Linear(config.audio_dim, dim)
        self.fc_v = nn.Linear(config.visual_dim, dim)
        self.fc_st = nn.Linear(config.visual_st_dim, dim)
        self.fc_fusion = nn.Linear(2 * dim, dim)
        self.audio_token = nn.Parameter(torch.zeros(classes, dim))  # (C, D) learnable audio class tokens
        self.visual_token = nn.Parameter(torch.zeros(classes, dim))  # (C, D) learnable visual class tokens
        shared = dict(
            num_heads=config.num_heads,
            mlp_ratio=config.mlp_ratio,
            token_mlp_ratio=config.token_mlp_ratio,
            drop_path=config.drop_path,
            num_group_tokens=classes,
            gumbel_tau=config.gumbel_tau,
            assign_eps=config.assign_eps,
            one_plus_soft_map=config.one_plus_soft_map,
        )
        unimodal_hard = config.unimodal_assign == "hard"
        self.audio_cug = GroupingEncoder(
            dim,
            depth=config.depth_aud,
            hard=unimodal_hard,
            regroup_tokens=config.num_segments,
            regroup_hard=config.regroup_hard,
            **shared,
        )
        self.visual_cug = GroupingEncoder(dim, depth=config.depth_vis, hard=unimodal_hard, **shared)
        self.av_mcg = GroupingEncoder(dim, depth=config.depth_av, hard=config.crossmodal_assign == "hard", **shared)
        self.fc_prob = nn.Linear(dim, 1)  # one head shared by the C fused class tokens
        if not config.segment_head:
            self.fc_prob_a = nn.Linear(dim, 1)
            self.fc_prob_v = nn.Linear(dim, 1)
        self.fc_cls = nn.Linear(dim, classes)  # classifies class tokens; shared by both modalities
        if config.segment_head:  # HAN's layer (1 head, feed-forward width D, dropout 0.1) and read-out per modality
            self.segment_attention = HANLayer(dim, num_heads=1, ffn_dim=dim, dropout=0.1)
            self.fc_frame_a = nn.Linear(dim, classes)
            self.fc_frame_att_a = nn.Linear(dim, classes)
            self.fc_frame_v = nn.Linear(dim, classes)
            self.fc_frame_att_v = nn.Linear(dim, classes)
        self.apply(_init_weights)
        if not config.zero_init_class_tokens:
            for token in (self.audio_token, self.visual_token):
                nn.init.trunc_normal_(token, std=0.02, a=-2.0, b=2.0)

    def forward(self, audio: Tensor, visual: Tensor, visual_st: Tensor) -> ParserOutput:
        """Args:
        audio: (B, T, 128) VGGish segments.
        visual: (B, 80, 2048) ResNet-152 frames, or (B, T, 2048) already averaged per segment.
        visual_st: (B, T, 512) R(2+1)D-18 clips.
        """
        audio_embed = self.fc_a(audio)  # (B, T, D)
        visual_embed = fuse_visual_streams(visual, visual_st, self.fc_v, self.fc_st, self.fc_fusion)  # (B, T, D)
        visual_out = self.visual_cug(visual_embed, self.visual_token)  # groups (B, C, D), assignment (B, C, T)
        audio_out = self.audio_cug(audio_embed, self.audio_token, other=visual_embed)
        fused = self.av_mcg(audio_out.groups, visual_out.groups).groups  # audio groups assigned to visual groups
        global_prob = torch.sigmoid(self.fc_prob(fused)).squeeze(-1)  # (B, C, 1) -> (B, C)
        if self.config.segment_head:
            batch = audio.shape[0]
            attended = self.segment_attention(  # both directions at once, as HAN: (2B, T, D)
                torch.cat((audio_out.segments, visual_out.segments)),
                torch.cat((visual_out.segments, audio_out.segments)),
            )
            a_prob, a_frame_prob = _attentive_mil(attended[:batch], self.fc_frame_a, self.fc_frame_att_a)
            v_prob, v_frame_prob = _attentive_mil(attended[batch:], self.fc_frame_v, self.fc_frame_att_v)
        else:
            a_prob = torch.sigmoid(self.fc_prob_a(audio_out.groups)).squeeze(-1)  # (B, C)
            v_prob = torch.sigmoid(self.fc_prob_v(visual_out.groups)).squeeze(-1)  # (B, C)
            # segment-level = video-level probability x the class -> segment assignment map of the unimodal grouping
            a_frame_prob = (a_prob.unsqueeze(-1) * audio_out.assignment).transpose(1, 2)  # (B, C, T) -> (B, T, C)
            v_frame_prob = (v_prob.unsqueeze(-1) * visual_out.assignment).transpose(1, 2)  # (B, T, C)
        return ParserOutput(
            global_prob=global_prob,
            a_prob=a_prob,
            v_prob=v_prob,
            a_frame_prob=a_frame_prob,
            v_frame_prob=v_frame_prob,
            audio_query=audio_out.segments,
            visual_key=visual_embed,
            audio_class_logits=self.fc_cls(self.audio_token),  # (C, C)
            visual_class_logits=self.fc_cls(self.visual_token),  # (C, C)
            audio_class_features=audio_out.groups,
            visual_class_features=visual_out.groups,
        )


def _attentive_mil(segments: Tensor, frame_head: nn.Linear, attention_head: nn.Linear) -> tuple[Tensor, Tensor]:
    """HAN's read-out for one modality: segment probabilities and their attention-weighted mean over time.

    Args: segments (B, T, D). Returns (video-level probability (B, C), segment probabilities (B, T, C)).
    """
    frame_prob = torch.sigmoid(frame_head(segments))  # (B, T, C)
    weights = torch.softmax(attention_head(segments), dim=1)  # (B, T, C), over time
    return (weights * frame_prob).sum(dim=1), frame_prob


def _init_weights(module: nn.Module) -> None:
    """Official init: every Linear trunc-normal(std 0.02, cut at +-2) with zero bias; LayerNorm weight 1, bias 0."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02, a=-2.0, b=2.0)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
