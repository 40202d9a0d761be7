"""The explorer server: its API, what it serves and refuses, concurrent clients, exports, startup errors and shutdown
(no browser needed)."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from gradio_client import Client

from bench._app_server import REPO_ROOT, demo_checkpoints, free_port, start_app
from mgn.checkpoint import save_checkpoint
from mgn.data.demo import DEMO_CHECKPOINT, DEMO_COMPARE_CHECKPOINT, DEMO_PACK
from mgn.explore import clips as clip_views
from mgn.explore import ui_ids
from mgn.explore.export import file_label
from mgn.explore.player import VIDEO_ROUTE, video_html, video_url
from mgn.explore.state import open_explorer
from mgn.export import read_prediction_csvs, write_prediction_archive

DEMO = REPO_ROOT / "assets" / "demo"
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def explorer():
    """The explorer the demo app serves (its MGN, and its HAN when shipped)."""
    return open_explorer(DEMO / DEMO_PACK, demo_checkpoints(), cache_dir=None, progress=False)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _file_url(base: str, path: Path) -> str:
    return f"{base}gradio_api/file={quote(str(path))}"


def _upload(base: str, size: int) -> int:
    """POST a file of ``size`` bytes to Gradio's upload route; the HTTP status."""
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="x.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    body += b"x" * size + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        f"{base}gradio_api/upload", data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


# ---------------------------------------------------------------------------------------------------------------------
# the demo, as `python app.py` serves it


def test_show_clip_api(demo_app, explorer) -> None:
    url, _ = demo_app
    client = Client(url, verbose=False)
    clip = str(explorer.split.filenames[5])
    selected, player, figure, *_ = client.predict(clip[:11], api_name="/show_clip")
    assert selected == clip
    assert f'id="{ui_ids.VIDEO}"' in player and f"/{clip[:11]}.mp4" in player
    with pytest.raises(Exception, match="unknown clip"):
        client.predict("not_a_clip_0_10", api_name="/show_clip")


def test_serves_videos_and_nothing_else(demo_app, explorer) -> None:
    url, _ = demo_app
    video_id = explorer.split.video_ids[0]
    assert _status(f"{url}{video_url(video_id)}") == 200
    ranged = urllib.request.Request(f"{url}{video_url(video_id)}", headers={"Range": "bytes=100-199"})
    with urllib.request.urlopen(ranged, timeout=30) as response:  # byte ranges: the player can seek
        assert response.status == 206 and len(response.read()) == 100
    assert _status(f"{url}{VIDEO_ROUTE}/{'x' * 11}.mp4") == 404  # not a clip of the split
    assert _status(f"{url}{VIDEO_ROUTE}/..%2F{DEMO_PACK}") == 404
    video = DEMO / "video" / f"{video_id}.mp4"
    for path in (video, DEMO / DEMO_PACK, DEMO / DEMO_CHECKPOINT, Path(__file__), Path("/etc/passwd"), DEMO / "video"):
        assert _status(_file_url(url, path.resolve())) == 403, path  # Gradio's file route serves none of the disk
    sneaky = f"{DEMO.resolve()}/video/../{DEMO_PACK}"
    assert _status(f"{url}gradio_api/file={quote(sneaky)}") == 403


def test_predictions_download_is_served(demo_app, explorer, tmp_path: Path) -> None:
    url, _ = demo_app
    with urllib.request.urlopen(f"{url}config", timeout=30) as response:
        config = json.load(response)
    wanted = ui_ids.PREDICTIONS_PREFIX + file_label(explorer.models[0].name)
    (button,) = [c for c in config["components"] if c.get("props", {}).get("elem_id") == wanted]
    location = button["props"]["value"]["url"]
    archive = tmp_path / "predictions.zip"
    with urllib.request.urlopen(location if location.startswith("http") else url + location.lstrip("/")) as response:
        archive.write_bytes(response.read())
    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(tmp_path / "unzipped")
    pred_a, _ = read_prediction_csvs(tmp_path / "unzipped", explorer.split.filenames)
    assert np.array_equal(pred_a, explorer.models[0].pred_audio)


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
    """The first request renders the clip's view; the simultaneous others wait for it and get the same answer."""
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


def test_app_exports_and_settings(explorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    import app

    monkeypatch.setattr(app.tempfile, "tempdir", str(tmp_path))  # where build_app's export folder would be left
    demo = app.build_app(explorer)
    assert demo.analytics_enabled is False
    assert not list(tmp_path.glob("mgn-explorer-*"))  # the archives' folder is gone once Gradio holds them
    buttons = [block for block in demo.blocks.values() if isinstance(block, gr.DownloadButton)]
    assert len(buttons) == len(explorer.models)  # one archive per model
    archive = Path(buttons[0].value["path"])
    assert archive.name == f"predictions_{file_label(explorer.models[0].name)}.zip" and archive.is_file()
    with zipfile.ZipFile(archive) as bundle:
        assert sorted(bundle.namelist()) == ["predicted_eval_audio.csv", "predicted_eval_visual.csv"]
        bundle.extractall(tmp_path / "unzipped")
    pred_a, pred_v = read_prediction_csvs(tmp_path / "unzipped", explorer.split.filenames)
    assert np.array_equal(pred_a, explorer.models[0].pred_audio) and np.array_equal(
        pred_v, explorer.models[0].pred_visual
    )
    again = write_prediction_archive(tmp_path / "again.zip", explorer.split.filenames, pred_a, pred_v)
    assert again.read_bytes() == archive.read_bytes()  # deterministic: one copy in Gradio's cache across restarts
    # Reads run in bounded groups: clip views together, the t-SNE apart (a slow t-SNE never holds a clip switch).
    groups = {fn.api_name or fn.name: (fn.concurrency_id, fn.concurrency_limit) for fn in demo.fns.values()}
    assert groups["show_clip"] == ("clip", app.READ_CONCURRENCY) and groups["clips"] == ("clip", app.READ_CONCURRENCY)
    assert {limit for group, limit in groups.values() if group == "tsne"} == {1}
    assert all(limit is not None for _, limit in groups.values())  # no unlimited thread fan-out
    args = app.parse_args([])
    assert Path(args.data).name == DEMO_PACK and Path(args.checkpoint).name == DEMO_CHECKPOINT
    assert args.max_file_size == 200 * 2**20 and args.gate == "global" and args.arch is None
    shipped = DEMO / DEMO_COMPARE_CHECKPOINT  # the demo opens its comparison model, unless told not to
    assert args.compare == (str(shipped) if shipped.is_file() else None)
    assert app.parse_args(["--compare", ""]).compare is None


def test_arch_choices_are_the_architectures() -> None:
    import app
    from mgn.models import ARCHITECTURES

    assert tuple(sorted(ARCHITECTURES)) == app.ARCH_CHOICES


def test_search_placeholder_matches_clips(explorer) -> None:
    import app

    example = app._search_example(explorer).removeprefix("e.g. ")
    for term in example.split(", "):
        assert len(clip_views.filter_clips(explorer.table, query=term)) > 0, term


def test_launch_without_torch_or_scikit_learn(tmp_path: Path) -> None:
    """With the predictions cached, the app builds its page (every tab) without importing torch or sklearn."""
    cache = tmp_path / "cache"
    open_explorer(DEMO / DEMO_PACK, demo_checkpoints(), cache_dir=cache, progress=False)  # fills the cache
    code = (
        "import sys, app\n"
        f"args = app.parse_args(['--cache-dir', {str(cache)!r}])\n"
        "from mgn.explore.state import open_explorer\n"
        "e = open_explorer(args.data, [args.checkpoint] + ([args.compare] if args.compare else []), "
        "cache_dir=args.cache_dir, progress=False)\n"
        "demo = app.build_app(e, app._parse_setup(args, e))\n"
        "print(sorted({'torch', 'sklearn'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------------------------------
# compare mode through the API


@pytest.fixture(scope="module")
def compare_app(tmp_path_factory: pytest.TempPathFactory):
    """The demo's MGN compared with a small seeded HAN, served in-process: (URL, explorer)."""
    import torch

    import app
    from mgn.models import HAN, HANConfig

    torch.manual_seed(0)
    han = save_checkpoint(tmp_path_factory.mktemp("han") / "han.safetensors", HAN(HANConfig(dim=16, ffn_dim=16)))
    explorer = open_explorer(
        DEMO / DEMO_PACK, [DEMO / DEMO_CHECKPOINT, han], labels=[None, "HAN-16"], cache_dir=None, progress=False
    )
    demo = app.build_app(explorer)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False)
    yield f"http://127.0.0.1:{port}/", explorer
    demo.close()


def test_compare_columns_name_both_models(compare_app) -> None:
    url, explorer = compare_app
    assert [m.short_name for m in explorer.models] == ["MGN", "HAN-16"]
    client = Client(url, verbose=False)
    result = client.predict("", [], "any", "any", "most errors", 1, ["seg_av", "disagreement"], 0.5, api_name="/clips")
    headers = result["headers"]
    for header in ("Seg F AV", "FP", "FN", "Errors"):
        assert f"{header} — MGN" in headers and f"{header} — HAN-16" in headers, header
    assert "Disagree" in headers and not [h for h in headers if "(2)" in h]
    shown = [row[headers.index("Clip")] for row in result["data"]]
    assert shown == clip_views.sort_clips(explorer.table, "most errors", model=1)["clip"].tolist()  # HAN's errors


@pytest.mark.parametrize("model", [0, 1])
@pytest.mark.parametrize("error", ["false_negative", "false_positive", "perfect"])
def test_compare_filters_for_each_model(compare_app, model: int, error: str) -> None:
    url, explorer = compare_app
    client = Client(url, verbose=False)
    result = client.predict("", [], "visual", error, "split order", model, [], 0.5, api_name="/clips")
    shown = [row[0] for row in result["data"]]
    expected = clip_views.filter_clips(explorer.table, modality="visual", error=error, model=model)
    assert shown == expected["clip"].tolist()


def test_compare_threshold_rescores_through_the_api(compare_app) -> None:
    url, explorer = compare_app
    client = Client(url, verbose=False)
    low = client.predict("", [], "any", "any", "split order", 0, ["errors"], 0.2, api_name="/clips")
    column = low["headers"].index("Errors — MGN")
    assert [row[column] for row in low["data"]] == explorer.scoring(0.2).table["errors"].tolist()
    clip = str(explorer.split.filenames[3])
    _, _, figure, scores, _ = client.predict(clip, 0.2, api_name="/show_clip")
    assert [row[0] for row in scores["data"]] == ["MGN", "MGN", "HAN-16", "HAN-16"]
    assert json.loads(figure["plot"])["layout"]["meta"]["threshold"] == 0.2
    with pytest.raises(Exception, match="greater than maximum value 0.95"):  # the slider's range, checked by Gradio
        client.predict(clip, 0.99, api_name="/show_clip")


# ---------------------------------------------------------------------------------------------------------------------
# startup errors: one line, status 2, checked before loading where they can be


def _run_app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "app.py", "--cache-dir", "", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )


def _main_in_process(args: list[str], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> tuple:
    """``app.main(args)`` in this process (no server is started on these paths): (status, stderr lines)."""
    import app

    monkeypatch.setattr(app, "_skip_absent_plot_backends", lambda: None)  # leave this process's imports alone
    monkeypatch.setattr(app, "serve", lambda *_: pytest.fail("the app got as far as serving"))
    try:
        status = app.main(["--cache-dir", "", *args])
    except SystemExit as exit:  # argparse's errors
        status = exit.code
    return status, capsys.readouterr().err.strip().splitlines()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad")
    files = {
        "pack": folder / "garbage_pack.npz",
        "checkpoint": folder / "garbage.safetensors",
        "official": folder / "garbage.pt",
    }
    for path in files.values():
        path.write_bytes(b"\x00not what it claims to be" * 4)
    return files


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "-5"], "argument --port: expected a port number from 1 to 65535, got '-5'"),
        (["--port", "http"], "argument --port: expected a port number from 1 to 65535, got 'http'"),
        (["--data", "/nonexistent"], "--data: /nonexistent not found"),
        (["--videos", "/nonexistent"], "--videos: /nonexistent is not a folder"),
        (["--host", "no.such.host.invalid"], "--host: cannot resolve 'no.such.host.invalid'"),
        (["--device", "tpu"], "--device: unknown device 'tpu'"),
        (["--max-file-size", "lots"], "argument --max-file-size: expected a size such as 200mb"),
        (["--arch", "cnn"], "argument --arch: invalid choice: 'cnn'"),
        (["--split", "val"], "holds the 'test' split, not 'val'"),
        (["--compare", "", "--compare-label", "x"], "--compare-label: there is no compared model"),
        (["--compare", "{checkpoint}", "--label", "a", "--compare-label", "a"], "give the models two names"),
        (["--data", "{pack}"], "garbage_pack.npz"),
        (["--checkpoint", "{checkpoint}"], "garbage.safetensors"),
        (["--compare", "{official}"], "garbage.pt"),
    ],
    ids=[
        "port_negative",
        "port_text",
        "data",
        "videos",
        "host",
        "device",
        "max_file_size",
        "arch",
        "split_of_pack",
        "compare_label_alone",
        "equal_labels",
        "bad_pack",
        "bad_checkpoint",
        "bad_official",
    ],
)
def test_startup_errors_are_one_line(
    args: list[str], expected: str, bad_files: dict[str, Path], capsys, monkeypatch
) -> None:
    status, lines = _main_in_process([arg.format(**bad_files) for arg in args], capsys, monkeypatch)
    assert status == 2, lines
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines


def test_cheap_checks_come_before_loading(bad_files: dict[str, Path], capsys, monkeypatch) -> None:
    """A taken port and a CUDA device that is not there are reported before the (bad) data is even read."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, lines = _main_in_process(["--port", str(port), "--data", str(bad_files["pack"])], capsys, monkeypatch)
    assert (
        status == 2 and lines == [lines[0]] and lines[0].startswith(f"error: --port: cannot serve on 127.0.0.1:{port}")
    )
    import torch

    if not torch.cuda.is_available():
        status, lines = _main_in_process(["--device", "cuda", "--data", str(bad_files["pack"])], capsys, monkeypatch)
        assert status == 2 and lines[0].startswith("error: --device: device 'cuda' was requested")


def test_a_startup_error_is_one_line_end_to_end(bad_files: dict[str, Path]) -> None:
    """As a user runs it: no traceback, one line naming the file, status 2 (here an unreadable official .pt)."""
    result = _run_app("--compare", str(bad_files["official"]))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and "garbage.pt" in result.stderr


# ---------------------------------------------------------------------------------------------------------------------
# a configured server: videos beside other files, an upload limit, an unusable cache folder


@pytest.fixture(scope="module")
def configured_app(tmp_path_factory: pytest.TempPathFactory, explorer):
    root = tmp_path_factory.mktemp("configured")
    videos = root / "videos"
    videos.mkdir()
    for video_id in explorer.split.video_ids:
        shutil.copyfile(DEMO / "video" / f"{video_id}.mp4", videos / f"{video_id}.mp4")
    (videos / "AVVP_test_pd.csv").write_text("filename\tevent_labels\nsecret\tSpeech\n")  # a data root's CSV
    shutil.copyfile(videos / f"{explorer.split.video_ids[0]}.mp4", videos / "notinsplit0.mp4")
    blocked = root / "cache_is_a_file"
    blocked.write_text("in the way")
    temporary = root / "tmp"
    temporary.mkdir()
    server = start_app(
        "--videos",
        str(videos),
        "--max-file-size",
        "1kb",
        cache_dir=blocked,
        env={"TMPDIR": str(temporary)},
    )
    yield server, videos, blocked
    server.stop()


def test_an_unusable_cache_folder_is_one_warning(configured_app) -> None:
    server, _, blocked = configured_app
    warnings = [line for line in server.output().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"cache folder {blocked} is not usable" in warnings[0], server.output()
    assert "Traceback" not in server.output()
    assert blocked.read_text() == "in the way"


def test_only_the_splits_videos_are_served(configured_app, explorer) -> None:
    server, videos, _ = configured_app
    video_id = explorer.split.video_ids[1]
    with urllib.request.urlopen(f"{server.url}{video_url(video_id)}", timeout=30) as response:
        assert response.read() == (videos / f"{video_id}.mp4").read_bytes()  # from the --videos folder
    player = Client(server.url, verbose=False).predict(video_id, api_name="/show_clip")[1]
    assert f'src="{video_url(video_id)}"' in player and str(videos) not in player  # no server path in the page
    for name in ("AVVP_test_pd", "notinsplit0"):  # a CSV beside the videos, an mp4 of no clip of the split
        assert _status(f"{server.url}{VIDEO_ROUTE}/{name}.mp4") == 404, name
    assert _status(f"{server.url}{VIDEO_ROUTE}/AVVP_test_pd.csv") == 404
    for refused in (videos / "AVVP_test_pd.csv", videos / "notinsplit0.mp4", videos / f"{video_id}.mp4", videos):
        assert _status(_file_url(server.url, refused)) in (403, 404), refused


def test_uploads_are_limited(configured_app) -> None:
    server, _, _ = configured_app
    assert _upload(server.url, 2048) == 413  # over --max-file-size 1kb
    assert _upload(server.url, 100) == 200


# ---------------------------------------------------------------------------------------------------------------------
# shutdown


def test_sigterm_exits_cleanly_and_leaves_no_files(tmp_path: Path, explorer) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    server = start_app(cache_dir=tmp_path / "cache", env={"TMPDIR": str(temporary)})
    try:
        before = sorted(temporary.rglob("*"))
        client = Client(server.url, verbose=False)
        for clip in explorer.split.filenames[:10]:
            assert client.predict(str(clip), api_name="/show_clip")[0] == clip
        assert sorted(temporary.rglob("*")) == before  # clip switches write no files
        assert not list(temporary.glob("mgn-explorer-*"))
    finally:
        server.process.send_signal(signal.SIGTERM)
        started = time.perf_counter()
        code = server.process.wait(timeout=60)
        output = server.output()
        server.stop()
    assert code == 0, output
    assert time.perf_counter() - started < 30 and "Traceback" not in output
    assert not list(temporary.glob("mgn-explorer-*"))
    assert list((tmp_path / "cache").glob("predictions-*.npz"))  # the cache was used
