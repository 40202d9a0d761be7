"""End-to-end training runs on tiny synthetic data: files, determinism, C, R, evaluation, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mgn.checkpoint import read_checkpoint
from training import evaluate as evaluate_cli
from training import refine_labels as refine_cli
from training import train as train_cli

from .conftest import TINY_HAN, TINY_MGN

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _train(data: Path, out: Path, model: str, *extra: str) -> int:
    size = TINY_MGN if model == "mgn" else TINY_HAN
    return train_cli.main(
        [
            "--model",
            model,
            "--data",
            str(data),
            "--out",
            str(out),
            "--no-progress",
            "epochs=2",
            "batch_size=8",
            "threads=1",
            *size,
            *extra,
        ]
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return {key: value for key, value in load_file(path).items() if not key.startswith("extra/")}


@pytest.mark.parametrize("model", ["mgn", "han"])
def test_run_directory_contents(tiny_data: Path, tmp_path: Path, model: str) -> None:
    run = tmp_path / "run"
    assert _train(tiny_data, run, model) == 0
    assert sorted(p.name for p in run.iterdir()) == [
        "best.safetensors",
        "config.json",
        "last.safetensors",
        "metrics.jsonl",
        "test_results.json",
    ]
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == model and config["epochs"] == 2 and config["lr"] == 3e-4
    assert config["model_config"]["dim"] == 32  # the resolved model config, every field
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2] and all(r["steps"] == 6 for r in records)
    expected_terms = {"global", "audio", "visual", "total"} | ({"class_tokens"} if model == "mgn" else set())
    assert set(records[0]["train_loss"]) == expected_terms
    assert set(records[0]["val"]) == {"segment", "event"}
    best = max(range(2), key=lambda i: (records[i]["val"]["segment"]["type"], i))  # ties go to the later epoch
    assert read_checkpoint(run / "best.safetensors").metadata["epoch"] == str(best + 1)
    results = json.loads((run / "test_results.json").read_text())
    assert results["best_epoch"] == best + 1 and results["clips"] == 16
    assert set(results["segment"]) == {"audio", "visual", "audio_visual", "type", "event"}
    last = read_checkpoint(run / "last.safetensors", arch=model)
    assert json.loads(last.metadata["resume"])["epoch"] == 2 and any(k.startswith("optimizer/") for k in last.extra)


def test_same_seed_same_weights_other_seed_differs(tiny_data: Path, tmp_path: Path) -> None:
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert _train(tiny_data, tmp_path / name, "mgn", f"seed={seed}") == 0
    first, second, third = (_weights(tmp_path / name / "last.safetensors") for name in "abc")
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not all(torch.equal(first[key], third[key]) for key in first)


def test_contrastive_and_refined_labels(tiny_data: Path, tmp_path: Path) -> None:
    assert _train(tiny_data, tmp_path / "base", "mgn") == 0
    labels = tmp_path / "labels.npz"
    assert (
        refine_cli.main(
            [
                "--checkpoint",
                str(tmp_path / "base" / "best.safetensors"),
                "--data",
                str(tiny_data),
                "--out",
                str(labels),
                "--no-progress",
            ]
        )
        == 0
    )
    with np.load(labels) as archive:
        meta = json.loads(str(archive["meta"]))
        assert archive["audio_labels"].shape == (48, 25) and "a_prob_audio_swapped" in archive.files
        assert (archive["audio_labels"] <= archive["labels"]).all()
    assert meta["clips"] == 48 and "synthetic_truth_agreement" in meta  # the generator's truth file is used
    run = tmp_path / "c_r"
    assert _train(tiny_data, run, "mgn", "--contrastive", "--refined-labels", str(labels)) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    assert "contrastive" in record["train_loss"]
    assert json.loads((run / "config.json").read_text())["refined_labels"] == str(labels)
    for name in ("best.safetensors", "last.safetensors"):  # both say how they were trained, without the folders
        metadata = read_checkpoint(run / name).metadata
        assert (metadata["contrastive"], metadata["refined_labels"]) == ("true", "labels.npz")
        assert "recipe" not in metadata
    assert not {"contrastive", "refined_labels"} & set(read_checkpoint(tmp_path / "base" / "best.safetensors").metadata)


def test_evaluate_json_and_csv_round_trip(tiny_data: Path, tmp_path: Path, capsys) -> None:
    assert _train(tiny_data, tmp_path / "run", "han") == 0
    checkpoint = tmp_path / "run" / "best.safetensors"
    scores_path, csv_dir = tmp_path / "scores.json", tmp_path / "csv"
    assert (
        evaluate_cli.main(
            [
                "--checkpoint",
                str(checkpoint),
                "--data",
                str(tiny_data),
                "--split",
                "test",
                "--json",
                str(scores_path),
                "--csv-dir",
                str(csv_dir),
                "--no-progress",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "Segment-level" in printed and "Event-level" in printed
    scores = json.loads(scores_path.read_text())
    assert set(scores) == {"segment", "event"}
    assert scores == {
        key: json.loads((tmp_path / "run" / "test_results.json").read_text())[key] for key in ("segment", "event")
    }  # the same numbers as the end-of-training test
    round_trip = tmp_path / "round_trip.json"
    assert (
        evaluate_cli.main(
            ["--predictions", str(csv_dir), "--data", str(tiny_data), "--split", "test", "--json", str(round_trip)]
        )
        == 0
    )
    assert json.loads(round_trip.read_text()) == scores


def test_diverging_run_stops_with_a_clear_message(tiny_data: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "nan"
    assert _train(tiny_data, run, "han", "lr=1e30", "checkpoint_every=1") == 2
    message = capsys.readouterr().err
    assert "loss is nan at epoch 1, step" in message and "batch of 8 clips starting" in message
    last = read_checkpoint(run / "last.safetensors")  # the last good state is kept and loadable
    assert all(torch.isfinite(value).all() for value in last.state_dict.values())


def test_bad_input(tiny_data: Path, tmp_path: Path, capsys) -> None:
    def error_of(code: int) -> str:
        assert code == 2
        return capsys.readouterr().err

    assert "data directory not found" in error_of(_train(tmp_path / "absent", tmp_path / "r0", "mgn"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for item in tiny_data.iterdir():
        if item.name != "AVVP_val_pd.csv":
            (broken / item.name).symlink_to(item)
    assert "AVVP_val_pd.csv" in error_of(_train(broken, tmp_path / "r1", "mgn"))
    assert not (tmp_path / "r1").exists()  # inputs are checked before anything is written
    assert _train(tiny_data, tmp_path / "r2", "han") == 0
    assert "already holds a run" in error_of(_train(tiny_data, tmp_path / "r2", "han"))
    assert "unknown setting 'learning_rate'" in error_of(_train(tiny_data, tmp_path / "r3", "han", "learning_rate=1"))
    assert "model_config" in error_of(_train(tiny_data, tmp_path / "r4", "han", "model.depth_av=2"))
    assert "cannot resume" in error_of(train_cli.main(["--resume", str(tmp_path / "r1")]))
    assert "config.json not found" in error_of(train_cli.main(["--resume", str(tmp_path)]))
    foreign = tmp_path / "foreign.npz"
    other = tmp_path / "other_data"
    from mgn.data.synthetic.dataset import generate_dataset

    generate_dataset(other, sizes={"train": 8, "val": 4, "test": 4}, seed=5, progress=False)
    assert (
        refine_cli.main(
            [
                "--checkpoint",
                str(tmp_path / "r2" / "best.safetensors"),
                "--data",
                str(other),
                "--out",
                str(foreign),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "made for another dataset" in error_of(
        _train(tiny_data, tmp_path / "r5", "han", "--refined-labels", str(foreign))
    )
    han_checkpoint = str(tmp_path / "r2" / "best.safetensors")
    assert "holds a 'han' model, expected 'mgn'" in error_of(
        evaluate_cli.main(["--checkpoint", han_checkpoint, "--arch", "mgn", "--data", str(tiny_data)])
    )
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"garbage")
    assert "corrupt.safetensors" in error_of(
        evaluate_cli.main(["--checkpoint", str(corrupt), "--data", str(tiny_data)])
    )
    assert "x.pt" in error_of(evaluate_cli.main(["--checkpoint", str(tmp_path / "x.pt"), "--data", str(tiny_data)]))


def test_resume_refuses_a_changed_model_config(tiny_data: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert _train(tiny_data, run, "mgn") == 0
    config = json.loads((run / "config.json").read_text())
    config["model_config"]["dim"] = 64  # edited after the run: the saved weights no longer fit
    (run / "config.json").write_text(json.dumps(config))
    assert train_cli.main(["--resume", str(run)]) == 2
    assert "holds a model with config" in capsys.readouterr().err


def test_bf16_autocast_runs(tiny_data: Path, tmp_path: Path) -> None:
    """``amp=bf16`` is meant for GPUs; on CPU it must still run (autocast supports bfloat16 there too)."""
    assert _train(tiny_data, tmp_path / "bf16", "han", "amp=bf16", "epochs=1") == 0
    results = json.loads((tmp_path / "bf16" / "test_results.json").read_text())
    assert 0.0 <= results["segment"]["type"] <= 100.0
