"""``mgn.explore.video_parser``: the explorer's "Parse a video" service (stand-in feature networks, tiny MGN)."""

from __future__ import annotations

import io
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mgn.explore.video_parser import VideoParseError, VideoParser
from mgn.models import MGN, MGNConfig

from .standins import standin_extractor


@pytest.fixture(scope="module")
def model() -> MGN:
    torch.manual_seed(0)
    return MGN(MGNConfig(dim=32, depth_aud=1, depth_vis=1, depth_av=1)).eval()


def test_parse_an_uploaded_video(media_dir: Path, model: MGN, tmp_path: Path) -> None:
    builds = []

    def factory():
        builds.append(1)
        return standin_extractor()

    parser = VideoParser(model, "MGN", factory)
    upload = tmp_path / "upload_7f3a.mp4"  # what the server stored; the client's name is only displayed
    shutil.copy(media_dir / "long.mp4", upload)
    messages = []
    result = parser.parse(upload, display_name="../../etc/passwd.mp4", on_progress=lambda f, m: messages.append(m))
    assert result.view.name == "../../etc/passwd.mp4" and result.parsed.path == upload
    assert result.view.segment_bounds[-1, 1] == 25.0 and len(result.parsed.windows) == 3
    assert messages[0].startswith("loading the feature networks") and messages[-1] == "done"
    with zipfile.ZipFile(io.BytesIO(result.archive)) as bundle:
        assert len([n for n in bundle.namelist() if n.startswith("feats/res152/")]) == 3
        assert np.load(io.BytesIO(bundle.read(bundle.namelist()[0]))).dtype == np.float32
    parser.parse(upload)
    assert builds == [1] and parser.ready  # the networks are built once


@pytest.mark.parametrize(
    ("name", "message"), [("garbage.mp4", "not a readable"), ("audio_only.m4a", "no video stream")]
)
def test_unreadable_uploads_are_one_clear_message(media_dir: Path, model: MGN, name: str, message: str) -> None:
    parser = VideoParser(model, "MGN", standin_extractor)
    with pytest.raises(VideoParseError, match=message) as raised:
        parser.parse(media_dir / name, display_name="clip.mp4")
    assert "clip.mp4" in str(raised.value) and str(media_dir) not in str(raised.value)


def test_size_limit_and_listed_videos(media_dir: Path, model: MGN) -> None:
    parser = VideoParser(model, "MGN", standin_extractor, max_bytes=1000, listed=[media_dir])
    with pytest.raises(VideoParseError, match="over the 0 MB limit"):
        parser.parse(media_dir / "ten.mp4")
    assert "ten.mp4" in parser.listed_videos() and "empty.mp4" in parser.listed_videos()
    assert parser.resolve_listed("ten.mp4") == media_dir / "ten.mp4"
    with pytest.raises(VideoParseError, match="unknown video"):
        parser.resolve_listed("../secrets.mp4")


def test_parses_run_one_at_a_time(media_dir: Path, model: MGN) -> None:
    active, overlaps = [], []
    lock = threading.Lock()

    class Watched:
        def __init__(self):
            self.inner = standin_extractor()
            self.device = self.inner.device

        def features(self, inputs):
            with lock:
                active.append(1)
                overlaps.append(len(active))
            try:
                return self.inner.features(inputs)
            finally:
                with lock:
                    active.pop()

    parser = VideoParser(model, "MGN", Watched)
    threads = [threading.Thread(target=parser.parse, args=(media_dir / "short.mp4",)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps and max(overlaps) == 1
