"""Export in the official format (read back unchanged by load_annotations, load_split and training.evaluate), the
diff and new-clip files, import of an exported folder (idempotent), and the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mgn.annotations import DIFF_COLUMNS, EXPORT_FILES, AnnotationError, AnnotationStore
from mgn.annotations.__main__ import main
from mgn.data.annotations import LLPAnnotationWarning
from mgn.data.llp import LLPLayout, load_annotations, load_split
from mgn.export import write_prediction_csvs
from mgn.labels import CLASS_TO_INDEX
from mgn.metrics import avvp_scores

from .conftest import REPO_ROOT

ALTERNATING = [True, False] * 5  # no synthetic event looks like this: always a change


def _exported_layout(data_dir: Path, out: Path, **overrides: str) -> LLPLayout:
    return LLPLayout(
        root=data_dir,
        eval_audio_csv=str(out / EXPORT_FILES["audio"]),
        eval_visual_csv=str(out / EXPORT_FILES["visual"]),
        **overrides,
    )


def _edit_some(store: AnnotationStore, clips: list[str]) -> None:
    store.set_segments(clips[0], "Dog", "audio", ALTERNATING, author="ana")
    store.set_interval(clips[1], "Speech", "visual", 0, 10, author="bob")
    truth = store.ground_truth(clips[0])["audio"]
    present = int(np.flatnonzero(truth.any(axis=1))[0])  # remove a whole event of the data
    store.set_segments(clips[0], list(CLASS_TO_INDEX)[present], "audio", [False] * 10, author="ana")
    store.set_segments(clips[2], "Cat", "visual", ALTERNATING)
    store.undo(clips[2])  # undone: not a change


def test_export_without_edits_is_byte_identical(store, data_dir, tmp_path):
    result = store.export(tmp_path / "out")
    layout = LLPLayout(root=data_dir)
    for modality in ("audio", "visual"):
        assert result.files[modality].read_bytes() == layout.eval_csv(modality).read_bytes()
    assert result.files["diff"].read_text() == "\t".join(DIFF_COLUMNS) + "\n"
    assert result.files["new_clips"].read_text() == "filename\tevent_labels\n"
    assert (result.changes, result.clips, result.new_clips) == (0, 0, 0)


def test_round_trip_through_load_annotations_and_load_split(store, data_dir, test_clips, tmp_path):
    _edit_some(store, test_clips)
    out = tmp_path / "out"
    result = store.export(out)
    assert result.changes == 3 and result.clips == 2
    layout = _exported_layout(data_dir, out)
    for split in ("val", "test"):
        annotations = load_annotations(layout, split)
        split_data = load_split(layout, split, progress=False, cache=False)
        for index, clip in enumerate(annotations.filenames):
            truth = store.ground_truth(str(clip))
            assert np.array_equal(annotations.gt_audio[index], truth["audio"]), clip
            assert np.array_equal(annotations.gt_visual[index], truth["visual"]), clip
            assert np.array_equal(split_data.gt_audio[index], truth["audio"])
    diff = pd.read_csv(out / EXPORT_FILES["diff"], sep="\t", dtype=str, keep_default_na=False)
    assert list(diff.columns) == list(DIFF_COLUMNS) and len(diff) == 3
    row = diff[diff["class"] == "Speech"].iloc[0]
    assert (row["filename"], row["modality"], row["after"], row["authors"]) == (
        test_clips[1],
        "visual",
        "1111111111",
        "bob",
    )
    # every line of the data that no change touches is still there, in order
    original = LLPLayout(root=data_dir).eval_csv("audio").read_text().splitlines()
    exported = (out / EXPORT_FILES["audio"]).read_text().splitlines()
    untouched = [line for line in original if not line.startswith(test_clips[0])]
    assert [line for line in exported if not line.startswith(test_clips[0])] == untouched


def test_training_evaluate_reads_the_exported_files(store, data_dir, test_clips, tmp_path):
    from training.evaluate import main as evaluate

    _edit_some(store, test_clips)
    store.export(tmp_path / "out")
    original = load_annotations(LLPLayout(root=data_dir), "test", warn=False)
    predictions = tmp_path / "predictions"  # predict the data's own labels: 100 on the data, less on the edits
    write_prediction_csvs(predictions, original.filenames, original.gt_audio, original.gt_visual)
    corrected = tmp_path / "corrected"  # the CLI takes a dataset root: the data with the exported eval CSVs
    shutil.copytree(data_dir, corrected, ignore=shutil.ignore_patterns("feats"))
    for modality in ("audio", "visual"):
        shutil.copy(tmp_path / "out" / EXPORT_FILES[modality], corrected / EXPORT_FILES[modality])
    scores = {}
    for name, root in (("data", data_dir), ("corrected", corrected)):
        report = tmp_path / f"{name}.json"
        argv = ["--predictions", str(predictions), "--data", str(root), "--split", "test", "--json", str(report)]
        assert evaluate(argv) == 0
        scores[name] = json.loads(report.read_text())
    truth = [store.ground_truth(str(clip)) for clip in original.filenames]
    expected = avvp_scores(
        original.gt_audio,
        original.gt_visual,
        np.stack([item["audio"] for item in truth]),
        np.stack([item["visual"] for item in truth]),
    )
    assert scores["corrected"] == json.loads(json.dumps(expected.to_json()))
    assert scores["corrected"]["segment"]["audio"] < 100 == scores["data"]["segment"]["audio"]
    # --labels reads the exported folder directly, without a copy of the data
    report = tmp_path / "labels.json"
    argv = ["--predictions", str(predictions), "--data", str(data_dir), "--split", "test", "--json", str(report)]
    assert evaluate([*argv, "--labels", str(tmp_path / "out")]) == 0
    assert json.loads(report.read_text()) == scores["corrected"]


def test_new_clips_are_exported_and_load_as_a_split(store, data_dir, tmp_path):
    store.add_clip("NEWvideo_01_0_10", ["Dog", "Speech"])
    store.set_interval("NEWvideo_01_0_10", "Dog", "audio", 2, 6)
    store.set_interval("NEWvideo_01_0_10", "Dog", "visual", 0, 10)
    store.set_interval("NEWvideo_01_0_10", "Cat", "visual", 8, 10)
    store.add_clip("NEWvideo_02_20_30", ["Violin_fiddle"])
    result = store.export(tmp_path / "out")
    assert (result.new_clips, result.changes) == (2, 3)
    weak = (tmp_path / "out" / EXPORT_FILES["new_clips"]).read_text()
    assert weak == "filename\tevent_labels\nNEWvideo_01_0_10\tSpeech,Dog,Cat\nNEWvideo_02_20_30\tViolin_fiddle\n"
    layout = _exported_layout(data_dir, tmp_path / "out", test_csv=str(tmp_path / "out" / EXPORT_FILES["new_clips"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LLPAnnotationWarning)  # the data's test rows are orphans of this split
        annotations = load_annotations(layout, "test")
    for index, clip in enumerate(annotations.filenames):
        assert np.array_equal(annotations.gt_audio[index], store.ground_truth(str(clip))["audio"])
        assert np.array_equal(annotations.gt_visual[index], store.ground_truth(str(clip))["visual"])
    assert annotations.labels[0].sum() == 3


def test_export_refuses_to_overwrite(store, data_dir, tmp_path, test_clips):
    out = tmp_path / "out"
    store.export(out)
    store.set_segments(test_clips[0], "Dog", "audio", ALTERNATING)
    before = (out / EXPORT_FILES["audio"]).read_bytes()
    with pytest.raises(AnnotationError, match="already holds AVVP_eval_audio.csv.*force"):
        store.export(out)
    assert (out / EXPORT_FILES["audio"]).read_bytes() == before
    store.export(out, force=True)
    assert (out / EXPORT_FILES["audio"]).read_bytes() != before
    with pytest.raises(AnnotationError, match="is a file of the data"):
        store.export(data_dir, force=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(AnnotationError, match="is a file"):
        store.export(tmp_path / "file")


def test_real_llp_round_trip(llp_dir, tmp_path):
    clip = "4YdbENYcIyE_23_33"
    with AnnotationStore(None, data=llp_dir) as store:
        unchanged = store.export(tmp_path / "same")
        for modality in ("audio", "visual"):  # ignored rows (orphans, empty intervals) are copied too
            assert unchanged.files[modality].read_bytes() == (llp_dir / EXPORT_FILES[modality]).read_bytes()
        store.set_interval(clip, "Baby_cry_infant_cry", "audio", 4, 7)
        store.set_interval(clip, "Speech", "visual", 2, 5)
        store.export(tmp_path / "edited")
        layout = _exported_layout(llp_dir, tmp_path / "edited")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LLPAnnotationWarning)
            edited = load_annotations(layout, "test")
            data = load_annotations(LLPLayout(root=llp_dir), "test")
        index = edited.index_of(clip)
        assert np.array_equal(edited.gt_audio[index], store.ground_truth(clip)["audio"])
        assert np.array_equal(edited.gt_visual[index], store.ground_truth(clip)["visual"])
        others = np.arange(len(edited)) != index
        assert np.array_equal(edited.gt_audio[others], data.gt_audio[others])
        assert np.array_equal(edited.gt_visual[others], data.gt_visual[others])
        assert len(edited.ignored_rows) == len(data.ignored_rows)
        assert store.import_folder(tmp_path / "edited").empty


def test_import_folder_stores_the_differences_once(store, data_dir, test_clips, tmp_path):
    _edit_some(store, test_clips)
    store.add_clip("NEWvideo_01_0_10", ["Dog"])
    store.set_interval("NEWvideo_01_0_10", "Dog", "audio", 0, 3)
    store.export(tmp_path / "out")
    with AnnotationStore(tmp_path / "other.sqlite", data=data_dir) as other:
        result = other.import_folder(tmp_path / "out")
        assert [clip.clip for clip in result.new_clips] == ["NEWvideo_01_0_10"]
        assert len(result.edits) == 4 and {edit.author for edit in result.edits} == {"import"}
        for clip in [*test_clips, "NEWvideo_01_0_10"]:
            for modality in ("audio", "visual"):
                assert np.array_equal(other.ground_truth(clip)[modality], store.ground_truth(clip)[modality])
        assert other.import_folder(tmp_path / "out").empty  # idempotent
        assert len(other.history()) == 4
    assert store.import_folder(tmp_path / "out").empty  # the store that exported it already has these labels


def test_import_folder_refuses_rows_it_cannot_use(store, data_dir, tmp_path):
    out = tmp_path / "out"
    store.export(out)
    audio = out / EXPORT_FILES["audio"]
    text = audio.read_text()
    audio.write_text(text + "zzzzzzzzzzz_0_10\t0\t3\tDog\n")
    with pytest.raises(AnnotationError, match=r"line \d+.*orphan.*the data has no such row"):
        store.import_folder(out)
    filename, onset, offset, _ = text.splitlines()[1].split("\t")
    audio.write_text(text + f"{filename}\t{onset}\t{offset}\tDogs\n")
    with pytest.raises(AnnotationError, match="unknown class 'Dogs'"):
        store.import_folder(out)
    audio.unlink()
    with pytest.raises(AnnotationError, match="has no AVVP_eval_audio.csv"):
        store.import_folder(out)
    with pytest.raises(AnnotationError, match="not found"):
        store.import_folder(tmp_path / "nowhere")
    assert store.history() == []


def test_cli_export_and_import(store, data_dir, test_clips, tmp_path, capsys):
    _edit_some(store, test_clips)
    database = str(store.path)
    out = tmp_path / "out"
    assert main(["export", "--db", database, "--data", str(data_dir), "--out", str(out)]) == 0
    assert "exported 3 changed row(s) of 2 clip(s)" in capsys.readouterr().out
    fresh = str(tmp_path / "fresh.sqlite")
    assert main(["import", "--db", fresh, "--data", str(data_dir), "--from", str(out)]) == 0
    assert "imported 3 edit(s)" in capsys.readouterr().out
    assert main(["import", "--db", fresh, "--data", str(data_dir), "--from", str(out)]) == 0
    assert "nothing to import" in capsys.readouterr().out
    with AnnotationStore(fresh, data=data_dir) as imported:
        assert len(imported.history()) == 3


def _run_main(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse usage errors
        return exit_.code


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["export", "--db", "{tmp}/missing.sqlite", "--data", "{data}", "--out", "{tmp}/out"],
            "no annotation database",
        ),
        (["export", "--db", "{tmp}/x.sqlite", "--data", "{tmp}/nowhere", "--out", "{tmp}/out"], "data folder"),
        (["import", "--db", "{tmp}/x.sqlite", "--data", "{data}", "--from", "{tmp}/nowhere"], "not found"),
        (["import", "--db", "{tmp}/x.sqlite", "--data", "{data}", "--from", "{tmp}"], "has no AVVP_eval_audio.csv"),
        (["export", "--db", "{tmp}/corrupt.sqlite", "--data", "{data}", "--out", "{tmp}/o"], "not an SQLite database"),
        (["export", "--data", "{data}"], "required: --out"),
        (["frobnicate"], "invalid choice"),
        (["measure", "--train", "0"], "train_clips must be an integer >= 1"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(data_dir, tmp_path, capsys, argv, message):
    (tmp_path / "corrupt.sqlite").write_text("not a database\n" * 10)
    assert _run_main([item.format(tmp=tmp_path, data=data_dir) for item in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1 and message in captured.err
    assert captured.out == ""
    assert not (tmp_path / "x.sqlite").exists()  # a failed command creates no database


def test_cli_as_a_process(data_dir, tmp_path):
    command = [sys.executable, "-m", "mgn.annotations", "export", "--data", str(data_dir), "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr == f"error: no annotation database at {data_dir}/annotations.sqlite\n"
