"""The 25 LLP event classes in the official index order, and the fixed clip geometry.

Both official codebases (HAN, AVVP-ECCV20; MGN) use this order, which is *not* alphabetical; MGN also ties
class token k to class k. The strings match the CSV spelling exactly, including ``Frying_(food)``.
This module is the only place the class list lives, and the only place the evaluation modalities are defined: an
event is *audio-visual* when it is audible and visible in the same segment (:func:`audio_visual`).
"""

from __future__ import annotations

__all__ = [
    "AUDIO_VISUAL",
    "CLASSES",
    "CLASS_COLORS",
    "CLASS_TO_INDEX",
    "FRAMES_PER_SEGMENT",
    "NUM_CLASSES",
    "NUM_FRAMES",
    "NUM_SEGMENTS",
    "EVAL_MODALITIES",
    "MODALITY_TITLES",
    "audio_visual",
    "class_index",
    "display_name",
]

CLASSES: tuple[str, ...] = (
    "Speech",
    "Car",
    "Cheering",
    "Dog",
    "Cat",
    "Frying_(food)",
    "Basketball_bounce",
    "Fire_alarm",
    "Chainsaw",
    "Cello",
    "Banjo",
    "Singing",
    "Chicken_rooster",
    "Violin_fiddle",
    "Vacuum_cleaner",
    "Baby_laughter",
    "Accordion",
    "Lawn_mower",
    "Motorcycle",
    "Helicopter",
    "Acoustic_guitar",
    "Telephone_bell_ringing",
    "Baby_cry_infant_cry",
    "Blender",
    "Clapping",
)
NUM_CLASSES = len(CLASSES)  # C = 25
NUM_SEGMENTS = 10  # T: ten one-second segments per clip
FRAMES_PER_SEGMENT = 8  # the 2D visual stream is sampled at 8 fps
NUM_FRAMES = NUM_SEGMENTS * FRAMES_PER_SEGMENT  # 80 ResNet-152 frames per clip

CLASS_TO_INDEX: dict[str, int] = {name: index for index, name in enumerate(CLASSES)}

# The three modalities that labels, predictions and scores are given in (not the feature streams of
# ``mgn.data.features``). Audio-visual is derived, never annotated: see :func:`audio_visual`.
AUDIO_VISUAL = "audio_visual"
EVAL_MODALITIES: tuple[str, ...] = ("audio", "visual", AUDIO_VISUAL)
MODALITY_TITLES: dict[str, str] = {"audio": "Audio", "visual": "Visual", AUDIO_VISUAL: "Audio-Visual"}

# One distinct colour per class (index order), for timelines and t-SNE plots; 25 well-separated hues.
CLASS_COLORS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39",
    "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1",
    "#636363", "#e7ba52", "#ce6dbd", "#6baed6", "#fd8d3c",
)  # fmt: skip


def class_index(name: str) -> int:
    """Index of an LLP class name in the official order.

    Raises:
        KeyError: naming the unknown class and listing the valid spellings.
    """
    try:
        return CLASS_TO_INDEX[name]
    except KeyError:
        raise KeyError(f"unknown LLP class {name!r}; expected one of: {', '.join(CLASSES)}") from None


def display_name(name_or_index: str | int) -> str:
    """Human-readable class name: ``Frying_(food)`` -> ``Frying (food)``."""
    name = CLASSES[name_or_index] if isinstance(name_or_index, int) else name_or_index
    return name.replace("_", " ")


def audio_visual(audio, visual):
    """Audio-visual = audible AND visible, segment by segment (the official ``gt_av = gt_a * gt_v``).

    Works on 0/1 numpy arrays (or tensors) of any shape and keeps their dtype: bool stays bool, uint8 stays uint8.
    """
    return audio * visual
