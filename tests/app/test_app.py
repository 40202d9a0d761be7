"""The explorer server: its API, what it serves and refuses, concurrent clients, exports (no browser needed)."""

from __future__ import annotations

import random
import threading
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from gradio_client import Client

from mgn.data.demo import DEMO_CHECKPOINT, DEMO_PACK
from mgn.explore.player import video_html
from mgn.explore.state import open_explorer
from mgn.export import read_prediction_csvs

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def explorer():
    return open_explorer(DEMO / DEMO_PACK, [DEMO / DEMO_CHECKPOINT], cache_dir=None, progress=False)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_show_clip_api(demo_app, explorer) -> None:
    url, _ = demo_app
    client = Client(url, verbose=False)
    clip = str(explorer.split.filenames[5])
    selected, player, figure, *_ = client.predict(clip[:11], api_name="/show_clip")
    assert selected == clip
    assert 'id="mgn-video"' in player and f"/{clip[:11]}.mp4" in player
    with pytest.raises(Exception, match="unknown clip"):
        client.predict("not_a_clip_0_10", api_name="/show_clip")


def test_serves_videos_and_nothing_else(demo_app, explorer) -> None:
    url, _ = demo_app
    video = (DEMO / "video" / f"{explorer.split.video_ids[0]}.mp4").resolve()
    assert _status(f"{url}gradio_api/file={quote(str(video))}") == 200
    for path in (DEMO / DEMO_PACK, DEMO / DEMO_CHECKPOINT, Path(__file__), Path("/etc/passwd")):
        assert _status(f"{url}gradio_api/file={quote(str(path.resolve()))}") == 403, path
    sneaky = f"{DEMO.resolve()}/video/../{DEMO_PACK}"
    assert _status(f"{url}gradio_api/file={quote(sneaky)}") == 403


def test_twenty_concurrent_clients_switching_clips(demo_app, explorer) -> None:
    url, _ = demo_app
    clips = [str(name) for name in explorer.split.filenames]

    def client_session(seed: int) -> int:
        client, rng = Client(url, verbose=False), random.Random(seed)
        for clip in rng.sample(clips, 3):
            assert client.predict(clip, api_name="/show_clip")[0] == clip
        return 3

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert sum(pool.map(client_session, range(20))) == 60  # every switch answered, none failed


def test_concurrent_requests_for_the_same_clip(demo_app, explorer) -> None:
    """Every request writes the clip's HTML export; simultaneous writers must not trip over each other."""
    url, _ = demo_app
    clip = str(explorer.split.filenames[3])
    clients = [Client(url, verbose=False) for _ in range(8)]
    start = threading.Barrier(len(clients))

    def request(client: Client) -> str:
        start.wait()
        return client.predict(clip, api_name="/show_clip")[0]

    for _ in range(3):
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            assert list(pool.map(request, clients)) == [clip] * len(clients)


def test_missing_video_gets_a_placeholder(tmp_path: Path) -> None:
    page = video_html("abc_0_10", None, tmp_path / "abc.mp4")
    assert "<video" not in page and "video file not found" in page and "abc.mp4" in page
    assert "start the app with --videos" in video_html("abc_0_10", None, None)
    assert "&lt;script&gt;" in video_html("<script>", None, None)  # clip names are escaped


def test_app_exports_and_settings(explorer, tmp_path: Path) -> None:
    import app

    demo = app.build_app(explorer, tmp_path)
    assert demo.analytics_enabled is False
    archive = tmp_path / "predictions_MGN.zip"
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == ["predicted_eval_audio.csv", "predicted_eval_visual.csv"]
        bundle.extractall(tmp_path / "unzipped")
    pred_a, pred_v = read_prediction_csvs(tmp_path / "unzipped", explorer.split.filenames)
    assert np.array_equal(pred_a, explorer.models[0].pred_audio) and np.array_equal(
        pred_v, explorer.models[0].pred_visual
    )
    args = app.parse_args([])
    assert Path(args.data).name == DEMO_PACK and Path(args.checkpoint).name == DEMO_CHECKPOINT
