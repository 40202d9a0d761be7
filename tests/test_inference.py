from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import torch

from mgn.data.llp import Split
from mgn.inference import NonFiniteOutputError, predict, predict_cached, score, split_digest
from mgn.models import MGN, MGNConfig


def _split(clips: int = 5, seed: int = 0) -> Split:
    rng = np.random.default_rng(seed)
    names = np.array([f"clip{i:07d}_0_10" for i in range(clips)])
    gt = (rng.random((clips, 25, 10)) < 0.1).astype(np.uint8)
    return Split(
        "test",
        names,
        np.array([n[:11] for n in names]),
        (gt.any(axis=2)).astype(np.float32),
        rng.normal(size=(clips, 10, 128)).astype(np.float32),
        rng.random((clips, 80, 2048), dtype=np.float32),
        rng.random((clips, 10, 512), dtype=np.float32),
        gt,
        gt.copy(),
    )


@pytest.fixture(scope="module")
def model() -> MGN:
    torch.manual_seed(0)
    return MGN(MGNConfig(dim=16, depth_aud=1, depth_vis=1, depth_av=1)).eval()


def test_predict_is_batch_size_independent_and_keeps_mode(model: MGN) -> None:
    split = _split()
    model.train()
    first = predict(model, split, batch_size=2, class_features=True)
    assert model.training  # restored
    second = predict(model.eval(), split, batch_size=5)
    np.testing.assert_allclose(first.a_frame_prob, second.a_frame_prob, atol=1e-6)
    assert first.audio_class_features.shape == (5, 25, 16) and second.audio_class_features is None
    assert first.global_prob.dtype == np.float32 and first.a_frame_prob.shape == (5, 10, 25)
    scores = score(first, split.gt_audio, split.gt_visual)
    assert set(scores.to_json()["segment"]) == {"audio", "visual", "audio_visual", "type", "event"}
    with pytest.raises(ValueError, match="no dense ground truth"):
        score(first, None, None)


def test_split_digest_ignores_frame_pooling(model: MGN) -> None:
    split = _split()
    pooled = split.subset(np.arange(5))
    pooled.visual = split.visual.reshape(5, 10, 8, 2048).mean(axis=2)
    assert split_digest(split) == split_digest(pooled)
    changed = split.subset(np.arange(5))
    changed.audio[0, 0, 0] += 1
    assert split_digest(changed) != split_digest(split)


def test_prediction_cache(tmp_path: Path, model: MGN, monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split()
    path = tmp_path / "cache" / "predictions.npz"
    computed = predict_cached(model, split, path, class_features=True)
    assert path.is_file()
    import mgn.inference as inference

    monkeypatch.setattr(inference, "predict", lambda *a, **k: pytest.fail("the cache was not used"))
    cached = predict_cached(model, split, path, class_features=True)
    for name, value in computed.arrays().items():
        assert np.array_equal(getattr(cached, name), value), name
    monkeypatch.undo()
    other = _split(seed=1)
    other.filenames = np.array([f"other{i:07d}_0_10" for i in range(5)])
    with pytest.warns(UserWarning, match="holds other clips"):  # another split under the same name: not trusted
        recomputed = predict_cached(model, other, path)
    assert list(recomputed.filenames) == list(other.filenames)


def _bad_cache(path: Path, kind: str, good: bytes, split: Split) -> str:
    """Damage the cache file at ``path`` (a valid one holds ``good``); returns what the warning must say."""
    arrays = dict(np.load(path))
    if kind == "empty":
        path.write_bytes(b"")
        return "unreadable"
    if kind == "garbage":
        path.write_bytes(b"\x00garbage, not an npz" * 10)
        return "unreadable"
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
        return "unreadable"
    if kind == "out_of_range":
        arrays["a_prob"][1, 3] = 1.5
        message = r"a_prob holds np.float32\(1.5\) at \(1, 3\), expected a probability in \[0, 1\]"
    elif kind == "negative":
        arrays["v_frame_prob"][0, 0, 0] = -0.25
        message = r"v_frame_prob holds .*-0.25.* in \[0, 2\]"
    elif kind == "nan":
        arrays["a_frame_prob"][4, 9, 24] = np.nan
        message = "a_frame_prob holds .*nan.* at \\(4, 9, 24\\)"
    elif kind == "shape":
        arrays["global_prob"] = arrays["global_prob"][:, :24]
        message = r"global_prob is float32 \(5, 24\), expected float32 \(5, 25\)"
    elif kind == "other_clips":
        arrays["filenames"] = np.array([f"other{i:07d}_0_10" for i in range(len(split))])
        message = "holds other clips than the 5 clips of split 'test'"
    else:
        raise AssertionError(kind)
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)
    return message


@pytest.mark.parametrize(
    "kind", ["empty", "garbage", "truncated", "out_of_range", "negative", "nan", "shape", "other_clips"]
)
def test_a_bad_cache_file_is_recomputed_with_one_warning(
    tmp_path: Path, model: MGN, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    import mgn.inference as inference

    split = _split()
    path = tmp_path / "predictions.npz"
    computed = predict_cached(model, split, path, class_features=True)
    good = path.read_bytes()
    message = _bad_cache(path, kind, good, split)
    calls = []
    real_predict = inference.predict
    monkeypatch.setattr(inference, "predict", lambda *a, **k: calls.append(1) or real_predict(*a, **k))
    with pytest.warns(UserWarning, match=f"predictions cache {path}: {message}.*recomputing") as caught:
        again = predict_cached(model, split, path, class_features=True)
    assert len(caught) == 1 and calls == [1]  # one warning, one recomputation
    for name, value in computed.arrays().items():
        np.testing.assert_array_equal(getattr(again, name), value, err_msg=name)
    assert dict(np.load(path)).keys() == computed.arrays().keys()  # replaced by a valid file
    monkeypatch.setattr(inference, "predict", lambda *a, **k: pytest.fail("the repaired cache was not used"))
    predict_cached(model, split, path, class_features=True)


@pytest.mark.parametrize(
    "failure",
    [
        PermissionError(errno.EACCES, "Permission denied"),  # a read-only folder (root ignores chmod: simulated)
        OSError(errno.ENOSPC, "No space left on device"),  # a full disk
    ],
    ids=["read_only", "full"],
)
def test_an_unwritable_cache_warns_and_returns_the_predictions(
    tmp_path: Path, model: MGN, monkeypatch: pytest.MonkeyPatch, failure: OSError
) -> None:
    import mgn.predictions as cache  # the cache's writer (torch-free; mgn.inference uses it)

    def failing(path):
        raise failure

    monkeypatch.setattr(cache, "atomic_path", failing)
    path = tmp_path / "predictions.npz"
    with pytest.warns(UserWarning, match=f"cannot write the predictions cache {path} .*continuing without it"):
        predictions = predict_cached(model, _split(), path)
    assert predictions.a_frame_prob.shape == (5, 10, 25) and not path.exists()


def test_a_file_in_place_of_the_cache_folder(tmp_path: Path, model: MGN) -> None:
    blocked = tmp_path / "cache"
    blocked.write_text("in the way")
    with pytest.warns(UserWarning, match=f"cannot write the predictions cache {blocked}/predictions.npz"):
        predictions = predict_cached(model, _split(), blocked / "predictions.npz")
    assert len(predictions) == 5 and blocked.read_text() == "in the way"


def test_non_finite_outputs_name_the_model_the_output_and_the_clips(model: MGN) -> None:
    split = _split()
    split.audio[2] = 3e38  # finite features that overflow inside the model
    split.audio[4] = -3e38
    with pytest.raises(NonFiniteOutputError) as raised:
        predict(model, split, batch_size=2, source="runs/x/best.safetensors")
    message = str(raised.value)
    assert message.startswith("runs/x/best.safetensors: non-finite global_prob")
    assert "clip0000002_0_10" in message and "3e+38" in message  # the first bad clip and why
    assert isinstance(raised.value, ValueError)  # command lines report it as a user error
    with pytest.raises(NonFiniteOutputError, match="clip0000002_0_10, clip0000004_0_10"):
        predict(model, split, batch_size=5)  # one batch: every bad clip of it is named
