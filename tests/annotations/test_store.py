"""AnnotationStore: editing, ground truth, history, undo / redo, versions, new clips, and every bad input."""

from __future__ import annotations

import numpy as np
import pytest

from mgn.annotations import (
    AnnotationError,
    AnnotationStore,
    ConflictError,
    NothingToUndoError,
    default_database_path,
)
from mgn.data.llp import LLPLayout, load_annotations
from mgn.labels import CLASS_TO_INDEX, CLASSES, NUM_CLASSES, NUM_SEGMENTS

ON = [True] * NUM_SEGMENTS
OFF = [False] * NUM_SEGMENTS
ALTERNATING = [True, False] * (NUM_SEGMENTS // 2)  # no synthetic event looks like this: always a change
SHIFTED = [False, True] * (NUM_SEGMENTS // 2)  # nor like this


def _row(store, clip: str, class_name: str, modality: str) -> list[int]:
    return store.ground_truth(clip)[modality][CLASS_TO_INDEX[class_name]].tolist()


def test_ground_truth_is_the_data_until_edited(store, data_dir, test_clips):
    annotations = load_annotations(LLPLayout(root=data_dir), "test", warn=False)
    for clip in test_clips:
        index = annotations.index_of(clip)
        truth = store.ground_truth(clip)
        assert set(truth) == {"audio", "visual"}
        assert truth["audio"].shape == (NUM_CLASSES, NUM_SEGMENTS) and truth["audio"].dtype == np.uint8
        assert np.array_equal(truth["audio"], annotations.gt_audio[index])
        assert np.array_equal(truth["visual"], annotations.gt_visual[index])
        assert store.version(clip) == 0 and store.history(clip) == [] and store.diff(clip) == []
    train_clip = store.clips("train")[0]
    assert not store.ground_truth(train_clip)["audio"].any()  # weak labels only: all zeros
    assert store.clips() == store.clips("train") + store.clips("val") + store.clips("test")


def test_set_segments_stores_one_row_and_applies_it(store, test_clips):
    clip = test_clips[0]
    before = _row(store, clip, "Dog", "visual")
    segments = np.array([0, 1, 1, 0, 0, 0, 0, 1, 1, 1], dtype=np.uint8)
    edit = store.set_segments(clip, "Dog", "visual", segments, author="ana")
    assert (edit.clip, edit.class_name, edit.modality, edit.action, edit.version) == (clip, "Dog", "visual", "set", 1)
    assert edit.before == tuple(map(bool, before)) and edit.after == tuple(map(bool, segments))
    assert edit.author == "ana" and edit.session == "s1" and edit.timestamp.endswith("Z")
    assert _row(store, clip, "Dog", "visual") == segments.tolist()
    assert store.original(clip)["visual"][CLASS_TO_INDEX["Dog"]].tolist() == before
    assert store.version(clip) == 1 and store.history(clip) == [edit]
    [change] = store.diff(clip)
    assert change.after == edit.after and change.authors == ("ana",)
    assert store.edited_clips() == [clip] == store.edited_clips(changed_only=True)
    assert store.set_segments(clip, "Dog", "visual", segments.tolist()) is None  # unchanged: nothing stored
    assert store.version(clip) == 1
    default_author = store.set_segments(clip, "Dog", "visual", OFF)
    assert default_author.author == "tester"


def test_set_interval_changes_only_its_segments(store, test_clips):
    clip = test_clips[0]
    store.set_segments(clip, "Cat", "audio", [1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    store.set_interval(clip, "Cat", "audio", 2, 5)
    assert _row(store, clip, "Cat", "audio") == [1, 0, 1, 1, 1, 0, 0, 0, 0, 1]
    store.set_interval(clip, "Cat", "audio", 0, 3, value=False)
    assert _row(store, clip, "Cat", "audio") == [0, 0, 0, 1, 1, 0, 0, 0, 0, 1]


def test_undo_redo_append_rows_and_never_rewrite_history(store, test_clips):
    clip = test_clips[0]
    original = store.ground_truth(clip)
    first = store.set_segments(clip, "Speech", "audio", ALTERNATING)
    second = store.set_segments(clip, "Speech", "visual", ALTERNATING)
    undone = store.undo(clip)
    assert (undone.action, undone.target, undone.version) == ("undo", second.id, 3)
    assert undone.before == second.after and undone.after == second.before
    assert store.undo(clip).target == first.id
    assert all(np.array_equal(store.ground_truth(clip)[m], original[m]) for m in original)
    assert store.edited_clips(changed_only=True) == [] and store.edited_clips() == [clip]
    with pytest.raises(NothingToUndoError, match="nothing to undo"):
        store.undo(clip)
    redone = store.redo(clip)
    assert (redone.action, redone.target, redone.after) == ("redo", first.id, first.after)
    assert _row(store, clip, "Speech", "audio") == [int(flag) for flag in ALTERNATING]
    flipped = [1 - value for value in _row(store, clip, "Dog", "audio")]
    assert store.set_segments(clip, "Dog", "audio", flipped) is not None  # a new edit clears what could be redone
    with pytest.raises(NothingToUndoError, match="nothing to redo"):
        store.redo(clip)
    history = store.history(clip)
    assert [edit.action for edit in history] == ["set", "set", "undo", "undo", "redo", "set"]
    assert [edit.version for edit in history] == [1, 2, 3, 4, 5, 6]
    assert history[:2] == [first, second]  # earlier rows are untouched
    assert [edit.id for edit in store.history()] == sorted(edit.id for edit in history)


def test_stale_expected_version_is_a_conflict_and_stores_nothing(store, make_store, test_clips):
    clip = test_clips[1]
    other = make_store(store.path, author="bob", session="s2")
    seen = store.version(clip)
    other.set_segments(clip, "Car", "audio", ALTERNATING, expected_version=seen)
    with pytest.raises(ConflictError, match=f"clip '{clip}' was edited since version 0.*bob.*reload"):
        store.set_segments(clip, "Car", "audio", OFF, expected_version=seen)
    with pytest.raises(ConflictError):
        store.undo(clip, expected_version=seen)
    assert [edit.author for edit in store.history(clip)] == ["bob"]
    assert _row(store, clip, "Car", "audio") == [int(flag) for flag in ALTERNATING]
    store.set_segments(clip, "Car", "audio", OFF, expected_version=store.version(clip))
    assert [edit.author for edit in other.history(clip)] == ["bob", "tester"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda s, c: s.set_segments(c, "Frying (food)", "audio", ON),
            r"unknown class.*did you mean 'Frying_\(food\)'",
        ),
        (lambda s, c: s.set_segments(c, "Dgo", "audio", ON), "unknown class 'Dgo'; did you mean 'Dog'"),
        (lambda s, c: s.set_segments(c, 3, "audio", ON), "class must be a string"),
        (lambda s, c: s.set_segments(c, "Dog", "audio_visual", ON), "audio-visual is derived"),
        (lambda s, c: s.set_segments(c, "Dog", "video", ON), "unknown modality 'video'"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", ON[:9]), "9 segments given: expected 10 booleans"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", ON + [True]), "11 segments given"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", [0.9] * 10), "segment 0 is 0.9"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", [0, 1, 2] + [0] * 7), "segment 2 is 2"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", "1111111111"), "expected 10 booleans"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", np.ones((2, 5))), r"shape \(2, 5\)"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", None), "expected 10 booleans"),
        (lambda s, c: s.set_segments("aaaaaaaaaaa_0_10", "Dog", "audio", ON), "unknown clip 'aaaaaaaaaaa_0_10'"),
        (lambda s, c: s.set_segments(c[:-1] + "9", "Dog", "audio", ON), "did you mean"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", ON, author="a\tb"), "single line without tabs"),
        (lambda s, c: s.set_segments(c, "Dog", "audio", ON, expected_version=-1), "expected_version"),
        (lambda s, c: s.set_interval(c, "Dog", "audio", 4, 4), r"empty or reversed interval \[4, 4\)"),
        (lambda s, c: s.set_interval(c, "Dog", "audio", 6, 2), "onset < offset"),
        (lambda s, c: s.set_interval(c, "Dog", "audio", -1, 2), "onset -1 is outside 0..10"),
        (lambda s, c: s.set_interval(c, "Dog", "audio", 0, 11), "offset 11 is outside 0..10"),
        (lambda s, c: s.set_interval(c, "Dog", "audio", 0.5, 2), "not an integer number of seconds"),
        (lambda s, c: s.set_interval(c, "Dog", "audio", 0, 2, value=0.5), "expected a boolean"),
        (lambda s, c: s.undo("aaaaaaaaaaa_0_10"), "unknown clip"),
        (lambda s, c: s.history("aaaaaaaaaaa_0_10"), "unknown clip"),
        (lambda s, c: s.clips("validation"), "unknown split"),
    ],
)
def test_bad_input_is_a_clear_error_and_stores_nothing(store, test_clips, call, message):
    clip = test_clips[0]
    with pytest.raises(AnnotationError, match=message):
        call(store, clip)
    assert store.history() == []


def test_undo_without_edits_is_a_clear_error(store, test_clips):
    with pytest.raises(NothingToUndoError, match=f"clip '{test_clips[0]}': nothing to undo"):
        store.undo(test_clips[0])


def test_new_clip_has_only_its_edits(store, test_clips):
    clip = "NEWvideo_01_30_40"
    declared = store.add_clip(clip, ["Dog", "Speech"], author="ana")
    assert declared.labels == ("Speech", "Dog")  # official order
    assert store.split_of(clip) == "new" and store.clips("new") == [clip] and store.clips()[-1] == clip
    assert not any(store.ground_truth(clip)[m].any() for m in ("audio", "visual"))
    store.set_interval(clip, "Dog", "visual", 0, 4)
    store.set_interval(clip, "Cat", "audio", 5, 10)
    assert store.labels(clip) == ("Speech", "Dog", "Cat")  # declared plus classes with segments
    assert store.set_labels(clip, "Dog").labels == ("Dog",)
    assert store.labels(clip) == ("Dog", "Cat")
    assert [change.class_name for change in store.diff(clip)] == ["Dog", "Cat"]
    existing = test_clips[0]
    assert store.labels(existing) == tuple(
        name
        for name in CLASSES
        if store.ground_truth(existing)["audio"][CLASS_TO_INDEX[name]].any()
        or store.ground_truth(existing)["visual"][CLASS_TO_INDEX[name]].any()
    )


@pytest.mark.parametrize(
    ("clip", "labels", "message"),
    [
        ("NEWvideo_01_30_45", ["Dog"], "spans 15 s"),
        ("short_0_10", ["Dog"], "invalid LLP filename"),
        ("NEWvideo_02_0_10", [], "labels are empty"),
        ("NEWvideo_02_0_10", ["Dogs"], "did you mean 'Dog'"),
    ],
)
def test_add_clip_refuses_bad_names_and_labels(store, clip, labels, message):
    with pytest.raises(AnnotationError, match=message):
        store.add_clip(clip, labels)
    assert store.clips("new") == []


def test_add_clip_refuses_clips_and_videos_already_known(store, test_clips):
    existing = test_clips[0]
    with pytest.raises(AnnotationError, match="already in the data"):
        store.add_clip(existing, ["Dog"])
    with pytest.raises(AnnotationError, match="is already in the data as"):
        store.add_clip(existing[:11] + "_500_510", ["Dog"])
    store.add_clip("NEWvideo_03_0_10", ["Dog"], author="ana")
    with pytest.raises(AnnotationError, match="already added by ana"):
        store.add_clip("NEWvideo_03_10_20", ["Dog"])
    with pytest.raises(AnnotationError, match="is a data clip"):
        store.set_labels(existing, ["Dog"])


def test_default_database_is_beside_the_data(data_dir, tmp_path):
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy, ignore=shutil.ignore_patterns("feats"))
    with AnnotationStore(data=copy) as store:
        assert store.path == default_database_path(copy) == copy / "annotations.sqlite"
    assert (copy / "annotations.sqlite").is_file()


def test_store_refuses_a_missing_data_folder_or_database(tmp_path, data_dir):
    with pytest.raises(AnnotationError, match="data folder .* not found"):
        AnnotationStore(tmp_path / "db.sqlite", data=tmp_path / "nowhere")
    with pytest.raises(AnnotationError, match="no annotation database"):
        AnnotationStore(tmp_path / "db.sqlite", data=data_dir, create=False)
    with pytest.raises(AnnotationError, match="folder .* does not exist"):
        AnnotationStore(tmp_path / "missing" / "db.sqlite", data=data_dir)
    assert not (tmp_path / "db.sqlite").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no LLP split CSV"):
        AnnotationStore(None, data=empty)


def test_closed_store_refuses_calls(store, test_clips):
    store.close()
    store.close()
    with pytest.raises(AnnotationError, match="closed"):
        store.ground_truth(test_clips[0])


def test_set_rows_is_one_grouped_edit_undone_and_redone_as_one(store, make_store, test_clips):
    clip = test_clips[0]
    original = store.ground_truth(clip)
    single = store.set_segments(clip, "Cat", "audio", ALTERNATING)
    rows = {
        ("Dog", "audio"): ALTERNATING,
        ("Dog", "visual"): SHIFTED,
        ("Speech", "audio"): _row(store, clip, "Speech", "audio"),
    }
    grouped = store.set_rows(clip, rows, author="ana", expected_version=1)
    assert [edit.row[1:] for edit in grouped] == [("Dog", "audio"), ("Dog", "visual")]  # the unchanged row is skipped
    assert grouped[0].batch == grouped[1].batch is not None and single.batch is None
    assert [edit.version for edit in grouped] == [2, 3] and store.version(clip) == 3
    last = store.undo(clip)
    assert last.version == 5 and _row(store, clip, "Dog", "visual") == original["visual"][3].tolist()  # 3 = Dog
    assert _row(store, clip, "Dog", "audio") == original["audio"][3].tolist()
    assert _row(store, clip, "Cat", "audio") == [int(flag) for flag in ALTERNATING]  # the single edit stays
    undo_rows = store.history(clip)[-2:]
    assert {edit.target for edit in undo_rows} == {edit.id for edit in grouped} and undo_rows[0].batch is not None
    store.redo(clip)
    assert _row(store, clip, "Dog", "visual") == [int(flag) for flag in SHIFTED] and store.version(clip) == 7
    store.undo(clip)
    store.undo(clip)  # then the single edit
    assert all(np.array_equal(store.ground_truth(clip)[m], original[m]) for m in original)
    assert store.set_rows(clip, {("Dog", "audio"): original["audio"][3]}) == []  # nothing to change, nothing stored
    with pytest.raises(ConflictError):
        store.set_rows(clip, {("Dog", "audio"): ON}, expected_version=1)
    for bad, message in (
        ({}, "non-empty mapping"),
        ({"Dog": ON}, "expected \\(class_name, modality\\)"),
        ({("Dog", "audio"): ON, ("Dgo", "visual"): ON}, "unknown class 'Dgo'"),
        ({("Dog", "audio"): ON, ("Dog", "visual"): ON[:3]}, "Dog visual: 3 segments given"),
    ):
        before = store.history()
        with pytest.raises(AnnotationError, match=message):
            store.set_rows(clip, bad)
        assert store.history() == before


def test_update_row_reads_and_writes_in_one_transaction(store, test_clips):
    clip = test_clips[0]
    seen = []

    def invert(current):
        seen.append(current)
        return [not flag for flag in current]

    edit = store.update_row(clip, "Dog", "audio", invert, author="ana")
    assert seen == [edit.before] and edit.after == tuple(not flag for flag in edit.before)
    with pytest.raises(AnnotationError, match="update returned segments 'x'"):
        store.update_row(clip, "Dog", "audio", lambda current: "x")
    with pytest.raises(AnnotationError, match="update must be a function"):
        store.update_row(clip, "Dog", "audio", ON)
    with pytest.raises(ConflictError):
        store.update_row(clip, "Dog", "audio", invert, expected_version=0)
    assert len(store.history()) == 1


def test_a_store_without_a_dataset_annotates_new_clips_only(tmp_path):
    with AnnotationStore(tmp_path / "own.sqlite", data=None) as store:
        assert store.layout is None and store.clips() == []
        with pytest.raises(AnnotationError, match="unknown clip 'ownVideo00x_0_10': not in the data \\(no dataset\\)"):
            store.ground_truth("ownVideo00x_0_10")
        store.add_clip("ownVideo00x_0_10", ["Dog"])
        store.set_interval("ownVideo00x_0_10", "Dog", "audio", 0, 3)
        result = store.export(tmp_path / "out")
    assert (result.changes, result.new_clips) == (1, 1)
    assert (tmp_path / "out" / "AVVP_eval_audio.csv").read_text() == (
        "filename\tonset\toffset\tevent_labels\nownVideo00x_0_10\t0\t3\tDog\n"
    )
    with pytest.raises(AnnotationError, match="needs a database path"):
        AnnotationStore(data=None)


def test_session_stores_share_the_data_and_nothing_else(store, test_clips, data_dir):
    first, second = store.session_store(author="guest1"), store.session_store(author="guest2")
    assert first.source is store.source is second.source and first.path is None
    assert not store.source.ground_truth.flags.writeable  # shared: read-only
    first.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    assert second.history() == [] and store.history() == [] and len(first.history()) == 1
    assert sorted(path.name for path in data_dir.iterdir() if path.suffix == ".sqlite") == []
    first.close()
    second.close()
