"""One optimiser step, shared by every loop: learning rate, forward under autocast, the
non-finite-loss guard, backward through the GradScaler, the update and weight averaging.

The loops only say how a step's loss is computed (images through the method, or cached
features through the head); everything that must be the same for every loop lives here, so
a new loop cannot silently skip the scaler or the NaN guard.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.methods import Method, StepResult
from engine.training.devices import autocast
from engine.training.distributed import DistInfo, agree_step
from engine.training.handlers import WeightAveraging


class NonFiniteLoss(UserError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Linear warm-up for `warmup` steps, then cosine decay to 0 (or constant)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    p = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


@dataclass
class Position:
    """Where the run is: whole epochs done, optimiser steps done, steps into the current epoch,
    and the RNG state to replay when a run stopped in the middle of an epoch."""

    epoch: int = 0
    step: int = 0
    step_in_epoch: int = 0
    epoch_rng: dict[str, Any] | None = None


@dataclass
class StepOutcome:
    loss: float
    acc: float
    metrics: dict[str, float]


class OptimiserStep:
    """Everything one step does after the loop has computed its loss."""

    def __init__(
        self,
        method: Method,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        position: Position,
        *,
        total_steps: int,
        warmup_steps: int,
        schedule: str,
        amp: bool,
        device: torch.device,
        control: JobControl,
        dist_info: DistInfo | None,
        averaging: WeightAveraging | None,
    ) -> None:
        self.method, self.optimizer, self.scaler, self.pos = method, optimizer, scaler, position
        self.total_steps, self.warmup_steps, self.schedule = total_steps, warmup_steps, schedule
        self.amp, self.device, self.control, self.dist = amp, device, control, dist_info
        self.averaging = averaging

    def set_lr(self) -> float:
        p = self.pos.step / max(1, self.total_steps)
        mult = self.method.lr_multiplier(p)
        if mult is None:
            mult = lr_factor(self.pos.step, self.total_steps, self.warmup_steps, self.schedule)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * mult
        return float(self.optimizer.param_groups[-1]["lr"])

    def check_stop(self) -> None:
        """Pause or stop between steps (single process; under torchrun the stop is agreed in `__call__`)."""
        if self.dist is None:
            self.control.check()

    def __call__(self, compute: Callable[[], StepResult], y: torch.Tensor) -> StepOutcome:
        """Run `compute` (the forward pass and loss), then backward and update. The loop calls
        `check_stop` before it draws the step's batch."""
        lr = self.set_lr()
        with autocast(self.device, self.amp):
            out = compute()
        value, stop = agree_step(float(out.loss.detach()), self.control.stop_requested, self.dist, self.device)
        if stop:
            raise Stopped()
        if not math.isfinite(value):
            raise NonFiniteLoss(
                f"the loss became {value} at step {self.pos.step + 1} (epoch {self.pos.epoch + 1}). The run stopped "
                "and kept its last good checkpoint. Lower the learning rate, or check the images of that domain."
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(out.loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.averaging is not None:
            self.averaging.update(self.method.model)
        self.pos.step += 1
        self.pos.step_in_epoch += 1
        if out.accuracy is not None:  # a method with its own accuracy (multitask: labels per task)
            acc = out.accuracy
        else:
            acc = float((out.logits_source.detach().argmax(1) == y).float().mean())
        return StepOutcome(value, acc, {"loss": value, "lr": lr, **out.metrics})


def make_optimizer(groups: list[dict[str, Any]], kind: str, weight_decay: float) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum 0.9) or AdamW over the method's parameter groups; each group keeps
    its starting learning rate as `base_lr`, which the schedule scales."""
    for g in groups:
        g["base_lr"] = g["lr"]
    if kind == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, weight_decay=weight_decay)
