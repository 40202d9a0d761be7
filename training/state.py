"""Everything needed to resume a run bit-for-bit, stored inside ``last.safetensors`` (no pickle).

Tensors (optimizer moments, RNG states) go into the checkpoint's ``extra/`` tensors; small values (epoch, step,
best score, optimizer hyper-parameters, scheduler state, metric history) into its JSON metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "RESUME_METADATA",
    "ResumeError",
    "ResumeState",
    "capture_rng",
    "missing_resume_state",
    "optimizer_from_flat",
    "optimizer_to_flat",
    "restore_rng",
]

_OPTIMIZER = "optimizer/"
_RNG = "rng/"
RESUME_METADATA = ("resume", "history", "optimizer", "scheduler")  # what last.safetensors adds to a checkpoint


class ResumeError(ValueError):
    """A checkpoint cannot be resumed from: it lacks the training state, or that state is damaged."""


def missing_resume_state(metadata: dict[str, str], extra: dict[str, Tensor]) -> list[str]:
    """The parts of the training state that a checkpoint lacks (empty: it can be resumed from)."""
    missing = [f"metadata {name!r}" for name in RESUME_METADATA if name not in metadata]
    if f"{_RNG}cpu" not in extra:
        missing.append(f"tensor 'extra/{_RNG}cpu'")
    return missing


@dataclass
class ResumeState:
    """Where a run stands.

    Attributes:
        epoch: epochs fully completed (the next epoch to run, 0-based).
        step_in_epoch: optimizer steps already done in ``epoch`` (0 at an epoch boundary).
        global_step: optimizer steps since the start of the run.
        best_score: best validation score so far (segment-level Type@AV), -inf before the first validation.
        best_epoch: 1-based epoch of the best score (0: none yet).
        history: one dict per completed epoch, as written to metrics.jsonl.
        running: sums of the loss terms over the steps done in the current epoch (for its metrics record).
        running_steps: the number of those steps.
    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_score: float = float("-inf")
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    running: dict[str, float] = field(default_factory=dict)
    running_steps: int = 0

    def to_metadata(self) -> dict[str, str]:
        return {
            "resume": json.dumps(
                {
                    "epoch": self.epoch,
                    "step_in_epoch": self.step_in_epoch,
                    "global_step": self.global_step,
                    "best_score": self.best_score if self.best_score != float("-inf") else None,
                    "best_epoch": self.best_epoch,
                    "running": self.running,
                    "running_steps": self.running_steps,
                }
            ),
            "history": json.dumps(self.history),
        }

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> ResumeState:
        """Inverse of :meth:`to_metadata`.

        Raises:
            ResumeError: missing or malformed values.
        """
        try:
            values = json.loads(metadata["resume"])
            best = values.pop("best_score")
            history = json.loads(metadata["history"])
            state = cls(**values, best_score=float("-inf") if best is None else best, history=history)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ResumeError(f"malformed progress record ({type(error).__name__}: {error})") from None
        counters = (state.epoch, state.step_in_epoch, state.global_step, state.best_epoch, state.running_steps)
        if not all(isinstance(value, int) and value >= 0 for value in counters) or not isinstance(state.history, list):
            raise ResumeError(f"malformed progress record: {metadata['resume']}")
        return state


def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], str]:
    """An optimizer's state as (named tensors, JSON of the param groups and of non-tensor per-parameter values)."""
    state = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, Tensor):
                tensors[f"{_OPTIMIZER}{index}/{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, json.dumps({"param_groups": state["param_groups"], "scalars": scalars})


def optimizer_from_flat(optimizer: torch.optim.Optimizer, tensors: dict[str, Tensor], description: str) -> None:
    """Inverse of :func:`optimizer_to_flat`; ``tensors`` holds the checkpoint's extra tensors."""
    meta = json.loads(description)
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith(_OPTIMIZER):
            index, name = key[len(_OPTIMIZER) :].split("/", 1)
            state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def capture_rng(device: torch.device) -> dict[str, Tensor]:
    """The global torch RNG states that drive dropout, drop-path and Gumbel noise."""
    states = {f"{_RNG}cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states[f"{_RNG}cuda"] = torch.cuda.get_rng_state(device)
    return states


def restore_rng(tensors: dict[str, Tensor], device: torch.device) -> None:
    torch.set_rng_state(tensors[f"{_RNG}cpu"])
    if device.type == "cuda" and f"{_RNG}cuda" in tensors:
        torch.cuda.set_rng_state(tensors[f"{_RNG}cuda"], device)
