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
