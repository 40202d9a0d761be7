"""Label editing in the page (headless Chromium): a drag across a ground-truth lane of the clip view changes the
labels and the clip's scores at once, the change is framed and listed, and undo restores both; two pages editing the
same clip (one shared file) see a conflict message and the reloaded clip instead of losing an edit."""

from __future__ import annotations

import pytest

from bench._app_server import open_page, start_app
from mgn.explore import ui_ids

# The visual ground-truth lane of the shown clip's first class row with a segment: its values and the page points
# of its first and last cells; the figure's edit version.
LANE_JS = f"""(modality) => {{
  const gd = document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot');
  const traces = gd._fullData.filter((t) => t.meta && t.meta.role === 'gt_cell' && t.meta.modality === modality);
  if (!traces.length) return null;
  const cells = traces.flatMap((t) => t.customdata.map((c, i) => ({{c, y: t.y[i], t}})));
  const name = (cells.find((x) => x.c[3] === 1) || cells[0]).c[0];
  const row = cells.filter((x) => x.c[0] === name);
  const t = row[0].t, rect = gd.getBoundingClientRect();
  const xa = gd._fullLayout[t.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[t.yaxis.replace('y', 'yaxis')];
  const at = (s) => ({{x: rect.left + xa._offset + xa.l2p(s + 0.5), y: rect.top + ya._offset + ya.l2p(row[0].y)}});
  const values = [...Array(10).keys()].map((s) => row.find((x) => x.c[2] === s).c[3]);
  return {{name, values, first: at(0), last: at(9), version: gd.layout.meta.edit_version}};
}}"""
VERSION_JS = f"""(version) => {{
  const gd = document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot');
  return !!gd && gd.layout.meta.edit_version === version;
}}"""


@pytest.fixture(scope="module")
def hosted_app(tmp_path_factory: pytest.TempPathFactory):
    """The explorer on its demo in hosted mode: every page edits its own labels (other tests' pages are apart)."""
    server = start_app("--hosted", cache_dir=tmp_path_factory.mktemp("annotate_cache"))
    yield server.url
    server.stop()


ROWS_JS = """(id) => Array.from(document.querySelectorAll('#' + id + ' [role="row"]'))
  .map((row) => Array.from(row.querySelectorAll('[role="gridcell"]')).map((cell) => cell.innerText.trim()))
  .filter((cells) => cells.length > 0)"""
# The first model's segment-level "change" row of the clip's scores: true when it is all zeros (zero = 0 / -0)
UNCHANGED_JS = f"""(unchanged) => {{
  const rows = ({ROWS_JS})('{ui_ids.CLIP_SCORES}').filter((r) => r[1] === 'segment' && r[2] === 'change');
  return rows.length > 0 && rows[0].slice(3).every((v) => Number(v) === 0) === unchanged;
}}"""


def _score_rows(page) -> dict[str, list[str]]:
    """The clip's first model's segment-level rows by labels (original / corrected / change)."""
    rows = [row for row in page.evaluate(ROWS_JS, ui_ids.CLIP_SCORES) if len(row) > 3 and row[1] == "segment"]
    return {row[2]: row[3:] for row in rows if row[0] == rows[0][0]}


def _edit_mode(page) -> dict:
    page.locator(f"#{ui_ids.EDIT_TOGGLE} input").check()
    page.wait_for_function(
        f"() => {{ const gd = document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot');"
        " return !!gd && gd.layout.meta.editable === true; }",
        timeout=30_000,
    )
    page.wait_for_function(UNCHANGED_JS, arg=True, timeout=30_000)
    return page.evaluate(LANE_JS, "visual")


def _drag(page, start: dict, end: dict) -> None:
    page.mouse.move(start["x"], start["y"])
    page.mouse.down()
    page.mouse.move(end["x"], end["y"], steps=10)
    page.mouse.up()


def test_a_drag_across_a_ground_truth_lane_rescores_the_clip_and_undo_restores_it(chromium, hosted_app) -> None:
    page = open_page(chromium, hosted_app, width=1500, height=1300)
    try:
        lane = _edit_mode(page)
        before = _score_rows(page)
        assert [float(value) for value in before["change"]] == [0.0] * 4 and before["original"] == before["corrected"]
        # from the first segment to the last: paints the whole row (or erases it, when the first segment is set)
        _drag(page, lane["first"], lane["last"])
        page.wait_for_function(VERSION_JS, arg=lane["version"] + 1, timeout=30_000)
        after = page.evaluate(LANE_JS, "visual")
        assert after["name"] == lane["name"] and after["values"] == [1 - lane["values"][0]] * 10
        page.wait_for_function(UNCHANGED_JS, arg=False, timeout=30_000)  # the clip's scores follow the labels
        changed = _score_rows(page)
        assert changed["original"] == before["original"] and changed["corrected"][1] != before["corrected"][1]
        changed_cells = page.evaluate(
            f"() => document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot').layout.meta.changed"
        )
        assert len(changed_cells) == sum(value == lane["values"][0] for value in lane["values"])  # framed
        page.locator(f"#{ui_ids.LABELS_PANEL}").get_by_text("Labels:").click()  # the panel with the changes
        page.wait_for_function(f"() => ({ROWS_JS})('{ui_ids.DIFF_TABLE}').length > 0", timeout=10_000)
        diff = page.evaluate(ROWS_JS, ui_ids.DIFF_TABLE)
        assert [row[:2] for row in diff] == [[lane["name"].replace("_", " "), "visual"]]  # listed
        assert page.locator(f"#{ui_ids.UNDO}").is_enabled()
        page.locator(f"#{ui_ids.UNDO}").click()
        page.wait_for_function(VERSION_JS, arg=lane["version"] + 2, timeout=30_000)
        assert page.evaluate(LANE_JS, "visual")["values"] == lane["values"]
        page.wait_for_function(UNCHANGED_JS, arg=True, timeout=30_000)
        assert _score_rows(page)["corrected"] == before["corrected"]
    finally:
        page.close()


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory: pytest.TempPathFactory):
    """The explorer on its demo with one annotation file shared by every page (local mode)."""
    folder = tmp_path_factory.mktemp("shared_labels")
    server = start_app("--annotations", str(folder / "labels.sqlite"), cache_dir=folder / "cache")
    yield server.url
    server.stop()


def test_two_pages_on_one_clip_never_lose_an_edit(chromium, shared_app) -> None:
    first = open_page(chromium, shared_app, width=1500, height=1300)
    second = open_page(chromium, shared_app, width=1500, height=1300)
    try:
        lane = _edit_mode(first)
        assert _edit_mode(second) == lane  # both pages show the clip at the same version
        first.mouse.click(lane["last"]["x"], lane["last"]["y"])  # the first page switches segment 10
        first.wait_for_function(VERSION_JS, arg=lane["version"] + 1, timeout=30_000)
        second.mouse.click(lane["first"]["x"], lane["first"]["y"])  # the second page's view is now stale
        second.wait_for_function(
            f"() => document.querySelector('#{ui_ids.EDIT_MESSAGE}').innerText.includes('Not saved')", timeout=30_000
        )
        assert "reloaded" in second.locator(f"#{ui_ids.EDIT_MESSAGE}").inner_text()
        second.wait_for_function(VERSION_JS, arg=lane["version"] + 1, timeout=30_000)  # the reloaded clip
        reloaded = second.evaluate(LANE_JS, "visual")
        assert reloaded["values"] == [*lane["values"][:9], 1 - lane["values"][9]]  # the first page's edit, kept
        second.mouse.click(reloaded["first"]["x"], reloaded["first"]["y"])  # again, on the fresh view: saved
        second.wait_for_function(VERSION_JS, arg=lane["version"] + 2, timeout=30_000)
        both = second.evaluate(LANE_JS, "visual")["values"]
        assert both == [1 - lane["values"][0], *lane["values"][1:9], 1 - lane["values"][9]]
        assert second.locator(f"#{ui_ids.EDIT_MESSAGE}").inner_text().strip() == ""
    finally:
        first.close()
        second.close()
