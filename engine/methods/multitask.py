"""Multitask learning: one network, one head per task, every task's labels in every step.

Tasks share the backbone up to `shared_stages` and branch there (engine.multitask.model); the
task losses are combined equally, with Kendall et al.'s learned uncertainty weights, or with
PCGrad's gradient surgery (engine.multitask.losses). A scarce task learns from the features the
plentiful one shapes: see the README's *Multitask learning* for the measurement.

Runs with task folders (`--task NAME=FOLDER`) or a labels table (`--labels CSV`); the trainer
reads them through engine.multitask.data. Per-task losses and accuracies are step metrics
(`task/<name>/loss`, `task/<name>/acc`), so the Train page plots them live.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from engine.core.errors import UserError
from engine.core.events import Emit
from engine.data.prepare import PreparedData
from engine.methods.base import Batch, Method, MethodConfig, MethodContext, StepResult
from engine.models.classifier import ImageClassifier
from engine.multitask.losses import MISSING, UncertaintyWeights, pcgrad_surrogate, task_accuracy, task_loss
from engine.multitask.model import MultitaskClassifier
from engine.training.devices import to_device_float

Weighting = Literal["equal", "uncertainty", "pcgrad"]


class MultitaskConfig(MethodConfig):
    weighting: Weighting = Field(
        "equal",
        description="How task losses combine: equal (their sum), uncertainty (learned weights, Kendall 2018) "
        "or pcgrad (conflicting shared gradients projected apart, Yu 2020).",
    )
    shared_stages: int = Field(
        -1,
        ge=-1,
        le=32,
        description="Branch point: -1 shares the whole backbone (a head per task); N shares its first N stages "
        "and each task owns the later ones.",
    )
    task_batch: int = Field(
        16,
        ge=0,
        le=1024,
        description="Labelled images of every task in each step: a batch with fewer for a scarce task gets more "
        "of that task's images added (0: batches as drawn).",
    )


class Multitask(Method[MultitaskConfig], name="multitask", label="Multitask"):
    summary = (
        "Several labelled tasks share the early layers and branch into one head each (task folders or a labels table)."
    )
    kind = "multitask"
    # a task's head gets no gradient in a step whose batch has no label for it
    ddp_unused_parameters = True

    def __init__(self, model: ImageClassifier, config: MultitaskConfig, ctx: MethodContext) -> None:
        if not isinstance(model, MultitaskClassifier):
            raise UserError(
                "method 'multitask' needs tasks: give task folders (--task NAME=FOLDER, repeated) "
                "or a labels table (--labels CSV)."
            )
        super().__init__(model, config, ctx)
        self.uncertainty = UncertaintyWeights(len(model.tasks)) if config.weighting == "uncertainty" else None
        self._pool_x: torch.Tensor | None = None  # training images (uint8, CPU) and labels, for task_batch
        self._pool_y: torch.Tensor | None = None
        self._pools: list[torch.Tensor] = []

    @property
    def mt(self) -> MultitaskClassifier:
        """The model as what it is (a property, not a second child module: its weights are the model's)."""
        assert isinstance(self.model, MultitaskClassifier)
        return self.model

    def prepare(self, data: PreparedData, emit: Emit, augment: str = "none") -> None:
        from engine.core.events import Log

        if self.config.weighting != "equal" and len(self.mt.tasks) < 2:
            emit(Log(f"One task: weighting '{self.config.weighting}' has nothing to weigh (same as equal).", "warning"))
        y = data.y_train
        self._pool_x, self._pool_y = data.x_train, y
        self._pools = [(y[:, t] != MISSING).nonzero().flatten() for t in range(y.shape[1])]
        scarce = [t for t, pool in zip(self.mt.tasks, self._pools, strict=True) if len(pool) < len(y) / 2]
        if scarce and self.config.task_batch > 0:
            emit(
                Log(
                    f"Every step adds images of {', '.join(scarce)} up to {self.config.task_batch} labelled ones "
                    "(task_batch), so a scarce task is seen as often as a plentiful one."
                )
            )

    def top_up(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch, plus images of each task it holds fewer than `task_batch` labels of (drawn from
        that task's training images, seeded by the step). Without this a task labelled on 20 of
        1,000 images meets about one label a step, and its head barely moves."""
        x, y = batch.x_source, batch.y_source
        want = self.config.task_batch
        if want <= 0 or self._pool_x is None or self._pool_y is None:
            return x, y
        gen = torch.Generator().manual_seed(10_007 + batch.step)
        extra: list[torch.Tensor] = []
        for t, pool in enumerate(self._pools):
            have = int((y[:, t] != MISSING).sum())
            need = min(want, len(pool)) - have
            if need > 0 and len(pool):
                extra.append(pool[torch.randint(len(pool), (need,), generator=gen)])
        if not extra:
            return x, y
        idx = torch.cat(extra)
        x_more = to_device_float(self._pool_x[idx], x.device).to(x.dtype)
        return torch.cat([x, x_more]), torch.cat([y, self._pool_y[idx].to(y.device)])

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Every task's stages (shared and owned) at the backbone rate, heads and loss weights at lr."""
        backbone = [p for p in self.mt.backbone_parameters() if p.requires_grad]
        new = [p for p in self.mt.new_parameters() if p.requires_grad]
        for module in self.extra_modules():
            new += [p for p in module.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": new, "lr": lr, "name": "new"}]
        factor = self.backbone_lr_factor()
        if backbone and factor > 0:
            groups.insert(0, {"params": backbone, "lr": lr * factor, "name": "backbone"})
        else:
            for p in backbone:
                p.requires_grad_(False)
        return groups

    def backbone_frozen(self) -> bool:
        return all(not p.requires_grad for p in self.mt.backbone_parameters())

    def combine(self, losses: list[torch.Tensor], step: int = 0) -> tuple[torch.Tensor, dict[str, float]]:
        """The step's loss from the task losses, and what the weighting measured."""
        metrics: dict[str, float] = {}
        if self.uncertainty is not None:
            loss = self.uncertainty(torch.stack(losses))
            for t, w in zip(self.mt.tasks, self.uncertainty.weights(), strict=True):
                metrics[f"task/{t}/weight"] = w
            return loss, metrics
        if self.config.weighting == "pcgrad" and self.training and torch.is_grad_enabled():
            gen = torch.Generator().manual_seed(step)
            loss, conflicts = pcgrad_surrogate(losses, self.mt.shared_parameters(), gen)
            metrics["pcgrad/conflicts"] = conflicts
            return loss, metrics
        return torch.stack(losses).sum(), metrics

    def training_step(self, batch: Batch) -> StepResult:
        y = batch.y_source
        if y.ndim != 2 or y.shape[1] != len(self.mt.tasks):  # pragma: no cover - the trainer passes task rows
            raise ValueError(f"multitask labels have shape {list(y.shape)}; expected [N, {len(self.mt.tasks)}]")
        x, y = self.top_up(batch)
        logits = self.mt.forward_all(x)
        losses = [task_loss(logits[t], y[:, i], self.ctx.label_smoothing) for i, t in enumerate(self.mt.tasks)]
        loss, metrics = self.combine(losses, batch.step)
        accs = []
        for i, t in enumerate(self.mt.tasks):
            acc = task_accuracy(logits[t], y[:, i])
            metrics[f"task/{t}/loss"] = float(losses[i].detach())
            if not math.isnan(acc):
                metrics[f"task/{t}/acc"] = acc
                accs.append(acc)
        accuracy = sum(accs) / len(accs) if accs else 0.0
        return StepResult(loss, logits[self.mt.tasks[0]][: len(batch.y_source)], metrics, accuracy=accuracy)
