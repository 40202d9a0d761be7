"""The metrics benchmarks run and check what they claim: ``bench/metrics_speed.py`` (tiny sizes) and the Markdown
table of ``bench/quality.py`` (through ``mgn.metrics.format_markdown_table``). Both depend on the package only."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench import metrics_speed, quality
from mgn import metrics

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = ["--clips", "12", "--sparse-clips", "12", "--edge-clips", "6", "--repeats", "1", "--oracle-repeats", "1"]


def test_metrics_speed_reports_both_workloads_with_identical_numbers():
    args = argparse.Namespace(
        clips=12, sparse_clips=12, edge_clips=6, spurious_rate=0.05, repeats=2, oracle_repeats=1, seed=3, baseline=None
    )
    result = metrics_speed.run(args)
    assert set(result["workloads"]) == {"llp_like", "sparse_with_edge_cases"}
    assert result["machine"]["cpu_count"] and result["machine"]["numpy"] == np.__version__
    for workload in result["workloads"].values():
        assert workload["same_numbers_as_oracle"] and workload["per_clip_scores_bit_identical"]
        assert workload["binarize_identical"]
        operations = {"binarize", "avvp_scores", "binarize_plus_avvp_scores"}
        assert set(workload["speedup_vs_oracle"]["ours"]) == operations
        assert set(workload["median_ms"]["oracle"]) == {f"{op}_ms" for op in operations}
    assert result["workloads"]["sparse_with_edge_cases"]["clips"] == 18


def test_metrics_speed_script_runs_from_anywhere_and_times_a_baseline(tmp_path):
    # the script imports bench.official_metrics by itself, whatever the working directory
    baseline = tmp_path / "metrics_copy.py"
    baseline.write_text((REPO_ROOT / "mgn" / "metrics.py").read_text())
    command = [sys.executable, str(REPO_ROOT / "bench" / "metrics_speed.py"), *TINY, "--baseline", str(baseline)]
    result = json.loads(subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=True).stdout)
    for workload in result["workloads"].values():
        assert workload["same_numbers_as_oracle"] and workload["baseline_identical_to_ours"]
        assert set(workload["speedup_vs_oracle"]) == {"ours", "baseline"}


def test_quality_markdown_uses_the_metrics_table():
    scores = metrics.avvp_scores(*(np.zeros((3, 25, 10), np.uint8) for _ in range(4)))
    aggregate = {level: {m: {"mean": 65.04, "std": 0.12} for m in metrics.METRICS} for level in metrics.LEVELS}
    summary = {"all-zero predictor": scores.to_json(), "HAN": aggregate}
    table = quality._markdown(summary, "global")
    assert table == metrics.format_markdown_table(summary, first_column="Method (global gate)")
    lines = table.splitlines()
    assert lines[0] == "| Method (global gate) | Level | Audio | Visual | Audio-Visual | Type@AV | Event@AV |"
    assert lines[2] == "| all-zero predictor | Segment-level |" + " 100.0 |" * 5
    assert lines[5] == "| HAN | Event-level |" + " 65.0 ± 0.1 |" * 5


def test_quality_localisation_counts_short_and_full_events():
    """bench/quality.localisation: event F (IoU >= 0.5) over GT rows shorter than the clip and over full-length rows,
    and the share of predicted events shorter than the clip."""
    gt = np.zeros((2, 25, 10), np.uint8)
    gt[0, 3, 2:5] = 1  # a short event: segments 2-4
    gt[1, 7] = 1  # a full-length event
    pred = np.zeros_like(gt)
    pred[0, 3, 2:6] = 1  # IoU 3/4 with the short event: a hit
    pred[1, 7] = 1  # the full-length event, found
    pred[1, 9, 0:2] = 1  # a short false positive on a row without ground truth (counted in the share only)
    none = np.zeros_like(gt)
    values = quality.localisation(pred, none, gt, none)
    assert values == {
        "short_gt_event_f": 100.0,
        "full_gt_event_f": 100.0,
        "predicted_short_share": 200 / 3,
        "predicted_short_share_audio": 200 / 3,
        "predicted_short_share_visual": 0.0,  # no visual event predicted
    }
    visual_short = np.zeros_like(gt)
    visual_short[0, 3, 2:5] = 1
    values = quality.localisation(pred, visual_short, gt, none)  # 2 of 3 audio events short, 1 of 1 visual
    assert values["predicted_short_share"] == 75.0
    assert (values["predicted_short_share_audio"], values["predicted_short_share_visual"]) == (200 / 3, 100.0)
    whole = np.zeros_like(gt)
    whole[0, 3] = 1  # the short event predicted over the whole clip: IoU 3/10, a miss and a false positive
    values = quality.localisation(whole, none, gt, none)
    assert values["short_gt_event_f"] == 0.0 and values["predicted_short_share"] == 0.0
    assert values["full_gt_event_f"] == 0.0  # the full-length row was not predicted


def test_quality_refined_methods_refine_from_their_own_base_run():
    """bench/quality: MGN-L+R refines with the MGN-L run's checkpoint and retrains with the mgn-localise recipe;
    selecting it alone also selects (so trains, if missing) that base run and nothing else."""
    jobs = quality._jobs(Path("data"), Path("runs"), seed=2, extra=["epochs=3"])
    selected = quality._select(jobs, ["MGN-L+R"])
    assert [job.name for job in selected] == ["MGN-L/seed2", "MGN-L+R/seed2"]
    refine, retrain = selected[1].commands
    assert refine[refine.index("--checkpoint") + 1] == str(Path("runs/mgn_l_seed2/best.safetensors"))
    labels = refine[refine.index("--out") + 1]
    assert retrain[retrain.index("--refined-labels") + 1] == labels
    assert retrain[retrain.index("--recipe") + 1] == "mgn-localise"
    assert retrain[retrain.index("--out") + 1] == str(quality._run_dir(Path("runs"), "MGN-L+R", 2))
    assert "seed=2" in retrain and "epochs=3" in retrain
    plain_r = quality._select(jobs, ["MGN+R"])[1].commands[1]
    assert "--recipe" not in plain_r  # the official MGN retrained: no recipe slips in
