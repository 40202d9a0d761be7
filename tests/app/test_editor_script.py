"""The label editor's page script in headless Chromium, on a standalone editable timeline with a stub textbox and
button: a drag along a ground-truth lane, and a click on one cell, write the right command; gestures off the lanes or
on a read-only figure write none. (Here, beside the app's browser tests, for their one headless Chromium.)"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mgn.explore.editor_js import SAVE_BYTES_JS, EditorTarget, bytes_download, combine_scripts, editor_script
from mgn.explore.timeline import ClipPrediction, timeline_html, timeline_json
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS, class_index

CLIP = "-yNB5TAoZ09_30_40"
DOG, SPEECH = class_index("Dog"), class_index("Speech")
STUB = """
<div id="stub-box"><textarea></textarea></div>
<button id="stub-apply" onclick="window.sent.push(document.querySelector('#stub-box textarea').value)">apply</button>
<script>window.sent = []; (@SCRIPT@)();</script>
"""


def _page_file(tmp_path: Path, *, labels: str = "corrected", version: int = 7) -> tuple[Path, int]:
    audio = np.zeros((NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
    audio[DOG, 2:6] = 1
    audio[SPEECH, 0:2] = 1
    visual = np.zeros_like(audio)
    visual[DOG, 4:9] = 1
    scores = np.full((NUM_SEGMENTS, NUM_CLASSES), 0.3, dtype=np.float32)
    prediction = ClipPrediction("MGN", audio, visual, scores, scores)
    figure = json.loads(timeline_json(CLIP, audio, visual, [prediction], editable=labels == "corrected"))
    figure["layout"]["meta"].update(edit_version=version, edit_labels=labels)
    script = combine_scripts(editor_script([EditorTarget("timeline", "stub-box", "stub-apply")]), "() => {}")
    page = timeline_html(figure).replace("</body>", STUB.replace("@SCRIPT@", script) + "</body>")
    path = tmp_path / f"editor_{labels}.html"
    path.write_text(page)
    return path, figure["layout"]["height"]


CELL_CENTRE = """([name, modality, segment]) => {
    const gd = document.getElementById('timeline');
    const trace = gd._fullData.find((t) => t.meta && t.meta.role === 'gt_cell' && t.meta.modality === modality
        && t.customdata.some((c) => c[0] === name && c[2] === segment));
    if (!trace) return null;
    const i = trace.customdata.findIndex((c) => c[0] === name && c[2] === segment);
    const xa = gd._fullLayout[trace.xaxis.replace('x', 'xaxis')];
    const ya = gd._fullLayout[trace.yaxis.replace('y', 'yaxis')];
    const rect = gd.getBoundingClientRect();
    return {x: rect.left + xa._offset + xa.l2p(segment + 0.5), y: rect.top + ya._offset + ya.l2p(trace.y[i])};
}"""


def _open(chromium, path: Path, height: int):
    page = chromium.new_page(viewport={"width": 900, "height": height + 120})
    page.goto(path.as_uri())
    page.wait_for_function("() => { const gd = document.getElementById('timeline'); return gd && gd._fullLayout; }")
    page.wait_for_function("() => document.getElementById('timeline').dataset.mgnEditor === '1'")
    return page


def _drag(page, start: dict, end: dict, steps: int = 8) -> None:
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move(end["x"], end["y"], steps=steps)
    page.mouse.up()


def _sent(page, count: int) -> list[dict]:
    page.wait_for_function("(count) => window.sent.length >= count", arg=count, timeout=10_000)
    commands = [json.loads(text) for text in page.evaluate("() => window.sent")]
    for command in commands:
        assert command.pop("nonce")
    return commands


def test_a_drag_along_a_lane_and_a_click_write_commands(chromium, tmp_path: Path):
    path, height = _page_file(tmp_path)
    page = _open(chromium, path, height)
    try:
        centre = lambda *cell: page.evaluate(CELL_CENTRE, list(cell))  # noqa: E731
        # a drag from segment 8 leftwards to segment 3 of the visual Dog lane; the pointer wanders off the row
        start, end = centre("Dog", "visual", 8), centre("Dog", "visual", 3)
        _drag(page, start, {"x": end["x"], "y": end["y"] + 25})
        expected = {"clip": CLIP, "class": "Dog", "modality": "visual", "start": 8, "end": 3, "version": 7}
        assert _sent(page, 1) == [expected]
        # a second gesture on the same figure before it is redrawn (same version) is ignored ...
        page.mouse.click(centre("Speech", "audio", 5)["x"], centre("Speech", "audio", 5)["y"])
        page.wait_for_timeout(300)
        assert len(page.evaluate("() => window.sent")) == 1
        # ... and taken once it is redrawn at the new version
        page.evaluate(
            "() => { const gd = document.getElementById('timeline');"
            " return Plotly.relayout(gd, {'meta.edit_version': 8}); }"
        )
        cell = centre("Speech", "audio", 5)  # an empty cell of a row: a click toggles that segment
        page.mouse.click(cell["x"], cell["y"])
        second = _sent(page, 2)[1]
        assert second == {"clip": CLIP, "class": "Speech", "modality": "audio", "start": 5, "end": 5, "version": 8}
        assert page.evaluate("() => window.mgnLastEdit.class") == "Speech"
        # gestures that start off a ground-truth lane (a prediction lane, the margin) write nothing
        page.evaluate("() => Plotly.relayout(document.getElementById('timeline'), {'meta.edit_version': 9})")
        below = {"x": cell["x"], "y": cell["y"] + 30}
        _drag(page, below, {"x": below["x"] + 120, "y": below["y"]})
        page.mouse.click(5, 5)
        page.wait_for_timeout(300)
        assert len(page.evaluate("() => window.sent")) == 2
    finally:
        page.close()


def test_a_read_only_figure_takes_no_edit(chromium, tmp_path: Path):
    path, height = _page_file(tmp_path, labels="original")
    page = _open(chromium, path, height)
    try:
        assert page.evaluate(CELL_CENTRE, ["Dog", "audio", 3]) is None  # no cells at all: not editable
        gd_box = page.evaluate("() => document.getElementById('timeline').getBoundingClientRect().toJSON()")
        _drag(page, {"x": gd_box["x"] + 300, "y": gd_box["y"] + 120}, {"x": gd_box["x"] + 500, "y": gd_box["y"] + 120})
        page.wait_for_timeout(300)
        assert page.evaluate("() => window.sent") == []
    finally:
        page.close()


def test_bytes_sent_as_json_are_saved_as_the_named_file(chromium, tmp_path: Path):
    path, height = _page_file(tmp_path)
    page = _open(chromium, path, height)
    data = bytes(range(256)) * 3  # every byte value survives
    try:
        with page.expect_download() as download:
            page.evaluate(f"(file) => ({SAVE_BYTES_JS})(file)", bytes_download("edits.zip", data))
        target = tmp_path / "saved.zip"
        download.value.save_as(target)
        assert download.value.suggested_filename == "edits.zip" and target.read_bytes() == data
    finally:
        page.close()


def test_the_script_needs_a_target():
    with pytest.raises(ValueError, match="at least one EditorTarget"):
        editor_script([])
