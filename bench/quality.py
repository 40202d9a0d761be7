"""Table-1-style quality on a synthetic LLP-format dataset: baselines, HAN, MGN, MGN-L, MGN-L+R, MGN+C, MGN+R, MGN+C+R
over seeds, and how well each one localises events in time.

Runs the project's own command lines (so the table is what a user gets), resumable: finished runs are skipped.

    python bench/quality.py --data DATA --out RUNS --seeds 1 2 3 --jobs 2 > quality.json
    python bench/quality.py --data DATA --out RUNS --seeds 1 2 3 --methods HAN MGN MGN-L --markdown > quality.json
    python bench/quality.py --data DATA --out RUNS --seeds 1 --methods MGN-L --no-train > quality.json  # as they stand

Per seed: HAN; MGN; MGN-L (``--recipe mgn-localise``); MGN-L+R = ``training.refine_labels`` on the MGN-L run, then
MGN-L retrained with the refined labels; MGN+C (``--contrastive``); MGN+R = ``training.refine_labels``
on the MGN run, then MGN retrained with the refined labels; MGN+C+R = the same from the MGN+C run, retrained with
``--contrastive``. ``--methods`` picks some (the runs they depend on are trained too). Every model is scored on the
test split with the official global gate (as trained and selected) and, for reference, with MA's modality gate.
Baselines: the all-zero predictor and the weak-label oracle (weak labels on all segments, both modalities).

Localisation (global gate, test split, audio and visual events pooled; :func:`localisation`): the event-level F of
the ground-truth rows (clip, class, modality) whose events are shorter than the clip, the same F of the rows with one
full-length event, and the share of predicted events shorter than the clip. Prints JSON (per run and mean / std over
seeds) and, with ``--markdown``, the Markdown tables on stderr.
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

from mgn.checkpoint import load_checkpoint  # noqa: E402
from mgn.data.llp import LLPLayout, load_annotations, load_split  # noqa: E402
from mgn.events import find_events, segment_iou  # noqa: E402
from mgn.inference import predict  # noqa: E402
from mgn.metrics import LEVELS, METRICS, avvp_scores, format_markdown_table  # noqa: E402

METHODS = ("HAN", "MGN", "MGN-L", "MGN-L+R", "MGN+C", "MGN+R", "MGN+C+R")
LOCALISATION = (
    "short_gt_event_f",
    "full_gt_event_f",
    "predicted_short_share",
    "predicted_short_share_audio",
    "predicted_short_share_visual",
)


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

    def refined(method: str, base_method: str, base_run: str, run: str, *flags: str) -> Job:
        """R: the labels refined with ``base_run``'s best checkpoint, then ``run`` retrained on them with ``flags``."""
        labels = f"labels_{base_run}.npz"
        return Job(
            f"{method}/{s}",
            [refine(base_run, labels), train(run, "mgn", *flags, "--refined-labels", str(out / labels))],
            depends=[f"{base_method}/{s}"],
        )

    return [
        Job(f"HAN/{s}", [train(f"han_{s}", "han")]),
        Job(f"MGN/{s}", [train(f"mgn_{s}", "mgn")]),
        Job(f"MGN-L/{s}", [train(f"mgn_l_{s}", "mgn", "--recipe", "mgn-localise")]),
        refined("MGN-L+R", "MGN-L", f"mgn_l_{s}", f"mgn_l_r_{s}", "--recipe", "mgn-localise"),
        Job(f"MGN+C/{s}", [train(f"mgn_c_{s}", "mgn", "--contrastive")]),
        refined("MGN+R", "MGN", f"mgn_{s}", f"mgn_r_{s}"),
        refined("MGN+C+R", "MGN+C", f"mgn_c_{s}", f"mgn_c_r_{s}", "--contrastive"),
    ]


def _select(jobs: list[Job], methods: list[str]) -> list[Job]:
    """The jobs of ``methods`` and every job they depend on, in their original order."""
    by_name = {job.name: job for job in jobs}
    wanted = {job.name for job in jobs if job.name.split("/")[0] in methods}
    pending = list(wanted)
    while pending:
        for dependency in by_name[pending.pop()].depends:
            if dependency not in wanted:
                wanted.add(dependency)
                pending.append(dependency)
    return [job for job in jobs if job.name in wanted]


def _run_dir(out: Path, method: str, seed: int) -> Path:
    return out / f"{method.lower().replace('+', '_').replace('-', '_')}_seed{seed}"


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


def _stale(target: Path, checkpoint: Path) -> bool:
    """Whether the cached score file ``target`` is missing or older than the checkpoint it scores."""
    return not target.is_file() or target.stat().st_mtime < checkpoint.stat().st_mtime


def _evaluate(checkpoint: Path, data: Path, gate: str, target: Path) -> dict:
    if _stale(target, checkpoint):
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
                "--force",  # stale: scored from an older checkpoint of this run
                "--no-progress",
            ),
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        )
    return json.loads(target.read_text())


def _event_counts(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int]:
    """Official event-level TP / FP / FN of one 0/1 row pair (T,): IoU >= 0.5 between maximal runs."""
    pred_events = list(zip(*find_events(pred), strict=True))
    gt_events = list(zip(*find_events(gt), strict=True))
    true_positive = sum(any(segment_iou(p, g) >= 0.5 for g in gt_events) for p in pred_events)
    missed = sum(not any(segment_iou(p, g) >= 0.5 for p in pred_events) for g in gt_events)
    return true_positive, len(pred_events) - true_positive, missed


def localisation(pred_a: np.ndarray, pred_v: np.ndarray, gt_a: np.ndarray, gt_v: np.ndarray) -> dict[str, float]:
    """How well binary predictions (N, C, T) localise events in time, audio and visual rows pooled.

    - ``short_gt_event_f``: event-level F (IoU >= 0.5, as the official metric; TP, FP, FN summed over rows) of the
      (clip, class, modality) rows whose ground truth has events shorter than the clip;
    - ``full_gt_event_f``: the same over the rows whose ground truth is one event spanning the whole clip;
    - ``predicted_short_share``: the share of predicted events shorter than the clip, and the same per modality
      (``predicted_short_share_audio`` / ``_visual``).
    All in percent.
    """
    segments = gt_a.shape[-1]
    counts = {"short": np.zeros(3, dtype=np.int64), "full": np.zeros(3, dtype=np.int64)}
    predicted, predicted_short = {}, {}
    for modality, pred, gt in (("audio", pred_a, gt_a), ("visual", pred_v, gt_v)):
        *_, onset, offset = find_events(pred)
        predicted[modality] = len(onset)
        predicted_short[modality] = int(np.count_nonzero(offset - onset < segments))
        length = gt.sum(axis=-1)  # (N, C) GT segments per row
        for kind, rows in (("short", (length > 0) & (length < segments)), ("full", length == segments)):
            for clip, cls in zip(*np.nonzero(rows), strict=True):
                counts[kind] += _event_counts(pred[clip, cls], gt[clip, cls])

    def f_score(tp_fp_fn: np.ndarray) -> float:
        tp, fp, fn = (int(value) for value in tp_fp_fn)
        return 100.0 * 2 * tp / max(1, 2 * tp + fp + fn)

    return {
        "short_gt_event_f": f_score(counts["short"]),
        "full_gt_event_f": f_score(counts["full"]),
        "predicted_short_share": 100.0 * sum(predicted_short.values()) / max(1, sum(predicted.values())),
        **{
            f"predicted_short_share_{modality}": 100.0 * predicted_short[modality] / max(1, predicted[modality])
            for modality in predicted
        },
    }


def _localise(checkpoint: Path, data: Path, target: Path) -> dict:
    """:func:`localisation` of a checkpoint on the test split (global gate), cached in ``target``."""
    cached = None if _stale(target, checkpoint) else json.loads(target.read_text())
    if cached is not None and set(LOCALISATION) <= set(cached):
        return cached
    split = load_split(LLPLayout(root=data), "test", pooled_visual=True, progress=False)
    pred_a, pred_v = predict(load_checkpoint(checkpoint), split).binarize("global")
    values = localisation(pred_a, pred_v, split.gt_audio, split.gt_visual)
    target.write_text(json.dumps(values, indent=2) + "\n")
    return values


def _epochs(run: Path) -> dict[str, int | bool]:
    """How far a run got: epochs completed (metrics.jsonl), the epoch its best.safetensors holds, finished or not."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    best = max((record["epoch"] for record in records if record.get("best")), default=0)
    return {"completed": len(records), "best": best, "finished": (run / "test_results.json").is_file()}


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


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0}


def _localisation_markdown(summary: dict) -> str:
    titles = (
        "event F, GT events shorter than the clip",
        "event F, full-length GT events",
        "predicted events shorter than the clip (%)",
        "of the audio events (%)",
        "of the visual events (%)",
    )
    lines = ["| Method (global gate) | " + " | ".join(titles) + " |", "|---|" + "---:|" * len(titles)]
    for name, values in summary.items():
        cells = " | ".join(
            f"{values[key]:.1f}"
            if isinstance(values[key], float)
            else f"{values[key]['mean']:.1f} ± {values[key]['std']:.1f}"
            for key in LOCALISATION
        )
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--jobs", type=int, default=1, help="training runs at a time")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per run (default: cpus / jobs)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="methods to report")
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="score the runs as they stand (best.safetensors of runs stopped early too); the JSON says how many epochs "
        "each completed",
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("overrides", nargs="*", help="key=value training overrides for every run (e.g. epochs=20)")
    args = parser.parse_args()
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    jobs = [job for seed in args.seeds for job in _jobs(args.data, args.out, seed, args.overrides)]
    jobs = _select(jobs, args.methods)
    methods = [method for method in METHODS if method in args.methods]
    if not args.no_train:
        _run_jobs(jobs, args.out, args.jobs, threads)
    result: dict = {
        "data": str(args.data),
        "seeds": args.seeds,
        "overrides": args.overrides,
        "methods": methods,
        "baselines": _baselines(args.data),
        "runs": {},
        "summary": {},
        "localisation": {"runs": {}, "summary": {}},
        "epochs": {},  # per run: epochs completed and the best (selected) epoch
    }
    for method in methods:
        for seed in args.seeds:
            result["epochs"][f"{method}/seed{seed}"] = _epochs(_run_dir(args.out, method, seed))
    layout = LLPLayout(root=args.data)
    annotations = load_annotations(layout, "test", warn=False)
    oracle = np.repeat((annotations.labels > 0.5).astype(np.uint8)[:, :, None], annotations.gt_audio.shape[2], axis=2)
    result["localisation"]["summary"]["weak-label oracle"] = localisation(
        oracle, oracle, annotations.gt_audio, annotations.gt_visual
    )
    for method in methods:
        values = []
        for seed in args.seeds:
            run = _run_dir(args.out, method, seed)
            values.append(_localise(run / "best.safetensors", args.data, run / "test_localisation.json"))
            result["localisation"]["runs"][f"{method}/seed{seed}"] = values[-1]
        result["localisation"]["summary"][method] = {key: _mean_std([v[key] for v in values]) for key in LOCALISATION}
    for gate in ("global", "modality"):
        summary = dict(result["baselines"]) if gate == "global" else {}
        for method in methods:
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
        print(_localisation_markdown(result["localisation"]["summary"]), file=sys.stderr)


if __name__ == "__main__":
    main()
