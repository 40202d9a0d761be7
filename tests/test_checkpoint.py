from __future__ import annotations

import json
import re
import warnings
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mgn.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from mgn.models import HAN, MGN, HANConfig, MGNConfig, architecture_of, config_to_dict
from mgn.models.weights import WeightsDtypeError, WeightsMismatchError, load_weights_strict


def _inputs(batch: int = 2):
    generator = torch.Generator().manual_seed(0)
    return (
        torch.randn(batch, 10, 128, generator=generator),
        torch.rand(batch, 80, 2048, generator=generator),
        torch.rand(batch, 10, 512, generator=generator),
    )


@pytest.mark.parametrize(
    "model",
    [
        MGN(
            MGNConfig(
                dim=32, depth_aud=1, depth_vis=2, depth_av=1, unimodal_assign="hard", zero_init_class_tokens=False
            )
        ),
        HAN(HANConfig(dim=64, ffn_dim=32)),
    ],
    ids=["mgn", "han"],
)
def test_round_trip_rebuilds_the_same_model(tmp_path: Path, model: torch.nn.Module) -> None:
    path = save_checkpoint(tmp_path / "run" / "best.safetensors", model.eval(), metadata={"epoch": 7, "note": "x"})
    loaded = load_checkpoint(path)
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    torch.testing.assert_close(loaded(*_inputs()).global_prob, model(*_inputs()).global_prob, atol=0, rtol=0)
    checkpoint = read_checkpoint(path)
    assert checkpoint.metadata["format"] == CHECKPOINT_FORMAT
    assert json.loads(checkpoint.metadata["config"]) == json.loads(json.dumps(model.config.__dict__))
    assert checkpoint.metadata["epoch"] == "7" and checkpoint.metadata["note"] == "x"
    assert [p.name for p in path.parent.iterdir()] == ["best.safetensors"]  # no temporary file left behind


def test_extra_tensors_round_trip(tmp_path: Path) -> None:
    model = HAN(HANConfig(dim=16, ffn_dim=16))
    extra = {"optimizer/step": torch.tensor(12), "rng/torch": torch.arange(5, dtype=torch.uint8)}
    path = save_checkpoint(tmp_path / "last.safetensors", model, extra=extra)
    checkpoint = read_checkpoint(path)
    assert set(checkpoint.extra) == set(extra)
    assert all(torch.equal(checkpoint.extra[key], value) for key, value in extra.items())
    assert not any(key.startswith("extra/") for key in checkpoint.state_dict)


def test_reserved_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x.safetensors", HAN(HANConfig(dim=16, ffn_dim=16)), metadata={"arch": "mgn"})


def test_bad_checkpoints(tmp_path: Path) -> None:
    model = MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1))
    good = save_checkpoint(tmp_path / "good.safetensors", model)
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        load_checkpoint(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="holds a 'mgn' model, expected 'han'"):
        load_checkpoint(good, arch="han")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt.safetensors"):
        load_checkpoint(corrupt)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match="truncated.safetensors"):
        load_checkpoint(truncated)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not an mgn checkpoint"):
        load_checkpoint(foreign)
    bad_config = tmp_path / "bad_config.safetensors"
    save_file(
        model.state_dict(),
        bad_config,
        metadata={"format": CHECKPOINT_FORMAT, "arch": "mgn", "config": json.dumps({"dim": 16, "width": 3})},
    )
    with pytest.raises(CheckpointError, match="width"):
        load_checkpoint(bad_config)
    missing_tensor = tmp_path / "missing_tensor.safetensors"
    state = dict(model.state_dict())
    del state["fc_prob.bias"]
    save_file(state, missing_tensor, metadata=read_checkpoint(good).metadata)
    with pytest.raises(WeightsMismatchError, match="fc_prob.bias"):
        load_checkpoint(missing_tensor)


def test_an_interrupted_save_leaves_the_previous_file_intact(tmp_path: Path, monkeypatch) -> None:
    """Saves write a temporary file and rename it: a crash (or kill) mid-save cannot corrupt the checkpoint."""
    import mgn.checkpoint as checkpoint_module

    model = HAN(HANConfig(dim=16, ffn_dim=16))
    path = save_checkpoint(tmp_path / "last.safetensors", model, metadata={"epoch": 1})
    before = path.read_bytes()

    def crash(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise KeyboardInterrupt  # e.g. the user pressed Ctrl-C mid-save

    monkeypatch.setattr(checkpoint_module, "save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, metadata={"epoch": 2})
    assert path.read_bytes() == before and read_checkpoint(path).metadata["epoch"] == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]


# --- nothing in a file is trusted: metadata and weights are checked before a model is built -------------------------

SMALL_MGN = MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1)


@contextmanager
def _no_real_model_is_built():
    """Fail if an MGN or HAN is constructed anywhere but on the ``meta`` device (which allocates nothing): a bad file
    must be refused before the model of its config is built."""
    with pytest.MonkeyPatch.context() as patch:
        for model_class in (MGN, HAN):

            def guarded(self, config=None, _original=model_class.__init__):
                if torch.get_default_device().type != "meta":
                    raise AssertionError(f"a real {type(self).__name__} was built before the checks")
                _original(self, config)

            patch.setattr(model_class, "__init__", guarded)
        yield


def test_the_guard_catches_a_real_build() -> None:
    with _no_real_model_is_built(), pytest.raises(AssertionError, match="a real MGN was built"):
        MGN(SMALL_MGN)
    with _no_real_model_is_built(), torch.device("meta"):
        assert HAN(HANConfig(dim=16, ffn_dim=16)).fc_a.weight.is_meta


def _save_raw(path: Path, model: torch.nn.Module, config: dict, tensors: dict | None = None) -> Path:
    """``model``'s weights (or ``tensors``) under a hand-written metadata config: a damaged or foreign file."""
    metadata = {"format": CHECKPOINT_FORMAT, "arch": architecture_of(model), "config": json.dumps(config)}
    save_file(model.state_dict() if tensors is None else tensors, path, metadata=metadata)
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"depth_av": 100_000}, r"MGNConfig.depth_av=100000 is outside the accepted range: an integer in \[1, 64\]"),
        ({"dim": 200_000}, r"MGNConfig.dim=200000 is outside the accepted range: an integer in \[1, 8192\]"),
        ({"dim": 16.0}, "dim"),
        ({"drop_path": 1.5}, r"drop_path=1.5 .* \[0, 1\)"),
        ({"gumbel_tau": float("nan")}, "gumbel_tau=nan"),
        ({"one_plus_soft_map": "yes"}, "one_plus_soft_map='yes' .* true or false"),
        ({"unimodal_assign": "maybe"}, "unimodal_assign"),
        ({"num_heads": 3}, "divisible"),
    ],
)
def test_config_outside_the_limits_is_refused_before_building(tmp_path: Path, changes: dict, message: str) -> None:
    model = MGN(SMALL_MGN)
    path = _save_raw(tmp_path / "bad.safetensors", model, {**config_to_dict(SMALL_MGN), **changes})
    with _no_real_model_is_built(), pytest.raises(CheckpointError, match=message) as caught:
        read_checkpoint(path)
    assert str(caught.value).startswith(f"{path}: invalid model config in metadata")


def test_huge_han_config_is_refused(tmp_path: Path) -> None:
    config = HANConfig(dim=16, ffn_dim=16)
    path = _save_raw(tmp_path / "han.safetensors", HAN(config), {**config_to_dict(config), "dim": 200_000})
    with _no_real_model_is_built(), pytest.raises(CheckpointError, match=r"HANConfig.dim=200000 is outside .*8192"):
        load_checkpoint(path)


@pytest.mark.parametrize("config", ["[16]", '{"dim": 16', "null"])
def test_config_that_is_not_a_json_object(tmp_path: Path, config: str) -> None:
    path = tmp_path / "odd.safetensors"
    save_file(
        MGN(SMALL_MGN).state_dict(), path, metadata={"format": CHECKPOINT_FORMAT, "arch": "mgn", "config": config}
    )
    with pytest.raises(CheckpointError, match="invalid model config in metadata"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"dim": 64}, ["shape mismatches (", "fc_a.weight: config gives (64, 128), file has (16, 128)"]),
        ({"depth_av": 2}, ["missing keys (12): av_mcg.blocks.1.norm1.weight"]),
        ({"depth_vis": 2, "dim": 32}, ["missing keys (12)", "shape mismatches"]),
    ],
)
def test_plausible_config_that_disagrees_with_the_weights(tmp_path: Path, changes: dict, expected: list[str]) -> None:
    path = _save_raw(tmp_path / "wrong.safetensors", MGN(SMALL_MGN), {**config_to_dict(SMALL_MGN), **changes})
    with _no_real_model_is_built(), pytest.raises(CheckpointMismatchError) as caught:
        read_checkpoint(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: the stored weights do not match the metadata config MGNConfig(")
    assert all(part in message for part in expected), message
    assert len(message.splitlines()[1]) < 400  # a few keys are named, not all of them
    assert isinstance(caught.value, WeightsMismatchError)  # callers that catch the loader's error still do


def test_unexpected_weight_is_named(tmp_path: Path) -> None:
    model = MGN(SMALL_MGN)
    tensors = {**model.state_dict(), "fc_extra.weight": torch.zeros(2, 2)}
    path = _save_raw(tmp_path / "more.safetensors", model, config_to_dict(SMALL_MGN), tensors)
    with pytest.raises(CheckpointMismatchError, match=r"unexpected keys \(1\): fc_extra.weight"):
        read_checkpoint(path)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.uint8])
def test_non_floating_weights_are_refused(tmp_path: Path, dtype: torch.dtype) -> None:
    model = HAN(HANConfig(dim=16, ffn_dim=16))
    tensors = {**model.state_dict(), "fc_a.bias": torch.zeros(16, dtype=dtype)}
    path = _save_raw(tmp_path / "ints.safetensors", model, config_to_dict(model.config), tensors)
    name = str(dtype).removeprefix("torch.")
    expected = f"{re.escape(str(path))}: model weights must be floating point.*'fc_a.bias' is {name}"
    with pytest.raises(CheckpointError, match=expected):
        read_checkpoint(path)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_floating_weights_are_converted_with_one_warning(tmp_path: Path, dtype: torch.dtype) -> None:
    model = HAN(HANConfig(dim=16, ffn_dim=16)).eval()
    tensors = {key: value.to(dtype) for key, value in model.state_dict().items()}
    path = _save_raw(tmp_path / "half.safetensors", model, config_to_dict(model.config), tensors)
    with pytest.warns(UserWarning) as caught:
        checkpoint = read_checkpoint(path)
    assert len(caught) == 1
    name = str(dtype).removeprefix("torch.")
    assert str(caught[0].message).startswith(
        f"{path}: {len(tensors)} of {len(tensors)} weight tensors are stored as {name}"
    )
    assert "converted to float32" in str(caught[0].message)
    assert all(value.dtype == torch.float32 for value in checkpoint.state_dict.values())
    loaded = checkpoint.build_model()
    for key, value in tensors.items():
        assert torch.equal(loaded.state_dict()[key], value.float())


def test_extra_tensors_keep_their_dtype(tmp_path: Path) -> None:
    """The dtype rule is for model weights only: training state (steps, RNG bytes) stays as it was saved."""
    model = HAN(HANConfig(dim=16, ffn_dim=16))
    path = save_checkpoint(tmp_path / "last.safetensors", model, extra={"rng/cpu": torch.arange(3, dtype=torch.uint8)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_checkpoint(path).extra["rng/cpu"].dtype == torch.uint8


def test_load_weights_strict_refuses_integer_weights() -> None:
    model = HAN(HANConfig(dim=16, ffn_dim=16))
    state = {**model.state_dict(), "fc_prob.bias": torch.zeros(25, dtype=torch.int64)}
    with pytest.raises(WeightsDtypeError, match="'fc_prob.bias' is int64"):
        load_weights_strict(model, state, "somewhere.safetensors")


# ---------------------------------------------------------------------------------------------------------------------
# checkpoints by address


@pytest.fixture
def served_folder(tmp_path):
    """A loopback HTTP server over a folder: (folder, base address, request log)."""
    import functools
    import http.server
    import threading

    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def test_fetch_checkpoint_downloads_once_and_reports_its_sha256(served_folder, tmp_path):
    import hashlib

    from mgn.checkpoint import fetch_checkpoint, load_any_checkpoint

    folder, base, requests = served_folder
    model = MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1))
    save_checkpoint(folder / "best.safetensors", model)
    expected = hashlib.sha256((folder / "best.safetensors").read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    first = fetch_checkpoint(f"{base}/best.safetensors", cache_dir=cache, progress=False)
    assert first.downloaded and first.sha256 == expected and first.path.name == "best.safetensors"
    second = fetch_checkpoint(f"{base}/best.safetensors", cache_dir=cache, progress=False)
    assert not second.downloaded and second.path == first.path and len(requests) == 1
    assert load_any_checkpoint(second.path).config.dim == 16
    local = fetch_checkpoint(first.path)
    assert local.path == first.path and not local.downloaded


def test_fetch_checkpoint_errors(served_folder, tmp_path):
    from mgn.checkpoint import fetch_checkpoint
    from mgn.download import DownloadError

    _, base, _ = served_folder
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch_checkpoint(f"{base}/missing.pt", cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.rglob("missing.pt")) and not list(tmp_path.rglob("*.tmp"))
    with pytest.raises(DownloadError, match="offline"):
        fetch_checkpoint("http://127.0.0.1:9/x.pt", cache_dir=tmp_path, progress=False, timeout=2)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        fetch_checkpoint(tmp_path / "nope.safetensors")
