"""The exported timeline page in headless Chromium with the network blocked: it draws, its ground-truth cells answer
clicks (empty ones and those under a "changed" frame too), and its PNG button is named after the clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mgn.explore.timeline import ClipPrediction, timeline_html, timeline_json
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS, class_index

CLIP = "-yNB5TAoZ09_30_40"
DOG = class_index("Dog")


@pytest.fixture(scope="module")
def browser(chromium):
    """The session's headless Chromium (tests/conftest.py)."""
    return chromium


def test_offline_page_draws_and_its_cells_answer_clicks(browser, tmp_path: Path):
    original = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    original[DOG, 2:6] = 1
    corrected = original.copy()
    corrected[DOG, 6] = 1  # added: a "changed" frame lies over this cell
    scores = np.full((NUM_SEGMENTS, NUM_CLASSES), 0.3, dtype=np.float32)
    prediction = ClipPrediction("MGN", original, original, scores, scores)
    text = timeline_json(CLIP, corrected, original, [prediction], editable=True, original_gt_audio=original)
    page_file = tmp_path / "timeline.html"
    page_file.write_text(timeline_html(text))

    page = browser.new_page(viewport={"width": 860, "height": json.loads(text)["layout"]["height"] + 40})
    remote = []
    page.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith("file:")
            else (remote.append(route.request.url), route.abort())
        ),
    )
    try:
        page.goto(page_file.as_uri())
        page.wait_for_function("() => { const gd = document.getElementById('timeline'); return gd && gd._fullLayout; }")
        assert remote == []  # nothing asked of the network
        assert page.evaluate("() => document.getElementById('timeline').layout.meta.clip") == CLIP
        assert page.locator("#timeline .annotation-text", has_text="10").count() >= 1  # segment numbers drawn
        filename = page.evaluate("() => document.getElementById('timeline')._context.toImageButtonOptions.filename")
        assert filename == f"{CLIP}_MGN_timeline"

        page.evaluate(
            "() => document.getElementById('timeline').on('plotly_click', (d) => {"
            " window.clicked = d.points.map((p) => p.customdata); })"
        )
        for segment, expected in ((0, ["Dog", "audio", 0, 0]), (6, ["Dog", "audio", 6, 1])):
            box = page.evaluate(
                """([segment]) => {
                const gd = document.getElementById('timeline');
                const cells = gd._fullData.filter(
                    (t) => t.meta && t.meta.role === 'gt_cell' && t.meta.modality === 'audio');
                const trace = cells.find((t) => t.customdata.some((c) => c[2] === segment));
                const y = trace.y[trace.customdata.findIndex((c) => c[2] === segment)];
                const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, rect = gd.getBoundingClientRect();
                return {x: rect.left + xa._offset + xa.l2p(segment + 0.5), y: rect.top + ya._offset + ya.l2p(y)};
            }""",
                [segment],
            )
            page.evaluate("() => { window.clicked = null; }")
            page.mouse.move(box["x"], box["y"])
            page.wait_for_function(  # Plotly clicks what is hovered: wait for its (throttled) hover to arrive
                "([segment]) => ((document.getElementById('timeline')._hoverdata || [])[0] || {}).customdata"
                " ?.[2] === segment",
                arg=[segment],
                timeout=10_000,
            )
            page.mouse.click(box["x"], box["y"])
            page.wait_for_function("() => window.clicked !== null", timeout=10_000)
            assert page.evaluate("() => window.clicked") == [expected]
    finally:
        page.close()
