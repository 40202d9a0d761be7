"""Label editing through the app: an edit made through the app's API is in the annotation file after the app is
gone, a stale edit is refused with a message, and where the edits go for each combination of flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client

import app
from bench._app_server import free_port
from mgn.annotations import AnnotationStore
from mgn.data.demo import DEMO_CHECKPOINT, DEMO_PACK
from mgn.explore.annotator import split_data_source
from mgn.explore.state import open_explorer
from mgn.labels import CLASSES

DEMO = Path(__file__).resolve().parents[2] / "assets" / "demo"


@pytest.fixture(scope="module")
def explorer():
    return open_explorer(DEMO / DEMO_PACK, [DEMO / DEMO_CHECKPOINT], cache_dir=None, progress=False)


def _command(clip: str, class_name: str, segment: int, version: int) -> str:
    fields = {"clip": clip, "class": class_name, "modality": "visual", "start": segment, "end": segment}
    return json.dumps({**fields, "version": version})


def test_an_edit_through_the_app_is_in_the_file_after_the_app_is_gone(explorer, tmp_path: Path, capsys) -> None:
    path = tmp_path / "labels.sqlite"
    annotator = app.open_app_annotator(app.parse_args(["--annotations", str(path)]), explorer)
    assert f"label edits: {path}" in capsys.readouterr().err
    demo = app.build_app(explorer, None, annotator)
    port = free_port()
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, ssr_mode=False)
    clip = str(explorer.split.filenames[0])
    truth = explorer.split.gt_visual[0]  # (C, T)
    class_index = int(np.flatnonzero(truth.any(axis=1))[0]) if truth.any() else 0
    segment = int(np.flatnonzero(truth[class_index] == 0)[0]) if not truth[class_index].all() else 0
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        figure, scores, diff, message = client.predict(
            _command(clip, CLASSES[class_index], segment, 0), 0.5, "Ana", api_name="/edit_labels"
        )
        assert message == "" and len(diff["data"]) == 1 and diff["data"][0][1] == "visual"
        labels = [row[2] for row in scores["data"]]
        assert labels[:3] == ["original", "corrected", "change"]
        meta = json.loads(figure["plot"])["layout"]["meta"]
        assert meta["edit_version"] == 1 and len(meta["changed"]) == 1
        stale = client.predict(_command(clip, CLASSES[class_index], 9, 0), 0.5, "Bo", api_name="/edit_labels")
        assert stale[3].startswith("Not saved:") and "reloaded" in stale[3] and "Ana" in stale[3]
    finally:
        demo.close()
        annotator.store.close()
    with AnnotationStore(path, split_data_source(explorer.split)) as reopened:  # a new process would do the same
        row = reopened.ground_truth(clip)["visual"][class_index]
        assert bool(row[segment]) != bool(truth[class_index, segment])
        assert [edit.author for edit in reopened.history(clip)] == ["Ana"]


def test_where_the_edits_go(explorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    hosted = app.open_app_annotator(app.parse_args(["--hosted"]), explorer)
    assert hosted.hosted and hosted.store.path is None  # each browser session keeps its own
    monkeypatch.setenv("SPACE_ID", "someone/mgn")
    assert app.parse_args([]).hosted  # on a Space, hosted unless told otherwise
    monkeypatch.delenv("SPACE_ID")
    shared = app.open_app_annotator(app.parse_args(["--hosted", "--annotations", str(tmp_path / "a.sqlite")]), explorer)
    assert not shared.hosted and shared.store.path == tmp_path / "a.sqlite"  # a file given: shared, even hosted
    shared.store.close()
    no_cache = app.open_app_annotator(app.parse_args([]), explorer)  # the demo, no usable cache folder
    assert no_cache.hosted and "label edits: each browser session" in capsys.readouterr().err
    cached = open_explorer(DEMO / DEMO_PACK, [DEMO / DEMO_CHECKPOINT], cache_dir=tmp_path / "cache", progress=False)
    beside = app.open_app_annotator(app.parse_args([]), cached)  # the demo: under the cache, never in the package
    assert beside.store.path == tmp_path / "cache" / "annotations" / "demo_split.annotations.sqlite"
    beside.store.close()
    assert not list(DEMO.glob("*.sqlite*"))
    with pytest.raises(ValueError, match="--annotations: .* is a folder"):
        app.check_args(app.parse_args(["--annotations", str(tmp_path)]))
