"""The explorer's label editor per session: edits from the page, scores under both labels, conflicts, hosted sessions,
downloads, likely label errors, and annotating a parsed video as a new dataset."""

from __future__ import annotations

import copy
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from mgn.annotations import AnnotationStore
from mgn.data.annotations import dense_ground_truth, read_dense_annotations
from mgn.data.llp import LLPLayout, load_split
from mgn.data.synthetic import SyntheticConfig, generate_dataset
from mgn.explore.annotator import (
    Annotator,
    AnnotatorError,
    EditCommand,
    default_annotations_path,
    open_annotator,
    parsed_windows,
    split_data_source,
)
from mgn.explore.state import Explorer, ModelView
from mgn.labels import CLASS_TO_INDEX, CLASSES, NUM_CLASSES, NUM_SEGMENTS
from mgn.metrics import avvp_scores
from mgn.predictions import Predictions

REPO_ROOT = Path(__file__).resolve().parents[2]
DOG = CLASS_TO_INDEX["Dog"]


def _model(split, name: str, seed: int) -> ModelView:
    """A stand-in model whose segment probabilities follow the split's labels (confident, a little noise)."""
    rng = np.random.default_rng(seed)
    count = len(split.filenames)
    frame = lambda gt: np.clip(0.04 + 0.9 * gt.transpose(0, 2, 1) + rng.normal(0, 0.02, (count, 10, 25)), 0, 1)  # noqa: E731
    prob_a, prob_v = frame(split.gt_audio).astype(np.float32), frame(split.gt_visual).astype(np.float32)
    video = np.maximum(prob_a.max(1), prob_v.max(1)).astype(np.float32)  # (N, C)
    predictions = Predictions(split.filenames, video, video, video, prob_a, prob_v)
    pred_a, pred_v = predictions.binarize()
    scores = avvp_scores(pred_a, pred_v, split.gt_audio, split.gt_visual)
    return ModelView(name, name, "mgn", None, Path(f"{name}.safetensors"), predictions, pred_a, pred_v, scores)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("annotator") / "data"
    generate_dataset(root, SyntheticConfig(), {"train": 2, "val": 2, "test": 6}, seed=7, progress=False)
    return root


@pytest.fixture(scope="module")
def explorer(data_dir: Path) -> Explorer:
    split = load_split(LLPLayout(root=data_dir), "test", pooled_visual=True, progress=False)
    return Explorer(split, [_model(split, "MGN", 0), _model(split, "HAN", 1)], None, None)


@pytest.fixture()
def annotator(explorer: Explorer, data_dir: Path, tmp_path: Path) -> Annotator:
    opened = open_annotator(explorer, data_dir, path=tmp_path / "edits.sqlite")
    yield opened
    opened.store.close()


def _empty_segment(explorer: Explorer, index: int, modality: str = "audio") -> tuple[str, int]:
    """A segment of clip ``index`` that is off (so a click adds one): in a class row that has segments when there is
    one, else in the first row."""
    labels = getattr(explorer.split, f"gt_{modality}")[index]  # (C, T)
    for class_index in [*np.flatnonzero(labels.any(axis=1)), *range(NUM_CLASSES)]:
        off = np.flatnonzero(labels[class_index] == 0)
        if len(off):
            return CLASSES[class_index], int(off[0])
    raise AssertionError("every segment of every class is on")


def _command(clip: str, class_name: str, start: int, end: int, version: int, modality: str = "audio") -> str:
    return json.dumps(
        {"clip": clip, "class": class_name, "modality": modality, "start": start, "end": end, "version": version}
    )


def _segment_scores(view, model: str = "MGN") -> pd.DataFrame:
    rows = view.scores[(view.scores["model"] == model) & (view.scores["level"] == "segment")]
    return rows.set_index("labels")


# ------------------------------------------------------------------------------------------------ the clip view


def test_a_drag_is_stored_rescored_marked_and_undone(annotator: Annotator, explorer: Explorer):
    session = annotator.session("Ana")
    clip = str(explorer.split.filenames[1])
    first = annotator.view(session, clip)
    assert first.version == 0 and first.diff.empty and first.undo is None and first.message == ""
    meta = json.loads(first.figure_json)["layout"]["meta"]
    assert meta["clip"] == clip and meta["editable"] and meta["edit_version"] == 0 and meta["changed"] == []
    before = _segment_scores(first)
    assert before.loc["original", "Audio"] == before.loc["corrected", "Audio"] and before.loc["change", "Audio"] == 0

    class_name, segment = _empty_segment(explorer, 1)
    view = annotator.apply(session, _command(clip, class_name, segment, segment, 0))
    assert view.version == 1 and view.message == "" and view.changed
    row = view.diff.iloc[0]
    assert (row["class"], row["modality"], row["added"], row["removed"]) == (
        class_name.replace("_", " "),
        "audio",
        str(segment + 1),
        "",
    )
    meta = json.loads(view.figure_json)["layout"]["meta"]
    assert meta["edit_version"] == 1 and meta["changed"] == [[class_name, "audio", segment, 0, 1]]
    after = _segment_scores(view)
    assert after.loc["original", "Audio"] == before.loc["original", "Audio"]
    assert after.loc["corrected", "Audio"] < after.loc["original", "Audio"]  # the model does not predict it: FN
    assert after.loc["change", "Audio"] < 0
    assert view.undo == f"{class_name.replace('_', ' ')} audio {segment + 1}" and view.redo is None
    stored = annotator.store.history(clip)
    assert len(stored) == 1 and stored[0].author == "Ana"

    undone = annotator.undo(session, clip, view.version)
    assert undone.diff.empty and _segment_scores(undone).loc["corrected", "Audio"] == before.loc["original", "Audio"]
    assert undone.undo is None and undone.redo == view.undo
    redone = annotator.redo(session, clip, undone.version)
    assert not redone.diff.empty and redone.version == 3
    original = annotator.view(session, clip, labels="original")  # the switch: the data's own labels, read-only
    meta = json.loads(original.figure_json)["layout"]["meta"]
    assert not meta["editable"] and meta["edit_labels"] == "original" and meta["changed"] == []
    assert _segment_scores(original).loc["original", "Audio"] == before.loc["original", "Audio"]
    shown = annotator.view(session, clip, edit=False)  # editing off: the corrected labels, changes still framed
    meta = json.loads(shown.figure_json)["layout"]["meta"]
    assert not meta["editable"] and len(meta["changed"]) == 1


def test_a_drag_paints_a_range_and_a_drag_from_a_set_segment_erases(annotator: Annotator, explorer: Explorer):
    session = annotator.session()
    clip = str(explorer.split.filenames[2])
    painted = annotator.apply(session, _command(clip, "Dog", 6, 2, 0, modality="visual"))  # leftwards
    assert annotator.store.ground_truth(clip)["visual"][DOG][2:7].all()
    assert painted.diff.iloc[0]["modality"] == "visual"
    erased = annotator.apply(session, _command(clip, "Dog", 3, 4, painted.version, modality="visual"))
    assert annotator.store.ground_truth(clip)["visual"][DOG][3:5].sum() == 0 and erased.version == 2


def test_a_stale_view_is_refused_with_a_message_and_the_reloaded_clip(annotator: Annotator, explorer: Explorer):
    first, second = annotator.session("A"), annotator.session("B")  # two pages on the one shared store
    clip = str(explorer.split.filenames[0])
    annotator.apply(first, _command(clip, "Dog", 0, 1, 0))
    stale = annotator.apply(second, _command(clip, "Dog", 5, 5, 0))  # B's view was drawn at version 0
    assert stale.message.startswith("Not saved:") and "reloaded" in stale.message and "A" in stale.message
    assert stale.version == 1 and json.loads(stale.figure_json)["layout"]["meta"]["edit_version"] == 1
    assert annotator.store.version(clip) == 1  # nothing lost, nothing overwritten
    retried = annotator.apply(second, _command(clip, "Dog", 5, 5, stale.version))
    assert retried.message == "" and retried.version == 2
    assert annotator.undo(first, clip, 1).message.startswith("Not saved:")  # undo checks the version as well
    nothing = annotator.view(second, str(explorer.split.filenames[3]))
    assert annotator.undo(second, nothing.clip, 0).message.startswith("Not saved: ")  # nothing to undo: said


def test_add_and_remove_a_class_row(annotator: Annotator, explorer: Explorer):
    session = annotator.session()
    clip = str(explorer.split.filenames[4])
    added = annotator.add_class(session, clip, "Frying (food)")
    rows = json.loads(added.figure_json)["layout"]["meta"]["rows"]
    assert "Frying_(food)" in rows["audio"] and "Frying_(food)" in rows["visual"] and added.version == 0
    assert "Frying (food)" in added.classes
    painted = annotator.apply(session, _command(clip, "Frying_(food)", 1, 3, 0))
    painted = annotator.apply(session, _command(clip, "Frying_(food)", 2, 2, painted.version, "visual"))
    removed = annotator.remove_class(session, clip, "Frying (food)", painted.version)
    assert removed.version == 4 and removed.diff.empty and "Frying (food)" not in removed.classes
    assert removed.undo.startswith("Frying (food) audio 2–4; Frying (food) visual 3")  # one undo step for both rows
    with pytest.raises(AnnotatorError, match="unknown class 'Unicorn'"):
        annotator.add_class(session, clip, "Unicorn")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "expected a JSON object"),
        ("[1, 2]", "expected a JSON object"),
        ('{"clip": "x"}', "missing class, modality, start, end, version"),
        (_command("x", "Dog", 10, 10, 0), "start must be a whole number 0..9"),
        (_command("x", "Dog", 0, 1, -1), "version must be a whole number >= 0"),
        (_command("x", "", 0, 1, 0), "class must be a non-empty string"),
        ("x" * 3000, "too long"),
    ],
)
def test_bad_commands_are_refused(text: str, message: str):
    with pytest.raises(AnnotatorError, match=message):
        EditCommand.parse(text)


def test_bad_edits_store_nothing_and_say_why(annotator: Annotator, explorer: Explorer):
    session = annotator.session()
    clip = str(explorer.split.filenames[0])
    derived = annotator.apply(session, _command(clip, "Dog", 0, 0, 0, modality="audio_visual"))
    assert "audio-visual lane is derived" in derived.message and annotator.store.version(clip) == 0
    with pytest.raises(AnnotatorError, match="unknown clip 'nope'"):
        annotator.apply(session, _command("nope", "Dog", 0, 0, 0))
    with pytest.raises(AnnotatorError, match="author: at most 100"):
        annotator.set_author(session, "x" * 101)


# --------------------------------------------------------------------------------------- the list and dataset view


def test_clip_list_and_table1_follow_the_corrected_labels(annotator: Annotator, explorer: Explorer):
    session = annotator.session()
    assert annotator.ground_truth(session).key == "split"
    clip = str(explorer.split.filenames[5])
    class_name, segment = _empty_segment(explorer, 5)
    annotator.apply(session, _command(clip, class_name, segment, segment, 0))
    truth = annotator.ground_truth(session)
    assert truth.key.startswith("edits-") and annotator.ground_truth(session) is truth  # cached by content
    assert truth.audio[5, CLASS_TO_INDEX[class_name], segment] == 1 and explorer.split.gt_audio[5].sum() + 1 == (
        truth.audio[5].sum()
    )
    original_list = explorer.clip_list(gt=annotator.ground_truth(session, "original")).set_index("clip")
    corrected_list = explorer.clip_list(gt=truth).set_index("clip")
    differs = [name for name in corrected_list.index if not corrected_list.loc[name].equals(original_list.loc[name])]
    assert differs == [clip]
    table = annotator.table1(session)
    assert list(table.columns[:3]) == ["model", "level", "labels"] and len(table) == 2 * 2 * 3
    change = table[(table["model"] == "MGN") & (table["labels"] == "change") & (table["level"] == "Segment-level")]
    assert change["Audio"].iloc[0] < 0
    moved = annotator.changed_clips(session)
    assert moved["clip"].tolist() == [clip] and moved.loc[0, "segment change"] < 0
    with pytest.raises(AnnotatorError, match="labels must be one of"):
        annotator.ground_truth(session, "mine")


def test_likely_label_errors_rank_a_flipped_label_first_and_leave_once_fixed(
    explorer: Explorer, data_dir: Path, tmp_path: Path
):
    split = explorer.split
    class_name, segment = _empty_segment(explorer, 3)  # labelled off; the model below is sure it is on
    model = _model(split, "MGN", 0)
    model.predictions.a_frame_prob[3, segment, CLASS_TO_INDEX[class_name]] = 0.99
    flipped_explorer = Explorer(split, [model], None, None)
    annotator = open_annotator(flipped_explorer, data_dir, path=tmp_path / "errors.sqlite")
    session = annotator.session()
    table = annotator.label_errors(session, calibrated=False)
    top = table.iloc[0]
    assert (top["clip"], top["modality"], top["segment"], top["label"]) == (
        str(split.filenames[3]),
        "audio",
        segment + 1,
        0,
    )
    target = annotator.target(top)
    assert (target.clip, target.class_name, target.segment) == (str(split.filenames[3]), class_name, segment)
    annotator.apply(session, _command(target.clip, target.class_name, target.segment, target.segment, 0))
    after = annotator.label_errors(session, calibrated=False)
    assert not (
        (after["clip"] == target.clip) & (after["segment"] == segment + 1) & (after["modality"] == "audio")
    ).any()
    assert len(annotator.label_errors(session, high=0.95, low=0.05, limit=3)) <= 3  # calibrated, thresholds moved
    with pytest.raises(AnnotatorError, match="low threshold 0.9 must be below"):
        annotator.label_errors(session, high=0.5, low=0.9)
    with pytest.raises(AnnotatorError, match="model 2 does not exist"):
        annotator.label_errors(session, model=2)
    annotator.store.close()


# ----------------------------------------------------------------------------------- storage modes and downloads


def test_local_edits_persist_in_the_file(explorer: Explorer, data_dir: Path, tmp_path: Path):
    path = tmp_path / "persist.sqlite"
    annotator = open_annotator(explorer, data_dir, path=path)
    clip = str(explorer.split.filenames[2])
    annotator.apply(annotator.session("Lee"), _command(clip, "Cat", 0, 9, 0))
    annotator.store.close()
    with AnnotationStore(path, data=data_dir) as reopened:
        assert reopened.ground_truth(clip)["audio"][CLASS_TO_INDEX["Cat"]].all()
        assert reopened.history(clip)[0].author == "Lee"
    assert "saved to" in annotator.describe() and annotator.mode == "local"


def test_hosted_sessions_are_apart_and_their_edits_travel_as_a_zip(explorer: Explorer, data_dir: Path):
    annotator = open_annotator(explorer, data_dir, hosted=True)
    assert annotator.mode == "hosted" and annotator.store.path is None and "browser session" in annotator.describe()
    first, second = annotator.session("A"), annotator.session("B")
    clip = str(explorer.split.filenames[1])
    annotator.apply(first, _command(clip, "Dog", 0, 3, 0))
    assert annotator.ground_truth(first).key != "split" and annotator.ground_truth(second).key == "split"
    assert annotator.view(second, clip).version == 0 and annotator.store.history() == []
    name, data = annotator.edits_archive(first)
    assert name.startswith("mgn_annotations_") and name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {"AVVP_eval_audio.csv", "AVVP_eval_visual.csv", "annotation_edits.jsonl"} <= set(archive.namelist())
    assert "1 edit(s) on 1 clip(s)" in annotator.import_archive(second, data, "mine.zip")
    assert annotator.view(second, clip).diff.equals(annotator.view(first, clip).diff)
    assert "nothing new" in annotator.import_archive(second, data, "mine.zip")
    with pytest.raises(AnnotatorError, match="bad.zip"):
        annotator.import_archive(second, b"not a zip", "bad.zip")
    assert copy.deepcopy(first) is first  # a session holds a connection: a page's state keeps the session itself
    assert annotator.version(first, clip) == 1 and annotator.version(second, clip) == 1
    first.close()  # a hosted session's store goes with it; the server's store stays
    with pytest.raises(AnnotatorError, match="closed"):
        annotator.view(first, clip)
    assert annotator.view(second, clip).version == 1


def test_a_split_pack_is_annotated_from_its_own_arrays(explorer: Explorer, tmp_path: Path):
    source = split_data_source(explorer.split)
    assert source.filenames == tuple(str(name) for name in explorer.split.filenames)
    with AnnotationStore(tmp_path / "pack.sqlite", source) as store:
        for index, clip in enumerate(source.filenames):
            truth = store.ground_truth(clip)
            assert np.array_equal(truth["audio"], explorer.split.gt_audio[index])
            assert np.array_equal(truth["visual"], explorer.split.gt_visual[index])
        store.set_segments(source.filenames[0], "Dog", "visual", [1] * 10)
        result = store.export(tmp_path / "out")
    assert result.changes == 1
    expected = explorer.split.gt_visual.copy()
    expected[0, DOG] = 1
    for modality, labels in (("audio", explorer.split.gt_audio), ("visual", expected)):  # the official format
        rows = read_dense_annotations(tmp_path / "out" / f"AVVP_eval_{modality}.csv")
        assert np.array_equal(dense_ground_truth(source.filenames, rows), labels)


def test_default_database_places(tmp_path: Path):
    folder = tmp_path / "llp"
    folder.mkdir()
    assert default_annotations_path(folder) == folder / "annotations.sqlite"
    pack = tmp_path / "split.npz"
    assert default_annotations_path(pack) == tmp_path / "split.annotations.sqlite"
    assets = tmp_path / "assets"
    demo = assets / "demo" / "demo_split.npz"
    cache = tmp_path / "cache"
    assert default_annotations_path(demo, cache_dir=cache, inside=assets) == (
        cache / "annotations" / "demo_split.annotations.sqlite"
    )
    with pytest.raises(AnnotatorError, match="give --annotations FILE"):
        default_annotations_path(demo, inside=assets)


# ------------------------------------------------------------------------------------------------- new videos


def _parsed_video(seconds: float) -> SimpleNamespace:
    """A stand-in for ``mgn.parse_video.ParsedVideo``: its windows (the real plan) and stitched arrays."""
    from mgn.parse_video import _stitch, plan_windows  # imports torch: only this test

    windows = plan_windows(seconds, "holiday")
    rng = np.random.default_rng(3)
    per_window = [rng.random((len(windows), NUM_CLASSES, NUM_SEGMENTS)).astype(np.float32) for _ in range(2)]
    per_window += [(array > 0.8).astype(np.uint8) for array in per_window]
    bounds, (prob_a, prob_v, pred_a, pred_v) = _stitch(windows, per_window)
    features = [
        {
            "audio": np.full((10, 128), i, np.float32),
            "visual": np.zeros((80, 2048), np.float32),
            "visual_st": np.zeros((10, 512), np.float32),
        }
        for i in range(len(windows))
    ]
    parsed = SimpleNamespace(
        windows=windows,
        features=features,
        global_prob=np.full((len(windows), NUM_CLASSES), 0.9, np.float32),
        segment_bounds=bounds,
        prob_audio=prob_a,
        prob_visual=prob_v,
        pred_audio=pred_a,
        pred_visual=pred_v,
    )
    return parsed, per_window


def test_a_parsed_video_is_annotated_from_scratch_and_downloaded_as_a_dataset(explorer, data_dir, tmp_path):
    parsed, per_window = _parsed_video(25.0)  # windows at 0, 10 and 15 s: the last overlaps the second
    windows = parsed_windows(parsed, "MGN")
    assert [window.start for window in windows] == [0.0, 10.0, 15.0]
    # each window's predictions are cut from the stitched timeline: the last window's first five segments (15-20 s)
    # are the second window's last five there
    expected = [
        per_window[0][0],
        per_window[0][1],
        np.concatenate([per_window[0][1][:, 5:], per_window[0][2][:, 5:]], 1),
    ]
    for window, probabilities in zip(windows, expected):
        assert np.array_equal(window.prediction.prob_audio, probabilities.T)  # (T, C)
    assert np.array_equal(windows[0].prediction.pred_visual, per_window[3][0])
    annotator = open_annotator(explorer, data_dir, hosted=True)
    session = annotator.session("me")
    with pytest.raises(AnnotatorError, match="declare the video-level labels first"):
        annotator.parsed_view(session, windows[0])
    with pytest.raises(AnnotatorError, match="choose the video-level labels"):
        annotator.declare_parsed(session, windows, [])
    assert "3 clip(s) declared" in annotator.declare_parsed(session, windows, ["Dog", "Speech"])
    figure, version, events = annotator.parsed_view(session, windows[1])
    meta = json.loads(figure)["layout"]["meta"]
    assert version == 0 and events.empty and {"Dog", "Speech"} <= set(meta["rows"]["audio"]) and meta["editable"]
    command = _command(windows[1].clip, "Dog", 2, 4, version)
    assert annotator.apply_parsed(session, windows[1], command) == ""
    assert annotator.apply_parsed(session, windows[1], command).startswith("Not saved:")  # stale version
    figure, version, events = annotator.parsed_view(session, windows[1])
    assert version == 1 and events.values.tolist() == [["Dog", "audio", 12.0, 15.0]]
    name, data = annotator.parsed_dataset(session, windows)
    assert name.endswith(".zip")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path / "dataset")
    split_of = {}
    for split in ("train", "val"):
        for line in (tmp_path / "dataset" / LLPLayout(root=Path()).split_csv(split)).read_text().splitlines()[1:]:
            split_of[line.split("\t")[0]] = split
    assert sorted(split_of) == sorted(window.clip for window in windows)
    assert sorted(set(split_of.values())) == ["train", "val"]  # training.train needs both
    dense_file = "AVVP_eval_audio.csv" if split_of[windows[1].clip] == "val" else "AVVP_train_eval_audio.csv"
    rows = read_dense_annotations(tmp_path / "dataset" / dense_file)
    assert dense_ground_truth([windows[1].clip], rows)[0, DOG].tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    features = np.load(tmp_path / "dataset" / "feats" / "vggish" / f"{windows[2].clip[:11]}.npy")
    assert features.shape == (10, 128) and (features == 2).all()  # the window's own features


# --------------------------------------------------------------------------------------------------- layering


def test_the_annotator_imports_neither_gradio_nor_torch():
    code = (
        "import sys, mgn.explore.annotator, mgn.explore.editor_js; "
        "bad = {'gradio', 'torch'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
