"""The editing logic of the explorer: clicks and drags, corrected ground truth, scores under both labels, likely
label errors and where they open, and the difference of a clip from its original labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgn.annotations import AnnotationStore, ConflictError
from mgn.data.llp import LLPLayout, load_annotations
from mgn.data.synthetic import SyntheticConfig, generate_dataset
from mgn.explore import editing
from mgn.explore.dashboard import table1_frame
from mgn.explore.editing import EditingError
from mgn.labels import CLASS_TO_INDEX, CLASSES, NUM_CLASSES, NUM_SEGMENTS
from mgn.metrics import avvp_scores

REPO_ROOT = Path(__file__).resolve().parents[2]
DOG, CAT = CLASS_TO_INDEX["Dog"], CLASS_TO_INDEX["Cat"]
ALTERNATING = [True, False] * 5  # no synthetic event looks like this: always a change


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("editing") / "data"
    generate_dataset(root, SyntheticConfig(), {"train": 2, "val": 2, "test": 6}, seed=5, progress=False)
    return root


@pytest.fixture(scope="module")
def split(data_dir: Path):
    return load_annotations(LLPLayout(root=data_dir), "test", warn=False)


@pytest.fixture()
def store(data_dir: Path, tmp_path: Path):
    with AnnotationStore(tmp_path / "annotations.sqlite", data=data_dir, author="tester") as opened:
        yield opened


def _row(values) -> list[int]:
    return [int(value) for value in values]


# ------------------------------------------------------------------------------------------------ clicks and drags


def test_click_toggles_one_segment_and_drag_paints_from_where_it_started():
    empty = np.zeros(NUM_SEGMENTS, dtype=np.uint8)
    assert _row(editing.segments_after_click(empty, 3)) == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    assert _row(editing.segments_after_click(editing.segments_after_click(empty, 3), 3, 3)) == [0] * 10
    row = [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    assert _row(editing.segments_after_click(row, 1, 6)) == [0, 1, 1, 1, 1, 1, 1, 0, 0, 0]  # starts empty: paints
    assert _row(editing.segments_after_click(row, 3, 7)) == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]  # starts set: erases
    assert _row(editing.segments_after_click(row, 7, 3)) == [0, 0, 1, 1, 1, 1, 1, 1, 0, 0]  # leftwards, from 7
    assert _row(editing.segments_after_click([True] * 10, 0, 9)) == [0] * 10
    assert row == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]  # the input is not modified
    assert editing.segments_after_click(row, 0).dtype == bool


@pytest.mark.parametrize(
    ("current", "start", "end", "message"),
    [
        ([0] * 9, 0, None, r"current: expected shape \(10,\)"),
        ([0] * 9 + [2], 0, None, "values must be 0 or 1"),
        ([0] * 10, 10, None, "start_segment 10 is outside"),
        ([0] * 10, -1, None, "start_segment -1 is outside"),
        ([0] * 10, 0, 1.5, "end_segment must be a segment index"),
        ([0] * 10, True, None, "start_segment must be a segment index"),
    ],
)
def test_bad_clicks_are_refused(current, start, end, message):
    with pytest.raises(EditingError, match=message):
        editing.segments_after_click(current, start, end)


def test_segment_at_maps_timeline_seconds_to_segments():
    assert [editing.segment_at(x) for x in (0, 0.99, 1.0, 4.5, 9.999, 10)] == [0, 0, 1, 4, 9, 9]
    assert editing.segment_at(2.5, duration=5.0) == 5  # a 5-s clip: half-second segments
    for bad in (-0.1, 10.1, float("nan"), "3", None):
        with pytest.raises(EditingError):
            editing.segment_at(bad)


def test_class_names_in_either_spelling():
    assert editing.class_name_of("Frying (food)") == "Frying_(food)" == editing.class_name_of("Frying_(food)")
    with pytest.raises(EditingError, match="unknown class 'Dgo'"):
        editing.class_name_of("Dgo")


def test_paint_stores_one_edit_and_checks_the_version(store, split):
    clip = str(split.filenames[0])
    before = store.ground_truth(clip)["audio"][DOG].copy()
    edit = editing.paint(store, clip, "Dog", "Audio", 2, 5, expected_version=0)
    expected = editing.segments_after_click(before, 2, 5)
    assert edit.version == 1 and _row(store.ground_truth(clip)["audio"][DOG]) == _row(expected)
    with pytest.raises(ConflictError, match="reload"):
        editing.paint(store, clip, "Dog", "audio", 0, expected_version=0)  # a stale view
    assert store.version(clip) == 1
    with pytest.raises(EditingError, match="audio-visual lane is derived"):
        editing.paint(store, clip, "Dog", "audio_visual", 0)
    with pytest.raises(EditingError, match="end_segment 12"):
        editing.paint(store, clip, "Dog", "visual", 0, 12)
    assert len(store.history()) == 1


def test_remove_class_is_one_undo_step(store, split):
    clip = str(split.filenames[0])
    editing.paint(store, clip, "Cat", "audio", 0, 4)
    editing.paint(store, clip, "Cat", "visual", 2, 8)
    assert editing.undo_state(store.history(clip)).undo == "Cat visual 3–9"
    removed = editing.remove_class(store, clip, "Cat", expected_version=2)
    assert len(removed) == 2 and not store.ground_truth(clip)["audio"][CAT].any()
    state = editing.undo_state(store.history(clip))
    assert state.undo.startswith("Cat audio") and "; Cat visual" in state.undo and state.redo is None
    store.undo(clip)
    assert store.ground_truth(clip)["visual"][CAT].sum() == 7 and store.ground_truth(clip)["audio"][CAT].sum() >= 5
    assert editing.undo_state(store.history(clip)).redo == state.undo
    truth = store.ground_truth(clip)
    absent = int(np.flatnonzero(~(truth["audio"].any(1) | truth["visual"].any(1)))[0])
    version = store.version(clip)
    assert editing.remove_class(store, clip, CLASSES[absent]) == [] and store.version(clip) == version
    assert editing.undo_state([]) == editing.UndoState(None, None)


# --------------------------------------------------------------------------------------------- corrected labels


def test_corrected_ground_truth_applies_the_store_to_the_split(store, split):
    clips = [str(name) for name in split.filenames]
    editing.paint(store, clips[1], "Dog", "visual", 0, 9)
    store.set_segments(clips[2], "Cat", "audio", ALTERNATING)
    store.set_segments(clips[3], "Cat", "audio", ALTERNATING)
    store.undo(clips[3])  # undone: no change
    gt_a, gt_v = split.gt_audio.copy(), split.gt_visual.copy()
    corrected = editing.corrected_ground_truth(split.filenames, gt_a, gt_v, store)
    for index, clip in enumerate(clips):
        truth = store.ground_truth(clip)
        assert np.array_equal(corrected.gt_audio[index], truth["audio"])
        assert np.array_equal(corrected.gt_visual[index], truth["visual"])
    assert corrected.changed.tolist() == [index in (1, 2) for index in range(len(clips))]
    assert corrected.rows == 2 and corrected.mismatched == ()
    assert np.array_equal(gt_a, split.gt_audio) and np.array_equal(gt_v, split.gt_visual)  # inputs untouched
    assert np.array_equal(corrected.gt_av, corrected.gt_audio * corrected.gt_visual)
    from_changes = editing.corrected_ground_truth(split.filenames, gt_a, gt_v, store.changes())
    assert np.array_equal(from_changes.gt_audio, corrected.gt_audio)
    other_base = gt_a.copy()
    other_base[2, CAT] = 1  # the split was loaded from other label files than the store's data
    assert editing.corrected_ground_truth(clips, other_base, gt_v, store).mismatched == ((clips[2], "Cat", "audio"),)
    subset = editing.corrected_ground_truth(clips[:2], gt_a[:2], gt_v[:2], store)  # rows of other clips: ignored
    assert subset.changed.tolist() == [False, True]
    with pytest.raises(EditingError, match="filenames: 2 names for 6 clips"):
        editing.corrected_ground_truth(clips[:2], gt_a, gt_v, store)
    with pytest.raises(EditingError, match=r"gt_audio: expected shape \(N, 25, 10\)"):
        editing.corrected_ground_truth(clips, gt_a[:, :, :5], gt_v, store)


def test_scores_and_table1_under_both_labels(store, split):
    clips = [str(name) for name in split.filenames]
    pred_a, pred_v = split.gt_audio, split.gt_visual  # a model that predicts the original labels exactly
    unchanged = editing.corrected_ground_truth(clips, split.gt_audio, split.gt_visual, store)
    same = editing.rescore(pred_a, pred_v, split.gt_audio, split.gt_visual, unchanged)
    assert same.corrected is same.original and same.original.segment.audio == 100
    store.set_segments(clips[0], "Dog", "audio", ALTERNATING)
    corrected = editing.corrected_ground_truth(clips, split.gt_audio, split.gt_visual, store)
    pair = editing.rescore(pred_a, pred_v, split.gt_audio, split.gt_visual, corrected, original_scores=same.original)
    expected = avvp_scores(pred_a, pred_v, corrected.gt_audio, corrected.gt_visual)
    assert pair.original is same.original and pair.corrected.to_json() == expected.to_json()
    table = editing.table1_comparison(pair)
    assert list(table.columns) == ["level", "labels", "Audio", "Visual", "Audio-Visual", "Type@AV", "Event@AV"]
    assert table["labels"].tolist() == ["original", "corrected", "change"] * 2
    assert table["level"].tolist() == ["Segment-level"] * 3 + ["Event-level"] * 3
    assert table.iloc[0, 2:].tolist() == table1_frame(pair.original).iloc[0].tolist()
    assert table.iloc[4, 2:].tolist() == table1_frame(pair.corrected).iloc[1].tolist()
    assert table.iloc[2]["Audio"] == round(table.iloc[1]["Audio"] - table.iloc[0]["Audio"], 1) < 0
    assert table.iloc[2]["Visual"] == 0.0 and not np.signbit(table.iloc[2]["Visual"])
    clip_table = editing.clip_score_comparison({"MGN": pair, "HAN": same}, 0)
    assert list(clip_table.columns) == list(editing.CLIP_SCORE_COLUMNS) and len(clip_table) == 2 * 2 * 3
    mgn_segment = clip_table[(clip_table["model"] == "MGN") & (clip_table["level"] == "segment")]
    assert mgn_segment["Audio"].tolist() == [
        100.0,
        round(100 * pair.corrected.segment.per_clip[0, 0], 1),
        round(100 * pair.corrected.segment.per_clip[0, 0] - 100, 1),
    ]
    with pytest.raises(EditingError, match="clip index 6 is outside"):
        editing.clip_score_comparison({"MGN": pair}, 6)
    changed = editing.changed_clip_scores(pair, clips, corrected.changed)
    assert changed["clip"].tolist() == [clips[0]] and changed.loc[0, "segment change"] < 0
    assert changed.loc[0, "segment original"] == 100.0


# ------------------------------------------------------------------------------------------- likely label errors


def _probabilities(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, T, C): a model that agrees with the labels, not quite certain."""
    return np.where(gt.transpose(0, 2, 1) == 1, 0.9, 0.05) + rng.uniform(
        -0.04, 0.04, (len(gt), NUM_SEGMENTS, NUM_CLASSES)
    )


def test_label_error_candidates_rank_confident_disagreements(split):
    rng = np.random.default_rng(0)
    clips = [str(name) for name in split.filenames]
    prob_a, prob_v = _probabilities(split.gt_audio, rng), _probabilities(split.gt_visual, rng)
    prob_a[3, 6, CAT] = 1.7  # MGN's scores reach 2: the model is certain it hears a cat at 6-7 s of clip 3
    gt_a = split.gt_audio.copy()
    gt_a[3, CAT, 6] = 0
    table = editing.label_error_candidates(prob_a, prob_v, gt_a, split.gt_visual, clips, calibrated=False)
    assert list(table.columns) == list(editing.CANDIDATE_COLUMNS)
    top = table.iloc[0]
    assert (top["clip"], top["class"], top["modality"], top["segment"], top["label"]) == (
        clips[3],
        "Cat",
        "audio",
        7,
        0,
    )
    assert top["probability"] == 1.0 and top["reason"] == "labelled absent, but the model hears it (p ≥ 0.9)"
    assert len(table) == 1  # nothing else is confident against its label
    target = editing.candidate_target(top)
    assert target == editing.CellTarget(clips[3], "Cat", "audio", 6) and target.seconds == (6, 7)
    assert target.describe() == f"open clip {clips[3]}, class row Cat (audio), segment 7 (6–7 s)"
    looser = editing.label_error_candidates(prob_a, prob_v, gt_a, split.gt_visual, clips, low=0.95, calibrated=False)
    assert len(looser) > 1 and looser.iloc[0]["clip"] == clips[3]  # thresholds are adjustable
    limited = editing.label_error_candidates(
        prob_a, prob_v, gt_a, split.gt_visual, clips, low=0.95, calibrated=False, limit=3
    )
    assert limited.equals(looser.iloc[:3])
    spurious = split.gt_visual.copy()
    present = np.argwhere(spurious == 1)[0]
    prob_v[present[0], present[2], present[1]] = 0.0
    row = editing.label_error_candidates(prob_a, prob_v, gt_a, spurious, clips, calibrated=False).iloc[-1]
    assert row["label"] == 1 and "labelled present, but the model does not see" in row["reason"]
    calibrated = editing.label_error_candidates(prob_a, prob_v, gt_a, spurious, clips)
    assert "(calibrated p " in calibrated.iloc[0]["reason"] and len(calibrated) >= 1
    fitted = editing.label_error_calibration(prob_a, prob_v, gt_a, spurious, clips)
    assert fitted.shape == (2, NUM_CLASSES, 2)
    reused = editing.label_error_candidates(prob_a, prob_v, gt_a, spurious, clips, calibration=fitted)
    pd.testing.assert_frame_equal(reused, calibrated)  # the same labels: the same ranking
    with pytest.raises(EditingError, match="calibration has shape"):
        editing.label_error_candidates(prob_a, prob_v, gt_a, spurious, clips, calibration=fitted[:1])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda args: {**args, "prob_audio": args["prob_audio"][:, :5]}, r"prob_audio: expected shape \(N, 10, 25\)"),
        (lambda args: {**args, "prob_visual": -args["prob_visual"]}, "prob_visual: expected finite probabilities"),
        (lambda args: {**args, "high": 1.5}, "high must be a probability"),
        (lambda args: {**args, "limit": 0}, "limit must be a whole number"),
        (lambda args: {**args, "filenames": args["filenames"][:2]}, "filenames: 2 names for 6 clips"),
    ],
)
def test_label_error_candidates_refuse_bad_input(split, change, message):
    rng = np.random.default_rng(0)
    args = {
        "prob_audio": _probabilities(split.gt_audio, rng),
        "prob_visual": _probabilities(split.gt_visual, rng),
        "gt_audio": split.gt_audio,
        "gt_visual": split.gt_visual,
        "filenames": [str(name) for name in split.filenames],
    }
    with pytest.raises(EditingError, match=message):
        editing.label_error_candidates(**change(args))


def test_candidate_target_refuses_rows_it_cannot_open():
    with pytest.raises(EditingError, match="needs clip, class, modality and segment"):
        editing.candidate_target({"clip": "x"})
    with pytest.raises(EditingError, match="segment 0: expected a segment number 1..10"):
        editing.candidate_target({"clip": "x", "class": "Dog", "modality": "audio", "segment": 0})
    with pytest.raises(EditingError, match="audio-visual lane is derived"):
        editing.candidate_target({"clip": "x", "class": "Dog", "modality": "audio_visual", "segment": 1})


# ----------------------------------------------------------------------------------------------------- the diff


def test_segment_ranges():
    assert editing.segment_ranges([2, 3, 4, 7]) == "3–5, 8"
    assert editing.segment_ranges(np.array([9, 0])) == "1, 10" and editing.segment_ranges([]) == ""


def test_diff_of_a_clip_from_its_original_labels(store, split):
    clip = str(split.filenames[0])
    original = store.original(clip)
    assert editing.diff_table(original, store.ground_truth(clip)).empty
    row = np.zeros(NUM_SEGMENTS, dtype=bool)
    row[[1, 2, 3, 8]] = True
    store.set_segments(clip, "Cat", "visual", row)
    store.set_segments(clip, "Cat", "audio", np.zeros(NUM_SEGMENTS, dtype=bool))
    store.set_segments(clip, "Dog", "audio", ~original["audio"][DOG].astype(bool))
    current = store.ground_truth(clip)
    table = editing.diff_table(original, current)
    assert list(table.columns) == list(editing.DIFF_COLUMNS)
    cat_visual = table[(table["class"] == "Cat") & (table["modality"] == "visual")].iloc[0]
    if not original["visual"][CAT].any():
        assert (cat_visual["added"], cat_visual["removed"], cat_visual["after"]) == ("2–4, 9", "", "0111000010")
    dog = table[(table["class"] == "Dog") & (table["modality"] == "audio")].iloc[0]
    assert dog["before"] == "".join(map(str, original["audio"][DOG])) and dog["before"] != dog["after"]
    assert table["class"].tolist() == sorted(table["class"], key=lambda name: CLASS_TO_INDEX[name])
    cells = editing.changed_cells(original, current)
    assert set(cells) == {"audio", "visual", "audio_visual"} and cells["audio"].shape == (NUM_CLASSES, NUM_SEGMENTS)
    assert cells["audio"][DOG].all() and cells["visual"][CAT].sum() == (original["visual"][CAT] != row).sum()
    expected_av = (original["audio"] * original["visual"]) != (current["audio"] * current["visual"])
    assert np.array_equal(cells["audio_visual"], expected_av)
    with pytest.raises(EditingError, match=r"original: expected \{'audio'"):
        editing.diff_table({"audio": original["audio"]}, current)


def test_editing_imports_neither_gradio_nor_torch():
    code = "import sys, mgn.explore.editing; bad = {'gradio', 'torch'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
