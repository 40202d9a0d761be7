"""The typed output shared by every parser model (HAN, MGN), so callers use names, never tuple positions."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["ParserOutput"]


@dataclass
class ParserOutput:
    """Predictions and features of an audio-visual video parser for a batch of B clips.

    Probabilities are sigmoid outputs in [0, 1], except the segment-level ones of MGN with soft assignment, which the
    official model forms as probability x (1 + softmax) and which can slightly exceed 1 (REFERENCE.md 6.2).

    Attributes:
        global_prob: (B, C) fused audio-visual video-level probability; gates segment predictions at test time.
        a_prob: (B, C) audio video-level probability.
        v_prob: (B, C) visual video-level probability.
        a_frame_prob: (B, T, C) audio segment-level probability.
        v_frame_prob: (B, T, C) visual segment-level probability.
        audio_query: (B, T, D) contextualised audio segment features (the query of MA's contrastive loss).
        visual_key: (B, T, D) visual segment embeddings before any context (the key of MA's contrastive loss).
        audio_class_logits: (C, C) class-token classifier logits of the audio class tokens (MGN only).
        visual_class_logits: (C, C) same for the visual class tokens (MGN only).
        audio_class_features: (B, C, D) class-aware audio features, one per class token (MGN only).
        visual_class_features: (B, C, D) class-aware visual features (MGN only).
    """

    global_prob: Tensor
    a_prob: Tensor
    v_prob: Tensor
    a_frame_prob: Tensor
    v_frame_prob: Tensor
    audio_query: Tensor
    visual_key: Tensor
    audio_class_logits: Tensor | None = None
    visual_class_logits: Tensor | None = None
    audio_class_features: Tensor | None = None
    visual_class_features: Tensor | None = None
