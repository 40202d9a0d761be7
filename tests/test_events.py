"""``mgn.events``: events as maximal runs of positive segments, and their overlap."""

from __future__ import annotations

import numpy as np
import pytest

from mgn.events import find_events, segment_iou


def test_find_events_on_rows_of_a_clip() -> None:
    rows = np.array([[0, 1, 1, 0, 1, 0, 0, 0, 0, 1], [1] * 10, [0] * 10])  # (C, T)
    classes, onsets, offsets = find_events(rows)
    assert classes.tolist() == [0, 0, 0, 1]
    assert onsets.tolist() == [1, 4, 9, 0]
    assert offsets.tolist() == [3, 5, 10, 10]


def test_find_events_on_a_split_matches_a_plain_loop() -> None:
    rng = np.random.default_rng(0)
    gt = (rng.random((7, 25, 10)) < 0.4).astype(np.uint8)  # (N, C, T)
    expected = []
    for clip in range(gt.shape[0]):
        for cls in range(gt.shape[1]):
            onset = None
            for t, value in enumerate(list(gt[clip, cls]) + [0]):
                if value and onset is None:
                    onset = t
                elif not value and onset is not None:
                    expected.append((clip, cls, onset, t))
                    onset = None
    found = list(zip(*(axis.tolist() for axis in find_events(gt))))
    assert found == expected


def test_find_events_accepts_bool_and_float() -> None:
    row = np.array([[False, True, True]])
    assert [a.tolist() for a in find_events(row)] == [[0], [1], [3]]
    assert [a.tolist() for a in find_events(row.astype(np.float32))] == [[0], [1], [3]]


@pytest.mark.parametrize(
    ("first", "second", "iou"),
    [((0, 5), (0, 10), 0.5), ((0, 2), (2, 4), 0.0), ((3, 6), (3, 6), 1.0), ((0, 4), (1, 2), 0.25)],
)
def test_segment_iou(first: tuple[int, int], second: tuple[int, int], iou: float) -> None:
    assert segment_iou(first, second) == iou
    assert segment_iou(second, first) == iou
