"""Synthetic VGGish / ResNet-152 / R(2+1)D features from dense annotations (the generative model).

For a clip with audio ground truth y^a[c, t] and visual ground truth y^v[c, t] (``[class, segment]``):

    audio[t]      = mu_a + sum_c y^a[c,t] g^a_c h^a_{c,t} s^a_c + n^a + sigma_a e_t                 (10, 128)
    visual[f]     = relu(mu_v + sum_c y^v[c,t(f)] g^v_c h^v_{c,t(f)} s^v_c + n^v + sigma_v e_f)     (80, 2048)
    visual_st[t]  = relu(mu_st + sum_c y^v[c,t] g^v_c h^st_{c,t} s^st_c + n^st + sigma_st e_t)      (10, 512)

- s^m_c: class signature of stream m, drawn once per dataset: a unit vector mixing a class-own direction with a
  direction shared by its confusable group (``CONFUSABLE_GROUPS``; cosine ``group_similarity`` between members),
  scaled to ``snr_m * sigma_m``.
- mu_m: per-dataset mean vector ('silence' / 'empty scene'); n^m: per-clip nuisance offset ~ N(0, (nuisance
  sigma_m)^2 I), constant over the clip; e: i.i.d. standard normal noise per segment (audio, 3D) or frame (2D).
- g^m_c = exp(N(0, gain_spread^2)): per (clip, class, modality) gain, shared by the 2D and 3D visual streams;
  h_{c,t} = exp(N(0, segment_gain_spread^2)): per-segment jitter. t(f) = f // 8 is the segment of frame f.

All outputs are float32, C-contiguous and finite. Notation: C = 25 classes, T = 10 segments, F = 80 frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mgn.data.features import FEATURE_SHAPES
from mgn.data.synthetic.config import SyntheticConfig
from mgn.labels import CLASS_TO_INDEX, FRAMES_PER_SEGMENT, NUM_CLASSES, NUM_SEGMENTS

__all__ = ["CONFUSABLE_GROUPS", "ClipFeatures", "Signatures", "draw_signatures", "synthesize_clip_features"]

# Classes that share part of their signature in every stream (naturally confusable sounds and sights).
CONFUSABLE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Cello", "Violin_fiddle", "Banjo", "Acoustic_guitar"),
    ("Baby_laughter", "Baby_cry_infant_cry"),
    ("Lawn_mower", "Chainsaw", "Motorcycle"),
    ("Cheering", "Clapping"),
    ("Speech", "Singing"),
    ("Vacuum_cleaner", "Blender"),
    ("Dog", "Cat"),
    ("Fire_alarm", "Telephone_bell_ringing"),
)
_AUDIO_DIM = FEATURE_SHAPES["audio"][1]
_VISUAL_DIM = FEATURE_SHAPES["visual"][1]
_VISUAL_ST_DIM = FEATURE_SHAPES["visual_st"][1]


@dataclass(frozen=True)
class Signatures:
    """What is fixed for a whole synthetic dataset (all splits): class signatures and mean vectors, float32."""

    audio: np.ndarray  # (C, 128) scaled class signatures s^a
    visual: np.ndarray  # (C, 2048) s^v
    visual_st: np.ndarray  # (C, 512) s^st
    audio_mean: np.ndarray  # (128,) mu_a
    visual_mean: np.ndarray  # (2048,) mu_v (before ReLU)
    visual_st_mean: np.ndarray  # (512,) mu_st (before ReLU)


@dataclass(frozen=True)
class ClipFeatures:
    """The three feature streams of one clip, as stored in ``feats/<stream>/<ID>.npy``."""

    audio: np.ndarray  # (T, 128) float32, vggish
    visual: np.ndarray  # (F, 2048) float32, res152, non-negative
    visual_st: np.ndarray  # (T, 512) float32, r2plus1d_18, non-negative


def _unit_rows(rng: np.random.Generator, rows: int, dim: int, support: int) -> np.ndarray:
    """(rows, dim) random unit vectors: dense Gaussian if ``support`` is 0, else non-negative on ``support`` dims."""
    if support == 0:
        vectors = rng.standard_normal((rows, dim))
    else:
        vectors = np.zeros((rows, dim))
        for row in vectors:
            row[rng.choice(dim, size=support, replace=False)] = np.abs(rng.standard_normal(support))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _class_directions(rng: np.random.Generator, dim: int, group_similarity: float, support: int) -> np.ndarray:
    """(C, dim) unit vectors; members of a confusable group have cosine ~= ``group_similarity``."""
    own = _unit_rows(rng, NUM_CLASSES, dim, support)  # (C, dim)
    shared = _unit_rows(rng, len(CONFUSABLE_GROUPS), dim, support)  # (G, dim)
    directions = own.copy()
    for group_index, group in enumerate(CONFUSABLE_GROUPS):
        for name in group:
            class_index = CLASS_TO_INDEX[name]
            directions[class_index] = (
                np.sqrt(1 - group_similarity) * own[class_index] + np.sqrt(group_similarity) * shared[group_index]
            )
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def draw_signatures(rng: np.random.Generator, config: SyntheticConfig = SyntheticConfig()) -> Signatures:
    """Draw the per-dataset signatures and mean vectors (the same for every split of one dataset)."""
    similarity = config.group_similarity
    audio = _class_directions(rng, _AUDIO_DIM, similarity, 0) * (config.audio_snr * config.audio_noise)
    visual = _class_directions(rng, _VISUAL_DIM, similarity, config.visual_support) * (
        config.visual_snr * config.visual_noise
    )
    visual_st = _class_directions(rng, _VISUAL_ST_DIM, similarity, config.visual_st_support) * (
        config.visual_st_snr * config.visual_st_noise
    )
    return Signatures(
        audio=audio.astype(np.float32),
        visual=visual.astype(np.float32),
        visual_st=visual_st.astype(np.float32),
        audio_mean=(config.audio_offset * rng.standard_normal(_AUDIO_DIM)).astype(np.float32),
        visual_mean=(config.visual_level + config.visual_offset * rng.standard_normal(_VISUAL_DIM)).astype(np.float32),
        visual_st_mean=(config.visual_st_level + config.visual_st_offset * rng.standard_normal(_VISUAL_ST_DIM)).astype(
            np.float32
        ),
    )


def _stream(
    rng: np.random.Generator,
    activation: np.ndarray,
    signatures: np.ndarray,
    mean: np.ndarray,
    noise: float,
    nuisance: float,
) -> np.ndarray:
    """mean + activation @ signatures + per-clip offset + i.i.d. noise; ``activation`` (R, C) -> (R, D) float32."""
    rows, dim = activation.shape[0], signatures.shape[1]
    offset = (nuisance * noise) * rng.standard_normal(dim, dtype=np.float32)  # (D,) constant over the clip
    values = rng.standard_normal((rows, dim), dtype=np.float32)  # (R, D)
    values *= noise
    values += mean + offset
    values += activation.astype(np.float32) @ signatures
    return values


def _activation(rng: np.random.Generator, gt_row: np.ndarray, class_gain: np.ndarray, spread: float) -> np.ndarray:
    """(C, T) 0/1 ground truth -> (T, C) per-segment gains, zero where the class is off."""
    jitter = np.exp(spread * rng.standard_normal((NUM_SEGMENTS, NUM_CLASSES)))  # (T, C)
    return gt_row.T * class_gain * jitter  # (T, C)


def synthesize_clip_features(
    rng: np.random.Generator,
    gt_audio: np.ndarray,
    gt_visual: np.ndarray,
    signatures: Signatures,
    config: SyntheticConfig = SyntheticConfig(),
) -> ClipFeatures:
    """Features of one clip from its dense ground truth.

    Args:
        rng: the clip's own generator (a pure function of its state and the other arguments).
        gt_audio: ``(C, T)`` 0/1 ``[class, segment]`` audible events.
        gt_visual: ``(C, T)`` 0/1 visible events.
        signatures: the dataset's ``Signatures``.
        config: the feature knobs.
    """
    if gt_audio.shape != (NUM_CLASSES, NUM_SEGMENTS) or gt_visual.shape != (NUM_CLASSES, NUM_SEGMENTS):
        raise ValueError(
            f"expected ({NUM_CLASSES}, {NUM_SEGMENTS}) ground-truth rows, got {gt_audio.shape} and {gt_visual.shape}"
        )
    audio_gain = np.exp(config.gain_spread * rng.standard_normal(NUM_CLASSES))  # (C,)
    visual_gain = np.exp(config.gain_spread * rng.standard_normal(NUM_CLASSES))  # (C,) shared by 2D and 3D
    audio_activation = _activation(rng, gt_audio, audio_gain, config.segment_gain_spread)  # (T, C)
    visual_activation = _activation(rng, gt_visual, visual_gain, config.segment_gain_spread)  # (T, C)
    st_activation = _activation(rng, gt_visual, visual_gain, config.segment_gain_spread)  # (T, C)
    frame_activation = np.repeat(visual_activation, FRAMES_PER_SEGMENT, axis=0)  # (F, C)

    audio = _stream(
        rng, audio_activation, signatures.audio, signatures.audio_mean, config.audio_noise, config.nuisance
    )  # (T, 128)
    visual = _stream(
        rng, frame_activation, signatures.visual, signatures.visual_mean, config.visual_noise, config.nuisance
    )  # (F, 2048)
    visual_st = _stream(
        rng, st_activation, signatures.visual_st, signatures.visual_st_mean, config.visual_st_noise, config.nuisance
    )  # (T, 512)
    np.maximum(visual, 0, out=visual)  # post-ReLU CNN features are non-negative
    np.maximum(visual_st, 0, out=visual_st)
    return ClipFeatures(audio=audio, visual=visual, visual_st=visual_st)
