from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mgn.data.llp import Split
from mgn.inference import predict, predict_cached, score, split_digest
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
    recomputed = predict_cached(model, other, path)  # another split under the same name: recomputed, not trusted
    assert list(recomputed.filenames) == list(other.filenames)
