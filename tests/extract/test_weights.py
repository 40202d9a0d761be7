"""Weight files: download into the cache through a loopback HTTP server (never the real network), hash checks, the
offline error, ``weights_dir``, and weights-only loading of state_dicts and of torchvggish's numpy PCA file."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import pickle
import socket
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch

from mgn.extract.weights import (
    WEIGHTS,
    WEIGHTS_URL_ENV,
    WeightFile,
    WeightsHashError,
    WeightsHashWarning,
    WeightsUnavailable,
    default_cache_dir,
    load_pca_params,
    load_state_dict,
    weights_path,
)

UNREACHABLE = "http://weights.invalid/never-fetched"  # the published address of test-only files: never contacted


@dataclass
class Server:
    url: str  # base URL of the served folder
    folder: Path  # what it serves
    requests: list[str] = field(default_factory=list)  # paths asked for, in order


def _handler(requests: list[str]) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's signature
            pass

    return Handler


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A folder served on 127.0.0.1 (ephemeral port) from a thread."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []
    handler = functools.partial(_handler(requests), directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", folder, requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def _saved(content: object, *, legacy: bool = False) -> bytes:
    buffer = io.BytesIO()
    torch.save(content, buffer, _use_new_zipfile_serialization=not legacy)
    return buffer.getvalue()


def _publish(folder: Path, stem: str, data: bytes) -> WeightFile:
    """Write ``data`` as ``<stem>-<sha256[:8]>.pth`` (the published naming) and describe it."""
    prefix = hashlib.sha256(data).hexdigest()[:8]
    spec = WeightFile(f"{stem}-{prefix}.pth", f"{UNREACHABLE}/{stem}-{prefix}.pth", prefix)
    (folder / spec.filename).write_bytes(data)
    return spec


def _tiny_state_dict() -> dict[str, torch.Tensor]:
    return {"conv.weight": torch.arange(6.0).reshape(2, 3), "bn.num_batches_tracked": torch.tensor(4)}


def test_table_names_carry_their_hash_prefix() -> None:
    assert sorted(WEIGHTS) == ["r2plus1d_18", "resnet152", "vggish", "vggish_pca"]
    for spec in WEIGHTS.values():
        assert spec.filename.removesuffix(".pth").rsplit("-", 1)[1] == spec.sha256_prefix
        assert spec.url.startswith("https://") and spec.url.endswith("/" + spec.filename)


def test_downloads_once_then_uses_the_cache(server: Server, tmp_path: Path) -> None:
    spec = _publish(server.folder, "tiny", _saved(_tiny_state_dict()))
    cache = tmp_path / "cache"
    path = weights_path(spec, cache_dir=cache, base_url=server.url, progress=False)
    assert path == cache / spec.filename and path.read_bytes() == (server.folder / spec.filename).read_bytes()
    assert server.requests == [f"/{spec.filename}"]
    assert sorted(p.name for p in cache.iterdir()) == [spec.filename]  # no temporary file left behind
    state = load_state_dict(spec, cache_dir=cache, base_url=closed_port_url(), progress=False)  # cache hit: offline
    assert server.requests == [f"/{spec.filename}"]  # no second request
    torch.testing.assert_close(state, _tiny_state_dict())


def test_base_url_comes_from_the_environment(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _publish(server.folder, "tiny", _saved(_tiny_state_dict()))
    monkeypatch.setenv(WEIGHTS_URL_ENV, server.url + "/")
    assert weights_path(spec, cache_dir=tmp_path, progress=False).is_file()
    assert server.requests == [f"/{spec.filename}"]


def test_default_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MGN_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "weights"
    monkeypatch.delenv("MGN_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "mgn" / "weights"


def test_hash_mismatch_saves_nothing(server: Server, tmp_path: Path) -> None:
    spec = _publish(server.folder, "tiny", _saved(_tiny_state_dict()))
    (server.folder / spec.filename).write_bytes(_saved({"other": torch.zeros(1)}))  # upstream changed the file
    cache = tmp_path / "cache"
    with pytest.raises(WeightsHashError, match=rf"{spec.filename}: .*does not start with {spec.sha256_prefix}"):
        weights_path(spec, cache_dir=cache, base_url=server.url, progress=False)
    assert list(cache.iterdir()) == []  # the temporary file is gone, and nothing was renamed into place


def test_offline_names_the_file_the_address_and_the_folder(tmp_path: Path) -> None:
    spec = WeightFile("tiny-0123abcd.pth", f"{closed_port_url()}/tiny-0123abcd.pth", "0123abcd")
    cache = tmp_path / "cache"
    with pytest.raises(WeightsUnavailable) as caught:
        weights_path(spec, cache_dir=cache, progress=False, timeout=5)
    message = str(caught.value)
    for part in (spec.filename, spec.url, f"put it in {cache}", "--weights-dir"):
        assert part in message
    assert list(cache.iterdir()) == []
    with pytest.raises(WeightsUnavailable, match=r"tiny-0123abcd\.pth is not in .* and download=False"):
        weights_path(spec, cache_dir=cache, download=False)


def test_http_error_is_unavailable(server: Server, tmp_path: Path) -> None:
    spec = WeightFile("absent-0123abcd.pth", UNREACHABLE, "0123abcd")
    with pytest.raises(WeightsUnavailable, match=r"absent-0123abcd\.pth .*\(HTTP 404 "):
        weights_path(spec, cache_dir=tmp_path, base_url=server.url, progress=False)


def test_weights_dir_is_used_as_given(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    spec = _publish(folder, "tiny", _saved(_tiny_state_dict()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the published file: no warning
        assert weights_path(spec, weights_dir=folder) == folder / spec.filename
    (folder / spec.filename).write_bytes(_saved({"conv.weight": torch.ones(2, 3)}))  # fine-tuned, same name
    with pytest.warns(WeightsHashWarning, match=rf"{spec.filename} \({spec.sha256_prefix}\.\.\.\); using it as given"):
        state = load_state_dict(spec, weights_dir=folder)
    torch.testing.assert_close(state, {"conv.weight": torch.ones(2, 3)})
    with pytest.raises(WeightsUnavailable, match=r"resnet152-b121ed2d\.pth not found.*download\.pytorch\.org"):
        weights_path("resnet152", weights_dir=folder)


def test_unknown_names_and_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown weight file 'resnet50'.*'vggish_pca'"):
        weights_path("resnet50", download=False)
    with pytest.raises(ValueError, match="sha256_prefix"):
        WeightFile("x.pth", UNREACHABLE, "XYZ")
    with pytest.raises(ValueError, match="bare file name"):
        WeightFile("../x.pth", UNREACHABLE, "0123abcd")


class _Exploit:
    def __reduce__(self) -> tuple:
        return (os.system, ("echo never run",))


def test_loading_never_unpickles_arbitrary_objects(tmp_path: Path) -> None:
    spec = _publish(tmp_path, "evil", pickle.dumps({"weight": _Exploit()}, protocol=2))
    with pytest.raises(ValueError, match=r"evil-.*\.pth cannot be read as a weights-only checkpoint"):
        load_state_dict(spec, weights_dir=tmp_path)
    spec = _publish(tmp_path, "mixed", _saved({"weight": torch.zeros(1), "note": "text"}))
    with pytest.raises(ValueError, match="expected a state_dict of tensors; not tensors: note"):
        load_state_dict(spec, weights_dir=tmp_path)


def _numpy1_legacy(data: bytes) -> bytes:
    """A legacy-format save as numpy 1 wrote it (torchvggish's PCA file is from 2019): numpy.core, not numpy._core."""
    assert b"numpy._core.multiarray" in data
    return data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


@pytest.mark.parametrize("variant", ["zip", "legacy", "legacy-numpy1", "tensors"])
def test_pca_params_from_numpy_or_tensor_files(tmp_path: Path, variant: str) -> None:
    rng = np.random.default_rng(0)
    eigen_vectors, means = rng.standard_normal((128, 128)), rng.standard_normal(128)  # float64, as in the release
    content = {"pca_eigen_vectors": eigen_vectors, "pca_means": means}
    if variant == "tensors":
        content = {"pca_eigen_vectors": torch.from_numpy(eigen_vectors), "pca_means": torch.from_numpy(means)[:, None]}
    data = _saved(content, legacy=variant != "zip")
    if variant == "legacy-numpy1":
        data = _numpy1_legacy(data)
    spec = _publish(tmp_path, "vggish_pca_params", data)
    params = load_pca_params(spec, weights_dir=tmp_path)
    assert params.eigen_vectors.dtype == params.means.dtype == torch.float32
    assert params.eigen_vectors.shape == (128, 128) and params.means.shape == (128,)
    torch.testing.assert_close(params.eigen_vectors, torch.from_numpy(eigen_vectors).float())
    torch.testing.assert_close(params.means, torch.from_numpy(means).float())


def test_pca_params_check_keys_and_shapes(tmp_path: Path) -> None:
    spec = _publish(tmp_path, "pca_keys", _saved({"pca_eigen_vectors": np.zeros((128, 128))}))
    with pytest.raises(ValueError, match=r"missing \['pca_means'\]"):
        load_pca_params(spec, weights_dir=tmp_path)
    spec = _publish(
        tmp_path, "pca_shapes", _saved({"pca_eigen_vectors": np.zeros((64, 128)), "pca_means": np.zeros(128)})
    )
    with pytest.raises(ValueError, match=r"got \(64, 128\) and \(128,\)"):
        load_pca_params(spec, weights_dir=tmp_path)
