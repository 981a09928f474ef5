"""Small stateful helpers the trainer calls at fixed points: model selection, early stopping
and weight averaging.

Each one keeps its own state and exposes `state_dict()` / `load_state_dict()` (as ignite's
handlers do), so a checkpoint holds every handler's state under its own key and a resumed run
continues each one exactly where it stopped, instead of the trainer carrying loose counters.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


def selection_score(select: str, metrics: dict[str, float], epoch: int) -> float:
    """Higher is better. Never uses target test labels."""
    if select == "val_acc" and not math.isnan(metrics.get("val/acc", float("nan"))):
        return metrics["val/acc"]
    if select == "target_entropy" and not math.isnan(metrics.get("target/entropy", float("nan"))):
        return -metrics["target/entropy"]
    return float(epoch)


class BestCheckpoint:
    """Keeps the best selection score seen so far; `update` says whether this epoch is the new best."""

    def __init__(self, select: str) -> None:
        self.select = select
        self.score = -math.inf
        self.epoch = -1
        self.metrics: dict[str, float] = {}

    def update(self, epoch: int, metrics: dict[str, float]) -> bool:
        score = selection_score(self.select, metrics, epoch)
        if score <= self.score:
            return False
        self.score, self.epoch, self.metrics = score, epoch, dict(metrics)
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"score": self.score, "epoch": self.epoch, "metrics": dict(self.metrics)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.score, self.epoch, self.metrics = float(state["score"]), int(state["epoch"]), dict(state["metrics"])


class EarlyStopping:
    """Counts epochs without a new best; `should_stop` once `patience` of them passed (0: never)."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.stale_epochs = 0

    def update(self, improved: bool) -> None:
        self.stale_epochs = 0 if improved else self.stale_epochs + 1

    @property
    def should_stop(self) -> bool:
        return bool(self.patience) and self.stale_epochs >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"stale_epochs": self.stale_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stale_epochs = int(state["stale_epochs"])


def warmup_decay(decay: float, updates: int) -> float:
    """The effective decay after `updates` averaging steps: min(decay, (1 + t) / (10 + t)).

    TensorFlow's ExponentialMovingAverage with `num_updates` (and timm's EMA warm-up): the first
    updates barely average, so a short run is not pulled back towards its initial weights. A
    fixed 0.99 over a 110-step run would leave 0.99^110 = 33 % of the first step's weights.
    """
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightAveraging:
    """Exponential moving average of a model's weights and floating-point buffers, with warm-up.

    `module` is a copy of the model holding the averages (what the run deploys). Integer buffers
    (BatchNorm's batch counter) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.module = copy.deepcopy(model)
        self.module.requires_grad_(False)

    def _pairs(self, model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
        mine = list(self.module.state_dict(keep_vars=True).values())
        theirs = list(model.state_dict(keep_vars=True).values())
        return list(zip(mine, theirs, strict=True))

    @torch.no_grad()
    def update(self, model: nn.Module) -> float:
        """Fold the model's current weights into the average; returns the decay used."""
        d = warmup_decay(self.decay, self.updates)
        for avg, cur in self._pairs(model):
            if avg.dtype.is_floating_point:
                avg.lerp_(cur.detach().to(avg.dtype), 1.0 - d)
            else:
                avg.copy_(cur.detach())
        self.updates += 1
        return d

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "module": self.module.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "module" not in state:  # checkpoints of torch's AveragedModel (before the warm-up)
            prefix = "module."
            weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            counter = state.get("n_averaged", torch.tensor(0))
            state = {"updates": 10**6 if int(counter) else 0, "module": weights}
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
