"""Dataset-level views: Table-1 frame, per-class F against a direct loop, modality confusion, their figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mgn.explore.colors import MODALITY_COLORS, STATUS_COLORS
from mgn.explore.dashboard import (
    CONFUSION_CATEGORIES,
    confusion_figure,
    modality_confusion,
    per_class_figure,
    per_class_scores,
    table1_comparison,
    table1_frame,
)
from mgn.labels import CLASSES, NUM_CLASSES, NUM_SEGMENTS, class_index, display_name
from mgn.metrics import LevelScores, Scores, avvp_scores, format_table

AUDIBLE, VISIBLE, BOTH, ABSENT = CONFUSION_CATEGORIES


def _random_split(seed: int, num_clips: int = 24) -> tuple[np.ndarray, ...]:
    """Seeded ``(N, C, T) uint8`` gt_a, gt_v, pred_a, pred_v; class 7 never appears, class 8 only in the GT."""
    rng = np.random.default_rng(seed)
    gt_a, gt_v, pred_a, pred_v = (
        (rng.random((num_clips, NUM_CLASSES, NUM_SEGMENTS)) < rate).astype(np.uint8) for rate in (0.2, 0.2, 0.25, 0.15)
    )
    for matrix in (gt_a, gt_v, pred_a, pred_v):
        matrix[:, 7] = 0
    pred_a[:, 8] = pred_v[:, 8] = 0
    return gt_a, gt_v, pred_a, pred_v


def test_table1_frame_rounds_known_scores():
    no_clips = np.zeros((0, 4))
    scores = Scores(
        segment=LevelScores(audio=60.04, visual=55.55, audio_visual=50.0, type=55.1966, event=57.96, per_clip=no_clips),
        event=LevelScores(audio=51.25, visual=48.949, audio_visual=42.0, type=47.4, event=49.0, per_clip=no_clips),
    )
    frame = table1_frame(scores)
    assert list(frame.index) == ["Segment-level", "Event-level"]
    assert list(frame.columns) == ["Audio", "Visual", "Audio-Visual", "Type@AV", "Event@AV"]
    assert frame.loc["Segment-level"].tolist() == [60.0, 55.5, 50.0, 55.2, 58.0]  # 55.55 is 55.549999... in binary
    assert frame.loc["Event-level", "Visual"] == 48.9 and frame.loc["Event-level", "Audio"] == 51.2
    printed = format_table(scores).splitlines()[1:]  # the same numbers as the printed Table 1
    assert [[float(cell) for cell in line.split()[1:]] for line in printed] == frame.to_numpy().tolist()


def test_table1_frame_of_real_scores():
    gt_a, gt_v, pred_a, pred_v = _random_split(0)
    scores = avvp_scores(pred_a, pred_v, gt_a, gt_v)
    frame = table1_frame(scores)
    assert frame.loc["Event-level", "Type@AV"] == round(scores.event.type, 1)
    assert frame.loc["Segment-level", "Audio"] == round(scores.segment.audio, 1)


def test_table1_comparison_side_by_side_with_differences():
    gt_a, gt_v, pred_a, pred_v = _random_split(0)
    first, second = avvp_scores(pred_a, pred_v, gt_a, gt_v), avvp_scores(pred_v, pred_a, gt_a, gt_v)
    frame = table1_comparison([first, second], ["MGN", "HAN"])
    assert list(frame.columns) == ["level", "metric", "MGN", "HAN", "Δ (HAN − MGN)"]
    assert frame["level"].tolist() == ["Segment-level"] * 5 + ["Event-level"] * 5
    assert frame["metric"].tolist()[:5] == ["Audio", "Visual", "Audio-Visual", "Type@AV", "Event@AV"]
    wide = [table1_frame(first), table1_frame(second)]
    assert frame["MGN"].tolist() == wide[0].to_numpy().ravel().tolist()
    assert frame["HAN"].tolist() == wide[1].to_numpy().ravel().tolist()
    np.testing.assert_allclose(frame["Δ (HAN − MGN)"], (frame["HAN"] - frame["MGN"]).round(1))
    assert list(table1_comparison([first], ["MGN"]).columns) == ["level", "metric", "MGN"]
    with pytest.raises(ValueError, match="distinct names"):
        table1_comparison([first, second], ["MGN", "MGN"])


def _loop_f(gt: np.ndarray, pred: np.ndarray, c: int) -> tuple[float, int, int]:
    """Pooled segment F (%) of class c by explicit loops, and the GT / predicted segment counts."""
    tp = fp = fn = 0
    for n in range(gt.shape[0]):
        for t in range(NUM_SEGMENTS):
            g, p = int(gt[n, c, t]), int(pred[n, c, t])
            tp += g and p
            fp += p and not g
            fn += g and not p
    f = math.nan if tp + fp + fn == 0 else 100.0 * 2 * tp / (2 * tp + fp + fn)
    return f, tp + fn, tp + fp


def test_per_class_scores_match_a_direct_loop():
    gt_a, gt_v, pred_a, pred_v = _random_split(1)
    frame = per_class_scores(gt_a, gt_v, pred_a, pred_v)
    assert list(frame["class"]) == list(CLASSES) and len(frame) == NUM_CLASSES
    pairs = {"audio": (gt_a, pred_a), "visual": (gt_v, pred_v), "audio_visual": (gt_a * gt_v, pred_a * pred_v)}
    for modality, (gt, pred) in pairs.items():
        for c in range(NUM_CLASSES):
            f, gt_count, pred_count = _loop_f(gt, pred, c)
            row = frame.iloc[c]
            assert (row[f"gt_{modality}"], row[f"pred_{modality}"]) == (gt_count, pred_count)
            if math.isnan(f):
                assert math.isnan(row[f"{modality}_f"])
            else:
                assert row[f"{modality}_f"] == pytest.approx(f, abs=1e-12)
    assert frame.loc[7, ["audio_f", "visual_f", "audio_visual_f"]].isna().all()  # neither GT nor prediction
    assert (frame.loc[8, ["audio_f", "visual_f"]] == 0).all()  # GT only: F = 0, not NaN
    assert frame["gt_audio"].dtype == np.int64


def test_per_class_colours_are_the_modality_colours_not_a_status_colour():
    figure = per_class_figure(per_class_scores(*_random_split(1)))
    colours = [trace.marker.color for trace in figure.data]
    assert colours == [MODALITY_COLORS[m] for m in ("audio", "visual", "audio_visual")]
    assert not set(colours) & set(STATUS_COLORS.values())


def test_per_class_figure_has_one_bar_trace_per_modality():
    gt_a, gt_v, pred_a, pred_v = _random_split(2)
    frame = per_class_scores(gt_a, gt_v, pred_a, pred_v)
    fig = per_class_figure(frame)
    assert [trace.meta["modality"] for trace in fig.data] == ["audio", "visual", "audio_visual"]
    for trace in fig.data:
        modality = trace.meta["modality"]
        assert trace.type == "bar" and trace.orientation == "h"
        assert list(trace.y) == [display_name(name) for name in CLASSES]
        expected = [None if math.isnan(f) else f for f in frame[f"{modality}_f"]]
        assert list(trace.x) == expected
        counts = frame[[f"gt_{modality}", f"pred_{modality}"]].to_numpy().tolist()
        assert [list(cell) for cell in trace.customdata] == counts
    assert "bdata" not in fig.to_json()
    with pytest.raises(ValueError, match="missing columns"):
        per_class_figure(frame.drop(columns="visual_f"))


def _empty_split(num_clips: int) -> list[np.ndarray]:
    return [np.zeros((num_clips, NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8) for _ in range(4)]


def test_modality_confusion_of_hand_made_pairs():
    gt_a, gt_v, pred_a, pred_v = _empty_split(num_clips=3)
    dog, speech, car, cat = (class_index(name) for name in ("Dog", "Speech", "Car", "Cat"))
    gt_a[0, dog, 2:5] = 1  # clip 0, Dog: audible only, predicted visible only
    pred_v[0, dog, 7] = 1
    gt_a[0, speech, 0] = gt_v[0, speech, 9] = 1  # clip 0, Speech: audible and visible (not at the same time)
    pred_a[0, speech, :] = 1  # ... predicted audible only
    gt_v[1, car, 3:6] = 1  # clip 1, Car: visible only, not predicted
    pred_a[2, cat, 1] = pred_v[2, cat, 1] = 1  # clip 2, Cat: absent, predicted audible and visible
    gt_a[2, dog, 0] = pred_a[2, dog, 9] = 1  # clip 2, Dog: audible only, predicted audible only (other segment)

    frame = modality_confusion(gt_a, gt_v, pred_a, pred_v)
    expected = pd.DataFrame(0, index=list(CONFUSION_CATEGORIES), columns=list(CONFUSION_CATEGORIES))
    expected.loc[AUDIBLE, VISIBLE] = 1
    expected.loc[BOTH, AUDIBLE] = 1
    expected.loc[VISIBLE, ABSENT] = 1
    expected.loc[ABSENT, BOTH] = 1
    expected.loc[AUDIBLE, AUDIBLE] = 1
    expected.loc[ABSENT, ABSENT] = 3 * NUM_CLASSES - 5  # every other (clip, class) pair: the true negatives
    assert frame.to_numpy().tolist() == expected.to_numpy().tolist()
    assert frame.to_numpy().sum() == 3 * NUM_CLASSES
    assert (frame.index.name, frame.columns.name, frame.attrs["scope"]) == ("ground truth", "prediction", "all classes")

    dog_frame = modality_confusion(gt_a, gt_v, pred_a, pred_v, class_index=dog)
    assert dog_frame.to_numpy().sum() == 3 and dog_frame.attrs["scope"] == "Dog"
    assert dog_frame.loc[AUDIBLE, VISIBLE] == dog_frame.loc[AUDIBLE, AUDIBLE] == dog_frame.loc[ABSENT, ABSENT] == 1
    with pytest.raises(ValueError, match="class_index"):
        modality_confusion(gt_a, gt_v, pred_a, pred_v, class_index=NUM_CLASSES)


def test_modality_confusion_totals_on_random_data():
    gt_a, gt_v, pred_a, pred_v = _random_split(3)
    frame = modality_confusion(gt_a, gt_v, pred_a, pred_v)
    num_clips = gt_a.shape[0]
    assert frame.to_numpy().sum() == num_clips * NUM_CLASSES
    audible = gt_a.any(axis=2)  # (N, C)
    visible = gt_v.any(axis=2)
    assert frame.loc[AUDIBLE].sum() == np.count_nonzero(audible & ~visible)
    assert frame.loc[BOTH].sum() == np.count_nonzero(audible & visible)
    assert frame[ABSENT].sum() == np.count_nonzero(~pred_a.any(axis=2) & ~pred_v.any(axis=2))
    per_class_total = sum(modality_confusion(gt_a, gt_v, pred_a, pred_v, class_index=c) for c in range(NUM_CLASSES))
    assert per_class_total.to_numpy().tolist() == frame.to_numpy().tolist()


def test_confusion_figure_counts_and_row_shares():
    gt_a, gt_v, pred_a, pred_v = _random_split(4)
    frame = modality_confusion(gt_a, gt_v, pred_a, pred_v)
    fig = confusion_figure(frame)
    (trace,) = fig.data
    assert trace.type == "heatmap" and trace.meta == {"role": "confusion", "scope": "all classes"}
    assert list(trace.x) == list(CONFUSION_CATEGORIES) == list(trace.y)
    counts = [[int(text.split("<br>")[0].replace(",", "")) for text in row] for row in trace.text]
    assert counts == frame.to_numpy().tolist()
    assert trace.z[-1][-1] is None  # the true negatives stay out of the colour scale
    for i, row in enumerate(trace.z):
        shares = [share for share in row if share is not None]
        assert sum(shares) == pytest.approx(1.0)
        excluded = frame.iloc[i, -1] if i == len(row) - 1 else 0
        assert row[0] == pytest.approx(frame.iloc[i, 0] / (frame.iloc[i].sum() - excluded))
    with pytest.raises(ValueError, match="expected rows and columns"):
        confusion_figure(frame.iloc[:3])


@pytest.mark.parametrize(
    ("position", "value", "message"),
    [
        (0, np.zeros((2, NUM_SEGMENTS, NUM_CLASSES), dtype=np.uint8), "gt_a: expected shape"),
        (1, np.zeros((0, NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8), "gt_v: no clips"),
        (2, np.full((2, NUM_CLASSES, NUM_SEGMENTS), 3, dtype=np.uint8), r"pred_a: values must be 0 or 1, found 3"),
        (3, np.zeros((3, NUM_CLASSES, NUM_SEGMENTS), dtype=np.uint8), "must have the same shape"),
    ],
)
def test_bad_split_matrices_raise(position, value, message):
    matrices = _empty_split(num_clips=2)
    matrices[position] = value
    with pytest.raises(ValueError, match=message):
        per_class_scores(*matrices)
    with pytest.raises(ValueError, match=message):
        modality_confusion(*matrices)
