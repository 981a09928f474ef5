"""What `last.pt` holds to resume a run besides the deployable weights: the method (with its
extra modules), optimiser, scaler, the run's position and every handler's own state.

Checkpoints written before the handlers existed keep their loose keys (best_score, stale_epochs,
an AveragedModel's `ema`); they are read into the handlers, so old stopped runs still resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from engine.training.step import Position


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class Resumable:
    """The parts of a run that a checkpoint restores."""

    method: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    position: Position
    handlers: dict[str, Stateful | None]  # name -> handler (None: not used by this run)
    world: int  # processes training the run


def training_state(parts: Resumable) -> dict[str, Any]:
    pos = parts.position
    return {
        "method": parts.method.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "step": pos.step,
        "step_in_epoch": pos.step_in_epoch,
        "epoch_rng": pos.epoch_rng,
        "world": parts.world,
        "handlers": {name: h.state_dict() for name, h in parts.handlers.items() if h is not None},
    }


def _legacy_handlers(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        "best": {"score": state["best_score"], "epoch": state["best_epoch"], "metrics": state["best_metrics"]},
        "early_stop": {"stale_epochs": state["stale_epochs"]},
    }
    if state.get("ema") is not None:
        out["averaging"] = state["ema"]
    return out


def restore_state(parts: Resumable, state: dict[str, Any]) -> list[str]:
    """Load `state` into the run's parts; returns warnings for the user."""
    parts.method.load_state_dict(state["method"])
    parts.optimizer.load_state_dict(state["optimizer"])
    parts.scaler.load_state_dict(state["scaler"])
    pos = parts.position
    pos.epoch, pos.step, pos.step_in_epoch = int(state["epoch"]), int(state["step"]), int(state["step_in_epoch"])
    pos.epoch_rng = state.get("epoch_rng")
    handler_states = state.get("handlers") or _legacy_handlers(state)
    for name, handler in parts.handlers.items():
        if handler is not None and name in handler_states:
            handler.load_state_dict(handler_states[name])
    warnings = []
    world = int(state.get("world", 1))
    if world != parts.world:
        warnings.append(
            f"This run was trained by {world} process(es) and resumes with {parts.world}. The global batch "
            "and the order of images stay the same, but each process now normalises a different share of "
            "every batch (BatchNorm), so the run will not end exactly where it would have."
        )
    return warnings
