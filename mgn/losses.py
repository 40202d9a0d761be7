"""Training losses of HAN and MGN (official recipes) and MA's audio-visual contrastive loss (C).

Official terms (REFERENCE.md 3.5, 4.6), all with weight 1 by default:

* guided BCE: BCE(global_prob, y) + BCE(a_prob, P_a) + BCE(v_prob, P_v), the three probabilities clamped to
  [1e-7, 1 - 1e-7] first; P_a = a*y + (1 - a)/2 with a = 1.0 (no smoothing), P_v with v = 0.9 (0.95 / 0.05);
* MGN only: class-token cross-entropy CE(fc_cls(audio tokens), [0..C-1]) + CE(fc_cls(visual tokens), [0..C-1]).

MA's contrastive loss (REFERENCE_MA.md 1.2): per video, the L2-normalised audio query of segment t against the
L2-normalised visual keys of the same video's T segments, logits cos / tau (tau = 0.2), cross-entropy towards
segment t with label smoothing 0.1 over the T "classes"; no cross-video negatives, one direction only.

Shapes: B batch, T segments, C classes, D width.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mgn.models.output import ParserOutput

__all__ = [
    "LossWeights",
    "ModalityTargets",
    "PROB_CLAMP",
    "class_token_loss",
    "contrastive_loss",
    "parser_loss",
    "smoothed_targets",
    "weighted_total",
]

PROB_CLAMP = 1e-7  # the official code clamps probabilities to [1e-7, 1 - 1e-7] before BCE


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (official: all 1; contrastive off)."""

    global_bce: float = 1.0
    audio_bce: float = 1.0
    visual_bce: float = 1.0
    class_tokens: float = 1.0  # MGN only
    contrastive: float = 0.0  # MA's C; 1.0 when enabled, as in MA


@dataclass(frozen=True)
class ModalityTargets:
    """Targets of one batch, each (B, C) float32 in [0, 1].

    Attributes:
        global_target: target of the fused video-level probability.
        audio_target: target of a_prob (P_a).
        visual_target: target of v_prob (P_v).
    """

    global_target: Tensor
    audio_target: Tensor
    visual_target: Tensor


def smoothed_targets(
    labels: Tensor,
    *,
    audio_smoothing: float = 1.0,
    visual_smoothing: float = 0.9,
    audio_labels: Tensor | None = None,
    visual_labels: Tensor | None = None,
    global_labels: Tensor | None = None,
) -> ModalityTargets:
    """The official guided-learning targets, optionally with modality-aware (refined) labels.

    Args:
        labels: (B, C) weak video-level labels in {0, 1}.
        audio_smoothing: a; P_a = a*y_a + (1 - a)/2 where the modality label is kept (official a = 1.0).
        visual_smoothing: v; P_v = v*y_v + (1 - v)/2 (official v = 0.9, so 0.95 / 0.05).
        audio_labels, visual_labels: (B, C) refined modality labels (MA's R). A weak label that refinement removed
            from a modality (y = 1, y_m = 0) gets a hard 0 target, as in MA's stage 3; other entries are smoothed.
        global_labels: (B, C) target of the fused probability; defaults to ``labels``.
    """
    labels = labels.float()

    def modality(smoothing: float, refined: Tensor | None) -> Tensor:
        target = smoothing * labels + (1.0 - smoothing) * 0.5
        if refined is None:
            return target
        removed = (labels > 0.5) & (refined < 0.5)
        return target.masked_fill(removed, 0.0)

    return ModalityTargets(
        global_target=labels if global_labels is None else global_labels.float(),
        audio_target=modality(audio_smoothing, audio_labels),
        visual_target=modality(visual_smoothing, visual_labels),
    )


def class_token_loss(audio_class_logits: Tensor, visual_class_logits: Tensor) -> Tensor:
    """MGN's class-token cross-entropy: token k must be classified as class k, for both modalities (C, C) logits."""
    classes = torch.arange(audio_class_logits.shape[0], device=audio_class_logits.device)
    return F.cross_entropy(audio_class_logits, classes) + F.cross_entropy(visual_class_logits, classes)


def contrastive_loss(
    audio_query: Tensor, visual_key: Tensor, temperature: float = 0.2, smoothing: float = 0.1
) -> Tensor:
    """MA's per-video audio -> visual temporal contrastive loss.

    Args:
        audio_query: (B, T, D) contextualised audio segment features.
        visual_key: (B, T, D) visual segment embeddings.
        temperature: tau of the cosine logits.
        smoothing: s; the target of audio segment t is 1 - s on visual segment t and s / (T - 1) on each other
            segment (MA: 0.9 and 0.1 / 9).

    Returns:
        Scalar mean over the B*T audio segments.
    """
    # torch's label_smoothing=s' gives 1 - s' + s'/T and s'/T; s' = s T / (T - 1) gives exactly 1 - s and s / (T - 1).
    segments = audio_query.shape[1]
    torch_smoothing = smoothing * segments / (segments - 1)
    logits = F.normalize(audio_query, dim=-1) @ F.normalize(visual_key, dim=-1).transpose(1, 2) / temperature
    targets = torch.arange(segments, device=logits.device).repeat(audio_query.shape[0])  # (B*T,)
    return F.cross_entropy(logits.reshape(-1, segments), targets, label_smoothing=torch_smoothing)


def _bce(prob: Tensor, target: Tensor) -> Tensor:
    """``nn.BCELoss`` (mean) on probabilities clamped to [1e-7, 1 - 1e-7], written out so that a diverged model's NaN
    probabilities give a NaN loss (which the training loop reports) instead of an input-range error. With the clamp,
    torch's own log clamp at -100 never applies, so the value is the same."""
    prob = prob.clamp(PROB_CLAMP, 1.0 - PROB_CLAMP)
    return -(target * torch.log(prob) + (1.0 - target) * torch.log1p(-prob)).mean()


def weighted_total(terms: dict[str, Tensor], weights: LossWeights, batch_scale: float = 1.0) -> Tensor:
    """The weighted sum of the loss terms present in ``terms``.

    ``batch_scale`` multiplies the terms that are means over the batch (all but the class-token term, which does not
    depend on the batch); data-parallel training uses it to weight unequal shards exactly.
    """
    weight_of = {
        "global": weights.global_bce,
        "audio": weights.audio_bce,
        "visual": weights.visual_bce,
        "contrastive": weights.contrastive,
    }
    total = sum(weight_of[name] * value for name, value in terms.items() if name in weight_of) * batch_scale
    if "class_tokens" in terms:
        total = total + weights.class_tokens * terms["class_tokens"]
    return total


def parser_loss(
    output: ParserOutput,
    targets: ModalityTargets,
    weights: LossWeights = LossWeights(),
    *,
    contrastive_temperature: float = 0.2,
    contrastive_smoothing: float = 0.1,
) -> dict[str, Tensor]:
    """All loss terms of one batch, and their weighted sum under ``"total"``.

    The class-token term is included when the output has class-token logits (MGN); the contrastive term when its
    weight is non-zero.
    """
    terms = {
        "global": _bce(output.global_prob, targets.global_target),
        "audio": _bce(output.a_prob, targets.audio_target),
        "visual": _bce(output.v_prob, targets.visual_target),
    }
    if output.audio_class_logits is not None and output.visual_class_logits is not None:
        terms["class_tokens"] = class_token_loss(output.audio_class_logits, output.visual_class_logits)
    if weights.contrastive:
        terms["contrastive"] = contrastive_loss(
            output.audio_query, output.visual_key, contrastive_temperature, contrastive_smoothing
        )
    terms["total"] = weighted_total(terms, weights)
    return terms
