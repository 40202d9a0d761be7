"""Speed of ``mgn.metrics`` against the plain per-clip oracle of ``bench/official_metrics.py``, side by side.

Usage: ``python bench/metrics_speed.py [--clips 1200] [--sparse-clips 1200] [--edge-clips 53] [--repeats 25]
[--oracle-repeats 3] [--seed 0] [--baseline OLD_METRICS.py]``. Prints one JSON object with the machine and, for
each workload, the median times of ``binarize``, ``avvp_scores`` and the two together (ours: ``binarize`` then
``avvp_scores`` on its output; oracle: the official per-clip binarisation then the per-clip scores), the speed-ups,
and whether both give the same numbers (binary predictions equal, per-clip scores bit-identical, summaries equal).

Workloads (``(N, 25, 10)`` matrices; probabilities from ``probabilities_for``, so that binarising them gives the
workload's predictions):

* ``llp_like``: ``--clips`` LLP-like clips (``realistic_clips``: about 2.5 % of cells set).
* ``sparse_with_edge_cases``: ``--sparse-clips`` LLP-like clips with more spurious predictions (about 4.8 % of
  predicted cells overall) followed by ``--edge-clips`` dense edge-case clips (``edge_case_clips``: all-on rows,
  alternating segments, single segments, runs at the borders, empty clips); 1,253 clips by default.

The oracle takes seconds, so it runs ``--oracle-repeats`` times; each of its runs is followed by ``--repeats``
runs of ours (and of ``--baseline``, another version of ``mgn/metrics.py`` loaded from a file, e.g. the last commit's
from ``git show HEAD:mgn/metrics.py``), so that all of them see the same machine load; medians are reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.official_metrics import (  # noqa: E402
    edge_case_clips,
    oracle_avvp_scores,
    oracle_binarize,
    probabilities_for,
    realistic_clips,
)
from mgn import metrics  # noqa: E402

Clips = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def workloads(args: argparse.Namespace) -> dict[str, tuple[str, Clips]]:
    """name -> (description, (pred_a, pred_v, gt_a, gt_v)), each ``(N, C, T) uint8``."""
    rng = np.random.default_rng(args.seed)
    llp_like = realistic_clips(rng, args.clips)
    sparse = realistic_clips(rng, args.sparse_clips, spurious_rate=args.spurious_rate)
    edges = edge_case_clips(rng, args.edge_clips)
    mixed = tuple(np.concatenate([s, e]) for s, e in zip(sparse, edges))
    return {
        "llp_like": (f"{args.clips} LLP-like clips (realistic_clips)", llp_like),
        "sparse_with_edge_cases": (
            f"{args.sparse_clips} LLP-like clips with spurious predictions at rate {args.spurious_rate}, then "
            f"{args.edge_clips} dense edge-case clips (edge_case_clips)",
            mixed,
        ),
    }


def load_metrics_file(path: Path) -> ModuleType:
    """Another version of ``mgn/metrics.py``, loaded from a file as its own module."""
    spec = importlib.util.spec_from_file_location("baseline_metrics", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call, and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def ms(values: list[float]) -> float:
    return round(1000 * statistics.median(values), 4)


def timed_calls(module: ModuleType, probabilities: tuple[np.ndarray, ...], clips: Clips) -> dict[str, Callable]:
    """The three timed operations of one implementation."""

    def both() -> Any:
        pred_a, pred_v = module.binarize(*probabilities)
        return module.avvp_scores(pred_a, pred_v, clips[2], clips[3])

    return {
        "binarize": lambda: module.binarize(*probabilities),
        "avvp_scores": lambda: module.avvp_scores(*clips),
        "binarize_plus_avvp_scores": both,
    }


def max_percent_difference(ours: metrics.Scores, oracle: dict) -> float:
    """Largest absolute difference over the ten percentages."""
    return float(max(abs(ours.level(lv).metric(m) - oracle[lv][m]) for lv in metrics.LEVELS for m in metrics.METRICS))


def same_numbers(ours: metrics.Scores, oracle: dict, binary: tuple, oracle_binary: tuple, clips: Clips) -> dict:
    per_clip = all(np.array_equal(ours.level(lv).per_clip, oracle["per_clip"][lv]) for lv in metrics.LEVELS)
    binarize_equal = all(np.array_equal(a, b) for a, b in zip(binary, oracle_binary)) and all(
        np.array_equal(a, b) for a, b in zip(binary, clips[:2])
    )
    difference = max_percent_difference(ours, oracle)
    return {
        "same_numbers_as_oracle": bool(per_clip and binarize_equal and difference <= 1e-9),
        "per_clip_scores_bit_identical": bool(per_clip),
        "binarize_identical": bool(binarize_equal),
        "max_abs_difference_percent": difference,
    }


def run_workload(
    clips: Clips, rng: np.random.Generator, repeats: int, oracle_repeats: int, baseline: ModuleType | None
) -> dict[str, Any]:
    probabilities = probabilities_for(rng, clips[0], clips[1])  # float32, binarised to clips[0], clips[1]
    implementations = {"ours": metrics} | ({"baseline": baseline} if baseline is not None else {})
    calls = {name: timed_calls(module, probabilities, clips) for name, module in implementations.items()}
    times: dict[str, dict[str, list[float]]] = {name: {op: [] for op in calls["ours"]} for name in calls}
    times["oracle"] = {op: [] for op in calls["ours"]}
    for _ in range(oracle_repeats):
        oracle_binarize_s, oracle_binary = seconds(lambda: oracle_binarize(*probabilities))
        oracle_scores_s, oracle = seconds(lambda: oracle_avvp_scores(*clips))
        times["oracle"]["binarize"].append(oracle_binarize_s)
        times["oracle"]["avvp_scores"].append(oracle_scores_s)
        times["oracle"]["binarize_plus_avvp_scores"].append(oracle_binarize_s + oracle_scores_s)
        for _ in range(repeats):
            for name, operations in calls.items():
                for operation, fn in operations.items():
                    times[name][operation].append(seconds(fn)[0])
    medians = {name: {f"{op}_ms": ms(values) for op, values in ops.items()} for name, ops in times.items()}
    speedups = {
        name: {
            op: round(statistics.median(times["oracle"][op]) / statistics.median(values), 1)
            for op, values in ops.items()
        }
        for name, ops in times.items()
        if name != "oracle"
    }
    ours = metrics.avvp_scores(*clips)
    result: dict[str, Any] = {
        "clips": len(clips[0]),
        "cell_density": {
            name: round(float(m.mean()), 5) for name, m in zip(("pred_a", "pred_v", "gt_a", "gt_v"), clips)
        },
        "median_ms": medians,
        "speedup_vs_oracle": speedups,
        **same_numbers(ours, oracle, metrics.binarize(*probabilities), oracle_binary, clips),
        "scores": {level: {m: round(v, 4) for m, v in values.items()} for level, values in ours.to_json().items()},
    }
    if baseline is not None:
        old = baseline.avvp_scores(*clips)
        result["baseline_identical_to_ours"] = bool(
            all(np.array_equal(old.level(lv).per_clip, ours.level(lv).per_clip) for lv in metrics.LEVELS)
            and old.to_json() == ours.to_json()
        )
    return result


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "processor": cpu_name(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    baseline = load_metrics_file(args.baseline) if args.baseline else None
    result: dict[str, Any] = {
        "machine": machine(),
        "repeats": args.repeats,
        "oracle_repeats": args.oracle_repeats,
        "seed": args.seed,
        "baseline": str(args.baseline) if args.baseline else None,
    }
    table_build_ms = 1000 * seconds(metrics._event_tables)[0]
    metrics._event_tables.cache_clear()
    named_workloads = workloads(args)
    clips = named_workloads["llp_like"][1]
    first_call_s = seconds(lambda: metrics.avvp_scores(*clips))[0]
    result["avvp_scores_first_call_ms_with_table_build"] = round(1000 * first_call_s, 3)
    result["event_table_build_ms"] = round(table_build_ms, 3)
    rng = np.random.default_rng(args.seed + 1)
    result["workloads"] = {}
    for name, (description, clips) in named_workloads.items():
        entry = run_workload(clips, rng, args.repeats, args.oracle_repeats, baseline)
        result["workloads"][name] = {"description": description, **entry}
    result["machine"]["load_average_at_end"] = machine()["load_average_1_5_15"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1200, help="clips of the llp_like workload (LLP test: 1200)")
    parser.add_argument("--sparse-clips", type=int, default=1200, help="LLP-like clips of the second workload")
    parser.add_argument("--edge-clips", type=int, default=53, help="dense edge-case clips of the second workload")
    parser.add_argument("--spurious-rate", type=float, default=0.05, help="spurious classes of the second workload")
    parser.add_argument("--repeats", type=int, default=25, help="runs of ours after each oracle run")
    parser.add_argument("--oracle-repeats", type=int, default=3, help="runs of the oracle (seconds each)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic clips")
    parser.add_argument("--baseline", type=Path, help="another mgn/metrics.py to time beside ours (same checks)")
    args = parser.parse_args()
    print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()
