"""download_annotations against a local HTTP server serving ``../shared/llp`` (no internet in tests)."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mgn.data.download import (
    ANNOTATION_FILES,
    DownloadError,
    DownloadWarning,
    download_annotations,
    main,
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (ephemeral port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def llp_url(llp_dir: Path) -> Iterator[str]:
    with serve(llp_dir) as url:
        yield url


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def test_downloads_the_six_csvs_byte_identical(llp_dir: Path, llp_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DownloadWarning)  # the served files match the recorded sha256
        written = download_annotations(dest, base_url=llp_url, progress=False)
    assert sorted(written) == sorted(ANNOTATION_FILES) and len(written) == 6
    for name, path in written.items():
        assert path == dest / name and path.read_bytes() == (llp_dir / name).read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == sorted(ANNOTATION_FILES)  # no temporary files left
    # up-to-date files are not fetched again: works offline
    assert download_annotations(dest, base_url=closed_port_url(), progress=False) == written


def test_never_overwrites_a_differing_file_unless_asked(llp_dir: Path, llp_url: str, tmp_path: Path) -> None:
    mine = tmp_path / "AVVP_train.csv"
    mine.write_text("filename\tevent_labels\nBjCEufrlXm4_20_30\tSpeech\n")
    with pytest.raises(FileExistsError, match="AVVP_train.csv exists and differs.*overwrite=True"):
        download_annotations(tmp_path, base_url=llp_url, progress=False)
    assert mine.read_text().count("\n") == 2
    download_annotations(tmp_path, base_url=llp_url, progress=False, overwrite=True)
    assert mine.read_bytes() == (llp_dir / "AVVP_train.csv").read_bytes()


def test_http_404_names_the_url(llp_url: str, tmp_path: Path) -> None:
    pattern = r"HTTP 404 .* for http://127\.0\.0\.1:\d+/missing/AVVP_train\.csv.*manually"
    with pytest.raises(DownloadError, match=pattern):
        download_annotations(tmp_path, base_url=f"{llp_url}/missing", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_offline_names_the_url_and_where_to_put_the_files(tmp_path: Path) -> None:
    url = closed_port_url()
    with pytest.raises(DownloadError, match=rf"cannot reach {url}/AVVP_train\.csv.*offline.*{tmp_path}/AVVP_train"):
        download_annotations(tmp_path, base_url=url, progress=False, timeout=5)


def test_a_file_that_is_not_the_expected_csv_is_rejected(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    (served / "AVVP_train.csv").write_text("<html>rate limited</html>\n")
    with serve(served) as url, pytest.raises(DownloadError, match="AVVP_train.csv is not the expected LLP CSV"):
        download_annotations(tmp_path / "dest", base_url=url, progress=False)
    assert list((tmp_path / "dest").iterdir()) == []


def test_changed_upstream_file_warns_but_is_kept(llp_dir: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    for name in ANNOTATION_FILES:
        (served / name).write_bytes((llp_dir / name).read_bytes())
    lines = (llp_dir / "AVVP_val_pd.csv").read_text().splitlines(keepends=True)
    (served / "AVVP_val_pd.csv").write_text("".join(lines[:-1]))  # one clip fewer, still a valid CSV
    with serve(served) as url, pytest.warns(DownloadWarning, match="AVVP_val_pd.csv: sha256 .* differs") as record:
        download_annotations(tmp_path / "dest", base_url=url, progress=False)
    assert len(record) == 1
    assert (tmp_path / "dest" / "AVVP_val_pd.csv").read_text() == "".join(lines[:-1])


def test_old_audio_eval_comes_from_the_mgn_location(llp_dir: Path, llp_url: str, tmp_path: Path) -> None:
    """The old file is rebuilt in tmp_path from the fixed one (3 rows differ, REFERENCE 1.7); its sha256 must match."""
    lines = (llp_dir / "AVVP_eval_audio.csv").read_text().split("\n")
    for number, new_name in ((930, "Baby_cry_infant_cry"), (931, "Baby_cry_infant_cry"), (2449, "KvIjsmANkxI_10_20`")):
        lines[number - 1] = new_name + "\t" + lines[number - 1].split("\t", 1)[1]
    mgn_dir = tmp_path / "mgn"
    mgn_dir.mkdir()
    (mgn_dir / "AVVP_eval_audio.csv").write_text("\n".join(lines))
    with serve(mgn_dir) as mgn_url, warnings.catch_warnings():
        warnings.simplefilter("error", DownloadWarning)
        written = download_annotations(
            tmp_path / "dest", base_url=llp_url, progress=False, audio_eval="old", old_audio_base_url=mgn_url
        )
    assert written["AVVP_eval_audio.csv"].read_text() == "\n".join(lines)
    assert written["AVVP_eval_visual.csv"].read_bytes() == (llp_dir / "AVVP_eval_visual.csv").read_bytes()
    with pytest.raises(ValueError, match="audio_eval must be one of"):
        download_annotations(tmp_path, audio_eval="2020")


def test_cli(llp_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dest", str(tmp_path / "data"), "--base-url", llp_url, "--no-progress"]) == 0
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / "data" / name) for name in ANNOTATION_FILES]
    assert main(["--dest", str(tmp_path / "other"), "--base-url", closed_port_url(), "--timeout", "5"]) == 2
    assert "error: cannot reach" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("dest_is_a_file", "is a file; expected a folder"),
        ("malformed_url", "invalid URL 'nowhere/AVVP_train.csv'"),
        ("zero_timeout", "timeout must be a number of seconds in (0, 3600], got 0.0"),
        ("infinite_timeout", "timeout must be a number of seconds in (0, 3600], got inf"),
    ],
)
def test_cli_bad_input_is_one_error_line(case: str, message: str, tmp_path: Path, capsys) -> None:
    """Bad paths and values give exit status 2 and one ``error:`` line naming what was wrong, never a traceback."""
    dest = tmp_path / "data"
    args = {"dest_is_a_file": ["--base-url", "http://127.0.0.1:9"], "malformed_url": ["--base-url", "nowhere"]}
    args |= {"zero_timeout": ["--timeout", "0"], "infinite_timeout": ["--timeout", "inf"]}
    if case == "dest_is_a_file":
        dest.write_text("not a folder")
    assert main(["--dest", str(dest), "--no-progress", *args[case]]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: ") and message in error[0]
    assert not list(tmp_path.glob("**/.*.tmp"))  # no temporary file left behind
