"""Likely label errors: the calibrated, thresholded ranking, its baseline, and the measurement on synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mgn.annotations.__main__ import main
from mgn.annotations.label_errors import (
    RANKING_COLUMNS,
    calibrate,
    calibration_parameters,
    precision_recall_at_k,
    rank_by_confidence,
    rank_label_errors,
)
from mgn.annotations.measure import MeasureConfig, flip_cells, linear_probe, measure
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS

CLIPS = 6


def _inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    gt = (rng.random((2, CLIPS, NUM_CLASSES, NUM_SEGMENTS)) < 0.1).astype(np.uint8)  # (M, N, C, T)
    prob = np.where(gt == 1, 0.8, 0.05) + 0.05 * rng.random(gt.shape)  # a decent model, (M, N, C, T)
    return prob.transpose(0, 1, 3, 2).astype(np.float32), gt, [f"clip{index:02d}xxxx_0_10" for index in range(CLIPS)]


def test_confident_disagreements_come_first():
    prob, gt, names = _inputs()
    prob[0, 2, 4, 7] = 0.99  # audio, clip 2, segment 4, class 7: labelled 0, the model is sure
    gt[0, 2, 7, 4] = 0
    prob[1, 5, 0, 3] = 0.001  # visual, clip 5, segment 0, class 3: labelled 1, the model is sure it is not
    gt[1, 5, 3, 0] = 1
    ranking = rank_label_errors(prob[0], prob[1], gt[0], gt[1], names, calibrated=False)
    assert list(ranking.columns) == list(RANKING_COLUMNS) and len(ranking) == 2
    assert ranking.iloc[0][["filename", "class", "modality", "segment", "label", "kind"]].tolist() == [
        names[5],
        "Dog",
        "visual",
        0,
        1,
        "spurious",
    ]
    assert ranking.iloc[1][["filename", "class", "modality", "segment", "kind"]].tolist() == [
        names[2],
        "Fire_alarm",
        "audio",
        4,
        "missing",
    ]
    assert ranking["score"].is_monotonic_decreasing
    loose = rank_label_errors(prob[0], prob[1], gt[0], gt[1], names, high=0.08, low=0.9, calibrated=False)
    assert len(loose) > len(ranking)  # thresholds are adjustable
    baseline = rank_by_confidence(prob[0], prob[1], gt[0], gt[1], names)
    assert len(baseline) == gt.size and baseline.iloc[:2]["segment"].tolist() == [0, 4]


def test_calibration_fixes_a_class_the_model_underrates():
    rng = np.random.default_rng(1)
    labels = (rng.random((2, 2000)) < 0.2).astype(np.uint8)
    prob = np.where(labels == 1, 0.3, 0.02) * np.exp(0.1 * rng.standard_normal(labels.shape))  # positives at 0.3
    fitted = calibrate(prob, labels)
    assert fitted.shape == prob.shape and np.isfinite(fitted).all()
    assert fitted[labels == 1].mean() > 0.9 and fitted[labels == 0].mean() < 0.05
    never = calibrate(np.full((1, 50), 0.7), np.zeros((1, 50), dtype=np.uint8))  # no positive: finite, low
    assert np.isfinite(never).all() and never.max() < 0.1
    assert np.array_equal(calibrate(prob, labels), fitted)  # deterministic


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p, g, n: (p[0].transpose(0, 2, 1), p[1], g[0], g[1], n),
            r"prob_audio has shape .* expected \(N, T, C\)",
        ),
        (lambda p, g, n: (p[0], p[1], g[0], g[1].transpose(0, 2, 1), n), r"gt_visual has shape"),
        (lambda p, g, n: (p[0] * 2, p[1], g[0], g[1], n), r"probabilities in \[0, 1\]"),
        (lambda p, g, n: (p[0], p[1], g[0] * 2, g[1], n), "0/1 labels"),
        (lambda p, g, n: (p[0], p[1], g[0], g[1], n[:-1] + n[:1]), "unique clip names"),
    ],
)
def test_bad_inputs_name_the_argument(change, message):
    prob, gt, names = _inputs()
    with pytest.raises(ValueError, match=message):
        rank_label_errors(*change(prob, gt, names))
    with pytest.raises(ValueError, match="high must be a probability"):
        rank_label_errors(prob[0], prob[1], gt[0], gt[1], names, high=1.5)


def test_a_fitted_calibration_is_reused_as_it_was_fitted():
    prob, gt, names = _inputs(1)
    prob[0, :, :, 2] *= 0.3  # a class the model underrates: calibration moves it
    fitted = calibration_parameters(prob[0], prob[1], gt[0], gt[1], names)
    assert fitted.shape == (2, NUM_CLASSES, 2) and not np.allclose(fitted[0, 2], [1.0, 0.0])
    fresh = rank_label_errors(prob[0], prob[1], gt[0], gt[1], names, high=0.5, low=0.5)
    reused = rank_label_errors(prob[0], prob[1], gt[0], gt[1], names, high=0.5, low=0.5, calibration=fitted)
    assert fresh.equals(reused)
    flipped = gt.copy()
    flipped[0, 0, 2, :] = 1 - flipped[0, 0, 2, :]  # other labels, the same calibration: no refit
    again = rank_label_errors(prob[0], prob[1], flipped[0], flipped[1], names, high=0.5, low=0.5, calibration=fitted)
    refit = rank_label_errors(prob[0], prob[1], flipped[0], flipped[1], names, high=0.5, low=0.5)
    assert not again["calibrated"].equals(refit["calibrated"])
    with pytest.raises(ValueError, match=r"calibration has shape \(1, 25, 2\)"):
        rank_label_errors(prob[0], prob[1], gt[0], gt[1], names, calibration=fitted[:1])


def test_precision_recall_at_k():
    prob, gt, names = _inputs()
    ranking = rank_by_confidence(prob[0], prob[1], gt[0], gt[1], names)
    top = ranking.iloc[:3]
    errors = {(top.iloc[0]["filename"], top.iloc[0]["class"], top.iloc[0]["modality"], int(top.iloc[0]["segment"]))}
    errors.add((names[0], "Speech", "audio", 99))  # never ranked
    scores = precision_recall_at_k(ranking, errors, [1, 2, 10 * gt.size])
    assert scores[1] == {"precision": 1.0, "recall": 0.5, "hits": 1}
    assert scores[2]["precision"] == 0.5 and scores[10 * gt.size]["recall"] == 0.5
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        precision_recall_at_k(ranking, errors, [0])


def test_flips_are_balanced_and_plausible():
    rng = np.random.default_rng(0)
    labels = (rng.random((2, 20, NUM_CLASSES, NUM_SEGMENTS)) < 0.1).astype(np.uint8)
    weak = labels.any(axis=(0, 3)).astype(np.uint8)  # (N, C)
    flips = flip_cells(labels, weak, 0.1, "plausible", np.random.default_rng(3))
    assert (flips & (labels == 1)).sum() == (flips & (labels == 0)).sum() == round(0.1 * labels.sum())
    assert weak[np.nonzero(flips & (labels == 0))[1:3]].all()  # 0 -> 1 only in classes of the clip's labels
    assert np.array_equal(flips, flip_cells(labels, weak, 0.1, "plausible", np.random.default_rng(3)))


def test_linear_probe_is_a_usable_model():
    rng = np.random.default_rng(0)
    labels = (rng.random((400, 3)) < 0.3).astype(np.uint8)
    features = labels @ rng.standard_normal((3, 16)) + 0.3 * rng.standard_normal((400, 16))
    prob = linear_probe(features[:300], labels[:300], features[300:])
    assert prob.shape == (100, 3) and prob.dtype == np.float32
    assert ((prob >= 0.5) == labels[300:]).mean() > 0.95


def test_ranking_beats_the_baseline_and_chance_on_synthetic_flips(capsys):
    """Tiny configuration (100 train / 50 test clips, 3 % flips each way); at the sizes of the report the margin is
    larger. Seeds 0-4 of this configuration all give the ranking a lead of at least 0.08 at k = flips."""
    result = measure(MeasureConfig(train_clips=100, test_clips=50, seed=0, flip_fraction=0.03))
    with capsys.disabled():
        print("\n" + json.dumps(result["scores"]))
    k = result["ks"][1]
    assert k == result["flipped"]["total"] and result["flipped"]["to_0"] == result["flipped"]["to_1"]
    ranking, baseline = result["scores"]["ranking"], result["scores"]["baseline"]
    assert ranking[f"precision@{k}"] >= baseline[f"precision@{k}"] + 0.05
    assert ranking[f"precision@{k}"] >= 20 * result["chance_precision"]
    assert ranking[f"recall@{2 * k}"] >= baseline[f"recall@{2 * k}"]


def test_measure_cli_prints_json(capsys):
    argv = ["measure", "--train", "20", "--test", "10", "--seed", "3", "--flip-fraction", "0.05", "--noise", "uniform"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["config"]["noise"] == "uniform" and set(printed["scores"]) == {
        "ranking",
        "ranking_uncalibrated",
        "ranking_no_threshold",
        "baseline",
    }
