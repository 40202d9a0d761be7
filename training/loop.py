"""The training loop: epochs over an in-memory split, validation, best / last checkpoints, resume, DDP.

Speed without changing the maths: the whole training split sits in memory (on the GPU when there is one) with the
visual frames already averaged per segment, batches are gathered by indexing, and there are no loader workers.

Reproducibility: the epoch's clip order comes from its own generator seeded by (seed, epoch), model noise
(dropout, drop-path, Gumbel) from the global torch RNG whose state is saved with every ``last.safetensors``; on CPU
with ``deterministic=True`` a resumed run ends with weights bit-identical to an uninterrupted one.

Safety (see ``training.rundir``): the run directory is locked while a process trains in it; every input (the splits,
their overlap, the test split, the refined labels) is checked before ``config.json`` is written; Ctrl-C in a
single-process run stops at the next step boundary after saving ``last.safetensors``; a failed write keeps the
previous file.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from mgn.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from mgn.data.llp import SPLITS, LLPLayout, Split, check_disjoint_splits, load_annotations, load_split
from mgn.inference import predict, score, split_tensors
from mgn.io import write_text_atomic
from mgn.losses import LossWeights, parser_loss, smoothed_targets, weighted_total
from mgn.metrics import Scores, format_table
from mgn.models import build_model
from mgn.models.weights import load_weights_strict
from training import distributed
from training.config import TrainConfig
from training.refinement import RefinedLabels, load_refined_labels
from training.rundir import RunFiles, RunLock, Start, plan_start, writing
from training.state import (
    ResumeError,
    ResumeState,
    capture_rng,
    missing_resume_state,
    optimizer_from_flat,
    optimizer_to_flat,
    restore_rng,
)

__all__ = [
    "RunFiles",
    "TrainResult",
    "TrainingDiverged",
    "TrainingInterrupted",
    "epoch_batches",
    "make_optimizer",
    "train",
]

_SELECTION_METRIC = ("segment", "type")  # official model selection: val segment-level Type@AV, ties to later epochs


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message says which checkpoint (if any) holds the last good state."""


class TrainingInterrupted(Exception):
    """Ctrl-C: the run stopped at a step boundary after saving last.safetensors; the message says how to resume."""


@dataclass
class TrainResult:
    run_dir: Path
    best_epoch: int
    best_score: float
    test_scores: dict[str, Any] | None


@dataclass
class _Data:
    """The checked inputs of a run."""

    layout: LLPLayout
    train: Split
    val: Split
    refined: RefinedLabels | None


def epoch_batches(num_clips: int, batch_size: int, seed: int, epoch: int) -> list[Tensor]:
    """The epoch's shuffled batches of clip indices (the last one may be smaller), the same on every process."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(num_clips, generator=generator)
    return list(order.split(batch_size))


class _Targets:
    """Per-clip training targets of the whole split, on the training device."""

    def __init__(self, config: TrainConfig, refined: RefinedLabels | None, labels: Tensor) -> None:
        self.config = config
        self.labels = labels
        self.audio_labels = self.visual_labels = self.global_labels = None
        if refined is not None:
            self.audio_labels = torch.from_numpy(refined.audio_labels.astype(np.float32)).to(labels.device)
            self.visual_labels = torch.from_numpy(refined.visual_labels.astype(np.float32)).to(labels.device)
            if config.refine_global_target == "official":  # MA's aliasing: audio removal also clears the global target
                self.global_labels = labels * self.audio_labels

    def __call__(self, rows: Tensor):
        pick = lambda values: None if values is None else values[rows]  # noqa: E731
        return smoothed_targets(
            self.labels[rows],
            audio_smoothing=self.config.audio_smoothing,
            visual_smoothing=self.config.visual_smoothing,
            audio_labels=pick(self.audio_labels),
            visual_labels=pick(self.visual_labels),
            global_labels=pick(self.global_labels),
        )


class _RunningTerms:
    """Sums of the loss terms of the current epoch, kept on the device (no per-term host sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.steps = 0

    def add(self, terms: dict[str, Tensor]) -> None:
        for name, value in terms.items():
            detached = value.detach().float()
            self.sums[name] = self.sums[name] + detached if name in self.sums else detached
        self.steps += 1

    def flush_into(self, state: ResumeState) -> None:
        for name, value in self.sums.items():
            state.running[name] = state.running.get(name, 0.0) + value.item()
        state.running_steps += self.steps
        self.sums, self.steps = {}, 0


class _StopRequest:
    """Ctrl-C (SIGINT) during the epochs asks the loop to stop at the next step boundary; a second one stops at
    once (KeyboardInterrupt). Installed only in the main thread of a single-process run (under DDP every process
    would have to stop at the same step)."""

    def __init__(self) -> None:
        self.requested = False

    def _handle(self, signum: int, frame: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def installed(self, enabled: bool) -> Iterator[_StopRequest]:
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """The official optimiser (Adam, default betas and eps) in its fused single-kernel form where torch has one
    (the same update rule; about 10 % faster steps on CPU, more on GPU)."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):  # torch builds / devices without a fused Adam
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)


def _loss_weights(config: TrainConfig) -> LossWeights:
    return LossWeights(
        global_bce=config.loss_global,
        audio_bce=config.loss_audio,
        visual_bce=config.loss_visual,
        class_tokens=config.loss_class_tokens,
        contrastive=config.contrastive_weight if config.contrastive else 0.0,
    )


def _notice(message: str) -> None:
    """One line for the user on stderr (state changes worth knowing: a restart, removed leftovers)."""
    print(f"note: {message}", file=sys.stderr, flush=True)


def _validate(model: nn.Module, split: Split, config: TrainConfig, device: torch.device) -> Scores:
    autocast = torch.bfloat16 if config.amp == "bf16" else None
    predictions = predict(model, split, batch_size=config.eval_batch_size, device=device, autocast_dtype=autocast)
    return score(predictions, split.gt_audio, split.gt_visual, gate=config.gate)


def _load_data(config: TrainConfig, progress: bool) -> _Data:
    """Load and check every input of the run, cheapest checks first (nothing is written to the run directory).

    Raises:
        FileNotFoundError / LLPFormatError / SplitOverlapError / FeatureFileError / RefinedLabelsError.
    """
    layout = config.llp_layout()
    if not layout.root.is_dir():
        raise FileNotFoundError(f"data directory not found: {layout.root}")
    for split in SPLITS:  # labels of all splits (test only if present: it is scored at the end)
        if split != "test" or layout.split_csv(split).is_file():
            load_annotations(layout, split, warn=False)
    check_disjoint_splits(layout)
    cache_dir = Path(config.feature_cache_dir) if config.feature_cache_dir else None

    def load(split: str) -> Split:
        return load_split(
            layout, split, pooled_visual=True, cache=config.cache_features, cache_dir=cache_dir, progress=progress
        )

    train_split, val_split = load("train"), load("val")
    refined = load_refined_labels(config.refined_labels, train_split) if config.refined_labels else None
    return _Data(layout, train_split, val_split, refined)


def _save_last(
    files: RunFiles, config: TrainConfig, model: nn.Module, optimizer, scheduler, state: ResumeState, device
) -> None:
    optimizer_tensors, optimizer_description = optimizer_to_flat(optimizer)
    metadata = {
        **config.checkpoint_metadata(),
        **state.to_metadata(),
        "optimizer": optimizer_description,
        "scheduler": json.dumps(scheduler.state_dict()),
    }
    with writing(files.last):
        save_checkpoint(files.last, model, metadata=metadata, extra={**optimizer_tensors, **capture_rng(device)})
    with writing(files.metrics):
        write_text_atomic(files.metrics, "".join(json.dumps(record) + "\n" for record in state.history))


def _restore_last(files: RunFiles, config: TrainConfig, model: nn.Module, optimizer, scheduler, device) -> ResumeState:
    """Load weights, optimizer, scheduler and RNG states from last.safetensors.

    Raises:
        CheckpointError: unreadable file.
        ResumeError: a weights-only checkpoint (e.g. a copy of best.safetensors) or a damaged training state.
        ValueError: the checkpoint's model config differs from config.json's.
    """
    checkpoint = read_checkpoint(files.last, arch=config.model)
    if checkpoint.config != config.model_settings():
        raise ValueError(
            f"{files.last} holds a model with config {checkpoint.config}, but {files.config} asks for "
            f"{config.model_settings()}"
        )
    missing = missing_resume_state(checkpoint.metadata, checkpoint.extra)
    if missing:
        raise ResumeError(
            f"{files.last} holds weights but no training state (missing {', '.join(missing)}); is it a copy of "
            f"{files.best.name}? Restore the real {files.last.name}, or move it away to start this config from "
            f"scratch (move {files.metrics.name} away too)"
        )
    load_weights_strict(model, checkpoint.state_dict, str(files.last))
    try:
        optimizer_from_flat(optimizer, checkpoint.extra, checkpoint.metadata["optimizer"])
        scheduler.load_state_dict(json.loads(checkpoint.metadata["scheduler"]))
        restore_rng(checkpoint.extra, device)
        return ResumeState.from_metadata(checkpoint.metadata)
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise ResumeError(f"{files.last}: damaged training state: {error}") from error


@contextlib.contextmanager
def _torch_settings(config: TrainConfig, device: torch.device):
    """Thread count and deterministic algorithms for the run, restored afterwards (no global state leaks)."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.deterministic and device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def train(config: TrainConfig, *, resume: bool = False, progress: bool = True) -> TrainResult:
    """Train ``config.model`` on ``config.data`` into ``config.out`` (see :class:`TrainConfig`).

    Under torchrun every process calls this; only rank 0 writes files and logs. With ``resume``, a run directory
    that holds no checkpoint yet starts its config.json from scratch (with a note on stderr).

    Raises:
        FileExistsError: ``out`` already holds a run's progress and ``resume`` is False (see ``rundir.plan_start``).
        RunLockedError: another process trains in ``out``.
        FileNotFoundError / LLPFormatError / SplitOverlapError / FeatureFileError / RefinedLabelsError: bad data.
        ResumeError: last.safetensors holds no (or a damaged) training state.
        RunWriteError: a run file could not be written (the previous version is kept).
        TrainingDiverged: the loss became NaN or infinite (naming epoch, step, clips and the last good checkpoint).
        TrainingInterrupted: Ctrl-C, after saving last.safetensors.
    """
    context = distributed.start(config.device)
    try:
        with _torch_settings(config, context.device):
            return _train(config, context, resume=resume, progress=progress and context.is_main)
    finally:
        distributed.stop(context)


def _train(config: TrainConfig, context: distributed.DistContext, *, resume: bool, progress: bool) -> TrainResult:
    files = RunFiles(Path(config.out))
    with RunLock(files.root) if context.is_main else contextlib.nullcontext():
        start = context.broadcast_object(plan_start(files, resume) if context.is_main else None)
        data = _load_data(config, progress)
        run = _Run(config, context, files, data, start, progress)  # builds the model, restores last.safetensors
        if context.is_main:
            _enter_run_dir(files, config, start)
        context.barrier()
        return run.fit()


def _enter_run_dir(files: RunFiles, config: TrainConfig, start: Start) -> None:
    """Remove leftovers of killed saves, tell what is restarted, and write config.json for a fresh start."""
    removed = files.remove_stale_temporaries()
    if removed:
        names = ", ".join(path.name for path in removed)
        _notice(f"removed {len(removed)} temporary file(s) left by an interrupted save in {files.root}: {names}")
    if start.note:
        _notice(start.note)
    if start.mode == "fresh":
        with writing(files.config):
            write_text_atomic(files.config, json.dumps(config.to_dict(), indent=2) + "\n")


class _Run:
    """One training run in progress: model, optimiser, scheduler, resume state and the run's files."""

    def __init__(
        self,
        config: TrainConfig,
        context: distributed.DistContext,
        files: RunFiles,
        data: _Data,
        start: Start,
        progress: bool,
    ) -> None:
        self.config, self.context, self.files, self.data, self.progress = config, context, files, data, progress
        self.device = device = context.device
        self.inputs = split_tensors(data.train, device)
        self.targets = _Targets(config, data.refined, self.inputs["labels"])
        torch.manual_seed(config.seed)  # identical initial weights on every process
        self.model = build_model(config.model, config.model_settings()).to(device)
        self.optimizer = make_optimizer(self.model, config.lr, config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=config.lr_step_size, gamma=config.lr_gamma
        )
        torch.manual_seed(config.seed + context.rank)  # per-process noise (dropout, drop-path, Gumbel)
        self.state = ResumeState()
        self.saved_at: tuple[int, int] | None = None  # (epoch, step_in_epoch) of the last save of last.safetensors
        if start.from_checkpoint:
            self.state = _restore_last(files, config, self.model, self.optimizer, self.scheduler, device)
            self.saved_at = (self.state.epoch, self.state.step_in_epoch)
        self.trained = (
            DistributedDataParallel(self.model, device_ids=[device] if device.type == "cuda" else None)
            if context.distributed
            else self.model
        )
        self.weights = _loss_weights(config)
        self.stop = _StopRequest()

    def fit(self) -> TrainResult:
        with self.stop.installed(enabled=not self.context.distributed):
            for epoch in range(self.state.epoch, self.config.epochs):
                self._epoch(epoch)
        context = self.context
        test_scores = None
        if context.is_main:
            test_scores = _final_test(self.files, self.config, self.data.layout, self.device, self.progress)
        best = context.broadcast_object((self.state.best_epoch, self.state.best_score))
        return TrainResult(self.files.root, best[0], best[1], test_scores)

    def save_last(self) -> None:
        """Save last.safetensors (rank 0) and remember where (every rank, for the messages)."""
        if self.context.is_main:
            _save_last(self.files, self.config, self.model, self.optimizer, self.scheduler, self.state, self.device)
        self.saved_at = (self.state.epoch, self.state.step_in_epoch)

    def _epoch(self, epoch: int) -> None:
        config, context, state = self.config, self.context, self.state
        started = time.perf_counter()
        batches = epoch_batches(len(self.data.train), config.batch_size, config.seed, epoch)
        if context.distributed:  # every process needs at least one clip of each global batch
            batches = [rows for rows in batches if len(rows) >= context.world_size]
        self.model.train()
        running = _RunningTerms()
        bar = tqdm(
            total=len(batches),
            initial=state.step_in_epoch,
            desc=f"epoch {epoch + 1}/{config.epochs}",
            unit="step",
            disable=not self.progress,
            dynamic_ncols=True,
        )
        for step in range(state.step_in_epoch, len(batches)):
            self._step(epoch, step, batches[step], running, bar)
            due = config.checkpoint_every and state.global_step % config.checkpoint_every == 0
            if due or self.stop.requested:
                running.flush_into(state)
                self.save_last()
            if self.stop.requested:
                bar.close()
                raise self._interrupted()
        bar.close()
        running.flush_into(state)
        self._end_epoch(epoch, started)
        if self.stop.requested:  # during validation or the end-of-epoch save, which is complete now
            raise self._interrupted()

    def _step(self, epoch: int, step: int, global_rows: Tensor, running: _RunningTerms, bar) -> None:
        config, context, state = self.config, self.context, self.state
        rows = global_rows[context.rank :: context.world_size].to(self.device)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.amp == "bf16"):
            inputs = self.inputs
            output = self.trained(inputs["audio"][rows], inputs["visual"][rows], inputs["visual_st"][rows])
            terms = parser_loss(
                output,
                self.targets(rows),
                self.weights,
                contrastive_temperature=config.contrastive_temperature,
                contrastive_smoothing=config.contrastive_smoothing,
            )
        # Under DDP, gradients are averaged over processes: re-weight the batch means so that the average equals
        # the single-process gradient of the global batch, also for unequal shards.
        loss = weighted_total(terms, self.weights, batch_scale=len(rows) * context.world_size / len(global_rows))
        loss_value = loss.item()  # one host sync per step: the NaN check needs it anyway
        if not math.isfinite(loss_value):
            raise self._diverged(loss_value, epoch, step, global_rows)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        state.step_in_epoch, state.global_step = step + 1, state.global_step + 1
        running.add(terms)
        bar.update()
        bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{self.optimizer.param_groups[0]['lr']:.1e}", refresh=False)

    def _end_epoch(self, epoch: int, started: float) -> None:
        state, files = self.state, self.files
        learning_rate = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        record = {
            "epoch": epoch + 1,
            "lr": learning_rate,
            "steps": state.running_steps,
            "train_loss": {name: total / max(1, state.running_steps) for name, total in state.running.items()},
        }
        state.epoch, state.step_in_epoch, state.running, state.running_steps = epoch + 1, 0, {}, 0
        if self.context.is_main:
            record["val"] = _validate(self.model, self.data.val, self.config, self.device).to_json()
            selection = record["val"][_SELECTION_METRIC[0]][_SELECTION_METRIC[1]]
            record["best"] = selection >= state.best_score
            if record["best"]:
                state.best_score, state.best_epoch = selection, epoch + 1
                with writing(files.best):
                    metadata = {"epoch": epoch + 1, "val_scores": record["val"], **self.config.checkpoint_metadata()}
                    save_checkpoint(files.best, self.model, metadata=metadata)
            record["time_s"] = round(time.perf_counter() - started, 3)
            state.history.append(record)
            self.save_last()
            if self.progress:
                tqdm.write(_epoch_line(record))
        self.context.barrier()

    def _where_saved(self) -> str:
        epoch, step = self.saved_at
        return f"after epoch {epoch}" if step == 0 else f"at epoch {epoch + 1}, step {step}"

    def _diverged(self, loss_value: float, epoch: int, step: int, global_rows: Tensor) -> TrainingDiverged:
        clips = ", ".join(self.data.train.filenames[global_rows.numpy()][:4])
        if self.saved_at is not None:
            kept = f"the last good checkpoint is kept: {self.files.last} (saved {self._where_saved()})"
        else:
            kept = (
                f"no checkpoint was saved before it, so {self.files.root} holds only its config.json: run the "
                "command again (e.g. with a lower lr) to restart it"
            )
        return TrainingDiverged(
            f"loss is {loss_value} at epoch {epoch + 1}, step {step + 1} (global step {self.state.global_step + 1}), "
            f"batch of {len(global_rows)} clips starting {clips}; {kept}"
        )

    def _interrupted(self) -> TrainingInterrupted:
        return TrainingInterrupted(
            f"interrupted: saved {self.files.last} ({self._where_saved()}); resume with: "
            f"python -m training.train --resume {self.files.root}"
        )


def _epoch_line(record: dict[str, Any]) -> str:
    seg, event = record["val"]["segment"], record["val"]["event"]
    return (
        f"epoch {record['epoch']}: loss {record['train_loss'].get('total', math.nan):.4f}, lr {record['lr']:.1e}, "
        f"val segment A {seg['audio']:.1f} V {seg['visual']:.1f} AV {seg['audio_visual']:.1f} "
        f"Type {seg['type']:.1f} Event {seg['event']:.1f} | event-level Type {event['type']:.1f}"
        f"{' (best)' if record['best'] else ''}"
    )


def _final_test(files: RunFiles, config: TrainConfig, layout, device: torch.device, progress: bool) -> dict | None:
    """Evaluate the best checkpoint on the test split; write test_results.json. Rank 0 only."""
    if not layout.split_csv("test").is_file():
        return None
    test_split = load_split(
        layout,
        "test",
        pooled_visual=True,
        cache=config.cache_features,
        cache_dir=Path(config.feature_cache_dir) if config.feature_cache_dir else None,
        progress=progress,
    )
    model = load_checkpoint(files.best, arch=config.model).to(device)
    scores = _validate(model, test_split, config, device)
    best_epoch = int(read_checkpoint(files.best).metadata.get("epoch", 0))
    result = {
        "checkpoint": files.best.name,
        "best_epoch": best_epoch,
        "split": "test",
        "gate": config.gate,
        "clips": len(test_split),
        **scores.to_json(),
    }
    with writing(files.test_results):
        write_text_atomic(files.test_results, json.dumps(result, indent=2) + "\n")
    if progress:
        tqdm.write(format_table(scores, title=f"{config.model.upper()} best epoch {best_epoch}, test split"))
    return result
