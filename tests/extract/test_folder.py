"""``python -m mgn.extract``: a folder of videos -> LLP-format features; reruns, kills, bad videos, loading."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgn.data.llp import LLPLayout, load_split
from mgn.extract.__main__ import main
from mgn.extract.folder import STREAM_SHAPES, find_videos, video_id_for

from .standins import standin_extractor

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def videos(media_dir: Path, tmp_path: Path) -> Path:
    """Two good videos with LLP-style names, one with another name, one without audio, and three bad files."""
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(media_dir / "ten.mp4", folder / "AAAAAAAAAAA.mp4")
    shutil.copy(media_dir / "short.mp4", folder / "BBBBBBBBBBB_30_40.mp4")
    shutil.copy(media_dir / "long.mp4", folder / "my holiday.mp4")
    shutil.copy(media_dir / "video_only.mp4", folder / "CCCCCCCCCCC.mp4")
    for name in ("truncated.mp4", "empty.mp4", "garbage.mp4"):
        shutil.copy(media_dir / name, folder / name)
    (folder / "notes.txt").write_text("not a video")
    return folder


def _feature_files(out: Path) -> dict[str, dict[str, np.ndarray]]:
    layout = LLPLayout(root=out)
    return {
        stream: {p.stem: np.load(p) for p in sorted(layout.feature_dir(stream).glob("*.npy"))}
        for stream in STREAM_SHAPES
    }


def test_video_ids() -> None:
    assert video_id_for("x/BjCEufrlXm4.mp4") == "BjCEufrlXm4"
    assert video_id_for("BjCEufrlXm4_30_40.mkv") == "BjCEufrlXm4"
    derived = video_id_for("my holiday.mp4")
    assert len(derived) == 11 and derived == video_id_for("other/my holiday.webm")


def test_folder_run_writes_the_official_layout_and_reports_bad_videos(videos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "data"
    with pytest.warns(UserWarning, match="CCCCCCCCCCC.mp4: no audio stream"):
        code = main(["--videos", str(videos), "--out", str(out), "--no-progress"], extractor=standin_extractor())
    assert code == 1  # some videos failed
    report = capsys.readouterr().err
    assert "4 computed, 0 already done, 3 failed" in report
    for name in ("truncated.mp4", "empty.mp4", "garbage.mp4"):
        assert f"failed: {name}: " in report
    files = _feature_files(out)
    expected_ids = sorted(["AAAAAAAAAAA", "BBBBBBBBBBB", "CCCCCCCCCCC", video_id_for("my holiday.mp4")])
    for stream, shape in STREAM_SHAPES.items():
        assert sorted(files[stream]) == expected_ids
        assert all(a.shape == shape and a.dtype == np.float32 for a in files[stream].values())
    assert not list(out.rglob("*.tmp"))
    manifest = pd.read_csv(out / "videos.csv")
    assert sorted(manifest["video_id"]) == expected_ids
    assert manifest.set_index("file").loc["CCCCCCCCCCC.mp4", "has_audio"] == False  # noqa: E712
    assert manifest.set_index("file").loc["my holiday.mp4", "duration_s"] == pytest.approx(25.0, abs=0.1)


def test_rerun_skips_finished_videos_and_redoes_a_damaged_one(videos: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "data"
    for name in ("truncated.mp4", "empty.mp4", "garbage.mp4"):
        (videos / name).unlink()
    assert main(["--videos", str(videos), "--out", str(out), "--no-progress"], extractor=standin_extractor()) == 0
    first = _feature_files(out)
    damaged = LLPLayout(root=out).feature_path("visual", "AAAAAAAAAAA")
    damaged.write_bytes(damaged.read_bytes()[:100])  # a half-written file from an older tool
    capsys.readouterr()
    assert main(["--videos", str(videos), "--out", str(out), "--no-progress"], extractor=standin_extractor()) == 0
    assert "1 computed, 3 already done, 0 failed" in capsys.readouterr().out
    second = _feature_files(out)
    for stream in STREAM_SHAPES:
        for video_id, array in first[stream].items():
            np.testing.assert_array_equal(second[stream][video_id], array)  # deterministic, and nothing else touched


def test_features_load_as_an_llp_split(videos: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    for name in ("truncated.mp4", "empty.mp4", "garbage.mp4"):
        (videos / name).unlink()
    main(["--videos", str(videos), "--out", str(out), "--no-progress"], extractor=standin_extractor())
    ids = sorted(pd.read_csv(out / "videos.csv")["video_id"])
    header = "filename\tevent_labels\n"
    (out / "AVVP_train.csv").write_text(header + "".join(f"{i}_0_10\tSpeech,Dog\n" for i in ids))
    split = load_split(LLPLayout(root=out), "train", pooled_visual=True, progress=False)
    assert len(split) == len(ids)
    assert split.audio.shape == (len(ids), 10, 128) and split.visual_st.shape == (len(ids), 10, 512)


def test_sigkill_then_rerun_finishes_every_video(videos: Path, tmp_path: Path) -> None:
    for name in ("truncated.mp4", "empty.mp4", "garbage.mp4"):
        (videos / name).unlink()
    out = tmp_path / "data"
    script = (
        "import sys; sys.path.insert(0, {tests!r}); from standins import standin_extractor; "
        "from mgn.extract.__main__ import main; "
        "args = ['--videos', {videos!r}, '--out', {out!r}, '--no-progress']; "
        "sys.exit(main(args, standin_extractor(delay_s={delay})))"
    )
    tests = str(Path(__file__).parent)
    killed = subprocess.Popen(
        [sys.executable, "-c", script.format(tests=tests, videos=str(videos), out=str(out), delay=1.5)], cwd=REPO_ROOT
    )
    audio_dir = LLPLayout(root=out).feature_dir("audio")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(audio_dir.glob("*.npy"))) < 1:
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    done_before = len(list(audio_dir.glob("*.npy")))
    assert 1 <= done_before < 4, "the kill should land part-way through the folder"
    finished = subprocess.run(
        [sys.executable, "-c", script.format(tests=tests, videos=str(videos), out=str(out), delay=0)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr
    files = _feature_files(out)
    assert all(len(files[stream]) == 4 for stream in STREAM_SHAPES)
    assert not list(out.rglob("*.tmp"))


def test_cli_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert (
        main(["--videos", str(tmp_path / "nope"), "--out", str(tmp_path / "out")], extractor=standin_extractor()) == 2
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: --videos: folder not found")


def test_duplicate_ids_are_refused(tmp_path: Path, media_dir: Path) -> None:
    shutil.copy(media_dir / "ten.mp4", tmp_path / "AAAAAAAAAAA.mp4")
    shutil.copy(media_dir / "ten.mp4", tmp_path / "AAAAAAAAAAA_0_10.mkv")
    with pytest.raises(ValueError, match="both map to video ID 'AAAAAAAAAAA'"):
        find_videos(tmp_path)
