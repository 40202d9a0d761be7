"""The explorer in headless Chromium: pick a clip, play it, read the timeline, use the t-SNE, take a screenshot."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mgn.data.demo import DEMO_CHECKPOINT, DEMO_PACK
from mgn.explore.state import open_explorer
from mgn.explore.timeline import figure_events
from mgn.export import prediction_events

from .browser import clip_cell, clip_list_size, open_page, read_figure, wait_for_clip

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory):
    """The same explorer state as the app's, computed in the test process, for the expected figure content."""
    return open_explorer(DEMO / DEMO_PACK, [DEMO / DEMO_CHECKPOINT], cache_dir=None, progress=False)


@pytest.fixture(scope="module")
def page(chromium, demo_app):
    url, _ = demo_app
    page = open_page(chromium, url)
    yield page
    page.close()


def test_pick_a_clip_and_check_video_and_timeline(page, expected, tmp_path: Path) -> None:
    assert clip_list_size(page) == len(expected.split)
    clip = clip_cell(page, 2).inner_text().strip()
    clip_cell(page, 2).click()
    wait_for_clip(page, clip)
    assert page.input_value("#mgn-selected-clip textarea, #mgn-selected-clip input") == clip
    source = page.get_attribute("#mgn-video", "src")
    assert source and source.endswith(f"{clip[:11]}.mp4")
    page.wait_for_function("document.getElementById('mgn-video').readyState >= 2", timeout=30_000)
    shown = figure_events(read_figure(page, "mgn-timeline"))
    assert shown == figure_events(expected.timeline(clip))  # the page draws exactly the clip's GT and predictions
    index = expected.index_of(clip)
    rows = prediction_events([clip], expected.split.gt_audio[index][None])  # the annotation's audio events
    assert shown[("gt", "audio", None)] == sorted(zip(rows["event_labels"], rows["onset"], rows["offset"]))
    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
    assert (tmp_path / "explorer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_timeline_download_is_made_on_demand(page, expected) -> None:
    """The button fetches the clip's standalone page from the server and the browser saves it (no server file)."""
    clip = page.evaluate("() => document.getElementById('mgn-video').dataset.clip")
    wait_for_clip(page, clip)
    with page.expect_download(timeout=60_000) as download:
        page.click("#mgn-download-timeline")
    saved = download.value
    assert saved.suggested_filename == f"timeline_{clip}.html"
    assert Path(saved.path()).read_text() == expected.timeline_page(clip)  # exactly the server's standalone page


def test_cursor_follows_playback_and_click_seeks(page) -> None:
    clip = page.evaluate("() => document.getElementById('mgn-video').dataset.clip")
    wait_for_clip(page, clip)
    page.wait_for_function("document.getElementById('mgn-video').readyState >= 2", timeout=30_000)
    left = lambda: float(page.evaluate("parseFloat(document.querySelector('.mgn-cursor').style.left)"))  # noqa: E731
    page.evaluate("() => { const v = document.getElementById('mgn-video'); v.currentTime = 0; }")
    page.wait_for_function("Number(document.querySelector('.mgn-cursor').dataset.time) < 0.05", timeout=10_000)
    start = left()
    page.evaluate("() => document.getElementById('mgn-video').play()")
    page.wait_for_function("Number(document.querySelector('.mgn-cursor').dataset.time) > 1.0", timeout=20_000)
    assert left() > start + 10  # pixels: the cursor moved right while the video played
    page.evaluate("() => document.getElementById('mgn-video').pause()")
    box = page.evaluate("""() => {
        const gd = document.querySelector('#mgn-timeline .js-plotly-plot'), axis = gd._fullLayout.xaxis;
        const rect = gd.getBoundingClientRect();
        return {x: rect.left + axis._offset + axis.l2p(6.5), y: rect.top + gd._fullLayout.margin.t + 20};
    }""")
    page.mouse.click(box["x"], box["y"])
    page.wait_for_function("Math.abs(document.getElementById('mgn-video').currentTime - 6.5) < 0.2", timeout=10_000)
    page.wait_for_function(
        "Math.abs(Number(document.querySelector('.mgn-cursor').dataset.time) - 6.5) < 0.2", timeout=10_000
    )


def test_tsne_shows_50_tokens_and_a_point_opens_its_clip(page, expected) -> None:
    page.get_by_role("tab", name="t-SNE").click()
    page.wait_for_function("() => document.querySelector('#mgn-tokens .js-plotly-plot') !== null", timeout=120_000)
    tokens = read_figure(page, "mgn-tokens")
    assert sum(len(trace["x"]) for trace in tokens["data"]) == 50
    page.wait_for_function("() => document.querySelector('#mgn-features .js-plotly-plot') !== null", timeout=120_000)
    current = page.evaluate("() => document.getElementById('mgn-video').dataset.clip")
    target = page.evaluate(
        """(current) => {
        const gd = document.querySelector('#mgn-features .js-plotly-plot');
        for (let t = 0; t < gd._fullData.length; t++) {
            const data = gd._fullData[t];  // decoded arrays (gd.data may hold plotly.py's base64 arrays)
            for (let i = 0; i < data.x.length; i++) {
                if (data.customdata[i][0] !== current) {
                    const xa = gd._fullLayout[data.xaxis ? 'xaxis' + data.xaxis.slice(1) : 'xaxis'];
                    const ya = gd._fullLayout[data.yaxis ? 'yaxis' + data.yaxis.slice(1) : 'yaxis'];
                    const rect = gd.getBoundingClientRect();
                    return {clip: data.customdata[i][0], x: rect.left + xa._offset + xa.l2p(data.x[i]),
                            y: rect.top + ya._offset + ya.l2p(data.y[i])};
                }
            }
        }
        return null;
    }""",
        current,
    )
    assert target is not None
    page.mouse.move(target["x"], target["y"])
    time.sleep(0.3)
    page.mouse.click(target["x"], target["y"])
    clicked = page.evaluate(
        "() => document.querySelector('#mgn-selected-clip textarea, #mgn-selected-clip input').value"
    )
    wait_for_clip(page, clicked)  # the clip view switched to the clicked point's clip
    assert clicked != current and expected.index_of(clicked) >= 0
    assert page.get_by_role("tab", name="Clips").get_attribute("aria-selected") == "true"
