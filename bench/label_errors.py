"""The "likely label errors" ranking against a plain confidence sort, over seeds and noise models: the table of
docs/annotations.md.

Usage: ``python bench/label_errors.py [--seeds 0 1 2] [--noise plausible uniform] [--train 400] [--test 300]
[--flip-fraction 0.02] [--json results.json]``. Each (noise, seed) is one ``python -m mgn.annotations measure`` run
(``mgn.annotations.measure``: synthetic LLP-format data, a linear probe standing in for the model, a known set of
flipped test labels); BLAS runs on one thread. Prints a Markdown table: precision at k = ½, 1 and 2 × the number of
flipped cells for the ranking (calibrated, thresholded) and the baseline, recall in brackets, then the machine and
its load; ``--json`` also writes every run's full result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.metrics_speed import cpu_name  # noqa: E402
from mgn.annotations.measure import NOISE_MODELS, MeasureConfig, measure  # noqa: E402

RANKINGS = {"ranking": "ranking (calibrated)", "baseline": "baseline: confidence sort"}


def _cell(scores: dict, ks: list[int]) -> str:
    precision = " / ".join(f"{scores[f'precision@{k}']:.3f}" for k in ks)
    recall = " / ".join(f"{scores[f'recall@{k}']:.2f}" for k in ks)
    return f"{precision} (R {recall})"


def markdown(results: list[dict]) -> str:
    """The table of docs/annotations.md from ``measure`` results."""
    lines = [
        f"| noise, seed | flips | {' | '.join(RANKINGS.values())} |",
        "|---|---|" + "---|" * len(RANKINGS),
    ]
    for result in results:
        config, ks = result["config"], result["ks"]
        cells = " | ".join(_cell(result["scores"][name], ks) for name in RANKINGS)
        lines.append(f"| {config['noise']}, {config['seed']} | {result['flipped']['total']} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--noise", nargs="+", choices=NOISE_MODELS, default=list(NOISE_MODELS))
    parser.add_argument("--train", type=int, default=MeasureConfig.train_clips)
    parser.add_argument("--test", type=int, default=MeasureConfig.test_clips)
    parser.add_argument("--flip-fraction", type=float, default=MeasureConfig.flip_fraction)
    parser.add_argument("--json", type=Path, help="also write every run's result here")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    started = time.perf_counter()
    results = [
        measure(
            MeasureConfig(
                train_clips=args.train,
                test_clips=args.test,
                seed=seed,
                flip_fraction=args.flip_fraction,
                noise=noise,
            )
        )
        for noise in args.noise
        for seed in args.seeds
    ]
    machine = {
        "processor": cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in os.getloadavg()],
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(markdown(results))
    print(json.dumps(machine))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
