"""Speed of ``mgn.metrics`` against the plain per-clip oracle of ``tests/test_metrics.py``, on LLP-sized input.

Usage: ``python bench/metrics_speed.py [--clips 1200] [--repeats 15] [--seed 0]``. Prints one JSON object: the
median time of ``binarize`` and ``avvp_scores`` over the repeats, the first call of ``avvp_scores`` including the
one-off event-table build, the oracle's time (one run: it takes seconds), the speed-up, whether both give the same
numbers, and the machine.
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
sys.path.insert(0, str(REPO_ROOT))

from mgn import metrics  # noqa: E402
from mgn.labels import NUM_CLASSES, NUM_SEGMENTS  # noqa: E402


def load_test_module() -> ModuleType:
    """``tests/test_metrics.py`` as a module (the oracle and the synthetic clip generator live there)."""
    spec = importlib.util.spec_from_file_location("mgn_test_metrics", REPO_ROOT / "tests" / "test_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seconds(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall time of one call, and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    return 1000 * statistics.median(seconds(fn)[0] for _ in range(repeats))


def max_percent_difference(ours: dict, oracle: dict) -> float:
    """Largest absolute difference over the ten percentages."""
    return float(max(abs(ours[level][m] - oracle[level][m]) for level in metrics.LEVELS for m in metrics.METRICS))


def run(num_clips: int, repeats: int, seed: int) -> dict[str, Any]:
    tests = load_test_module()
    rng = np.random.default_rng(seed)
    clips = tests.realistic_clips(rng, num_clips)  # (pred_a, pred_v, gt_a, gt_v), each (N, C, T) uint8
    global_prob = rng.random((num_clips, NUM_CLASSES), dtype=np.float32)
    a_frame_prob, v_frame_prob = rng.random((2, num_clips, NUM_SEGMENTS, NUM_CLASSES), dtype=np.float32)

    table_build_ms = 1000 * seconds(metrics._event_tables)[0]
    metrics._event_tables.cache_clear()
    first_call_ms = 1000 * seconds(lambda: metrics.avvp_scores(*clips))[0]  # includes the table build
    scores_ms = median_ms(lambda: metrics.avvp_scores(*clips), repeats)
    binarize_ms = median_ms(lambda: metrics.binarize(global_prob, a_frame_prob, v_frame_prob), repeats)
    oracle_s, oracle = seconds(lambda: tests.oracle_avvp_scores(*clips))
    ours = metrics.avvp_scores(*clips)
    difference = max_percent_difference(ours, oracle)
    per_clip_identical = all(np.array_equal(ours["per_clip"][lv], oracle["per_clip"][lv]) for lv in metrics.LEVELS)
    return {
        "clips": num_clips,
        "repeats": repeats,
        "seed": seed,
        "cell_density": {name: float(m.mean()) for name, m in zip(("pred_a", "pred_v", "gt_a", "gt_v"), clips)},
        "avvp_scores_ms_median": round(scores_ms, 3),
        "avvp_scores_first_call_ms_with_table_build": round(first_call_ms, 3),
        "event_table_build_ms": round(table_build_ms, 3),
        "binarize_ms_median": round(binarize_ms, 3),
        "oracle_avvp_scores_ms": round(1000 * oracle_s, 1),
        "speedup_vs_oracle": round(1000 * oracle_s / scores_ms, 1),
        "same_numbers_as_oracle": per_clip_identical and difference <= 1e-9,
        "per_clip_scores_bit_identical": per_clip_identical,
        "max_abs_difference_percent": difference,
        "scores": {level: {m: round(ours[level][m], 4) for m in metrics.METRICS} for level in metrics.LEVELS},
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1200, help="number of clips (LLP test split: 1200)")
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats; the median is reported")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic clips")
    args = parser.parse_args()
    print(json.dumps(run(args.clips, args.repeats, args.seed), indent=2))


if __name__ == "__main__":
    main()
