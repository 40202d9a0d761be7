"""HAN: the hybrid attention network with attentive MMIL pooling, the LLP baseline.

Paper: Yapeng Tian, Dingzeyu Li, Chenliang Xu, "Unified Multisensory Perception: Weakly-Supervised Audio-Visual Video
Parsing", ECCV 2020. Official code: github.com/YapengTian/AVVP-ECCV20 at commit fde5611
(``nets/net_audiovisual.py``, class ``MMIL_Net``); this file reproduces its forward pass to float32 rounding.

Departures (none changes an output):

* the official model also builds ``audio_encoder``, ``visual_encoder``, ``cmt_encoder`` and the
  ``hat_encoder.norm1/norm2`` LayerNorms, which its forward never calls (4,738,048 of its 9,307,723 numbers).
  They are not built here; :mod:`mgn.models.official` drops them, by name, when importing official weights;
* the one shared HAN layer runs on the audio and the visual stream in one batched call (both read the *input*
  features, so this is the same computation);
* 2D visual frames are averaged by 8 before ``fc_v`` (Linear commutes with the mean).

Notation: B batch, T = 10 segments, M = 2 modalities (0 audio, 1 visual), C = 25 classes, D = 512 width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mgn.labels import NUM_CLASSES
from mgn.models.layers import PackedMultiheadAttention, fuse_visual_streams
from mgn.models.output import ParserOutput

__all__ = ["HAN", "HANConfig", "HANLayer"]


@dataclass(frozen=True)
class HANConfig:
    """HAN hyper-parameters; defaults are the official ones (``MMIL_Net()`` takes no arguments)."""

    dim: int = 512  # D, width of the segment features
    num_heads: int = 1  # heads of the self- and cross-modal attention
    ffn_dim: int = 512  # hidden width of the HAN layer's feed-forward network
    dropout: float = 0.1  # dropout on attention weights, residual branches and inside the feed-forward network
    audio_dim: int = 128  # VGGish embedding size
    visual_dim: int = 2048  # ResNet-152 frame feature size
    visual_st_dim: int = 512  # R(2+1)D-18 clip feature size
    num_classes: int = NUM_CLASSES  # C

    def __post_init__(self) -> None:
        for name in ("dim", "num_heads", "ffn_dim", "num_classes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"HANConfig.{name} must be a positive integer, got {value!r}")
        if self.dim % self.num_heads:
            raise ValueError(f"HANConfig.dim ({self.dim}) must be divisible by num_heads ({self.num_heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"HANConfig.dropout must be in [0, 1), got {self.dropout}")


class HANLayer(nn.Module):
    """Post-norm hybrid attention: h = LN1(q + Drop(CrossAttn(q, other)) + Drop(SelfAttn(q)));
    out = LN2(h + Drop(W2 Drop(ReLU(W1 h))))."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = PackedMultiheadAttention(dim, num_heads, dropout)
        self.cm_attn = PackedMultiheadAttention(dim, num_heads, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.dropout11 = nn.Dropout(dropout)
        self.dropout12 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, query: Tensor, other: Tensor) -> Tensor:
        """query (B, T, D) attends to itself and to other (B, T, D) -> (B, T, D)."""
        cross = self.cm_attn(query, other)
        itself = self.self_attn(query, query)
        hidden = self.norm1(query + self.dropout11(cross) + self.dropout12(itself))  # (B, T, D)
        feed_forward = self.linear2(self.dropout(F.relu(self.linear1(hidden))))
        return self.norm2(hidden + self.dropout2(feed_forward))


class HAN(nn.Module):
    """Hybrid attention network + attentive MMIL pooling (official ``MMIL_Net``, used parameters only:
    4,569,675 at the default config)."""

    def __init__(self, config: HANConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or HANConfig()
        dim, classes = config.dim, config.num_classes
        self.fc_prob = nn.Linear(dim, classes)
        self.fc_frame_att = nn.Linear(dim, classes)
        self.fc_av_att = nn.Linear(dim, classes)
        self.fc_a = nn.Linear(config.audio_dim, dim)
        self.fc_v = nn.Linear(config.visual_dim, dim)
        self.fc_st = nn.Linear(config.visual_st_dim, dim)
        self.fc_fusion = nn.Linear(2 * dim, dim)
        self.han_layer = HANLayer(dim, config.num_heads, config.ffn_dim, config.dropout)

    def forward(self, audio: Tensor, visual: Tensor, visual_st: Tensor) -> ParserOutput:
        """Args:
        audio: (B, T, 128) VGGish segments.
        visual: (B, 80, 2048) ResNet-152 frames, or (B, T, 2048) already averaged per segment.
        visual_st: (B, T, 512) R(2+1)D-18 clips.
        """
        batch = audio.shape[0]
        audio_embed = self.fc_a(audio)  # (B, T, D)
        visual_embed = fuse_visual_streams(visual, visual_st, self.fc_v, self.fc_st, self.fc_fusion)  # (B, T, D)
        # One shared layer, both directions at once: queries [audio; visual], other [visual; audio].
        attended = self.han_layer(
            torch.cat((audio_embed, visual_embed)), torch.cat((visual_embed, audio_embed))
        )  # (2B, T, D)
        streams = torch.stack((attended[:batch], attended[batch:]), dim=2)  # (B, T, M, D)
        frame_prob = torch.sigmoid(self.fc_prob(streams))  # (B, T, M, C)
        temporal_att = torch.softmax(self.fc_frame_att(streams), dim=1)  # softmax over time
        modality_att = torch.softmax(self.fc_av_att(streams), dim=2)  # softmax over the two modalities
        temporal_prob = temporal_att * frame_prob  # (B, T, M, C)
        global_prob = (temporal_prob * modality_att).sum(dim=(1, 2))  # (B, C)
        a_prob, v_prob = temporal_prob.sum(dim=1).unbind(1)  # (B, M, C) -> 2 x (B, C)
        return ParserOutput(
            global_prob=global_prob,
            a_prob=a_prob,
            v_prob=v_prob,
            a_frame_prob=frame_prob[:, :, 0],  # (B, T, C)
            v_frame_prob=frame_prob[:, :, 1],
            audio_query=streams[:, :, 0],  # audio after the HAN layer
            visual_key=visual_embed,  # visual before the HAN layer
        )
