"""Session-only (hosted) stores: the edits go out as JSON lines or a zip archive, and come back into any store, once."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from mgn.annotations import ARCHIVE_LOG, EXPORT_FILES, AnnotationError, AnnotationStore
from mgn.labels import CLASS_TO_INDEX

ALTERNATING = [True, False] * 5  # no synthetic event looks like this: always a change


def _work(store: AnnotationStore, clips: list[str]) -> None:
    store.set_segments(clips[0], "Dog", "audio", ALTERNATING)
    store.set_interval(clips[0], "Speech", "visual", 3, 7)
    store.undo(clips[0])
    store.redo(clips[0])
    store.undo(clips[0])
    store.add_clip("NEWvideo_01_0_10", ["Dog"])
    store.set_interval("NEWvideo_01_0_10", "Dog", "visual", 0, 5)
    store.set_labels("NEWvideo_01_0_10", ["Dog", "Cat"])


def _same_labels(first: AnnotationStore, second: AnnotationStore, clips: list[str]) -> bool:
    return all(
        np.array_equal(first.ground_truth(clip)[modality], second.ground_truth(clip)[modality])
        for clip in clips
        for modality in ("audio", "visual")
    )


def test_in_memory_store_round_trips_its_edits(make_store, test_clips):
    hosted = make_store(None, author="guest", session="web1")
    assert hosted.path is None and make_store(":memory:").path is None
    _work(hosted, test_clips)
    log = hosted.export_edits()
    assert json.loads(log.splitlines()[0]) == {"format": "mgn.annotations.edits", "schema_version": 2, "segments": 10}
    later = make_store(None, session="web2")
    result = later.import_edits(log.encode())  # bytes, as a browser upload gives them
    assert len(result.edits) == 6 and len(result.new_clips) == 2
    clips = [*test_clips, "NEWvideo_01_0_10"]
    assert _same_labels(hosted, later, clips)
    assert later.history() == [
        type(edit)(**{**edit.__dict__, "id": mine.id, "target": mine.target})
        for edit, mine in zip(hosted.history(), later.history())
    ]  # authors, timestamps, sessions, versions and the undo / redo structure are kept
    assert later.labels("NEWvideo_01_0_10") == ("Dog", "Cat")
    assert later.import_edits(log).empty  # idempotent
    later.undo(test_clips[0])  # the history goes on where it left off: undoes the Dog edit
    assert later.history(test_clips[0])[-1].target == later.history(test_clips[0])[0].id


def test_import_appends_what_is_new_and_refuses_diverged_histories(make_store, test_clips, tmp_path):
    hosted = make_store(None)
    hosted.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    on_disk = make_store(tmp_path / "a.sqlite")
    on_disk.import_edits(hosted.export_edits())
    hosted.set_interval(test_clips[0], "Dog", "audio", 0, 10)  # more work in the session
    assert len(on_disk.import_edits(hosted.export_edits()).edits) == 1
    assert _same_labels(hosted, on_disk, test_clips)
    on_disk.set_interval(test_clips[0], "Cat", "audio", 0, 10)  # both sides edit the clip
    hosted.set_interval(test_clips[0], "Car", "audio", 0, 10)
    before = on_disk.history()
    with pytest.raises(AnnotationError, match="diverged from this store's at row 3; nothing imported"):
        on_disk.import_edits(hosted.export_edits())
    assert on_disk.history() == before


def test_edits_made_on_other_data_are_refused(make_store, test_clips):
    hosted = make_store(None)
    hosted.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    record = json.loads(hosted.export_edits().splitlines()[1])
    record["before"] = "1" * 10 if record["before"] != "1" * 10 else "0" * 10
    log = "\n".join([hosted.export_edits().splitlines()[0], json.dumps(record)])
    with pytest.raises(AnnotationError, match="expects segments .* before it, but the store has .* other data"):
        make_store(None).import_edits(log)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda lines: ["{}"] + lines[1:], "expected the header"),
        (lambda lines: lines + ["not json"], r"line 3: not JSON"),
        (lambda lines: lines + ["[1, 2]"], "line 3: expected a JSON object"),
        (lambda lines: [lines[0], lines[1].replace('"Dog"', '"Dgo"')], "line 2: unknown class 'Dgo'"),
        (lambda lines: [lines[0], lines[1].replace('"audio"', '"audio_visual"')], "audio-visual is derived"),
        (lambda lines: [lines[0], lines[1].replace('"version": 1', '"version": 2')], "expected 1, 2"),
        (lambda lines: [lines[0], lines[1].replace('"set"', '"undo"')], "a 'set' edit has none"),
        (lambda lines: [lines[0], lines[1].replace('"kind": "edit"', '"kind": "note"')], "kind 'note'"),
        (lambda lines: [lines[0], lines[1].replace('"version"', '"versions"')], "expected exactly"),
        (lambda lines: [lines[0], lines[1].replace('"1010101010"', '"10101"')], "expected 10 characters"),
    ],
)
def test_malformed_logs_name_the_line_and_store_nothing(make_store, test_clips, mutate, message):
    hosted = make_store(None)
    hosted.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    log = "\n".join(mutate(hosted.export_edits().splitlines()))
    target = make_store(None)
    with pytest.raises(AnnotationError, match=message):
        target.import_edits(log, source="upload.jsonl")
    assert target.history() == []


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


def test_archive_download_and_upload_round_trip(make_store, test_clips, tmp_path):
    hosted = make_store(None, author="guest")
    _work(hosted, test_clips)
    hosted.set_rows(test_clips[1], {("Cat", "audio"): ALTERNATING, ("Cat", "visual"): ALTERNATING})
    archive, result = hosted.export_archive()
    assert archive == hosted.export_archive()[0]  # the same rows give the same bytes
    members = _members(archive)
    assert set(members) == {*EXPORT_FILES.values(), ARCHIVE_LOG} and result.new_clips == 1
    hosted.export(tmp_path / "folder")
    for key, name in EXPORT_FILES.items():
        assert members[name] == (tmp_path / "folder" / name).read_bytes(), key
    later = make_store(None)
    imported = later.import_archive(archive, source="session.zip")
    assert len(imported.edits) == len(hosted.history()) and later.import_archive(archive).empty
    clips = [*test_clips, "NEWvideo_01_0_10"]
    assert _same_labels(hosted, later, clips)
    assert [edit.batch is None for edit in later.history()] == [edit.batch is None for edit in hosted.history()]
    later.undo(test_clips[1])  # the grouped edit came back grouped: one undo restores both rows
    cat = CLASS_TO_INDEX["Cat"]
    for modality in ("audio", "visual"):
        assert np.array_equal(
            later.ground_truth(test_clips[1])[modality][cat], later.original(test_clips[1])[modality][cat]
        )
    assert later.history(test_clips[1])[-1].action == later.history(test_clips[1])[-2].action == "undo"


def test_an_archive_edited_by_hand_imports_the_difference(make_store, test_clips, tmp_path):
    hosted = make_store(None)
    hosted.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    members = _members(hosted.export_archive()[0])
    audio = members[EXPORT_FILES["audio"]].decode()
    members[EXPORT_FILES["audio"]] = (audio + f"{test_clips[2]}\t0\t10\tViolin_fiddle\n").encode()
    folder_only = {name: content for name, content in members.items() if name != ARCHIVE_LOG}
    target = make_store(tmp_path / "a.sqlite")
    result = target.import_archive(_zip({f"fixed/{name}": content for name, content in members.items()}))
    assert [edit.author for edit in result.edits] == [None, "import"]  # the logged edit, then the hand-made row
    assert target.ground_truth(test_clips[2])["audio"][CLASS_TO_INDEX["Violin_fiddle"]].all()
    assert target.import_archive(_zip(folder_only)).empty  # a zip of an exported folder: nothing new
    log_only = make_store(None)
    assert len(log_only.import_archive(_zip({ARCHIVE_LOG: members[ARCHIVE_LOG]})).edits) == 1


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (b"not a zip", "upload.zip: not a zip archive"),
        (_zip({"readme.txt": b"hello"}), "upload.zip has no AVVP_eval_audio.csv"),
        (_zip({"AVVP_eval_audio.csv": b"x", "a/AVVP_eval_audio.csv": b"y"}), "two members named AVVP_eval_audio.csv"),
        (
            _zip({"AVVP_eval_audio.csv": b"filename\tonset\toffset\tevent_labels\nx\t4\t12\tDog\n"}),
            r"upload.zip/AVVP_eval_audio.csv, line 2: offset '12'",
        ),
        (_zip({ARCHIVE_LOG: b"\xff\xfe"}), "is not UTF-8"),
    ],
)
def test_bad_archives_are_refused_and_store_nothing(make_store, archive, message):
    target = make_store(None)
    with pytest.raises(AnnotationError, match=message):
        target.import_archive(archive)
    assert target.history() == [] and target.new_clips() == []


def test_a_version_1_log_is_read_and_a_newer_one_refused(make_store, test_clips):
    hosted = make_store(None)
    hosted.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    header, record = (json.loads(line) for line in hosted.export_edits().splitlines())
    del record["batch"]
    old = "\n".join([json.dumps({**header, "schema_version": 1}), json.dumps(record)])
    assert len(make_store(None).import_edits(old).edits) == 1
    with pytest.raises(AnnotationError, match="expected exactly"):  # version 1 has no batch field, version 2 must
        make_store(None).import_edits("\n".join([json.dumps(header), json.dumps(record)]))
    newer = "\n".join([json.dumps({**header, "schema_version": 3}), json.dumps(record)])
    with pytest.raises(AnnotationError, match="edit log of version 3, newer than this version of mgn reads"):
        make_store(None).import_edits(newer)
