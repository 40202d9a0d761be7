"""The explorer's one colour scheme: ground truth, segment statuses and modalities never share a colour.

Every colour comes from two colour-blind-safe palettes (Okabe & Ito's, and Paul Tol's "bright" / "muted"), and the
seven hues below were chosen so that any two of them stay apart (CIELAB distance >= 20) in normal vision and under
simulated protanopia, deuteranopia and tritanopia (``tests/explore/test_timeline_colors.py`` checks it). The
ground truth is one neutral dark grey, whatever the class: class colours (:data:`mgn.labels.CLASS_COLORS`) are for
the t-SNE views only, where no status is drawn. Shape carries meaning too, so that nothing rests on hue alone: a
false negative is hatched and hollow, a predicted event is a dark frame, a label changed against the original
annotation is a thick black outline (hatched when the segment was removed).

Colours are ``#rrggbb`` strings (what Plotly, CSS and matplotlib all accept).
"""

from __future__ import annotations

__all__ = [
    "CHANGED_COLOR",
    "GT_COLOR",
    "GT_EMPTY_COLOR",
    "MODALITY_COLORS",
    "PRED_OUTLINE_COLOR",
    "SCHEME",
    "STATUS_COLORS",
    "rgba",
]

# Segment statuses of a model against the ground truth (TN segments are not drawn).
STATUS_COLORS: dict[str, str] = {
    "TP": "#0072B2",  # Okabe-Ito blue: predicted and in the ground truth
    "FP": "#D55E00",  # Okabe-Ito vermillion: predicted, not in the ground truth
    "FN": "#CC79A7",  # Okabe-Ito reddish purple (hatched on white): in the ground truth, not predicted
}
# Evaluation modalities, keyed as mgn.labels.EVAL_MODALITIES (per-class charts, modality legends).
MODALITY_COLORS: dict[str, str] = {
    "audio": "#DDCC77",  # Tol sand
    "visual": "#88CCEE",  # Tol cyan
    "audio_visual": "#332288",  # Tol indigo: the darkest, as AV = audio AND visual
}
GT_COLOR = "#4D4D4D"  # ground-truth bars and set cells, every class alike
GT_EMPTY_COLOR = "#BDBDBD"  # outline of an empty (editable) ground-truth cell
PRED_OUTLINE_COLOR = "#1A1A1A"  # frame of a predicted event
CHANGED_COLOR = "#000000"  # outline of a ground-truth segment that differs from the original annotation

# Every hue that carries meaning, by name (the test of colour distances walks this).
SCHEME: dict[str, str] = {
    **{f"status {name}": color for name, color in STATUS_COLORS.items()},
    **{f"modality {name}": color for name, color in MODALITY_COLORS.items()},
    "ground truth": GT_COLOR,
}


def rgba(hex_color: str, alpha: float) -> str:
    """``#rrggbb`` and an opacity in [0, 1] as a CSS ``rgba(r, g, b, alpha)`` string."""
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red}, {green}, {blue}, {alpha})"
