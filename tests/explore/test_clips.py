"""Tests for ``mgn.explore.clips``: the per-clip table, sorting, filtering and the display frame.

Four hand-made clips with known errors (segments are half-open ranges ``[start, end)``):

====  ==============  =======================================  =========================================
clip  name            ground truth                             prediction
====  ==============  =======================================  =========================================
0     AAAAAAAAAAA...  Dog audio + visual [0, 5)                the same (perfect)
1     BBBBBBBBBBB...  Speech audio [0, 10)                     Speech audio [0, 5) (5 FN), visual [0, 2)
                                                               (2 FP), Baby_cry_infant_cry audio [9, 10)
2     ZZZZZZZZZZZ...  Car visual [3, 7)                        nothing (4 FN visual)
3     DDDDDDDDDDD...  Violin_fiddle audio [2, 6)               Violin_fiddle audio + visual [2, 6) (4 FP v.)
====  ==============  =======================================  =========================================

Clip names are not in split order, so that the tie-break by name is visible.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from mgn.explore.clips import (
    DISAGREEMENT_COLUMNS,
    ERROR_FILTERS,
    ERROR_WORDS,
    FILTER_MODALITIES,
    MODALITY_WORDS,
    OPTIONAL_COLUMNS,
    PER_MODEL_COLUMNS,
    SORT_KEYS,
    clip_table,
    column_widths,
    disagreements,
    display_frame,
    filter_clips,
    filter_disagreements,
    model_column,
    neighbour,
    num_models,
    sort_clips,
)
from mgn.labels import CLASS_TO_INDEX, NUM_CLASSES, NUM_SEGMENTS
from mgn.metrics import PER_CLIP_COLUMNS, avvp_scores

NAMES = ["AAAAAAAAAAA_0_10", "BBBBBBBBBBB_10_20", "ZZZZZZZZZZZ_5_15", "DDDDDDDDDDD_0_10"]


def _matrices(num_clips: int = 4) -> dict[str, np.ndarray]:
    return {name: np.zeros((num_clips, NUM_CLASSES, NUM_SEGMENTS), np.uint8) for name in ("ga", "gv", "pa", "pv")}


def _on(matrix: np.ndarray, clip: int, class_name: str, start: int, end: int) -> None:
    matrix[clip, CLASS_TO_INDEX[class_name], start:end] = 1


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    m = _matrices()
    for key in ("ga", "gv", "pa", "pv"):
        _on(m[key], 0, "Dog", 0, 5)
    _on(m["ga"], 1, "Speech", 0, 10)
    _on(m["pa"], 1, "Speech", 0, 5)
    _on(m["pv"], 1, "Speech", 0, 2)
    _on(m["pa"], 1, "Baby_cry_infant_cry", 9, 10)
    _on(m["gv"], 2, "Car", 3, 7)
    _on(m["ga"], 3, "Violin_fiddle", 2, 6)
    _on(m["pa"], 3, "Violin_fiddle", 2, 6)
    _on(m["pv"], 3, "Violin_fiddle", 2, 6)
    return m


@pytest.fixture
def second_model(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A second model: clip 0 loses one audio segment, clip 3 its four visual segments."""
    pred_a, pred_v = arrays["pa"].copy(), arrays["pv"].copy()
    pred_a[0, CLASS_TO_INDEX["Dog"], 0] = 0
    pred_v[3] = 0
    return pred_a, pred_v


@pytest.fixture
def table(arrays: dict[str, np.ndarray], second_model: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    return clip_table(NAMES, arrays["ga"], arrays["gv"], arrays["pa"], arrays["pv"], compare=second_model)


def _clip_order(frame: pd.DataFrame) -> list[int]:
    return frame["clip_index"].tolist()


# ---------------------------------------------------------------------------------------------------------------------
# the table


def test_identity_and_class_strings(table: pd.DataFrame) -> None:
    assert table["clip"].tolist() == NAMES
    assert table["video_id"].tolist() == [name[:11] for name in NAMES]
    assert _clip_order(table) == [0, 1, 2, 3]
    assert table["gt_classes"].tolist() == ["Dog (A+V)", "Speech (A)", "Car (V)", "Violin fiddle (A)"]
    assert table["pred_classes"].tolist() == [
        "Dog (A+V)",
        "Speech (A+V), Baby cry infant cry (A)",
        "",
        "Violin fiddle (A+V)",
    ]


def test_error_counts(table: pd.DataFrame) -> None:
    expected = {
        "fp_audio": [0, 1, 0, 0],
        "fn_audio": [0, 5, 0, 0],
        "fp_visual": [0, 2, 0, 4],
        "fn_visual": [0, 0, 4, 0],
        "fp_av": [0, 2, 0, 4],
        "fn_av": [0, 0, 0, 0],
        "false_positives": [0, 3, 0, 4],
        "false_negatives": [0, 5, 4, 0],
        "errors": [0, 8, 4, 4],
    }
    for column, values in expected.items():
        assert table[column].tolist() == values, column
        assert table[column].dtype == np.int64


def test_scores_match_avvp_scores_per_clip(table: pd.DataFrame, arrays: dict[str, np.ndarray]) -> None:
    scores = avvp_scores(arrays["pa"], arrays["pv"], arrays["ga"], arrays["gv"])
    for level, prefix in (("segment", "seg"), ("event", "event")):
        for modality, suffix in (("audio", "audio"), ("visual", "visual"), ("audio_visual", "av")):
            expected = 100 * scores.level(level).clip_scores(modality)
            np.testing.assert_array_equal(table[f"{prefix}_{suffix}"].to_numpy(), expected)
    # by hand: clip 1 audio = mean(Speech 2*5/(2*5+5) = 2/3, Baby cry 0) = 1/3; clip 2 has no audio at all -> 100
    np.testing.assert_allclose(table["seg_audio"], [100, 100 / 3, 100, 100])
    np.testing.assert_allclose(table["seg_visual"], [100, 0, 0, 0])
    np.testing.assert_allclose(table["seg_av"], [100, 0, 100, 0])
    # events: Speech [0, 5) matches [0, 10) at IoU 0.5 (inclusive), so clip 1 audio = mean(1, Baby cry 0) = 1/2
    np.testing.assert_allclose(table["event_audio"], [100, 50, 100, 100])


def test_class_masks(table: pd.DataFrame) -> None:
    bit = {name: 1 << index for name, index in CLASS_TO_INDEX.items()}
    assert table["gt_audio_mask"].tolist() == [bit["Dog"], bit["Speech"], 0, bit["Violin_fiddle"]]
    assert table["pred_audio_mask"].tolist()[1] == bit["Speech"] | bit["Baby_cry_infant_cry"]
    assert table["pred_av_mask"].tolist() == [bit["Dog"], bit["Speech"], 0, bit["Violin_fiddle"]]
    assert table["gt_av_mask"].tolist() == [bit["Dog"], 0, 0, 0]


def test_compare_columns(table: pd.DataFrame, arrays: dict[str, np.ndarray], second_model) -> None:
    assert table["disagreement"].tolist() == [1, 0, 0, 4]
    per_clip = avvp_scores(*second_model, arrays["ga"], arrays["gv"]).segment.per_clip
    np.testing.assert_array_equal(table["seg_visual_2"], 100 * per_clip[:, PER_CLIP_COLUMNS.index("visual")])
    assert table["seg_visual_2"].tolist()[3] == 100.0  # the second model predicts no visual violin: no error
    assert {model_column(column, 1) for column in PER_MODEL_COLUMNS} <= set(table.columns)  # every column, twice
    assert table["fp_visual_2"].tolist() == [0, 2, 0, 0] and table["fn_audio_2"].tolist() == [1, 5, 0, 0]
    assert table["errors_2"].tolist() == [1, 8, 4, 0] and table["pred_classes_2"].tolist()[3] == "Violin fiddle (A)"
    assert num_models(table) == 2


def test_without_compare_has_no_compare_columns(arrays: dict[str, np.ndarray]) -> None:
    table = clip_table(NAMES, arrays["ga"], arrays["gv"], arrays["pa"], arrays["pv"])
    assert "disagreement" not in table.columns and num_models(table) == 1
    assert not [column for column in table.columns if column.endswith("_2")]
    with pytest.raises(ValueError, match="model 1 is not in this table"):
        filter_clips(table, error="errors", model=1)


def test_bad_inputs_are_named(arrays: dict[str, np.ndarray]) -> None:
    with pytest.raises(ValueError, match="filenames: expected 4"):
        clip_table(NAMES[:3], arrays["ga"], arrays["gv"], arrays["pa"], arrays["pv"])
    with pytest.raises(ValueError, match="pred_v"):
        clip_table(NAMES, arrays["ga"], arrays["gv"], arrays["pa"], arrays["pv"][:, :, :5])
    with pytest.raises(ValueError, match="compare"):
        clip_table(NAMES, *(arrays[k] for k in ("ga", "gv", "pa", "pv")), compare=(arrays["pa"] * 2, arrays["pv"]))


def test_speed_1200_clips() -> None:
    """1,200 clips (an LLP test split is 1,200) with a realistic number of classes per clip: well under a second."""
    rng = np.random.default_rng(0)
    shape = (1200, NUM_CLASSES, NUM_SEGMENTS)
    classes = rng.random(shape[:2] + (1,)) < 0.08  # (N, C, 1) about two classes per clip
    ga, gv, pa, pv = ((classes & (rng.random(shape) < 0.6)).astype(np.uint8) for _ in range(4))
    names = [f"{i:011d}_0_10" for i in range(shape[0])]
    start = time.perf_counter()
    table = clip_table(names, ga, gv, pa, pv, compare=(pv, pa))
    elapsed = time.perf_counter() - start
    assert len(table) == shape[0]
    assert elapsed < 1.0, f"clip_table took {elapsed:.2f} s for 1,200 clips"


# ---------------------------------------------------------------------------------------------------------------------
# sorting


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("split order", [0, 1, 2, 3]),
        ("worst audio F (segment)", [1, 0, 3, 2]),  # ties at 100 in name order: AAA, DDD, ZZZ
        ("worst visual F (segment)", [1, 3, 2, 0]),  # ties at 0: BBB, DDD, ZZZ
        ("worst audio-visual F (segment)", [1, 3, 0, 2]),
        ("worst audio F (event)", [1, 0, 3, 2]),
        ("worst visual F (event)", [1, 3, 2, 0]),
        ("worst audio-visual F (event)", [1, 3, 0, 2]),
        ("most false positives", [3, 1, 0, 2]),
        ("most false negatives", [1, 2, 0, 3]),
        ("most errors", [1, 3, 2, 0]),  # 8, then 4 and 4 in name order (DDD before ZZZ), then 0
        ("most disagreement", [3, 0, 1, 2]),
    ],
)
def test_sort_keys(table: pd.DataFrame, key: str, expected: list[int]) -> None:
    assert _clip_order(sort_clips(table, key)) == expected


def test_every_sort_key_is_tested_and_ordered(table: pd.DataFrame) -> None:
    for key, (column, ascending) in SORT_KEYS.items():
        ordered = sort_clips(table.sample(frac=1, random_state=1), key)  # the input order must not matter
        values = ordered[column].to_numpy()
        assert (np.diff(values) >= 0).all() if ascending else (np.diff(values) <= 0).all(), key
        for _, group in ordered.groupby(column, sort=False):
            assert group["clip"].is_monotonic_increasing, key


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("worst visual F (segment)", [1, 2, 0, 3]),  # model 2 has no visual violin: clip 3 is perfect there
        ("most false negatives", [1, 2, 0, 3]),  # 5, 4, 1 (clip 0's lost Dog audio segment), 0
        ("most errors", [1, 2, 0, 3]),
    ],
)
def test_sort_keys_of_the_second_model(table: pd.DataFrame, key: str, expected: list[int]) -> None:
    assert _clip_order(sort_clips(table, key, model=1)) == expected


def test_sort_errors(arrays: dict[str, np.ndarray], table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown sort key 'best'.*'most errors'"):
        sort_clips(table, "best")
    plain = clip_table(NAMES, arrays["ga"], arrays["gv"], arrays["pa"], arrays["pv"])
    with pytest.raises(ValueError, match="disagreement.*compare"):
        sort_clips(plain, "most disagreement")


# ---------------------------------------------------------------------------------------------------------------------
# filtering


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [0, 1, 2, 3]),
        ("bbbbb", [1]),  # clip id, any case
        ("ZZZZZZZZZZZ_5", [2]),
        ("baby cry", [1]),  # class name with spaces ...
        ("  Baby_CRY ", [1]),  # ... or underscores, any case, stripped
        ("violin fid", [3]),
        ("car", [2]),  # a GT class (visual)
        ("speech", [1]),
        ("cello", []),
    ],
)
def test_query(table: pd.DataFrame, query: str, expected: list[int]) -> None:
    assert _clip_order(filter_clips(table, query=query)) == expected


@pytest.mark.parametrize(
    ("classes", "modality", "expected"),
    [
        (["Speech"], "any", [1]),
        (["Speech"], "visual", [1]),  # predicted visual speech (a false positive) counts
        (["Speech"], "audio_visual", [1]),
        (["Car"], "audio", []),
        (["Car"], "visual", [2]),
        (["Dog", "Car"], "any", [0, 2]),
        (["Violin fiddle"], "audio_visual", [3]),  # display spelling accepted
        (["Violin_fiddle"], "audio", [3]),
        (["Baby_cry_infant_cry"], "visual", []),
    ],
)
def test_classes_and_modality(table: pd.DataFrame, classes: list[str], modality: str, expected: list[int]) -> None:
    assert _clip_order(filter_clips(table, classes=classes, modality=modality)) == expected


@pytest.mark.parametrize(
    ("error", "modality", "expected"),
    [
        ("any", "any", [0, 1, 2, 3]),
        ("false_positive", "any", [1, 3]),
        ("false_positive", "audio", [1]),
        ("false_positive", "audio_visual", [1, 3]),
        ("false_negative", "any", [1, 2]),
        ("false_negative", "visual", [2]),
        ("false_negative", "audio_visual", []),
        ("errors", "any", [1, 2, 3]),
        ("errors", "audio", [1]),
        ("perfect", "any", [0]),
        ("perfect", "audio", [0, 2, 3]),
    ],
)
def test_error_filter(table: pd.DataFrame, error: str, modality: str, expected: list[int]) -> None:
    assert _clip_order(filter_clips(table, error=error, modality=modality)) == expected


@pytest.mark.parametrize(
    ("error", "modality", "classes", "expected"),
    [
        ("false_positive", "visual", [], [1]),  # the second model has no visual false alarm on clip 3
        ("false_negative", "audio", [], [0, 1]),  # it misses one Dog audio segment of clip 0
        ("perfect", "any", [], [3]),
        ("any", "visual", ["Violin fiddle"], []),  # its predictions have no visual violin, nor has the GT
        ("any", "audio", ["Violin fiddle"], [3]),
    ],
)
def test_filters_of_the_second_model(table: pd.DataFrame, error: str, modality: str, classes, expected) -> None:
    assert _clip_order(filter_clips(table, error=error, modality=modality, classes=classes, model=1)) == expected


def test_filter_words_cover_every_value() -> None:
    assert set(MODALITY_WORDS) == set(FILTER_MODALITIES) and set(ERROR_WORDS) == set(ERROR_FILTERS)
    words = list(MODALITY_WORDS.values()) + list(ERROR_WORDS.values())
    assert not [word for word in words if "_" in word]  # words, not identifiers


def test_filters_combine_and_keep_the_sorted_order(table: pd.DataFrame) -> None:
    ordered = sort_clips(table, "most errors")  # 1, 3, 2, 0
    assert _clip_order(filter_clips(ordered, error="errors")) == [1, 3, 2]
    assert _clip_order(filter_clips(ordered, query="d", error="false_positive")) == [3]  # DDD...; Dog clip is perfect
    assert _clip_order(filter_clips(ordered, classes=["Car", "Speech"], error="false_negative")) == [1, 2]


def test_filter_errors_name_the_value(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="unknown class 'Doge'.*Speech"):
        filter_clips(table, classes=["Dog", "Doge"])
    with pytest.raises(ValueError, match="unknown modality 'both'.*'audio_visual'"):
        filter_clips(table, modality="both")
    with pytest.raises(ValueError, match="unknown error filter 'fp'.*'false_positive'"):
        filter_clips(table, error="fp")
    assert FILTER_MODALITIES == ("any", "audio", "visual", "audio_visual")
    assert "perfect" in ERROR_FILTERS


# ---------------------------------------------------------------------------------------------------------------------
# display


def test_display_frame(table: pd.DataFrame, arrays: dict[str, np.ndarray]) -> None:
    plain_table = clip_table(NAMES, arrays["ga"], arrays["gv"], arrays["pa"], arrays["pv"])
    ordered = sort_clips(plain_table, "worst audio F (segment)")
    frame = display_frame(ordered, sort_key="worst audio F (segment)")
    assert list(frame.columns) == ["Clip", "Ground truth", "Seg F audio", "FP", "FN"]  # the rest is opt-in
    assert frame.index.tolist() == [0, 1, 2, 3]
    assert frame["Clip"].tolist() == ordered["clip"].tolist()  # row i is row i of the table
    assert frame["Seg F audio"].tolist()[0] == 33.3
    assert frame["Ground truth"].tolist()[0] == "Speech (A)"
    assert list(display_frame(plain_table, sort_key="split order").columns) == ["Clip", "Ground truth", "FP", "FN"]
    every = display_frame(plain_table, extra=[c for c in OPTIONAL_COLUMNS if c != "disagreement"])
    assert len(every.columns) == len(OPTIONAL_COLUMNS) - 1 + 4 and "Disagree" not in every.columns
    with pytest.raises(ValueError, match="unknown column 'fp_audio'"):
        display_frame(plain_table, extra=["fp_audio"])


def test_display_frame_in_compare_mode(table: pd.DataFrame) -> None:
    frame = display_frame(
        sort_clips(table, "most disagreement"),
        sort_key="most disagreement",
        extra=["seg_av"],
        model_names=["MGN", "HAN"],
    )
    assert list(frame.columns) == [
        "Clip",
        "Ground truth",
        "Seg F AV — MGN",
        "Seg F AV — HAN",
        "FP — MGN",
        "FP — HAN",
        "FN — MGN",
        "FN — HAN",
        "Disagree",
    ]
    assert frame["FN — HAN"].tolist() == [0, 1, 5, 4] and frame["Disagree"].tolist() == [4, 1, 0, 0]
    sorted_by_second = display_frame(table, sort_key="worst visual F (segment)", model_names=["MGN", "HAN"])
    assert {"Seg F visual — MGN", "Seg F visual — HAN"} <= set(sorted_by_second.columns)  # the sort key, both
    with pytest.raises(ValueError, match="model_names"):
        display_frame(table)
    widths = column_widths(frame)
    assert len(widths) == len(frame.columns) and 93 <= sum(float(w.rstrip("%")) for w in widths) <= 100
    assert widths[:3] == ["28%", "17%", "7%"]  # 7 number columns share 55 %
    assert column_widths(display_frame(table, model_names=["MGN", "HAN"], sort_key="split order"))[0] == "28%"
    plain = clip_table(NAMES, *(_matrices()[key] for key in ("ga", "gv", "pa", "pv")))  # one model: 2 numbers
    assert column_widths(display_frame(plain, sort_key="split order")) == ["36%", "20%", "22%", "22%"]


def test_disagreements(table: pd.DataFrame, arrays: dict[str, np.ndarray], second_model) -> None:
    first = (arrays["pa"], arrays["pv"])
    frame = disagreements(NAMES, arrays["ga"], arrays["gv"], first, second_model, ["MGN", "HAN"])
    assert list(frame.columns[: len(DISAGREEMENT_COLUMNS)]) == list(DISAGREEMENT_COLUMNS)
    rows = frame[list(DISAGREEMENT_COLUMNS)].values.tolist()
    assert rows == [
        # clip 0: HAN misses Dog's first audio segment (so its AV segment too); MGN is right
        [NAMES[0], "Dog", "audio", "1", "0–1", "MGN", "HAN: missed (FN)"],
        [NAMES[0], "Dog", "audio-visual", "1", "0–1", "MGN", "HAN: missed (FN)"],
        # clip 3: MGN's visual violin is a false alarm (segments 3-6), so is its audio-visual one; HAN has neither
        [NAMES[3], "Violin fiddle", "visual", "3–6", "2–6", "HAN", "MGN: false alarm (FP)"],
        [NAMES[3], "Violin fiddle", "audio-visual", "3–6", "2–6", "HAN", "MGN: false alarm (FP)"],
    ]
    assert frame["onset"].tolist() == [0, 0, 2, 2] and frame["offset"].tolist() == [1, 1, 6, 6]
    assert frame["right_model"].tolist() == [0, 0, 1, 1]
    assert _clip_order_of(filter_disagreements(frame, right_model=1)) == [3, 3]
    assert len(filter_disagreements(frame, modality="audio_visual")) == 2
    assert len(filter_disagreements(frame, classes=["Violin_fiddle"])) == 2
    assert len(filter_disagreements(frame, right_model=0, classes=["Violin fiddle"])) == 0
    with pytest.raises(ValueError, match="unknown modality"):
        filter_disagreements(frame, modality="both")
    same = disagreements(NAMES, arrays["ga"], arrays["gv"], first, first, ["MGN", "HAN"])
    assert len(same) == 0 and list(same.columns) == list(frame.columns)  # one model twice: nothing to list
    with pytest.raises(ValueError, match="second\\[0\\]"):
        disagreements(NAMES, arrays["ga"], arrays["gv"], first, (arrays["pa"][:, :, :5], arrays["pv"]), ["a", "b"])


def _clip_order_of(frame: pd.DataFrame) -> list[int]:
    return frame["clip_index"].tolist()


def test_neighbour() -> None:
    order = ["c", "a", "b"]
    assert neighbour(order, "a", 1) == "b" and neighbour(order, "a", -1) == "c"
    assert neighbour(order, "b", 1) == "b" and neighbour(order, "c", -1) == "c"  # clamped at the ends
    assert neighbour(order, "zzz", 1) == "c" and neighbour([], "a", 1) is None


def test_imports_neither_gradio_nor_torch() -> None:
    code = "import sys, mgn.explore.clips; print('gradio' in sys.modules, 'torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
