"""Table-1-style quality on a synthetic LLP-format dataset: baselines, HAN, MGN, MGN+C, MGN+R, MGN+C+R over seeds.

Runs the project's own command lines (so the table is what a user gets), resumable: finished runs are skipped.

    python bench/quality.py --data DATA --out RUNS --seeds 1 2 3 --jobs 2 > quality.json

Per seed: HAN; MGN; MGN+C (``--contrastive``); MGN+R = ``training.refine_labels`` on the MGN run, then MGN retrained
with the refined labels; MGN+C+R = the same from the MGN+C run, retrained with ``--contrastive``. Every model is
scored on the test split with the official global gate (as trained and selected) and, for reference, with MA's
modality gate. Baselines: the all-zero predictor and the weak-label oracle (weak labels on all segments, both
modalities). Prints JSON (per run and mean / std over seeds) and, with ``--markdown``, a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from mgn.data.llp import LLPLayout, load_annotations  # noqa: E402
from mgn.metrics import LEVELS, METRICS, avvp_scores, format_markdown_table  # noqa: E402

METHODS = ("HAN", "MGN", "MGN+C", "MGN+R", "MGN+C+R")


@dataclass
class Job:
    name: str
    commands: list[list[str]]
    depends: list[str] = field(default_factory=list)


def _python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _jobs(data: Path, out: Path, seed: int, extra: list[str]) -> list[Job]:
    def train(run: str, model: str, *flags: str) -> list[str]:
        return _python(
            "training.train",
            "--model",
            model,
            "--data",
            str(data),
            "--out",
            str(out / run),
            "--no-progress",
            f"seed={seed}",
            *flags,
            *extra,
        )

    def refine(base: str, labels: str) -> list[str]:
        return _python(
            "training.refine_labels",
            "--checkpoint",
            str(out / base / "best.safetensors"),
            "--data",
            str(data),
            "--out",
            str(out / labels),
            "--seed",
            str(seed + 1),
            "--no-progress",
            "--force",
        )

    s = f"seed{seed}"
    return [
        Job(f"HAN/{s}", [train(f"han_{s}", "han")]),
        Job(f"MGN/{s}", [train(f"mgn_{s}", "mgn")]),
        Job(f"MGN+C/{s}", [train(f"mgn_c_{s}", "mgn", "--contrastive")]),
        Job(
            f"MGN+R/{s}",
            [
                refine(f"mgn_{s}", f"labels_mgn_{s}.npz"),
                train(f"mgn_r_{s}", "mgn", "--refined-labels", str(out / f"labels_mgn_{s}.npz")),
            ],
            depends=[f"MGN/{s}"],
        ),
        Job(
            f"MGN+C+R/{s}",
            [
                refine(f"mgn_c_{s}", f"labels_mgn_c_{s}.npz"),
                train(f"mgn_c_r_{s}", "mgn", "--contrastive", "--refined-labels", str(out / f"labels_mgn_c_{s}.npz")),
            ],
            depends=[f"MGN+C/{s}"],
        ),
    ]


def _run_dir(out: Path, method: str, seed: int) -> Path:
    return out / f"{method.lower().replace('+', '_')}_seed{seed}"


def _command_to_run(command: list[str], threads: int) -> list[str] | None:
    """The command to execute now: None when its output is already complete, ``--resume`` when it was cut short."""
    target = Path(command[command.index("--out") + 1])
    if "training.refine_labels" in command:
        return None if target.is_file() else command
    if (target / "test_results.json").is_file():
        return None
    if (target / "last.safetensors").is_file():
        return _python("training.train", "--resume", str(target), "--no-progress")
    return [*command, f"threads={threads}"]


def _run_jobs(jobs: list[Job], out: Path, workers: int, threads: int) -> None:
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}

    def execute(job: Job) -> None:
        log = out / "logs" / f"{job.name.replace('/', '_').replace('+', '_')}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as stream:
            for command in job.commands:
                command = _command_to_run(command, threads)
                if command is None:
                    continue
                stream.write(f"$ {' '.join(command)}\n")
                stream.flush()
                subprocess.run(
                    command, cwd=REPO_ROOT, env=environment, stdout=stream, stderr=subprocess.STDOUT, check=True
                )

    done: set[str] = set()
    pending = list(jobs)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: dict = {}
        while pending or running:
            for job in [job for job in pending if all(dep in done for dep in job.depends)][: workers - len(running)]:
                pending.remove(job)
                running[pool.submit(execute, job)] = job.name
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()  # re-raise a failed run
                done.add(running.pop(future))


def _evaluate(checkpoint: Path, data: Path, gate: str, target: Path) -> dict:
    if not target.is_file():
        subprocess.run(
            _python(
                "training.evaluate",
                "--checkpoint",
                str(checkpoint),
                "--data",
                str(data),
                "--split",
                "test",
                "--gate",
                gate,
                "--json",
                str(target),
                "--no-progress",
            ),
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        )
    return json.loads(target.read_text())


def _baselines(data: Path) -> dict:
    annotations = load_annotations(LLPLayout(root=data), "test")
    zero = np.zeros_like(annotations.gt_audio)
    weak = np.repeat((annotations.labels > 0.5).astype(np.uint8)[:, :, None], annotations.gt_audio.shape[2], axis=2)
    return {
        name: scores.to_json()
        for name, scores in (
            ("all-zero predictor", avvp_scores(zero, zero, annotations.gt_audio, annotations.gt_visual)),
            ("weak-label oracle", avvp_scores(weak, weak, annotations.gt_audio, annotations.gt_visual)),
        )
    }


def _aggregate(values: list[dict]) -> dict:
    return {
        level: {
            metric: {
                "mean": float(np.mean([v[level][metric] for v in values])),
                "std": float(np.std([v[level][metric] for v in values], ddof=1)) if len(values) > 1 else 0.0,
            }
            for metric in METRICS
        }
        for level in LEVELS
    }


def _markdown(summary: dict, gate: str) -> str:
    """The summary of one gate as a Markdown table: baselines as single values, methods as mean ± std over seeds."""
    return format_markdown_table(summary, first_column=f"Method ({gate} gate)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=1, help="training runs at a time")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (default: cpus / jobs)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value training overrides for every run (e.g. epochs=20)")
    args = parser.parse_args()
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    jobs = [job for seed in args.seeds for job in _jobs(args.data, args.out, seed, args.overrides)]
    _run_jobs(jobs, args.out, args.jobs, threads)
    result: dict = {
        "data": str(args.data),
        "seeds": args.seeds,
        "overrides": args.overrides,
        "baselines": _baselines(args.data),
        "runs": {},
        "summary": {},
    }
    for gate in ("global", "modality"):
        summary = dict(result["baselines"]) if gate == "global" else {}
        for method in METHODS:
            scores = []
            for seed in args.seeds:
                run = _run_dir(args.out, method, seed)
                scores.append(_evaluate(run / "best.safetensors", args.data, gate, run / f"test_{gate}.json"))
                result["runs"][f"{method}/seed{seed}/{gate}"] = scores[-1]
            summary[method] = _aggregate(scores)
        result["summary"][gate] = summary
    print(json.dumps(result, indent=2))
    if args.markdown:
        for gate, summary in result["summary"].items():
            print(_markdown(summary, gate), end="\n\n", file=sys.stderr)  # a blank line between the tables


if __name__ == "__main__":
    main()
