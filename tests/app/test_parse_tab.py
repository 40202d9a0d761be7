"""The "Parse a video" tab: an upload through the app's API and in the browser (stand-in feature networks).

The app is built in-process with :func:`app.build_app` and a :class:`VideoParser` whose feature networks are small
stand-ins (the published ResNet-152 alone takes a minute per clip on a 2-core CPU, and nothing is downloaded in
tests); the decoding, windows, parser, timeline and download are the real ones.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file

import app
from bench._app_server import free_port
from mgn.checkpoint import load_checkpoint
from mgn.data.demo import DEMO_CHECKPOINT, DEMO_PACK
from mgn.explore import ui_ids
from mgn.explore.state import open_explorer
from mgn.explore.video_parser import VideoParser
from tests.extract.standins import standin_extractor

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"


@pytest.fixture(scope="module")
def parse_app(tmp_path_factory: pytest.TempPathFactory):
    """The explorer with a "Parse a video" tab, served in-process on a free port: its URL."""
    explorer = open_explorer(DEMO / DEMO_PACK, [DEMO / DEMO_CHECKPOINT], cache_dir=None, progress=False)
    torch.manual_seed(0)
    model = load_checkpoint(DEMO / DEMO_CHECKPOINT)
    parser = VideoParser(model, "MGN", standin_extractor, max_seconds=60, listed=[DEMO / "video"])
    demo = app.build_app(explorer, app.ParseSetup.of(parser))
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def test_upload_through_the_api(parse_app: str, long_video: Path, tmp_path: Path) -> None:
    client = Client(parse_app, verbose=False, download_files=str(tmp_path))
    summary, video, figure, events, archive = client.predict(
        handle_file(str(long_video)), None, api_name="/parse_video"
    )
    assert "my clip.mp4" in summary and "14.0 s, 2 windows of 10 s" in summary
    video_file = video if isinstance(video, str) else video["video"]
    assert Path(video_file).stat().st_size == long_video.stat().st_size
    assert {"modality", "class", "onset (s)", "offset (s)", "peak score"} <= set(events["headers"])
    with zipfile.ZipFile(archive if isinstance(archive, str) else archive["value"]) as bundle:
        names = bundle.namelist()
    assert len([n for n in names if n.startswith("feats/vggish/")]) == 2 and "videos.csv" in names


def test_a_listed_video_and_bad_requests(parse_app: str, tmp_path: Path) -> None:
    client = Client(parse_app, verbose=False, download_files=str(tmp_path))
    listed = sorted(p.name for p in (DEMO / "video").glob("*.mp4"))[0]
    summary = client.predict(None, listed, api_name="/parse_video")[0]
    assert listed in summary and "1 window of 10 s" in summary
    with pytest.raises(Exception, match="not in the list of choices"):  # Gradio refuses it before our code
        client.predict(None, "../../README.md", api_name="/parse_video")
    garbage = tmp_path / "broken.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(Exception, match="broken.mp4: not a readable"):
        client.predict(handle_file(str(garbage)), None, api_name="/parse_video")
    assert "1 window" in client.predict(None, listed, api_name="/parse_video")[0]  # the app stayed up


@pytest.mark.browser
def test_upload_in_the_browser(parse_app: str, long_video: Path, chromium) -> None:
    page = chromium.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(parse_app + "?__theme=light")
    page.get_by_role("tab", name="Parse a video").click()
    page.locator(f"#{ui_ids.PARSE_UPLOAD} input[type=file]").set_input_files(str(long_video))
    page.wait_for_timeout(1500)  # the upload finishes
    page.locator(f"#{ui_ids.PARSE_BUTTON}").click()
    page.wait_for_function(
        f"() => {{ const gd = document.querySelector('#{ui_ids.PARSE_TIMELINE} .js-plotly-plot');"
        " return gd && gd.layout && gd.layout.meta && gd.layout.meta.video === 'my clip.mp4'; }",
        timeout=120_000,
    )
    x_range = page.evaluate(
        f"() => document.querySelector('#{ui_ids.PARSE_TIMELINE} .js-plotly-plot').layout.xaxis.range"
    )
    assert x_range[1] == pytest.approx(14.0)
    assert "2 windows" in page.locator(f"#{ui_ids.PARSE_STATUS}").inner_text()
    page.close()
