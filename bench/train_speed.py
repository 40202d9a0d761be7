"""Training and evaluation speed, ours vs the official order of computation, side by side; prints JSON.

For HAN and MGN at their README (official default) configs, batch 16:

* ``step``: one training step (forward, the official loss, backward, Adam), median over ``--steps`` after warm-up.
  ours: pooled visual input from memory (the training loop's path); reference: ``bench/official_order.py`` with
  all 80 frames (the official computation) on the same weights.
* ``epoch``: one epoch over an LLP-sized split (``--epoch-clips``, default 10,000). ours: measured, batches gathered
  by indexing in-memory tensors as ``training.loop`` does; reference: the official data path (a DataLoader with
  workers reading three ``.npy`` files per clip) plus the official-order model, timed over ``--reference-steps``
  steps and extrapolated (stated in the output).
* ``eval``: predictions and metrics for 1,200 clips. ours: ``mgn.inference.predict`` (batch 256) + ``avvp_scores``;
  reference: the official test loop (batch 1) + per-clip metrics (the oracle of bench/official_metrics.py).
* ``peak_memory_mb``: peak resident memory of a fresh process doing that measurement (GPU: peak allocated).

Each measurement runs in its own process. Also checks that ours and the reference give the same outputs (eval mode).
Usage: ``python bench/train_speed.py [--device cuda] [--amp bf16] [--steps 20] [--epoch-clips 10000]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.official_metrics import oracle_clip_scores, oracle_event_counts, oracle_segment_counts  # noqa: E402
from bench.official_order import official_order_forward  # noqa: E402
from mgn.inference import predict  # noqa: E402
from mgn.losses import parser_loss, smoothed_targets  # noqa: E402
from mgn.metrics import avvp_scores, binarize  # noqa: E402
from mgn.models import build_model  # noqa: E402
from training.loop import make_optimizer  # noqa: E402

BATCH = 16
EVAL_CLIPS = 1200


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _features(clips: int, frames: int, seed: int, device: torch.device) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "audio": torch.randn(clips, 10, 128, generator=generator).to(device),
        "visual": torch.rand(clips, frames, 2048, generator=generator).to(device),
        "visual_st": torch.rand(clips, 10, 512, generator=generator).to(device),
        "labels": (torch.rand(clips, 25, generator=generator) < 0.07).float().to(device),
    }


def _model(arch: str, device: torch.device) -> torch.nn.Module:
    torch.manual_seed(1)
    return build_model(arch).to(device).train()


def _optimizer(model: torch.nn.Module, variant: str) -> torch.optim.Optimizer:
    """ours: the training loop's optimiser; reference: the official plain ``Adam(lr=3e-4)``."""
    return make_optimizer(model, 3e-4) if variant == "ours" else torch.optim.Adam(model.parameters(), lr=3e-4)


def _step(model, forward, batch, optimizer, device, amp: bool) -> None:
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        output = forward(model, batch["audio"], batch["visual"], batch["visual_st"])
        loss = parser_loss(output, smoothed_targets(batch["labels"]))["total"]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def _ours(model, audio, visual, visual_st):
    return model(audio, visual, visual_st)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def measure_step(arch: str, variant: str, device_name: str, amp: bool, steps: int) -> dict:
    device = torch.device(device_name)
    model = _model(arch, device)
    optimizer = _optimizer(model, variant)
    frames = 10 if variant == "ours" else 80
    data = _features(BATCH, frames, 0, device)
    forward = _ours if variant == "ours" else official_order_forward
    times = []
    for index in range(steps + 3):
        _synchronize(device)
        started = time.perf_counter()
        _step(model, forward, data, optimizer, device, amp)
        _synchronize(device)
        if index >= 3:
            times.append(time.perf_counter() - started)
    return {"step_ms": 1000 * statistics.median(times), "peak_memory_mb": _peak_memory_mb(device)}


def measure_epoch_ours(arch: str, device_name: str, amp: bool, clips: int) -> dict:
    device = torch.device(device_name)
    model = _model(arch, device)
    optimizer = _optimizer(model, "ours")
    data = _features(clips, 10, 1, device)  # the whole split in memory, visual frames averaged per segment
    order = torch.randperm(clips, generator=torch.Generator().manual_seed(0)).to(device)
    _synchronize(device)
    started = time.perf_counter()
    for rows in order.split(BATCH):
        _step(model, _ours, {name: values[rows] for name, values in data.items()}, optimizer, device, amp)
    _synchronize(device)
    return {
        "epoch_s": time.perf_counter() - started,
        "steps": -(-clips // BATCH),
        "measured": True,
        "peak_memory_mb": _peak_memory_mb(device),
    }


class _FileDataset(torch.utils.data.Dataset):
    """Reads the three feature files of a clip at every access, like the official dataloader."""

    def __init__(self, layout, split) -> None:
        self.layout, self.split = layout, split

    def __len__(self) -> int:
        return len(self.split)

    def _load(self, modality: str, index: int) -> torch.Tensor:
        return torch.from_numpy(np.load(self.layout.feature_path(modality, self.split.video_ids[index])))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "audio": self._load("audio", index),
            "video_s": self._load("visual", index),
            "video_st": self._load("visual_st", index),
            "label": torch.from_numpy(self.split.labels[index]),
        }


def measure_epoch_reference(arch: str, device_name: str, amp: bool, clips: int, steps: int) -> dict:
    """The official data path: per-clip .npy files read by DataLoader workers, batches copied to the device."""
    from mgn.data.llp import LLPLayout, load_annotations
    from mgn.data.synthetic.dataset import generate_dataset

    device = torch.device(device_name)
    with tempfile.TemporaryDirectory() as folder:
        generate_dataset(folder, sizes={"train": BATCH * (steps + 2)}, seed=0, progress=False)

        layout = LLPLayout(root=Path(folder))
        annotations = load_annotations(layout, "train")  # labels and IDs; features come from the files
        loader = torch.utils.data.DataLoader(
            _FileDataset(layout, annotations),
            batch_size=BATCH,
            shuffle=True,
            num_workers=min(12, os.cpu_count() or 1),
            drop_last=True,
            pin_memory=device.type == "cuda",
        )
        model = _model(arch, device)
        optimizer = _optimizer(model, "reference")
        times = []
        iterator = iter(loader)
        for index in range(steps + 2):
            _synchronize(device)
            started = time.perf_counter()
            sample = next(iterator)
            batch = {
                "audio": sample["audio"].to(device),
                "visual": sample["video_s"].to(device),
                "visual_st": sample["video_st"].to(device),
                "labels": sample["label"].float().to(device),
            }
            _step(model, official_order_forward, batch, optimizer, device, amp)
            _synchronize(device)
            if index >= 2:
                times.append(time.perf_counter() - started)
    total_steps = -(-clips // BATCH)
    return {
        "epoch_s": statistics.mean(times) * total_steps,
        "steps": total_steps,
        "measured": False,
        "extrapolated_from_steps": steps,
        "peak_memory_mb": _peak_memory_mb(device),
    }


def _eval_data(device: torch.device):
    data = _features(EVAL_CLIPS, 80, 2, torch.device("cpu"))
    generator = np.random.default_rng(3)
    gt_a = (generator.random((EVAL_CLIPS, 25, 10)) < 0.05).astype(np.uint8)
    gt_v = (generator.random((EVAL_CLIPS, 25, 10)) < 0.04).astype(np.uint8)
    return data, gt_a, gt_v


def measure_eval(arch: str, variant: str, device_name: str, amp: bool) -> dict:
    from mgn.data.llp import Split

    device = torch.device(device_name)
    model = _model(arch, device).eval()
    data, gt_a, gt_v = _eval_data(device)
    started = time.perf_counter()
    if variant == "ours":
        visual = data["visual"].view(EVAL_CLIPS, 10, 8, 2048).mean(dim=2)  # pooled once when the split is loaded
        names = np.array([f"clip{i:07d}_0_10" for i in range(EVAL_CLIPS)])
        split = Split(
            "test",
            names,
            names,
            data["labels"].numpy(),
            data["audio"].numpy(),
            visual.numpy(),
            data["visual_st"].numpy(),
            gt_a,
            gt_v,
        )
        started = time.perf_counter()
        predictions = predict(
            model, split, batch_size=256, device=device, autocast_dtype=torch.bfloat16 if amp else None
        )
        pred_a, pred_v = predictions.binarize()
        avvp_scores(pred_a, pred_v, gt_a, gt_v)
    else:
        with torch.no_grad():
            for index in range(EVAL_CLIPS):  # the official test loop: batch 1, metrics per clip
                inputs = [data[name][index : index + 1].to(device) for name in ("audio", "visual", "visual_st")]
                out = official_order_forward(model, *inputs)
                pred_a, pred_v = binarize(
                    out.global_prob.cpu().numpy(), out.a_frame_prob.cpu().numpy(), out.v_frame_prob.cpu().numpy()
                )
                for count in (oracle_segment_counts, oracle_event_counts):
                    oracle_clip_scores(pred_a[0], pred_v[0], gt_a[index], gt_v[index], count)
    _synchronize(device)
    return {"eval_s": time.perf_counter() - started, "clips": EVAL_CLIPS, "peak_memory_mb": _peak_memory_mb(device)}


def check_same_outputs(arch: str, device_name: str) -> float:
    device = torch.device(device_name)
    model = _model(arch, device).eval()
    data = _features(4, 80, 4, device)
    with torch.no_grad():
        ours = model(data["audio"], data["visual"], data["visual_st"])
        reference = official_order_forward(model, data["audio"], data["visual"], data["visual_st"])
    names = ("global_prob", "a_prob", "v_prob", "a_frame_prob", "v_frame_prob")
    return max((getattr(ours, name) - getattr(reference, name)).abs().max().item() for name in names)


def _in_fresh_process(function, *args):
    """Run ``function(*args)`` in a new (non-daemonic) process, for an isolated peak memory; return its result."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", choices=("none", "bf16"), default="none")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per step measurement")
    parser.add_argument("--epoch-clips", type=int, default=10_000)
    parser.add_argument("--reference-steps", type=int, default=20, help="steps timed for the extrapolated epoch")
    parser.add_argument("--models", nargs="+", default=["han", "mgn"])
    args = parser.parse_args()
    amp = args.amp == "bf16"
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "device": args.device,
            "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        },
        "batch_size": BATCH,
        "amp": args.amp,
    }
    for arch in args.models:
        entry: dict = {"max_abs_output_difference": check_same_outputs(arch, args.device)}
        for variant in ("ours", "reference"):
            entry[variant] = {
                "step": _in_fresh_process(measure_step, arch, variant, args.device, amp, args.steps),
                "eval": _in_fresh_process(measure_eval, arch, variant, args.device, amp),
            }
        entry["ours"]["epoch"] = _in_fresh_process(measure_epoch_ours, arch, args.device, amp, args.epoch_clips)
        entry["reference"]["epoch"] = _in_fresh_process(
            measure_epoch_reference, arch, args.device, amp, args.epoch_clips, args.reference_steps
        )
        entry["speedup"] = {
            "step": entry["reference"]["step"]["step_ms"] / entry["ours"]["step"]["step_ms"],
            "epoch": entry["reference"]["epoch"]["epoch_s"] / entry["ours"]["epoch"]["epoch_s"],
            "eval": entry["reference"]["eval"]["eval_s"] / entry["ours"]["eval"]["eval_s"],
        }
        results[arch] = entry
        print(json.dumps({arch: entry}), file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
