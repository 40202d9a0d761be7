"""Faults and bad input around a training run: every run directory stays resumable or restartable, inputs are checked
before anything is written, and every failure is one ``error:`` line (exit status 2), Ctrl-C exits with 130."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mgn.checkpoint import read_checkpoint
from mgn.data.llp import LLPLayout, load_split
from training import evaluate as evaluate_cli
from training import loop as loop_module
from training import refine_labels as refine_cli
from training import train as train_cli
from training.config import TrainConfig, apply_overrides
from training.refinement import save_refined_labels

from .conftest import REPO_ROOT, TINY_MGN, dataset_variant, train_args

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SETTINGS = ["epochs=2", "batch_size=8", "threads=1", *TINY_MGN]  # what train_args uses for MGN


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return {key: value for key, value in load_file(path).items() if not key.startswith("extra/")}


def _same_weights(first: Path, second: Path) -> bool:
    one, two = _weights(first), _weights(second)
    return one.keys() == two.keys() and all(torch.equal(one[key], two[key]) for key in one)


def _one_error_line(capsys, contains: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert contains in err[0], err[0]
    return err[0]


def _resume_point(path: Path) -> dict:
    return json.loads(read_checkpoint(path).metadata["resume"])


@pytest.fixture(scope="module")
def reference(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted tiny MGN run (2 epochs of 6 steps): the state every recovered run must reach."""
    run = tmp_path_factory.mktemp("reference") / "run"
    assert train_cli.main(train_args(tiny_data, run)) == 0
    return run


def _config_only_run(tiny_data: Path, run: Path) -> None:
    """What a run killed before its first checkpoint left: config.json (and the temporaries of killed saves)."""
    config = apply_overrides(TrainConfig(), ["model=mgn", f"data={tiny_data}", f"out={run}", *SETTINGS])
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")


def test_a_run_stopped_before_its_first_checkpoint_is_resumable(tiny_data: Path, tmp_path: Path, reference, capsys):
    run = tmp_path / "killed"
    _config_only_run(tiny_data, run)
    leftovers = [".last.safetensors.0a1b2c3d.tmp", ".config.json.9f8e7d6c.tmp"]
    for name in leftovers:
        (run / name).write_bytes(b"half a file")
    (run / "notes.tmp").write_text("the user's")
    assert train_cli.main(["--resume", str(run), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "note: removed 2 temporary file(s) left by an interrupted save" in err
    assert "has no checkpoint yet (the run stopped before its first save): starting its config from scratch" in err
    assert not any((run / name).exists() for name in leftovers) and (run / "notes.tmp").read_text() == "the user's"
    assert _same_weights(run / "last.safetensors", reference / "last.safetensors")
    assert (run / "test_results.json").is_file()


def test_a_run_stopped_before_its_first_checkpoint_is_restartable(tiny_data: Path, tmp_path: Path, reference, capsys):
    run = tmp_path / "killed"
    _config_only_run(tiny_data, run)
    assert train_cli.main(train_args(tiny_data, run)) == 0
    assert "holds only the config.json of a run that saved no checkpoint: replacing it" in capsys.readouterr().err
    assert _same_weights(run / "last.safetensors", reference / "last.safetensors")


def _header_only(name: str) -> dict[str, str]:
    return {name: "filename\tevent_labels\n"}


def _test_csv_with_train_clips(tiny_data: Path) -> dict[str, str]:
    train_rows = (tiny_data / "AVVP_train.csv").read_text().splitlines()[1:4]
    return {"AVVP_test_pd.csv": (tiny_data / "AVVP_test_pd.csv").read_text() + "\n".join(train_rows) + "\n"}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty train", "AVVP_train.csv: the train split has no clips (only a header)"),
        ("empty val", "AVVP_val_pd.csv: the val split has no clips (only a header)"),
        ("empty test", "AVVP_test_pd.csv: the test split has no clips (only a header)"),
        ("train clips in test", "3 clip(s) of"),
        ("short refined labels", "'audio_labels' has shape (40, 25), expected (48, 25)"),
        ("refined labels of fewer clips", "holds the labels of 40 clips, shape (40, 25); the train split has 48"),
        ("bad feature file", "not a readable .npy file"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_written(tiny_data: Path, tmp_path: Path, capsys, case, message):
    data, extra = tiny_data, []
    if case.startswith("empty"):
        csv = {"train": "AVVP_train.csv", "val": "AVVP_val_pd.csv", "test": "AVVP_test_pd.csv"}[case.split()[1]]
        data = dataset_variant(tiny_data, tmp_path / "data", _header_only(csv))
    elif case == "train clips in test":
        data = dataset_variant(tiny_data, tmp_path / "data", _test_csv_with_train_clips(tiny_data))
    elif "refined labels" in case:
        extra = ["--refined-labels", str(_broken_labels(tiny_data, tmp_path, whole_file=case.startswith("refined")))]
    else:
        data = _variant_with_a_broken_feature_file(tiny_data, tmp_path)
    run = tmp_path / "run"
    assert train_cli.main(train_args(data, run, "mgn", *extra)) == 2
    line = _one_error_line(capsys, message)
    if case == "train clips in test":
        assert "AVVP_test_pd.csv are also in" in line and "AVVP_train.csv" in line
    assert not run.exists()  # no config.json, nothing to clean up: the same command works once the input is fixed


def _broken_labels(tiny_data: Path, tmp_path: Path, *, whole_file: bool) -> Path:
    """A refined-labels file cut to 40 of the 48 training clips: every array, or only the audio labels."""
    split = load_split(LLPLayout(root=tiny_data), "train", pooled_visual=True, progress=False)
    good = save_refined_labels(tmp_path / "good.npz", split, split.labels > 0.5, split.labels > 0.5)
    with np.load(good) as archive:
        arrays = {key: archive[key] for key in archive.files}
    for key in ("filenames", "labels", "audio_labels", "visual_labels") if whole_file else ("audio_labels",):
        arrays[key] = arrays[key][:40]
    path = tmp_path / "short.npz"
    np.savez(path, **arrays)
    return path


def _variant_with_a_broken_feature_file(tiny_data: Path, tmp_path: Path) -> Path:
    """The dataset with one truncated audio feature file (the other files are symlinks)."""
    data = dataset_variant(tiny_data, tmp_path / "data", {})
    (data / "feats").unlink()
    for folder in (tiny_data / "feats").iterdir():
        if folder.name != "vggish":
            (data / "feats" / folder.name).parent.mkdir(exist_ok=True)
            (data / "feats" / folder.name).symlink_to(folder)
    audio = sorted((tiny_data / "feats" / "vggish").iterdir())
    (data / "feats" / "vggish").mkdir()
    for path in audio[1:]:
        (data / "feats" / "vggish" / path.name).symlink_to(path)
    (data / "feats" / "vggish" / audio[0].name).write_bytes(audio[0].read_bytes()[:50])  # truncated
    return data


def test_divergence_in_the_first_epoch_leaves_a_restartable_run(tiny_data: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "nan"
    assert train_cli.main(train_args(tiny_data, run, "mgn", "lr=1e30")) == 2
    line = _one_error_line(capsys, "loss is nan at epoch 1, step")
    assert "no checkpoint was saved before it, so" in line and "the last good checkpoint is kept" not in line
    assert sorted(path.name for path in run.iterdir()) == ["config.json"]
    assert train_cli.main(train_args(tiny_data, run, "mgn")) == 0  # the same command with a sane lr restarts it


def test_a_copy_of_best_over_last_is_refused_with_a_way_out(tiny_data: Path, tmp_path: Path, reference, capsys):
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    shutil.copyfile(run / "best.safetensors", run / "last.safetensors")
    assert train_cli.main(["--resume", str(run)]) == 2
    line = _one_error_line(capsys, "holds weights but no training state (missing metadata 'resume'")
    assert "a copy of best.safetensors?" in line and "move it away" in line


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("resume", '{"epoch": 1', "damaged training state: malformed progress record"),
        ("resume", '{"epoch": -1, "step_in_epoch": 0}', "damaged training state: malformed progress record"),
        ("optimizer", "[]", "damaged training state"),
        ("scheduler", "not json", "damaged training state"),
    ],
)
def test_a_damaged_training_state_is_one_error_line(tmp_path: Path, reference, capsys, key, value, message) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    with safe_open(run / "last.safetensors", framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    save_file(tensors, run / "last.safetensors", metadata={**metadata, key: value})
    assert train_cli.main(["--resume", str(run)]) == 2
    _one_error_line(capsys, f"{run / 'last.safetensors'}: {message}")


@pytest.mark.parametrize("where", ["config.json", "--config"])
def test_invalid_json_names_the_file_and_line(tiny_data: Path, tmp_path: Path, reference, capsys, where: str):
    broken = '{\n  "epochs": 2,\n  "lr": 3e-4,\n}\n'
    if where == "config.json":
        run = tmp_path / "run"
        shutil.copytree(reference, run)
        (run / "config.json").write_text(broken)
        code = train_cli.main(["--resume", str(run)])
    else:
        settings = tmp_path / "settings.json"
        settings.write_text(broken)
        code = train_cli.main(train_args(tiny_data, tmp_path / "new", "mgn", "--config", str(settings)))
    assert code == 2
    line = _one_error_line(capsys, "not valid JSON: ")
    assert f"{where if where == 'config.json' else 'settings.json'}: not valid JSON" in line and "line 4" in line


def test_a_changed_setting_in_config_json_names_the_file(tmp_path: Path, reference, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "threads": 100000}))
    assert train_cli.main(["--resume", str(run)]) == 2
    _one_error_line(capsys, f"{run / 'config.json'}: threads=100000 is invalid: expected an integer in [0, 1024]")


def test_ctrl_c_saves_last_and_the_resumed_run_is_bit_identical(
    tiny_data: Path, tmp_path: Path, reference, capsys, monkeypatch
) -> None:
    calls = []

    def loss_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:  # during the 4th step of epoch 1, before any checkpoint
            os.kill(os.getpid(), signal.SIGINT)
        return real_loss(*args, **kwargs)

    real_loss = loop_module.parser_loss
    monkeypatch.setattr(loop_module, "parser_loss", loss_then_ctrl_c)
    handler_before = signal.getsignal(signal.SIGINT)  # Python's default, or SIG_IGN under nohup / a background job
    run = tmp_path / "run"
    assert train_cli.main(train_args(tiny_data, run)) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"interrupted: saved {run / 'last.safetensors'} (at epoch 1, step 4); resume with: "
        f"python -m training.train --resume {run}"
    ]
    assert signal.getsignal(signal.SIGINT) is handler_before  # the caller's handler is restored
    point = _resume_point(run / "last.safetensors")
    assert (point["epoch"], point["step_in_epoch"], point["global_step"]) == (0, 4, 4)
    monkeypatch.undo()
    assert train_cli.main(["--resume", str(run), "--no-progress"]) == 0
    assert _same_weights(run / "last.safetensors", reference / "last.safetensors")
    steps = [json.loads(line)["steps"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [6, 6]


def test_a_full_disk_keeps_the_previous_checkpoint(tiny_data: Path, tmp_path: Path, reference, capsys, monkeypatch):
    import mgn.checkpoint as checkpoint_module

    real_save = checkpoint_module.save_file
    saves = []

    def save_until_the_disk_is_full(tensors, filename, metadata=None):
        if Path(filename).name.startswith(".last.safetensors."):
            saves.append(filename)
            if len(saves) == 2:  # the end of epoch 2
                Path(filename).write_bytes(b"the first bytes")
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(checkpoint_module, "save_file", save_until_the_disk_is_full)
    run = tmp_path / "run"
    assert train_cli.main(train_args(tiny_data, run)) == 2
    _one_error_line(
        capsys,
        f"cannot write {run / 'last.safetensors'}: No space left on device; the previous last.safetensors is kept",
    )
    assert _resume_point(run / "last.safetensors")["epoch"] == 1
    assert not [path.name for path in run.iterdir() if path.name.endswith(".tmp")]
    monkeypatch.undo()
    assert train_cli.main(["--resume", str(run), "--no-progress"]) == 0
    assert _same_weights(run / "last.safetensors", reference / "last.safetensors")


def test_a_second_process_on_the_same_run_is_refused(tmp_path: Path, reference, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(reference, run)
    hold = (
        "import sys, time; from pathlib import Path; from training.rundir import RunLock; "
        "RunLock(Path(sys.argv[1])).__enter__(); print('locked', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(run)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert train_cli.main(["--resume", str(run)]) == 2
        _one_error_line(capsys, f"{run} is in use by another training process (PID {holder.pid})")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    assert train_cli.main(["--resume", str(run)]) == 0  # the dead holder's lock is gone (the run was complete)


def test_training_on_a_read_only_dataset(tiny_data: Path, tmp_path: Path, reference, monkeypatch) -> None:
    """The default cache folder under the data cannot be made (as on a read-only dataset, also for root): the
    features are cached in the user cache folder instead, or in feature_cache_dir when it is given."""
    data = dataset_variant(tiny_data, tmp_path / "data", {".mgn_cache": "a file where the cache folder would go"})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="cannot write the feature cache in .*; the train features are cached in"):
        assert train_cli.main(train_args(data, run)) == 0
    assert {path.name.split("-")[0] for path in (tmp_path / "xdg" / "mgn" / "features").iterdir()} == {
        "train",
        "val",
        "test",
    }
    assert _same_weights(run / "last.safetensors", reference / "last.safetensors")
    chosen = tmp_path / "chosen"
    assert train_cli.main(train_args(data, tmp_path / "run2", "mgn", f"feature_cache_dir={chosen}", "epochs=1")) == 0
    assert len(list(chosen.iterdir())) == 3


def test_evaluate_refuses_bad_flags_before_any_work(tiny_data: Path, tmp_path: Path, reference, capsys) -> None:
    checkpoint = ["--checkpoint", str(reference / "best.safetensors"), "--data", str(tiny_data), "--no-progress"]
    (tmp_path / "taken.json").write_text("{}")
    (tmp_path / "a_file").write_text("x")
    cases = {
        ("--json", str(tmp_path)): "is a folder; expected a file path",
        ("--json", str(tmp_path / "taken.json")): "exists; use --force to overwrite it",
        ("--json", str(tmp_path / "a_file" / "scores.json")): "is a file, not a folder",
        ("--csv-dir", str(tmp_path / "a_file")): "--csv-dir",
        ("--official-config", "{dim: 64}"): "--official-config: not valid JSON: ",
        ("--official-config", "[64]"): "--official-config: expected a JSON object",
        ("--batch-size", "0"): "--batch-size 0 is out of range: expected an integer in [1, 1000000]",
        ("--device", "tpu"): "unknown device 'tpu'",
    }
    for flags, message in cases.items():
        assert evaluate_cli.main([*checkpoint, *flags]) == 2, flags
        _one_error_line(capsys, message)
    assert (tmp_path / "taken.json").read_text() == "{}"
    scores = tmp_path / "taken.json"
    assert evaluate_cli.main([*checkpoint, "--json", str(scores), "--force"]) == 0
    assert set(json.loads(scores.read_text())) == {"segment", "event"}


def test_refine_labels_refuses_bad_flags(tiny_data: Path, tmp_path: Path, reference, capsys) -> None:
    common = ["--checkpoint", str(reference / "best.safetensors"), "--data", str(tiny_data), "--no-progress"]
    assert refine_cli.main([*common, "--out", str(tmp_path), "--force"]) == 2
    _one_error_line(capsys, "is a folder; expected a file path")
    assert refine_cli.main([*common, "--out", str(tmp_path / "labels.npz"), "--batch-size", "-3"]) == 2
    _one_error_line(capsys, "--batch-size -3 is out of range")
    assert refine_cli.main([*common, "--out", str(tmp_path / "labels.npz"), "--seed", "-1"]) == 2
    _one_error_line(capsys, "--seed -1 is out of range")
    assert not (tmp_path / "labels.npz").exists()
