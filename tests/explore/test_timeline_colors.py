"""The explorer's colour scheme: distinct in every colour vision, and what the timeline draws (no class colour)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mgn.explore.colors import GT_COLOR, MODALITY_COLORS, SCHEME, STATUS_COLORS
from mgn.explore.timeline import ClipPrediction, timeline_json
from mgn.labels import CLASS_COLORS, EVAL_MODALITIES, NUM_CLASSES, NUM_SEGMENTS, class_index

# Machado, Oliveira & Fernandes (2009), full-severity dichromacy, on linear RGB.
_SIMULATIONS = {
    "normal": np.eye(3),
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]
    ),
}
_MIN_DISTANCE = 20.0  # CIELAB distance (Delta E 1976); about 2.3 is "just noticeable"


def _lab(hex_color: str, simulation: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of ``#rrggbb`` as seen under ``simulation``."""
    srgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    linear = np.clip(simulation @ linear, 0, 1)
    to_xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    xyz = to_xyz @ linear / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


@pytest.mark.parametrize("vision", list(_SIMULATIONS))
def test_scheme_colours_stay_apart_in_every_colour_vision(vision):
    labs = {name: _lab(color, _SIMULATIONS[vision]) for name, color in SCHEME.items()}
    for first, second in itertools.combinations(labs, 2):
        distance = float(np.linalg.norm(labs[first] - labs[second]))
        assert distance >= _MIN_DISTANCE, f"{vision}: {first} and {second} are only {distance:.1f} apart"


def test_scheme_has_one_colour_per_meaning():
    assert set(STATUS_COLORS) == {"TP", "FP", "FN"} and set(MODALITY_COLORS) == set(EVAL_MODALITIES)
    colours = [color.lower() for color in SCHEME.values()]
    assert len(set(colours)) == len(colours) == 7
    assert GT_COLOR.lower() in colours and not set(colours) & {color.lower() for color in CLASS_COLORS}


def test_ground_truth_bars_are_neutral_whatever_the_class():
    """Speech (class colour blue, like TP) and Lawn mower (salmon, like FP) get the same grey ground-truth bars."""
    gt = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    gt[class_index("Speech"), 0:4] = 1
    gt[class_index("Lawn_mower"), 5:9] = 1
    pred = gt.copy()
    pred[class_index("Speech"), 4] = 1  # one FP
    pred[class_index("Lawn_mower"), 8] = 0  # one FN
    scores = np.full((NUM_SEGMENTS, NUM_CLASSES), 0.7, dtype=np.float32)
    figure = json.loads(timeline_json("c", gt, gt, [ClipPrediction("MGN", pred, pred, scores, scores)]))

    gt_traces = [trace for trace in figure["data"] if trace["meta"]["role"] == "gt"]
    assert sum(len(trace["y"]) for trace in gt_traces) == 6  # 2 events x audio, visual, AV
    assert all(trace["marker"]["color"] == GT_COLOR for trace in gt_traces)
    for trace in figure["data"]:
        if trace["meta"]["role"] == "status":
            status = trace["meta"]["status"]
            assert STATUS_COLORS[status] in (trace["marker"]["color"], trace["marker"]["line"].get("color"))
    text = json.dumps(figure).lower()
    assert not [color for color in CLASS_COLORS if color.lower() in text]  # no class colour anywhere, ticks included
