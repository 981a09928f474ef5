"""The trainer of a multitask run: the plain trainer with task data, a branching model, per-task
validation metrics and the tasks in every checkpoint.

Everything else (the loops, the optimiser step with its AMP scaler and NaN guard, checkpoints,
weight averaging, early stopping, stop/pause/resume) is the plain trainer's. The selection score
`val/acc` is the mean of the task accuracies, so no task is favoured by the best checkpoint.
"""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from engine.core.errors import UserError
from engine.data.prepare import DecodeCache, PreparedData
from engine.models.bn_stats import recompute_bn_stats
from engine.models.classifier import ImageClassifier
from engine.multitask.data import MultitaskData, prepare_multitask
from engine.multitask.evaluate import all_task_logits
from engine.multitask.losses import MISSING
from engine.multitask.model import AllTasks, MultitaskClassifier, build_multitask
from engine.training.distributed import broadcast_object, sync_buffers
from engine.training.loops import EpochLoop
from engine.training.trainer import Trainer, TrainResult


class MultitaskTrainer(Trainer):
    def load_data(self, cache: DecodeCache | None) -> PreparedData:
        if self.config.method != "multitask":
            raise UserError(
                f"task folders or a labels table train with method 'multitask', not '{self.config.method}': "
                "set method = multitask (--method multitask)."
            )
        if not self.config.multitask:
            raise UserError(
                "method 'multitask' needs tasks: give task folders (--task NAME=FOLDER, repeated) "
                "or a labels table (--labels CSV)."
            )
        if self.config.target is not None or self.config.target_test is not None:
            raise UserError("multitask runs take no target folders: leave target and target_test empty.")
        return prepare_multitask(self.config, self.size, self.emit, self.control, cache)

    @property
    def mdata(self) -> MultitaskData:
        assert isinstance(self.data, MultitaskData)
        return self.data

    def make_model(self) -> ImageClassifier:
        opts = self.method_cfg
        shared = int(getattr(opts, "shared_stages", -1))
        tasks = {t: len(c) for t, c in self.mdata.task_classes.items()}
        return build_multitask(self.config.backbone, tasks, self.config.weights, shared, opts.bottleneck_dim)

    def evaluate(self, loop: EpochLoop) -> dict[str, float]:
        """Per-task validation accuracy and loss (on the images labelled for the task), their means
        as val/acc and val/loss. Precise BatchNorm statistics pass through every task's branch."""
        model = self.deploy_model()
        assert isinstance(model, MultitaskClassifier)
        sync_buffers(self.model, self.dist)
        if self.averaging is not None:
            sync_buffers(self.averaging.module, self.dist)
        d, out = self.mdata, {}
        if self.config.precise_bn and not self.method.backbone_frozen():
            frozen = model.stages[: self.method.frozen_stage_count()]
            recompute_bn_stats(AllTasks(model), d.x_train, self.device, skip=frozen)
        if len(d.x_val):
            logits = all_task_logits(model, d.x_val, self.device)
            accs, losses = [], []
            for i, task in enumerate(d.tasks):
                y = d.y_val[:, i]
                mask = y != MISSING
                if not bool(mask.any()):
                    continue
                lt, yt = logits[task][mask], y[mask]
                acc = float((lt.argmax(1) == yt).float().mean())
                loss = float(nn.functional.cross_entropy(lt, yt))
                out[f"val/{task}/acc"], out[f"val/{task}/loss"] = acc, loss
                accs.append(acc)
                losses.append(loss)
            out["val/acc"] = sum(accs) / len(accs) if accs else math.nan
            out["val/loss"] = sum(losses) / len(losses) if losses else math.nan
        return dict(broadcast_object(out, self.dist))

    def _deploy_payload(self) -> dict[str, Any]:
        model = self.deploy_model()
        assert isinstance(model, MultitaskClassifier)
        return super()._deploy_payload() | {
            "tasks": {t: list(c) for t, c in self.mdata.task_classes.items()},
            "shared_stages": model.shared_stages,
        }

    def fit(self) -> TrainResult:
        self.update_info(tasks=self.mdata.task_classes, labels=str(self.config.labels or ""))
        return super().fit()
