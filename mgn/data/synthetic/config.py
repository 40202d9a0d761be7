"""``SyntheticConfig``: every knob of the synthetic LLP generator, with its default and unit.

The annotation statistics themselves (class frequencies, modality shares, durations) are fixed tables in
``profiles.py``; the knobs here shape event placement and the feature model (see docs/synthetic_data.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from mgn.data.features import FEATURE_SHAPES

__all__ = ["GENERATOR_VERSION", "SyntheticConfig"]

GENERATOR_VERSION = 1  # bump whenever the same seed and config would produce different files


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the synthetic generator. Defaults are the documented dataset; change them only on purpose.

    The five annotation knobs were calibrated once (by sampling 20,000 clips) so that the sampled statistics match
    the real-LLP tables of ``profiles.py`` / llp_stats.md; they compensate for rows that the audio-visual coupling
    copies or cuts, and are not meant to be tuned per experiment.

    SNRs are amplitudes of one class signature along its own (unit) direction divided by the per-dimension standard
    deviation of the i.i.d. noise of that stream, so a value of 2 means that a matched linear filter sees the class
    two noise standard deviations above the background in a single segment (audio, 3D) or frame (2D), before the
    per-clip nuisance offset. Supports are numbers of dimensions (0: dense signed signatures).
    """

    # --- annotations (calibrated) --------------------------------------------------------------------------------
    audio_onset_at_zero: float = 0.22  # P(first run of a partial audio row is pinned to segment 0); llp_stats §9
    visual_onset_at_zero: float = 0.26  # same for visual rows
    # Weight factor per extra run of a partial row, on top of the real-LLP runs-per-row table: copied and intersected
    # rows lose runs, so the freely drawn rows must be a little more fragmented for the final §9 table to match.
    audio_fragmentation: float = 1.45
    visual_fragmentation: float = 1.3
    # Factor on the mean length of the runs of a partial row (from the class's mean event duration): runs that must
    # fit beside others, or are cut by the other modality, come out shorter than drawn.
    length_stretch: float = 1.2

    # --- shared signature structure --------------------------------------------------------------------------------
    group_similarity: float = 0.5  # cosine similarity of the signatures of two classes in one confusable group

    # --- audio (VGGish-like, signed) -------------------------------------------------------------------------------
    audio_snr: float = 8.0  # per segment
    audio_noise: float = 0.5  # i.i.d. noise std per dimension and segment
    audio_offset: float = 0.4  # std of the per-dataset mean vector (the 'silence' embedding)

    # --- 2D visual (ResNet-152-like, non-negative after ReLU) ------------------------------------------------------
    visual_snr: float = 3.5  # per frame; the 8 frames of a segment average to about sqrt(8) times this
    visual_noise: float = 0.3  # i.i.d. noise std per dimension and frame
    visual_level: float = 0.45  # mean of the per-dataset mean vector (before ReLU)
    visual_offset: float = 0.2  # std of the per-dataset mean vector around `visual_level`
    visual_support: int = 64  # dimensions a class signature excites (non-negative, like object-detector channels)

    # --- 3D visual (R(2+1)D-like, non-negative after ReLU) ---------------------------------------------------------
    visual_st_snr: float = 7.0  # per segment
    visual_st_noise: float = 0.25
    visual_st_level: float = 0.35
    visual_st_offset: float = 0.15
    visual_st_support: int = 32

    # --- clip-level variation ----------------------------------------------------------------------------------------
    nuisance: float = 0.5  # std of the per-clip offset vector, in units of the stream's noise std
    gain_spread: float = 0.3  # std of log gain per (clip, class, modality): loud/quiet, near/far
    segment_gain_spread: float = 0.2  # std of log gain per (clip, class, segment) on top of that

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"SyntheticConfig.{field.name} must be a finite number >= 0, got {value!r}")
        for name, modality in (("visual_support", "visual"), ("visual_st_support", "visual_st")):
            value, dim = getattr(self, name), FEATURE_SHAPES[modality][1]
            if not isinstance(value, int) or value > dim:
                raise ValueError(f"SyntheticConfig.{name} must be an integer in [0, {dim}], got {value!r}")
        for name in ("audio_onset_at_zero", "visual_onset_at_zero"):
            if getattr(self, name) > 1:
                raise ValueError(f"SyntheticConfig.{name} is a probability, got {getattr(self, name)!r}")
        if not self.group_similarity < 1:
            raise ValueError(f"SyntheticConfig.group_similarity must be in [0, 1), got {self.group_similarity!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for ``synthetic_meta.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SyntheticConfig:
        """Inverse of ``to_dict``; unknown keys raise a ``ValueError`` naming them."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown SyntheticConfig fields {unknown}; expected a subset of {sorted(known)}")
        return cls(**values)
