"""The explorer in headless Chromium: the layout beside the video, picking and stepping through clips, deep links,
the threshold, the unknown-clip message, the offline timeline download, playback sync and the t-SNE."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bench._app_server import demo_checkpoints, demo_pack
from mgn.explore import ui_ids
from mgn.explore.state import open_explorer
from mgn.explore.timeline import figure_events, figure_statuses
from mgn.export import prediction_events

from .browser import TIMELINE_CLIP_JS, clip_cell, clip_list_size, open_page, read_figure, wait_for_clip

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
CLIP_BOX = f"#{ui_ids.SELECTED_CLIP} textarea, #{ui_ids.SELECTED_CLIP} input"
SHOWN_VIDEO_JS = f"() => document.getElementById('{ui_ids.VIDEO}').dataset.clip"


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory):
    """The same explorer state as the app's, computed in the test process, for the expected figure content."""
    return open_explorer(demo_pack(), demo_checkpoints(), cache_dir=None, progress=False)


@pytest.fixture(scope="module")
def page(chromium, demo_app):
    url, _ = demo_app
    page = open_page(chromium, url, width=1440, height=900)
    yield page
    page.close()


def _shown(page) -> str:
    return page.evaluate(TIMELINE_CLIP_JS)


def _box(page, element_id: str) -> dict:
    return page.evaluate(f"() => document.getElementById('{element_id}').getBoundingClientRect().toJSON()")


def _query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_video_and_whole_timeline_side_by_side_at_1440x900(page) -> None:
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_function(  # the page script fits the timeline into the window
        f"() => {{ const gd = document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot');"
        " return gd && gd._fullLayout && gd.getBoundingClientRect().bottom <= window.innerHeight; }",
        timeout=15_000,
    )
    video, timeline = _box(page, ui_ids.VIDEO_BOX), _box(page, ui_ids.TIMELINE)
    for box in (video, timeline):  # both wholly in the 1440 x 900 window, with the page at the top
        assert 0 <= box["left"] and box["right"] <= 1440 and 0 <= box["top"] and box["bottom"] <= 900, box
    assert video["right"] <= timeline["left"]  # side by side: the video on the left, the timeline on the right
    assert video["top"] < timeline["bottom"] and timeline["top"] < video["bottom"]  # at the same height
    figure = read_figure(page, ui_ids.TIMELINE)
    assert {"audio", "visual", "audio_visual"} <= {trace["meta"]["modality"] for trace in figure["data"]}


def test_pick_a_clip_and_check_video_and_timeline(page, expected, tmp_path: Path) -> None:
    assert clip_list_size(page) == len(expected.split)
    clip = clip_cell(page, 2).inner_text().strip()
    clip_cell(page, 2).click()
    wait_for_clip(page, clip)
    assert page.input_value(CLIP_BOX) == clip
    source = page.get_attribute(f"#{ui_ids.VIDEO}", "src")
    assert source and source.endswith(f"{clip[:11]}.mp4")
    assert page.evaluate(f"() => document.getElementById('{ui_ids.VIDEO}').muted") is False  # sound on
    page.wait_for_function(f"document.getElementById('{ui_ids.VIDEO}').readyState >= 2", timeout=30_000)
    shown = figure_events(read_figure(page, ui_ids.TIMELINE))
    assert shown == figure_events(expected.timeline(clip))  # the page draws exactly the clip's GT and predictions
    index = expected.index_of(clip)
    rows = prediction_events([clip], expected.split.gt_audio[index][None])  # the annotation's audio events
    assert shown[("gt", "audio", None)] == sorted(zip(rows["event_labels"], rows["onset"], rows["offset"]))
    open_rows = page.evaluate(
        f"() => Array.from(document.querySelectorAll('#{ui_ids.CLIP_LIST} .{ui_ids.OPEN_ROW_CLASS}'))"
        ".map((row) => row.querySelector('[role=gridcell]').textContent.trim())"
    )
    assert open_rows == [clip]  # the open clip's row is highlighted, and only it
    assert _query(page)["clip"] == [clip]  # the address follows the open clip
    page.screenshot(path=str(tmp_path / "explorer.png"), full_page=True)
    assert (tmp_path / "explorer.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_keys_open_the_next_and_previous_clip_and_play(page) -> None:
    first = clip_cell(page, 0).inner_text().strip()
    clip_cell(page, 0).click()
    wait_for_clip(page, first)
    page.mouse.click(1, 1)  # focus on the page, not in a field
    second, third = clip_cell(page, 1).inner_text().strip(), clip_cell(page, 2).inner_text().strip()
    page.keyboard.press("ArrowDown")
    wait_for_clip(page, second)
    page.keyboard.press("ArrowDown")
    wait_for_clip(page, third)
    page.keyboard.press("ArrowUp")
    wait_for_clip(page, second)  # the list's order, both ways
    page.wait_for_function(f"document.getElementById('{ui_ids.VIDEO}').readyState >= 2", timeout=30_000)
    page.keyboard.press(" ")
    page.wait_for_function(f"() => !document.getElementById('{ui_ids.VIDEO}').paused", timeout=10_000)
    page.keyboard.press(" ")
    page.wait_for_function(f"() => document.getElementById('{ui_ids.VIDEO}').paused", timeout=10_000)
    page.locator(f"#{ui_ids.SEARCH} textarea, #{ui_ids.SEARCH} input").focus()
    page.keyboard.press("ArrowDown")  # typing in a field: the keys are the field's
    time.sleep(1.0)
    assert _shown(page) == second


def test_unknown_clip_shows_one_message_and_keeps_the_view(page) -> None:
    shown, video = _shown(page), page.evaluate(SHOWN_VIDEO_JS)
    figure = json.dumps(read_figure(page, ui_ids.TIMELINE))
    box = page.locator(CLIP_BOX)
    box.fill("nope_0_10")
    box.press("Enter")
    page.wait_for_function(
        f"() => document.getElementById('{ui_ids.CLIP_MESSAGE}').innerText.includes('unknown clip')", timeout=15_000
    )
    message = page.inner_text(f"#{ui_ids.CLIP_MESSAGE}")
    assert message.count("unknown clip 'nope_0_10'") == 1 and "Still showing the last clip" in message
    assert page.get_by_text("unknown clip", exact=False).count() == 1  # once on the page: no toast, no copies
    assert page.locator(".toast-body").count() == 0
    assert _shown(page) == shown and page.evaluate(SHOWN_VIDEO_JS) == video  # the last view stays
    assert json.dumps(read_figure(page, ui_ids.TIMELINE)) == figure  # not blanked, not redrawn
    box.fill(shown)
    box.press("Enter")
    page.wait_for_function(f"() => document.getElementById('{ui_ids.CLIP_MESSAGE}').innerText.trim() === ''")


def test_an_empty_list_says_so_and_clears(page, expected) -> None:
    search = page.locator(f"#{ui_ids.SEARCH} textarea, #{ui_ids.SEARCH} input")
    search.fill("zzzz no such clip")
    page.wait_for_selector(f"#{ui_ids.EMPTY_LIST_NOTE}", state="visible", timeout=15_000)
    assert "No clip matches" in page.inner_text(f"#{ui_ids.EMPTY_LIST_NOTE}")
    page.click(f"#{ui_ids.CLEAR_FILTERS}")
    page.wait_for_selector(f"#{ui_ids.EMPTY_LIST_NOTE}", state="hidden", timeout=15_000)
    assert search.input_value() == "" and clip_list_size(page) == len(expected.split)


def test_threshold_redraws_the_timeline(page, expected) -> None:
    clip = _shown(page)
    official = figure_statuses(expected.timeline(clip))
    # a threshold that changes this clip's statuses (which one depends on the shipped models' probabilities)
    threshold = next(t for t in (0.2, 0.1, 0.8, 0.9) if figure_statuses(expected.timeline(clip, t)) != official)
    number = page.locator(f"#{ui_ids.THRESHOLD} input[type=number]")
    number.fill(str(threshold))
    number.press("Enter")
    page.wait_for_function(
        f"() => document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot').layout.meta.threshold === {threshold}",
        timeout=20_000,
    )
    shown = read_figure(page, ui_ids.TIMELINE)
    assert shown["layout"]["meta"]["clip"] == clip
    assert figure_statuses(shown) == figure_statuses(expected.timeline(clip, threshold))  # the statuses there
    assert figure_statuses(shown) != official  # not those at the official 0.5
    page.click(f"#{ui_ids.OFFICIAL_THRESHOLD}")  # back to the official value
    page.wait_for_function(
        f"() => document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot').layout.meta.threshold === 0.5",
        timeout=20_000,
    )
    pending = f"#{ui_ids.TIMELINE} [data-testid=status-tracker]:not(.hide)"
    page.wait_for_selector(pending, state="detached", timeout=20_000)  # nothing left pending over the timeline


def test_timeline_download_opens_offline(page, chromium, expected, tmp_path: Path) -> None:
    """The downloaded page carries plotly.js itself: with every request refused it still draws the figure."""
    clip = page.evaluate(SHOWN_VIDEO_JS)
    wait_for_clip(page, clip)
    with page.expect_download(timeout=60_000) as download:
        page.click(f"#{ui_ids.DOWNLOAD_TIMELINE}")
    saved = download.value
    assert saved.suggested_filename == f"timeline_{clip}.html"
    path = tmp_path / saved.suggested_filename
    saved.save_as(path)
    assert path.read_text() == expected.timeline_page(clip)  # exactly the server's page
    offline = chromium.new_context()
    refused = []

    def network(route) -> None:  # the file itself may load; anything else is refused
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    offline.route("**/*", network)
    viewer = offline.new_page()
    viewer.goto(path.as_uri())
    viewer.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot'); return !!gd && gd.data && gd.data.length > 0; }",
        timeout=30_000,
    )
    assert viewer.evaluate("() => document.querySelector('.js-plotly-plot').layout.meta.clip") == clip
    assert refused == []  # it asked the network for nothing
    offline.close()


def test_deep_link_opens_the_clip_and_the_tab(chromium, demo_app, expected) -> None:
    url, _ = demo_app
    clip = str(expected.split.filenames[7])
    page = chromium.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{url}?clip={clip[:11]}&tab=dataset")  # a video ID is enough
    page.wait_for_function(f"() => ({TIMELINE_CLIP_JS})() === {json.dumps(clip)}", timeout=60_000)
    assert page.get_by_role("tab", name="Dataset").get_attribute("aria-selected") == "true"
    page.wait_for_function("() => new URL(window.location.href).searchParams.get('clip') !== null", timeout=10_000)
    assert _query(page) == {"clip": [clip], "tab": ["dataset"]}  # the address names the full clip and the tab
    page.get_by_role("tab", name="Clips").click()
    page.wait_for_function("() => new URL(window.location.href).searchParams.get('tab') === null", timeout=10_000)
    page.goto(f"{url}?clip=not_a_clip_0_10")
    page.wait_for_function(
        f"() => (document.getElementById('{ui_ids.CLIP_MESSAGE}') || {{innerText: ''}}).innerText"
        ".includes('not_a_clip_0_10')",
        timeout=60_000,
    )
    first = json.dumps(str(expected.split.filenames[0]))
    page.wait_for_function(f"() => ({TIMELINE_CLIP_JS})() === {first}", timeout=30_000)  # the first clip, not blank
    assert page.inner_text(f"#{ui_ids.CLIP_MESSAGE}").count("not_a_clip_0_10") == 1
    page.close()


def test_phone_stacks_list_video_and_timeline(chromium, demo_app) -> None:
    url, _ = demo_app
    page = open_page(chromium, url, width=390, height=844)
    boxes = {name: _box(page, name) for name in (ui_ids.CLIP_LIST, ui_ids.VIDEO_BOX, ui_ids.TIMELINE)}
    order = [boxes[ui_ids.CLIP_LIST], boxes[ui_ids.VIDEO_BOX], boxes[ui_ids.TIMELINE]]
    for above, below in zip(order, order[1:]):
        assert above["bottom"] <= below["top"] + 1  # stacked in this order, no overlap
    assert all(box["left"] >= 0 and box["right"] <= 390 for box in order)  # no sideways overflow
    page.close()


def test_cursor_follows_playback_and_click_seeks(page) -> None:
    page.evaluate("() => window.scrollTo(0, 0)")  # the timeline wholly in view (earlier tests may have scrolled)
    clip = page.evaluate(SHOWN_VIDEO_JS)
    wait_for_clip(page, clip)
    page.wait_for_function(f"document.getElementById('{ui_ids.VIDEO}').readyState >= 2", timeout=30_000)
    cursor = f"document.querySelector('.{ui_ids.CURSOR_CLASS}')"
    left = lambda: float(page.evaluate(f"parseFloat({cursor}.style.left)"))  # noqa: E731
    page.evaluate(f"() => {{ const v = document.getElementById('{ui_ids.VIDEO}'); v.currentTime = 0; }}")
    page.wait_for_function(f"Number({cursor}.dataset.time) < 0.05", timeout=10_000)
    start = left()
    page.evaluate(f"() => document.getElementById('{ui_ids.VIDEO}').play()")
    page.wait_for_function(f"Number({cursor}.dataset.time) > 1.0", timeout=20_000)
    assert left() > start + 10  # pixels: the cursor moved right while the video played
    page.evaluate(f"() => document.getElementById('{ui_ids.VIDEO}').pause()")
    box = page.evaluate(f"""() => {{
        const gd = document.querySelector('#{ui_ids.TIMELINE} .js-plotly-plot'), layout = gd._fullLayout;
        const rect = gd.getBoundingClientRect();
        return {{x: rect.left + layout.xaxis._offset + layout.xaxis.l2p(6.5),
                 y: rect.top + layout.margin.t + (layout.height - layout.margin.t - layout.margin.b) / 2}};
    }}""")
    page.mouse.click(box["x"], box["y"])
    page.wait_for_function(
        f"Math.abs(document.getElementById('{ui_ids.VIDEO}').currentTime - 6.5) < 0.2", timeout=10_000
    )
    page.wait_for_function(f"Math.abs(Number({cursor}.dataset.time) - 6.5) < 0.2", timeout=10_000)


def test_tsne_shows_50_tokens_and_a_point_opens_its_clip(page, expected) -> None:
    page.get_by_role("tab", name="t-SNE").click()
    plot = f"#{ui_ids.TOKENS_PLOT} .js-plotly-plot"
    page.wait_for_function(f"() => document.querySelector('{plot}') !== null", timeout=120_000)
    tokens = read_figure(page, ui_ids.TOKENS_PLOT)
    markers = [trace for trace in tokens["data"] if trace.get("mode", "markers") != "lines"]
    assert sum(len(trace["x"]) for trace in markers if trace.get("x") is not None) >= 50
    features_plot = f"#{ui_ids.FEATURES_PLOT} .js-plotly-plot"
    page.wait_for_function(f"() => document.querySelector('{features_plot}') !== null", timeout=120_000)
    current = page.evaluate(SHOWN_VIDEO_JS)
    page.evaluate(f"() => document.querySelector('{features_plot}').scrollIntoView({{block: 'start'}})")
    target = page.evaluate(
        """([selector, current]) => {
        const gd = document.querySelector(selector);
        for (let t = 0; t < gd._fullData.length; t++) {
            const data = gd._fullData[t];  // decoded arrays (gd.data may hold plotly.py's base64 arrays)
            if (!data.customdata || !data.x) continue;
            for (let i = 0; i < data.x.length; i++) {
                const clip = data.customdata[i] && data.customdata[i][0];
                const xa = gd._fullLayout[data.xaxis ? 'xaxis' + data.xaxis.slice(1) : 'xaxis'];
                const ya = gd._fullLayout[data.yaxis ? 'yaxis' + data.yaxis.slice(1) : 'yaxis'];
                const rect = gd.getBoundingClientRect();
                const x = rect.left + xa._offset + xa.l2p(data.x[i]), y = rect.top + ya._offset + ya.l2p(data.y[i]);
                if (clip && clip !== current && y > 0 && y < window.innerHeight) return {clip: clip, x: x, y: y};
            }
        }
        return null;
    }""",
        [features_plot, current],
    )
    assert target is not None
    page.mouse.move(target["x"], target["y"])
    time.sleep(0.3)
    page.mouse.click(target["x"], target["y"])
    clicked = page.evaluate(f"() => document.querySelector('{CLIP_BOX}').value")
    wait_for_clip(page, clicked)  # the clip view switched to the clicked point's clip
    assert clicked != current and expected.index_of(clicked) >= 0
    assert page.get_by_role("tab", name="Clips").get_attribute("aria-selected") == "true"
