"""Timeline export and size: a self-contained HTML page, the PNG named after the clip and models, the height policy."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from mgn.explore.timeline import (
    DEFAULT_PX_PER_UNIT,
    ClipPrediction,
    timeline_config,
    timeline_figure,
    timeline_html,
    timeline_json,
)
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS

CLIP = "-yNB5TAoZ09_30_40"


def _clip(num_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[ClipPrediction]]:
    """GT and two models' predictions over the first ``num_classes`` classes (audio and visual), seeded."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    gt[:num_classes] = rng.random((num_classes, NUM_SEGMENTS)) < 0.6
    models = []
    for name in ("MGN", "HAN"):
        scores = (0.4 * rng.random((NUM_SEGMENTS, NUM_CLASSES)) + 0.4 * gt.T).astype(np.float32)  # (T, C)
        pred = (scores.T >= 0.5).astype(np.uint8)
        models.append(ClipPrediction(name, pred, pred, scores, scores))
    return gt, gt, models


def test_html_embeds_plotly_js_loads_nothing_from_the_network_and_names_the_png():
    gt_audio, gt_visual, models = _clip(2)
    text = timeline_json(CLIP, gt_audio, gt_visual, models, threshold=0.62)
    page = timeline_html(text)  # straight from the app's cached JSON
    assert page == timeline_html(json.loads(text))
    from_figure = timeline_html(timeline_figure(CLIP, gt_audio, gt_visual, models, threshold=0.62))
    for html in (page, from_figure):
        assert '"filename": "-yNB5TAoZ09_30_40_MGN_vs_HAN_t0.62_timeline"' in html.replace('":"', '": "')
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js inline
    assert not re.search(r"<script[^>]*\bsrc=", page, flags=re.IGNORECASE)  # no script from anywhere: opens offline
    assert not re.search(r"<link[^>]*href=[\"']?https?:", page, flags=re.IGNORECASE)
    assert 'src="https://cdn.plot.ly' in timeline_html(text, include_plotlyjs="cdn")  # the small, online variant


@pytest.mark.parametrize(
    ("models", "threshold", "filename"),
    [
        (["MGN"], None, "-yNB5TAoZ09_30_40_MGN_timeline"),
        (["MGN"], 0.5, "-yNB5TAoZ09_30_40_MGN_timeline"),
        (["MGN", "HAN (run 3/best)"], None, "-yNB5TAoZ09_30_40_MGN_vs_HAN-run-3-best_timeline"),
        (["MGN"], 0.35, "-yNB5TAoZ09_30_40_MGN_t0.35_timeline"),
    ],
)
def test_png_button_config_names_the_clip_models_and_threshold(models, threshold, filename):
    config = timeline_config(CLIP, models, threshold)
    assert config["toImageButtonOptions"] == {"format": "png", "filename": filename, "scale": 2}
    assert config["displaylogo"] is False and config["responsive"] is True


def test_json_can_carry_the_config_that_gradio_passes_to_plotly():
    gt_audio, gt_visual, models = _clip(2)
    with_config = json.loads(timeline_json(CLIP, gt_audio, gt_visual, models[:1], include_config=True))
    assert with_config.pop("config") == timeline_config(CLIP, ["MGN"])
    assert with_config == json.loads(timeline_json(CLIP, gt_audio, gt_visual, models[:1]))


def test_default_height_grows_with_the_rows_and_a_typical_compare_clip_fits_780_px():
    heights = {}
    for classes in (1, 2, 3, 4, 6):
        figure = json.loads(timeline_json(CLIP, *_clip(classes)))
        rows = figure["layout"]["meta"]["rows"]
        heights[classes] = figure["layout"]["height"]
        assert figure["layout"]["meta"]["px_per_unit"] == pytest.approx(DEFAULT_PX_PER_UNIT, abs=0.5)
        assert sum(map(len, rows.values())) == 3 * classes  # each class in audio, visual and audio-visual
    assert list(heights.values()) == sorted(heights.values())
    assert heights[2] <= 780  # 6 class rows across the panels, two models: beside the video at 1440 x 900


def test_requested_height_is_met_within_legible_lane_sizes():
    gt_audio, gt_visual, models = _clip(2)
    exact = json.loads(timeline_json(CLIP, gt_audio, gt_visual, models, height=700))
    assert exact["layout"]["height"] == 700
    crowded = json.loads(timeline_json(CLIP, *_clip(len(CLASSES)), height=700))  # 75 rows cannot fit 700 px
    assert crowded["layout"]["height"] > 700 and crowded["layout"]["meta"]["px_per_unit"] == pytest.approx(36, 0.01)
    sparse = json.loads(timeline_json(CLIP, gt_audio, gt_visual, models[:1], height=5000))
    assert sparse["layout"]["height"] < 5000 and sparse["layout"]["meta"]["px_per_unit"] == pytest.approx(90, 0.01)
    for figure in (exact, crowded, sparse):  # panels stacked top to bottom without overlap, inside the plot area
        domains = [figure["layout"][f"yaxis{suffix}"]["domain"] for suffix in ("", "2", "3")]
        assert all(0 <= low < high <= 1 for low, high in domains)
        assert domains[0][0] > domains[1][1] and domains[1][0] > domains[2][1]


def test_a_narrow_figure_reserves_legend_lines_and_drops_the_colour_key():
    gt_audio, gt_visual, models = _clip(2)
    wide = json.loads(timeline_json(CLIP, gt_audio, gt_visual, models))
    narrow = json.loads(timeline_json(CLIP, gt_audio, gt_visual, models, width=380))
    assert narrow["layout"]["margin"]["t"] > wide["layout"]["margin"]["t"]
    assert wide["layout"]["coloraxis"]["showscale"] is True and narrow["layout"]["coloraxis"]["showscale"] is False


def test_segments_are_numbered_one_to_ten_above_the_panels():
    figure = json.loads(timeline_json(CLIP, *_clip(1)))
    numbers = [note for note in figure["layout"]["annotations"] if note.get("yref") == "paper" and note["y"] == 1]
    assert [note["text"] for note in numbers] == ["segment"] + [str(n) for n in range(1, 11)]
    assert [note["x"] for note in numbers[1:]] == [t + 0.5 for t in range(NUM_SEGMENTS)]  # segment n: [n - 1, n) s
