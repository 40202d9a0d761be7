"""Annotating a parsed video in the browser: video-level labels, then a drag on a window's ground-truth lane, then
the windows downloaded as an LLP-format dataset (the app in-process, stand-in feature networks as in
test_parse_tab.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch

import app
from bench._app_server import free_port
from mgn.checkpoint import load_checkpoint
from mgn.data.annotations import dense_ground_truth, read_dense_annotations
from mgn.data.demo import DEMO_CHECKPOINT, DEMO_PACK
from mgn.explore import ui_ids
from mgn.explore.state import open_explorer
from mgn.explore.video_parser import VideoParser
from tests.extract.standins import standin_extractor

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"
EDITOR = f"#{ui_ids.PARSE_EDITOR_PLOT} .js-plotly-plot"
# The page points of the first and fourth cells of the editor's audio Dog lane, and the figure's edit version.
DOG_LANE_JS = f"""() => {{
  const gd = document.querySelector('{EDITOR}');
  if (!gd || !gd._fullData || !gd.layout.meta.editable) return null;
  const trace = gd._fullData.find((t) => t.meta && t.meta.role === 'gt_cell' && t.meta.modality === 'audio'
    && t.customdata.some((c) => c[0] === 'Dog'));
  if (!trace) return null;
  const y = trace.y[trace.customdata.findIndex((c) => c[0] === 'Dog')], rect = gd.getBoundingClientRect();
  const xa = gd._fullLayout[trace.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[trace.yaxis.replace('y', 'yaxis')];
  const at = (s) => ({{x: rect.left + xa._offset + xa.l2p(s + 0.5), y: rect.top + ya._offset + ya.l2p(y)}});
  return {{first: at(0), fourth: at(3), version: gd.layout.meta.edit_version, clip: gd.layout.meta.clip}};
}}"""


@pytest.fixture(scope="module")
def parse_app():
    """The explorer with a "Parse a video" tab (stand-in feature networks), in-process, hosted editing: its URL."""
    explorer = open_explorer(DEMO / DEMO_PACK, [DEMO / DEMO_CHECKPOINT], cache_dir=None, progress=False)
    torch.manual_seed(0)
    parser = VideoParser(load_checkpoint(DEMO / DEMO_CHECKPOINT), "MGN", standin_extractor, max_seconds=60)
    demo = app.build_app(explorer, app.ParseSetup.of(parser))
    port = free_port()
    demo.queue().launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False, **app.launch_assets()
    )
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.mark.browser
def test_a_parsed_video_is_annotated_and_downloaded_as_a_dataset(
    parse_app: str, long_video: Path, chromium, tmp_path: Path
) -> None:
    page = chromium.new_page(viewport={"width": 1400, "height": 1100})
    try:
        page.goto(parse_app + "?tab=parse")
        page.locator("#mgn-parse-upload input[type=file]").set_input_files(str(long_video))
        page.wait_for_timeout(1500)  # the upload finishes
        page.locator("#mgn-parse-button").click()
        page.wait_for_function(
            "() => document.querySelector('#mgn-parse-status').innerText.includes('2 windows')", timeout=120_000
        )
        page.locator(f"#{ui_ids.PARSE_ANNOTATE}").get_by_text("Annotate this video").click()
        labels = page.locator(f"#{ui_ids.PARSE_LABELS} input")
        labels.click()
        labels.fill("Dog")
        page.keyboard.press("Enter")
        page.locator(f"#{ui_ids.PARSE_DECLARE}").click()
        page.wait_for_function(f"() => ({DOG_LANE_JS})() !== null", timeout=30_000)
        lane = page.evaluate(DOG_LANE_JS)
        assert lane["version"] == 0 and "2 clip(s) declared" in page.locator(f"#{ui_ids.PARSE_MESSAGE}").inner_text()
        page.mouse.move(lane["first"]["x"], lane["first"]["y"])
        page.mouse.down()
        page.mouse.move(lane["fourth"]["x"], lane["fourth"]["y"], steps=8)
        page.mouse.up()
        page.wait_for_function(f"() => ({DOG_LANE_JS})()?.version === 1", timeout=30_000)
        with page.expect_download(timeout=60_000) as download:
            page.locator(f"#{ui_ids.PARSE_DOWNLOAD}").click()
        data = Path(download.value.path()).read_bytes()
    finally:
        page.close()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert len([name for name in names if name.startswith("feats/res152/")]) == 2
        weak = {}
        for split_file in ("AVVP_train.csv", "AVVP_val_pd.csv"):
            for line in archive.read(split_file).decode().splitlines()[1:]:
                weak[line.split("\t")[0]] = (split_file, line.split("\t")[1])
        assert lane["clip"] in weak and all(labels == "Dog" for _, labels in weak.values())
        dense = "AVVP_val_pd.csv" == weak[lane["clip"]][0]
        member = "AVVP_eval_audio.csv" if dense else "AVVP_train_eval_audio.csv"
        path = tmp_path / "dense.csv"
        path.write_bytes(archive.read(member))
    rows = read_dense_annotations(path)
    assert dense_ground_truth([lane["clip"]], rows)[0].sum(axis=1).tolist().count(4) == 1  # Dog, segments 1-4
