"""Tests for ``mgn.metrics`` against the official fixtures, a plain per-clip oracle and the real LLP annotations.

The oracle (``oracle_*``, in ``bench/official_metrics.py`` with the synthetic clip generators the benchmarks share)
restates REFERENCE.md 2.1-2.3 literally, one clip and one class at a time, with code independent of the vectorised
implementation; it is itself checked here against the official fixture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.official_metrics import (
    edge_case_clips,
    oracle_avvp_scores,
    oracle_binarize,
    oracle_clip_f,
    oracle_event_counts,
    oracle_segment_counts,
    probabilities_for,
    random_intervals,
    realistic_clips,
)
from mgn import metrics
from mgn.labels import CLASS_TO_INDEX, NUM_CLASSES, NUM_SEGMENTS

# ---------------------------------------------------------------------------------------------------------------------
# synthetic clips (more in bench/official_metrics.py)


def bernoulli_clips(rng: np.random.Generator, num_clips: int, density: float) -> tuple[np.ndarray, ...]:
    """Four independent ``(N, C, T) uint8`` matrices with cells set at the given density."""
    return tuple((rng.random((num_clips, NUM_CLASSES, NUM_SEGMENTS)) < density).astype(np.uint8) for _ in range(4))


def empty_matrix(num_clips: int = 1) -> np.ndarray:
    return np.zeros((num_clips, NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)


def row_matrix(class_index: int, segments: list[int]) -> np.ndarray:
    """A one-clip matrix with 1s in the given segments of one class."""
    matrix = empty_matrix()
    matrix[0, class_index, segments] = 1
    return matrix


def assert_same_scores(actual: metrics.Scores, expected: dict) -> None:
    """Per-clip scores bit-identical (same operations in the same order), percentages to 1e-9."""
    for level in metrics.LEVELS:
        np.testing.assert_array_equal(actual.level(level).per_clip, expected["per_clip"][level], err_msg=level)
        for metric in metrics.METRICS:
            assert actual.level(level).metric(metric) == pytest.approx(expected[level][metric], abs=1e-9), (
                level,
                metric,
            )


# ---------------------------------------------------------------------------------------------------------------------
# official fixture


@pytest.fixture(scope="module")
def fixture_arrays(fixtures_dir: Path) -> dict[str, np.ndarray]:
    with np.load(fixtures_dir / "metrics_public.npz") as data:
        return dict(data)


def test_binarize_reproduces_official_predictions(fixture_arrays):
    pred_a, pred_v = metrics.binarize(
        fixture_arrays["global_prob"], fixture_arrays["a_frame_prob"], fixture_arrays["v_frame_prob"]
    )
    assert pred_a.dtype == np.uint8 and pred_a.shape == fixture_arrays["pred_a"].shape
    np.testing.assert_array_equal(pred_a, fixture_arrays["pred_a"])
    np.testing.assert_array_equal(pred_v, fixture_arrays["pred_v"])
    np.testing.assert_array_equal(pred_a * pred_v, fixture_arrays["pred_av"])


def test_scores_reproduce_official_values(fixture_arrays, fixtures_dir):
    f = fixture_arrays
    scores = metrics.avvp_scores(f["pred_a"], f["pred_v"], f["gt_a"], f["gt_v"])
    # the fixture asks for 1e-9; the per-clip values are in fact bit-identical to the official functions
    np.testing.assert_array_equal(scores.segment.per_clip, f["seg_f"])
    np.testing.assert_array_equal(scores.event.per_clip, f["event_f"])
    summary = [scores.level(level).metric(metric) for level in metrics.LEVELS for metric in metrics.METRICS]
    np.testing.assert_allclose(summary, f["summary_values"], rtol=0, atol=1e-9)

    expected = json.loads((fixtures_dir / "metrics_public.json").read_text())["expected_percent"]
    json_names = {
        "audio": "audio",
        "visual": "visual",
        "audio_visual": "av",
        "type": "type_at_avg",
        "event": "event_at_avg",
    }
    for level in metrics.LEVELS:
        for metric, json_name in json_names.items():
            assert scores.level(level).metric(metric) == pytest.approx(expected[level][json_name], abs=1e-9), (
                level,
                metric,
            )


def test_oracle_reproduces_official_values(fixture_arrays):
    """The oracle itself agrees with the official functions, so agreeing with it elsewhere means something."""
    f = fixture_arrays
    oracle = oracle_avvp_scores(f["pred_a"], f["pred_v"], f["gt_a"], f["gt_v"])
    np.testing.assert_allclose(oracle["per_clip"]["segment"], f["seg_f"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(oracle["per_clip"]["event"], f["event_f"], rtol=0, atol=1e-9)


def test_oracle_binarize_reproduces_official_predictions(fixture_arrays):
    f = fixture_arrays
    pred_a, pred_v = oracle_binarize(f["global_prob"], f["a_frame_prob"], f["v_frame_prob"])
    np.testing.assert_array_equal(pred_a, f["pred_a"])
    np.testing.assert_array_equal(pred_v, f["pred_v"])


def test_oracle_adds_class_scores_one_at_a_time():
    # ten classes at F = 0.1: added one at a time (as the official sum() over numpy floats does) they make
    # 0.9999999999999999, not the 1.0 of a compensated sum (Python's sum() of floats since 3.12, or math.fsum)
    assert oracle_clip_f([(1, 9, 9)] * 10) == 0.9999999999999999 / 10
    assert oracle_clip_f([(0, 0, 0)] * 25) == 1.0


# ---------------------------------------------------------------------------------------------------------------------
# vectorised == oracle


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_oracle_on_realistic_clips(seed):
    clips = realistic_clips(np.random.default_rng(seed), 150)
    assert_same_scores(metrics.avvp_scores(*clips), oracle_avvp_scores(*clips))


@pytest.mark.parametrize(("seed", "density"), [(10, 0.02), (11, 0.2), (12, 0.5), (13, 0.9), (14, 0.0), (15, 1.0)])
def test_matches_oracle_on_bernoulli_clips(seed, density):
    clips = bernoulli_clips(np.random.default_rng(seed), 40, density)
    assert_same_scores(metrics.avvp_scores(*clips), oracle_avvp_scores(*clips))


def test_matches_oracle_with_mixed_all_zero_and_all_one_matrices():
    rng = np.random.default_rng(20)
    pred_a, pred_v, gt_a, gt_v = realistic_clips(rng, 40)
    pred_a[:10] = 0  # nothing predicted
    pred_v[10:20] = 1  # everything predicted
    gt_a[20:30] = 0  # no audio ground truth
    gt_v[5:15] = 0
    assert_same_scores(metrics.avvp_scores(pred_a, pred_v, gt_a, gt_v), oracle_avvp_scores(pred_a, pred_v, gt_a, gt_v))


def test_matches_oracle_on_dense_edge_case_clips():
    clips = edge_case_clips(np.random.default_rng(20), 60)
    assert clips[0].mean() > 0.2  # dense: many active classes per clip, where any regrouped sum would show
    assert not any(matrix[0::5].any() for matrix in clips)  # every fifth clip is empty in all four matrices
    assert_same_scores(metrics.avvp_scores(*clips), oracle_avvp_scores(*clips))


def test_matches_oracle_on_sparse_clips_followed_by_edge_cases():
    rng = np.random.default_rng(21)
    sparse, edges = realistic_clips(rng, 120, spurious_rate=0.05), edge_case_clips(rng, 15)
    clips = tuple(np.concatenate([s, e]) for s, e in zip(sparse, edges))
    assert_same_scores(metrics.avvp_scores(*clips), oracle_avvp_scores(*clips))


def test_binarize_then_score_matches_oracle_end_to_end():
    rng = np.random.default_rng(22)
    pred_a, pred_v, gt_a, gt_v = realistic_clips(rng, 80, spurious_rate=0.05)
    probabilities = probabilities_for(rng, pred_a, pred_v)
    assert all(p.dtype == np.float32 for p in probabilities)
    ours, oracle = metrics.binarize(*probabilities), oracle_binarize(*probabilities)
    for matrix, expected, official in zip(ours, (pred_a, pred_v), oracle):
        np.testing.assert_array_equal(matrix, expected)
        np.testing.assert_array_equal(matrix, official)
    assert_same_scores(metrics.avvp_scores(*ours, gt_a, gt_v), oracle_avvp_scores(*oracle, gt_a, gt_v))


def test_row_codes_pack_segments_in_order():
    rng = np.random.default_rng(23)
    matrices = [(rng.random((7, NUM_CLASSES, NUM_SEGMENTS)) < p).astype(np.uint8) for p in (0.0, 0.3, 0.7, 1.0)]
    matrices[1][0, 0] = 1  # an all-on row
    matrices[2][0, 0] = [1, 0] * (NUM_SEGMENTS // 2)  # alternating
    codes = metrics._row_codes(*matrices)
    assert codes.shape == (4, 7 * NUM_CLASSES) and codes.dtype == np.uint16
    weights = 1 << np.arange(NUM_SEGMENTS)
    for matrix, matrix_codes in zip(matrices, codes):
        np.testing.assert_array_equal(matrix_codes, (matrix.astype(np.int64) @ weights).ravel())
    assert codes[1, 0] == (1 << NUM_SEGMENTS) - 1


def test_scores_of_non_contiguous_and_one_byte_inputs():
    clips = realistic_clips(np.random.default_rng(24), 40)
    reference = oracle_avvp_scores(*clips)
    doubled = [np.repeat(c, 2, axis=2)[:, :, ::2] for c in clips]  # same values, not C-contiguous
    assert not doubled[0].flags.c_contiguous
    assert_same_scores(metrics.avvp_scores(*doubled), reference)
    assert_same_scores(metrics.avvp_scores(*(c.astype(np.int8) for c in clips)), reference)
    fortran = [np.asfortranarray(c.astype(bool)) for c in clips]
    assert_same_scores(metrics.avvp_scores(*fortran), reference)


def test_per_clip_scores_are_read_only_contiguous_rows():
    scores = metrics.avvp_scores(*realistic_clips(np.random.default_rng(25), 12))
    for level in metrics.LEVELS:
        per_clip = scores.level(level).per_clip
        assert per_clip.shape == (12, 4) and per_clip.dtype == np.float64 and per_clip.flags.c_contiguous
        with pytest.raises(ValueError):
            per_clip[0, 0] = 0.5


def row_pairs(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row codes: every code against 24 random ones, both ways, plus 4,000 pairs of LLP-like single runs."""
    all_codes = np.arange(1 << NUM_SEGMENTS)
    partners = rng.integers(0, 1 << NUM_SEGMENTS, size=24)
    pred = np.concatenate([np.repeat(all_codes, len(partners)), np.tile(partners, len(all_codes))])
    gt = np.concatenate([np.tile(partners, len(all_codes)), np.repeat(all_codes, len(partners))])
    weights = 1 << np.arange(NUM_SEGMENTS)
    single_runs = random_intervals(rng, (2, 4000)) @ weights
    return np.concatenate([pred, single_runs[0]]), np.concatenate([gt, single_runs[1]])


def code_to_row(code: int) -> np.ndarray:
    return (code >> np.arange(NUM_SEGMENTS)) & 1


def test_event_and_segment_counts_match_oracle_on_row_pairs():
    pred_codes, gt_codes = row_pairs(np.random.default_rng(30))
    for counts_fn, oracle_fn in (
        (metrics._event_counts, oracle_event_counts),
        (metrics._segment_counts, oracle_segment_counts),
    ):
        counts = np.stack(counts_fn(pred_codes, gt_codes), axis=1)  # (pairs, 3)
        expected = [oracle_fn(code_to_row(p), code_to_row(g)) for p, g in zip(pred_codes, gt_codes)]
        np.testing.assert_array_equal(counts, np.array(expected), err_msg=oracle_fn.__name__)


def test_event_tables_are_cached_and_read_only():
    tables = metrics._event_tables()
    assert metrics._event_tables() is tables
    assert np.bitwise_count(tables.event_bits).max() == NUM_SEGMENTS // 2  # 1010101010 has five events
    with pytest.raises(ValueError):
        tables.event_bits[0] = 1


# ---------------------------------------------------------------------------------------------------------------------
# edge cases (hand-computed values)


def clip_scores(pred_a, pred_v, gt_a, gt_v) -> dict[str, np.ndarray]:
    """Per-clip (audio, visual, pooled, av) of the first clip, by level."""
    scores = metrics.avvp_scores(pred_a, pred_v, gt_a, gt_v)
    return {level: scores.level(level).per_clip[0] for level in metrics.LEVELS}


def test_no_ground_truth_and_no_prediction_scores_one_everywhere():
    scores = metrics.avvp_scores(empty_matrix(3), empty_matrix(3), empty_matrix(3), empty_matrix(3))
    for level in metrics.LEVELS:
        np.testing.assert_array_equal(scores.level(level).per_clip, np.ones((3, 4)))
        assert all(scores.level(level).metric(metric) == 100.0 for metric in metrics.METRICS)


def test_prediction_without_ground_truth_scores_zero():
    scores = clip_scores(row_matrix(3, [4]), empty_matrix(), empty_matrix(), empty_matrix())
    for level in metrics.LEVELS:
        # audio 0 (predicted, absent); visual and AV empty -> 1; pooled sees the audio FP -> 0
        np.testing.assert_array_equal(scores[level], [0.0, 1.0, 0.0, 1.0])


def test_iou_of_exactly_one_half_matches():
    gt = row_matrix(0, [0, 1, 2, 3])
    half = clip_scores(row_matrix(0, [0, 1]), empty_matrix(), gt, empty_matrix())
    assert half["event"][0] == 1.0  # IoU 2/4 counts as a match
    assert half["segment"][0] == pytest.approx(2 * 2 / (2 * 2 + 0 + 2))
    quarter = clip_scores(row_matrix(0, [0]), empty_matrix(), gt, empty_matrix())
    assert quarter["event"][0] == 0.0  # IoU 1/4: one FP and one FN


@pytest.mark.parametrize(
    ("pred_segments", "gt_segments", "expected_counts"),
    [
        (list(range(10)), list(range(10)), (1, 0, 0)),  # one run over the whole clip
        ([0, 9], [0, 9], (2, 0, 0)),  # runs touching either border
        (list(range(10)), [0, 9], (0, 1, 2)),  # IoU 1/10 each
        ([0, 9], list(range(10)), (0, 2, 1)),
        ([0, 1, 2, 3, 4, 9], list(range(10)), (1, 1, 0)),  # [0-4] matches at IoU 5/10, [9] is a separate FP
        ([0, 1, 2, 3, 4], list(range(10)), (1, 0, 0)),
        ([0, 2, 4, 6, 8], [1, 3, 5, 7, 9], (0, 5, 5)),  # five one-segment events each, none overlapping
        ([5, 6, 7, 8, 9], [8, 9], (0, 1, 1)),  # IoU 2/5
    ],
)
def test_event_counts_at_borders(pred_segments, gt_segments, expected_counts):
    weights = 1 << np.arange(NUM_SEGMENTS)
    pred_code = np.array([weights[pred_segments].sum()])
    gt_code = np.array([weights[gt_segments].sum()])
    counts = tuple(int(c[0]) for c in metrics._event_counts(pred_code, gt_code))
    assert counts == expected_counts
    assert counts == oracle_event_counts(code_to_row(pred_code[0]), code_to_row(gt_code[0]))


def test_event_matching_does_not_merge_runs_across_a_gap():
    # [0-4] and [9] against GT [0-9]: [0-4] matches at IoU 5/10 (TP), [9] does not (FP); the GT event is found.
    scores = clip_scores(
        row_matrix(0, [0, 1, 2, 3, 4, 9]), empty_matrix(), row_matrix(0, list(range(10))), empty_matrix()
    )
    assert scores["event"][0] == pytest.approx(2 * 1 / (2 * 1 + 1 + 0))


def test_all_one_predictions():
    gt = row_matrix(7, list(range(10)))
    all_one = np.ones_like(gt)
    scores = clip_scores(all_one, all_one, gt, gt)
    for level in metrics.LEVELS:
        # 25 active classes: class 7 is perfect, the 24 others are predicted and absent
        np.testing.assert_allclose(scores[level], [1 / 25] * 4, rtol=0, atol=1e-15)


def test_pooled_score_sums_audio_and_visual_counts_and_ignores_audio_visual():
    # audio: 2 of 4 GT segments found (TP 2, FN 2); visual: 1 spurious segment in another class (FP 1); AV empty.
    pred_a, gt_a = row_matrix(0, [0, 1]), row_matrix(0, [0, 1, 2, 3])
    pred_v = row_matrix(1, [5])
    segment = clip_scores(pred_a, pred_v, gt_a, empty_matrix())["segment"]
    f_audio, f_class1 = 2 * 2 / (2 * 2 + 2), 0.0
    np.testing.assert_allclose(segment, [f_audio, 0.0, (f_audio + f_class1) / 2, 1.0], rtol=0, atol=1e-15)


def test_audio_visual_matrices_are_products():
    both = row_matrix(2, [3, 4, 5])
    audio_only = row_matrix(2, [0, 1, 2, 3, 4, 5])
    scores = clip_scores(audio_only, both, audio_only, both)
    np.testing.assert_array_equal(scores["segment"], [1.0, 1.0, 1.0, 1.0])
    shifted = clip_scores(audio_only, row_matrix(2, [0, 1, 2]), audio_only, both)
    assert shifted["segment"][3] == 0.0  # predicted AV [0-2] vs GT AV [3-5]


def test_type_is_mean_of_the_three_unrounded_percentages():
    scores = metrics.avvp_scores(*realistic_clips(np.random.default_rng(40), 30))
    for level in metrics.LEVELS:
        s = scores.level(level)
        assert s.type == pytest.approx((s.audio + s.visual + s.audio_visual) / 3, abs=1e-12)


def test_scores_accept_bool_int_and_float_matrices():
    clips = realistic_clips(np.random.default_rng(41), 20)
    reference = oracle_avvp_scores(*clips)
    for dtype in (bool, np.int64, np.float32, np.float64):
        assert_same_scores(metrics.avvp_scores(*(c.astype(dtype) for c in clips)), reference)
    assert_same_scores(metrics.avvp_scores(*(c.tolist() for c in clips)), reference)


# ---------------------------------------------------------------------------------------------------------------------
# binarize


def probabilities(num_clips: int = 1, value: float = 0.9, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """``(video_prob (N, C), frame_prob (N, T, C))`` filled with one value."""
    return (
        np.full((num_clips, NUM_CLASSES), value, dtype=dtype),
        np.full((num_clips, NUM_SEGMENTS, NUM_CLASSES), value, dtype=dtype),
    )


def test_binarize_gate_and_inclusive_threshold():
    global_prob, frame_prob = probabilities()
    global_prob[0, 3] = 0.4999  # below the gate: the class is off in every segment
    global_prob[0, 4] = 0.5  # exactly 0.5 passes
    frame_prob[0, 6, 4] = 0.5  # exactly 0.5 passes
    frame_prob[0, 7, 4] = np.nextafter(np.float32(0.5), np.float32(0))  # one ulp below does not
    pred_a, pred_v = metrics.binarize(global_prob, frame_prob, frame_prob)
    assert pred_a.shape == (1, NUM_CLASSES, NUM_SEGMENTS) and pred_a.dtype == np.uint8
    np.testing.assert_array_equal(pred_a, pred_v)
    assert pred_a[0, 3].sum() == 0
    np.testing.assert_array_equal(pred_a[0, 4], [1, 1, 1, 1, 1, 1, 1, 0, 1, 1])
    assert pred_a[0, 5].all()


def test_binarize_compares_in_the_input_dtype():
    # float32(0.7) < 0.7 in float64; compared in float32, as officially, it passes a 0.7 threshold.
    global_prob, frame_prob = probabilities(value=0.7, dtype=np.float32)
    assert metrics.binarize(global_prob, frame_prob, frame_prob, threshold=0.7)[0].all()
    global_prob, frame_prob = probabilities(value=np.float32(0.7), dtype=np.float64)
    assert not metrics.binarize(global_prob, frame_prob, frame_prob, threshold=0.7)[0].any()


def test_binarize_transposes_to_class_major():
    global_prob, frame_prob = probabilities(value=0.0)
    global_prob[0, 9] = 1.0
    frame_prob[0, 2, 9] = 1.0  # segment 2, class 9
    pred_a, _ = metrics.binarize(global_prob, frame_prob, np.zeros_like(frame_prob))
    assert pred_a.sum() == 1 and pred_a[0, 9, 2] == 1


def test_binarize_shut_gate_wins_over_any_frame_probability():
    global_prob, frame_prob = probabilities(num_clips=2, value=0.2, dtype=np.float64)
    frame_prob[0, :, 0] = np.inf  # gate shut: still 0
    frame_prob[1, 3, 1] = np.inf
    global_prob[1, 1] = 0.5  # gate open: inf passes the threshold
    pred_a, _ = metrics.binarize(global_prob, frame_prob, frame_prob)
    assert pred_a[0].sum() == 0
    assert pred_a[1].sum() == 1 and pred_a[1, 1, 3] == 1


def test_binarize_gate_and_frames_each_in_their_own_dtype():
    # gate compared in float64 (float32(0.7) < 0.7: shut), frames in float32 (float32(0.7) >= float32(0.7))
    global_prob, frame_prob = probabilities(value=0.7, dtype=np.float32)
    pred_a, _ = metrics.binarize(global_prob.astype(np.float64), frame_prob, frame_prob, threshold=0.7)
    assert not pred_a.any()
    pred_a, _ = metrics.binarize(np.full_like(global_prob, 0.9, dtype=np.float64), frame_prob, frame_prob, 0.7)
    assert pred_a.all()


def test_binarize_modality_gated_uses_each_modality_probability():
    a_prob, frame_prob = probabilities()
    v_prob = a_prob.copy()
    a_prob[0, 1] = 0.2  # audio class 1 rejected, visual class 1 kept
    v_prob[0, 2] = 0.2
    pred_a, pred_v = metrics.binarize_modality_gated(a_prob, v_prob, frame_prob, frame_prob)
    assert pred_a[0, 1].sum() == 0 and pred_v[0, 1].all()
    assert pred_v[0, 2].sum() == 0 and pred_a[0, 2].all()


# ---------------------------------------------------------------------------------------------------------------------
# bad input


def test_binarize_rejects_bad_input():
    global_prob, frame_prob = probabilities(num_clips=2)
    with pytest.raises(ValueError, match="a_frame_prob: expected shape"):
        metrics.binarize(global_prob, frame_prob.transpose(0, 2, 1), frame_prob)
    with pytest.raises(ValueError, match="global_prob: expected shape"):
        metrics.binarize(global_prob[:, :-1], frame_prob, frame_prob)
    with pytest.raises(ValueError, match="v_frame_prob has 1 clips but global_prob has 2"):
        metrics.binarize(global_prob, frame_prob, frame_prob[:1])
    with_nan = frame_prob.copy()
    with_nan[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"v_frame_prob: contains NaN at index \(1, 2, 3\)"):
        metrics.binarize(global_prob, frame_prob, with_nan)
    with pytest.raises(ValueError, match="v_prob: expected real probabilities"):
        metrics.binarize_modality_gated(global_prob, global_prob.astype(str), frame_prob, frame_prob)


def test_avvp_scores_rejects_bad_input():
    good = empty_matrix(2)
    with pytest.raises(ValueError, match=r"gt_v: expected shape \(N, 25, 10\)"):
        metrics.avvp_scores(good, good, good, good.transpose(0, 2, 1))
    with pytest.raises(ValueError, match="pred_a: expected shape"):
        metrics.avvp_scores(good[0], good, good, good)
    with pytest.raises(ValueError, match="same shape"):
        metrics.avvp_scores(good, good, good[:1], good)
    with pytest.raises(ValueError, match="no clips"):
        metrics.avvp_scores(good[:0], good[:0], good[:0], good[:0])
    not_binary = good.astype(np.float32)
    not_binary[1, 4, 7] = 0.5
    with pytest.raises(ValueError, match=r"pred_v: values must be 0 or 1, found .*0\.5.* \(1, 4, 7\)"):
        metrics.avvp_scores(good, not_binary, good, good)
    with pytest.raises(ValueError, match="gt_a: values must be 0 or 1"):
        metrics.avvp_scores(good, good, good + 2, good)
    negative = good.astype(np.int8)
    negative[0, 2, 3] = -1
    with pytest.raises(ValueError, match=r"pred_a: values must be 0 or 1, found .*-1.* \(0, 2, 3\)"):
        metrics.avvp_scores(negative, good, good, good)
    with_nan = good.astype(np.float64)
    with_nan[1, 0, 9] = np.nan
    with pytest.raises(ValueError, match=r"gt_v: values must be 0 or 1, found .*nan.* \(1, 0, 9\)"):
        metrics.avvp_scores(good, good, good, with_nan)
    with pytest.raises(ValueError, match="pred_a: values must be 0 or 1"):
        metrics.avvp_scores(good.astype(np.int64) - 1, good, good, good)
    with pytest.raises(ValueError, match="expected 0/1 numbers, found dtype"):
        metrics.avvp_scores(good.astype(str), good, good, good)


# ---------------------------------------------------------------------------------------------------------------------
# formatting and module hygiene


def test_format_table_and_markdown():
    scores = metrics.avvp_scores(*realistic_clips(np.random.default_rng(50), 30))
    table = metrics.format_table(scores, title="HAN, test")
    lines = table.splitlines()
    assert lines[0] == "HAN, test" and len(lines) == 4
    assert lines[1].split() == ["Audio", "Visual", "Audio-Visual", "Type@AV", "Event@AV"]
    for line, level in zip(lines[2:], metrics.LEVELS):
        label, *cells = line.split()
        assert label == metrics.LEVEL_TITLES[level]
        assert cells == [f"{scores.level(level).metric(metric):.1f}" for metric in metrics.METRICS]
    assert metrics.format_table(scores).splitlines()[0] == lines[1]

    markdown = metrics.format_markdown_table({"MGN": scores}).splitlines()
    assert len(markdown) == 4 and markdown[2].startswith("| MGN | Segment-level | ")
    assert markdown[3].endswith(f"| {scores.event.event:.1f} |")
    assert markdown[0] == "| Method | Level | Audio | Visual | Audio-Visual | Type@AV | Event@AV |"
    # the to_json() form gives the same table
    assert metrics.format_markdown_table({"MGN": scores.to_json()}).splitlines() == markdown


def test_format_markdown_table_with_mean_and_std():
    scores = metrics.avvp_scores(*realistic_clips(np.random.default_rng(51), 30))
    aggregate = {
        level: {metric: {"mean": 61.24, "std": 0.04} for metric in metrics.METRICS} for level in metrics.LEVELS
    }
    table = metrics.format_markdown_table({"all-zero": scores, "HAN": aggregate}, first_column="Method (global gate)")
    lines = table.splitlines()
    assert lines[0].startswith("| Method (global gate) | Level | Audio |")
    assert len(lines) == 6 and lines[4] == "| HAN | Segment-level |" + " 61.2 ± 0.0 |" * 5
    assert lines[5].startswith("| HAN | Event-level | 61.2 ± 0.0 |")
    assert lines[2] == metrics.format_markdown_table({"all-zero": scores}).splitlines()[2]


def test_metrics_module_does_not_import_torch():
    code = "import sys, mgn.metrics; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------------------------------
# real LLP annotations (REFERENCE 2.6)


def llp_matrices(llp_dir: Path, split_csv: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``(split rows, gt_a, gt_v)`` for a split: half-open [onset, offset) rows, exact filename match."""
    split = pd.read_csv(llp_dir / split_csv, sep="\t")
    clip_of = pd.Series(np.arange(len(split)), index=split["filename"])
    gts = []
    for eval_csv in ("AVVP_eval_audio.csv", "AVVP_eval_visual.csv"):
        rows = pd.read_csv(llp_dir / eval_csv, sep="\t")
        rows = rows[rows["filename"].isin(clip_of.index)]  # orphan rows belong to no clip of the split
        t = np.arange(NUM_SEGMENTS)
        segments = (t >= rows["onset"].to_numpy()[:, None]) & (t < rows["offset"].to_numpy()[:, None])  # (rows, T)
        gt = np.zeros((len(split), NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8)
        clips = clip_of[rows["filename"]].to_numpy()
        classes = rows["event_labels"].map(CLASS_TO_INDEX).to_numpy()
        np.maximum.at(gt, (clips, classes), segments.astype(np.uint8))
        gts.append(gt)
    return split, gts[0], gts[1]


@pytest.mark.parametrize(
    ("predictor", "expected"),
    [
        ("all_zero", {"segment": [0.50, 10.08, 14.50, 8.36, 0.00], "event": [0.50, 10.08, 14.50, 8.36, 0.00]}),
        ("weak_labels", {"segment": [76.12, 60.35, 52.61, 63.03, 71.73], "event": [63.03, 55.75, 44.69, 54.49, 61.60]}),
    ],
)
def test_reference_values_on_real_test_split(llp_dir, predictor, expected):
    split, gt_a, gt_v = llp_matrices(llp_dir, "AVVP_test_pd.csv")
    assert len(split) == 1200
    pred = empty_matrix(len(split))
    if predictor == "weak_labels":
        for clip, labels in enumerate(split["event_labels"]):
            pred[clip, [CLASS_TO_INDEX[name] for name in labels.split(",")]] = 1
    scores = metrics.avvp_scores(pred, pred, gt_a, gt_v)
    for level in metrics.LEVELS:
        actual = [scores.level(level).metric(metric) for metric in metrics.METRICS]
        np.testing.assert_allclose(actual, expected[level], rtol=0, atol=0.005, err_msg=level)
