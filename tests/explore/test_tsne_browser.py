"""The two t-SNE figures drawn by plotly.js in headless Chromium, on a desktop (1440x900) and a phone (390x844).

Both figures are put on one page, one above the other (plotly.js from the installed plotly package, nothing
downloaded), with the settings Gradio's plot component uses (``responsive``, ``autosize``); the page is opened once
per screen size, and the tests read what plotly.js drew: the width each figure took, where its legend and labels
are, what hovering and clicking give.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import plotly.io as pio
import pytest

from mgn.explore.embeddings import MAX_LABELS, TOKEN_MODALITIES, feature_figure, token_figure
from mgn.labels import CLASSES, NUM_CLASSES

pytestmark = [pytest.mark.browser]

VIEWPORTS = {"desktop": (1440, 900), "phone": (390, 844)}
PAGE_PAD_PX = 16  # the page's padding around the plots
FIGURES = ("tokens", "features")  # the figures' element ids

_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><script src="plotly.min.js"></script></head>
<body style="margin:0;padding:@PAD@px"><div id="tokens"></div><div id="features"></div><script>
const figures = @FIGURES@;
Promise.all(Object.entries(figures).map(([id, figure]) => {
  figure.layout.autosize = true;
  return Plotly.newPlot(id, figure.data, figure.layout, {responsive: true});
})).then(() => { window.drawn = true; });
</script></body></html>"""

# What plotly.js drew: the plot's size and place, the legend's items and box, the labels' boxes.
_DRAWN_JS = """(id) => {
  const gd = document.getElementById(id), size = gd._fullLayout._size, box = gd.getBoundingClientRect();
  const rect = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const legend = gd.querySelector('.legend');
  return {
    width: box.width, page: document.documentElement.scrollWidth, viewport: window.innerWidth,
    plot: [box.left + size.l, box.top + size.t, box.left + size.l + size.w, box.top + size.t + size.h],
    legend: legend ? rect(legend) : null,
    items: Array.from(gd.querySelectorAll('.legend .traces')).map((item) => {
      const point = item.querySelector('.scatterpts path, .legendpoints path.scatterpts');
      return {name: item.textContent, fill: point ? point.style.fill : null, d: point ? point.getAttribute('d') : null};
    }),
    labels: Array.from(gd.querySelectorAll('.textpoint text')).map((e) => ({text: e.textContent, box: rect(e)})),
    title: Array.from(gd.querySelectorAll('.gtitle, .gtitle-subtitle')).map(rect),
    modebar: gd.querySelector('.modebar') ? rect(gd.querySelector('.modebar')) : null,
  };
}"""

_POINT_JS = """([id, role, index]) => {
  const gd = document.getElementById(id);
  const data = gd._fullData.find((d) => d.meta && d.meta.role === role);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(data.x[index]), y: box.top + ya._offset + ya.l2p(data.y[index])};
}"""


@pytest.fixture(scope="module")
def browser(chromium):
    """The session's headless Chromium (tests/conftest.py)."""
    return chromium


def _token_frame() -> pd.DataFrame:
    """50 tokens as t-SNE would place them: pairs in a jittered grid (no t-SNE needed here)."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(5)), axis=-1).reshape(-1, 2) * 10.0  # (C, 2)
    audio, visual = grid + rng.normal(size=grid.shape), grid + rng.normal(size=grid.shape)
    frame = pd.DataFrame(
        {
            "x": np.r_[audio[:, 0], visual[:, 0]],
            "y": np.r_[audio[:, 1], visual[:, 1]],
            "class_index": np.tile(np.arange(NUM_CLASSES), 2),
            "class_name": list(CLASSES) * 2,
            "modality": np.repeat(TOKEN_MODALITIES, NUM_CLASSES),
            "av_distance": np.tile(rng.uniform(0.1, 2.0, NUM_CLASSES), 2),
        }
    )
    frame.attrs |= {"cross_class_distance": 3.0, "token_width": 128}
    return frame


def _feature_frame() -> pd.DataFrame:
    """1,000 features: a cloud per class and modality, 20 points each, and one lone Speech point (for the click)."""
    rng = np.random.default_rng(1)
    centres = rng.uniform(-50, 50, size=(NUM_CLASSES, 2))  # (C, 2)
    rows = []
    for c in range(NUM_CLASSES):
        for modality, shift in zip(TOKEN_MODALITIES, (0.0, 4.0)):
            xy = centres[c] + shift + rng.normal(size=(20, 2))  # (20, 2)
            if c == 0 and modality == "audio":
                xy[3] = (-80.0, -80.0)  # far from every other point
            clips = [f"clip{c:02d}{modality[0]}{i:04d}_0_10" for i in range(20)]
            rows.append(
                pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "class_index": c, "modality": modality, "clip": clips})
            )
    frame = pd.concat(rows, ignore_index=True)
    frame["class_name"] = np.asarray(CLASSES)[frame["class_index"]]
    frame["clip_index"] = np.arange(len(frame))
    frame.attrs["note"] = f"{len(frame)} of {len(frame)} present (clip, class) pairs"
    return frame


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tsne_page")
    shutil.copy(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", folder / "plotly.min.js")
    figures = {"tokens": token_figure(_token_frame()), "features": feature_figure(_feature_frame())}
    spec = json.dumps({name: json.loads(pio.to_json(figure)) for name, figure in figures.items()})
    path = folder / "tsne.html"
    path.write_text(_PAGE.replace("@PAD@", str(PAGE_PAD_PX)).replace("@FIGURES@", spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def pages(browser, page_file: Path):
    """The page, open at each screen size (a phone: touch, mobile viewport)."""
    opened = {}
    for viewport, (width, height) in VIEWPORTS.items():
        phone = viewport == "phone"
        page = browser.new_page(viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone)
        page.goto(page_file.as_uri())
        page.wait_for_function("() => window.drawn === true", timeout=30_000)
        opened[viewport] = page
    yield opened
    for page in opened.values():
        page.close()


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def drawn(pages) -> dict[tuple[str, str], dict]:
    """What plotly.js drew, per (figure, viewport)."""
    return {(name, viewport): page.evaluate(_DRAWN_JS, name) for viewport, page in pages.items() for name in FIGURES}


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("name", FIGURES)
def test_full_width_legend_below_labels_apart(drawn, name: str, viewport: str) -> None:
    drawn = drawn[name, viewport]
    assert drawn["width"] == pytest.approx(drawn["viewport"] - 2 * PAGE_PAD_PX, abs=2)  # the container's width
    assert drawn["page"] <= drawn["viewport"]  # nothing scrolls sideways
    assert drawn["plot"][2] - drawn["plot"][0] >= 0.9 * drawn["width"]  # the plot area takes that width
    assert drawn["plot"][3] - drawn["plot"][1] >= 300  # and stays tall enough on a phone
    assert drawn["legend"][1] >= drawn["plot"][3] - 1  # the legend is below the plot, not over it
    labels = drawn["labels"]
    assert 1 <= len(labels) <= MAX_LABELS
    for i, a in enumerate(labels):
        assert drawn["plot"][0] - 1 <= a["box"][0] and a["box"][2] <= drawn["plot"][2] + 1, a  # inside the plot
        for b in labels[i + 1 :]:
            assert not _overlap(a["box"], b["box"]), (a, b)
    assert len(drawn["title"]) == 2  # title and caption
    for line in drawn["title"]:
        assert line[2] <= drawn["viewport"], line  # not cut off
        assert drawn["modebar"] is None or line[1] >= drawn["modebar"][3], line  # below Plotly's buttons


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_token_legend_two_distinct_symbols(drawn, viewport: str) -> None:
    items = drawn["tokens", viewport]["items"]
    assert [item["name"] for item in items] == ["audio class token", "visual class token"]
    assert items[0]["fill"] != items[1]["fill"]  # two colours
    assert items[0]["d"] != items[1]["d"]  # two marker shapes


def test_hovering_a_line_names_its_class_and_distances(pages) -> None:
    page = pages["desktop"]
    page.locator("#tokens").scroll_into_view_if_needed()
    point = page.evaluate(_POINT_JS, ["tokens", "link_hover", 7])
    page.mouse.move(point["x"], point["y"])
    page.wait_for_selector("#tokens .hovertext", timeout=5_000)
    text = page.evaluate("() => document.querySelector('#tokens .hovertext').textContent")
    point = page.evaluate(_POINT_JS, ["tokens", "tokens", 7])  # the audio token of the same class: its own hover
    page.mouse.move(point["x"], point["y"])
    page.wait_for_function("() => document.querySelector('#tokens .hovertext').textContent.includes('audio token')")
    token_text = page.evaluate("() => document.querySelector('#tokens .hovertext').textContent")
    page.mouse.move(0, 0)
    assert text.startswith("Fire alarm: its audio and visual token") and "t-SNE plane" in text and "128-d" in text
    assert token_text.startswith("Fire alarm \u00b7 audio token")


def test_a_click_on_a_feature_gives_its_clip(pages) -> None:
    """mgn.explore.player opens ``customdata[0]`` of the clicked point; the labels on top never take the click."""
    page = pages["phone"]
    page.locator("#features").scroll_into_view_if_needed()
    listen = "(d) => { window.clicked = d.points[0].customdata; }"
    page.evaluate(f"() => document.getElementById('features').on('plotly_click', {listen})")
    point = page.evaluate(_POINT_JS, ["features", "features", 3])
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function("() => window.clicked !== undefined", timeout=5_000)
    assert page.evaluate("() => window.clicked") == ["clip00a0003_0_10", "Speech", "audio"]
