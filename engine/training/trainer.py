"""The training loop shared by every method: devices, AMP, schedules, checkpoints, metrics,
stop/pause, early stopping, weight averaging and resume.

`run_train(config, emit, control)` starts a run; `run_train(resume=RUN_DIR)` continues one from
its last checkpoint. Epoch order and augmentation are seeded per epoch (and the RNG state is
saved on stop), so a stopped-and-resumed run follows the same path as an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from engine.analysis.evaluate import accuracy, mean_entropy, predict_logits
from engine.core.config import TrainConfig
from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.core.events import Emit, EpochEnd, Finished, Log, Started, ignore
from engine.core.runs import Run, create_run, open_run
from engine.data.prepare import DecodeCache, PreparedData, prepare_data
from engine.methods import Batch, Method, MethodContext, get_method
from engine.methods.base import method_config
from engine.models.backbones import get_backbone_spec
from engine.models.bn_stats import recompute_bn_stats
from engine.models.classifier import ImageClassifier, build_model
from engine.training.checkpoints import load_checkpoint, rng_state, save_checkpoint
from engine.training.devices import autocast, describe_device, pick_device, to_device_float
from engine.training.distributed import (
    DistInfo,
    average_metrics,
    broadcast_float,
    broadcast_text,
    device_for,
    setup,
    teardown,
)
from engine.training.ema import make_ema
from engine.training.loops import EpochLoop, FeatureCacheLoop, StepLoop


class NonFiniteLoss(UserError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    epochs_done: int
    metrics: dict[str, float] = field(default_factory=dict)
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Linear warm-up for `warmup` steps, then cosine decay to 0 (or constant)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant" or total <= warmup:
        return 1.0
    p = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, p)))


def selection_score(select: str, metrics: dict[str, float], epoch: int) -> float:
    """Higher is better. Never uses target test labels."""
    if select == "val_acc" and not math.isnan(metrics.get("val/acc", float("nan"))):
        return metrics["val/acc"]
    if select == "target_entropy" and not math.isnan(metrics.get("target/entropy", float("nan"))):
        return -metrics["target/entropy"]
    return float(epoch)


class Trainer:
    """One run: built from a config (new run) or from a run directory (resume)."""

    def __init__(
        self,
        config: TrainConfig,
        run: Run,
        emit: Emit,
        control: JobControl,
        cache: DecodeCache | None,
        dist_info: DistInfo | None = None,
    ) -> None:
        self.config, self.run, self.control = config, run, control
        self.dist = dist_info
        self.is_main = dist_info is None or dist_info.is_main
        self.emit = emit if self.is_main else ignore
        self.device = device_for(dist_info, pick_device(config.device))
        spec = get_backbone_spec(config.backbone)
        self.size = config.image_size or spec.input_size
        self.data: PreparedData = prepare_data(config, self.size, emit, control, cache)
        method_cls = get_method(config.method)
        self.method_cfg = method_config(config.method, config.method_options)
        if method_cls.uses_target and self.data.x_target is None and not getattr(method_cls, "target_optional", False):
            raise UserError(
                f"method '{config.method}' adapts to a target domain: choose a target folder (unlabelled images are fine)."
            )
        n = len(self.data.x_train) // (dist_info.world if dist_info else 1)
        self.batch_size = min(config.batch_size, n)
        self.steps_per_epoch = max(1, n // self.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        torch.manual_seed(config.seed)
        self.model: ImageClassifier = build_model(
            config.backbone,
            len(self.data.classes),
            weights=config.weights,
            bottleneck_dim=getattr(self.method_cfg, "bottleneck_dim", 0),
        )
        ctx = MethodContext(
            len(self.data.classes),
            self.model.feature_dim,
            self.total_steps,
            self.steps_per_epoch,
            config.label_smoothing,
        )
        self.method: Method = method_cls(self.model, self.method_cfg, ctx).to(self.device)
        prepare = getattr(self.method, "prepare", None)  # a method's checks against the data (distill's teacher)
        if prepare is not None:
            prepare(self.data, self.emit, config.augment)
        if self.device.type == "cuda":
            self.method.to(memory_format=torch.channels_last)
        self.step_module: nn.Module = self.method
        if dist_info is not None:
            if config.sync_bn:
                if self.device.type != "cuda":
                    raise UserError(
                        "sync_bn: SyncBatchNorm needs CUDA GPUs; on CPUs leave it off (exact statistics are "
                        "recomputed at each epoch's end anyway, see precise_bn)."
                    )
                self.method = nn.SyncBatchNorm.convert_sync_batchnorm(self.method)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = nn.parallel.DistributedDataParallel(
                self.method, device_ids=ids, find_unused_parameters=True
            )
        groups = self.method.param_groups(config.lr)
        for g in groups:
            g["base_lr"] = g["lr"]
        if config.optimizer == "sgd":
            self.optimizer: torch.optim.Optimizer = torch.optim.SGD(
                groups, momentum=0.9, nesterov=True, weight_decay=config.weight_decay
            )
        else:
            self.optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        fp16 = self.device.type == "cuda" and config.amp and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        self.ema: torch.optim.swa_utils.AveragedModel | None = None
        self.ema_decay = method_cls.default_ema if config.ema_decay is None else config.ema_decay
        if self.ema_decay > 0:
            self.ema = make_ema(self.model, self.ema_decay)
        self.warmup_steps = int(config.warmup_epochs * self.steps_per_epoch)
        self.epoch = 0  # epochs fully done
        self.step = 0  # optimiser steps done
        self.step_in_epoch = 0
        self.best_score = -math.inf
        self.best_epoch = -1
        self.best_metrics: dict[str, float] = {}
        self.stale_epochs = 0
        self.epoch_rng: dict[str, Any] | None = None

    # ------------------------------------------------------------------ helpers
    def update_info(self, **fields: Any) -> None:
        if self.is_main:
            self.run.update_info(**fields)

    def deploy_model(self) -> ImageClassifier:
        """The model a checkpoint keeps: the weight average when there is one."""
        return cast(ImageClassifier, self.ema.module) if self.ema is not None else self.model

    def set_lr(self) -> float:
        p = self.step / max(1, self.total_steps)
        mult = self.method.lr_multiplier(p)
        if mult is None:
            mult = lr_factor(self.step, self.total_steps, self.warmup_steps, self.config.schedule)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * mult
        return self.optimizer.param_groups[-1]["lr"]

    def epoch_generator(self, epoch: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)

    def optimiser_step(self, batch: Batch) -> tuple[float, float, dict[str, float]]:
        """One step: loss, backward, update. Returns (loss, batch accuracy, method metrics)."""
        lr = self.set_lr()
        with autocast(self.device, self.config.amp):
            out = self.step_module(batch)
        loss = out.loss
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLoss(
                f"the loss became {value} at step {self.step + 1} (epoch {self.epoch + 1}). The run stopped and kept "
                "its last good checkpoint. Lower the learning rate, or check the images of that domain."
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.step += 1
        acc = float((out.logits_source.detach().argmax(1) == batch.y_source).float().mean())
        metrics = {"loss": value, "lr": lr, **out.metrics}
        return value, acc, metrics

    # ------------------------------------------------------------------ evaluation
    def logits_of(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits of uint8 images (the feature-cache loop swaps in a cached version)."""
        return predict_logits(model, x, self.device)

    def evaluate(self) -> dict[str, float]:
        """Epoch-end metrics. With target BatchNorm statistics (AdaBN, the adaptation methods'
        default) source metrics use exact source statistics, target metrics exact target ones,
        and the model keeps the target's: the deployed model is for the target domain."""
        model = self.deploy_model()
        d, out = self.data, {}
        target_bn = self.method.target_bn() and d.x_target is not None
        # Exact statistics of the training images (PreciseBN): running averages lag far behind
        # the weights in short runs, and under torchrun each rank's saw only its shard; the
        # recomputed ones are identical on every rank. Frozen stages keep theirs.
        precise = target_bn or (self.config.precise_bn and not self.method.backbone_frozen())
        frozen = model.stages[: self.method.frozen_stage_count()] if precise else []
        if precise:
            recompute_bn_stats(model, d.x_train, self.device, skip=frozen)
        if len(d.x_val):
            logits = self.logits_of(model, d.x_val)
            out["val/acc"] = accuracy(logits, d.y_val)
            out["val/loss"] = float(nn.functional.cross_entropy(logits, d.y_val))
        extra = getattr(self.method, "epoch_metrics", None)
        if extra is not None and len(d.x_val):  # e.g. robust accuracy of adversarial training
            n = min(len(d.x_val), 256)
            x = to_device_float(d.x_val[:n], self.device)
            out.update(extra(model, x, d.y_val[:n].to(self.device)))
        if target_bn and d.x_target is not None:
            recompute_bn_stats(model, d.x_target, self.device, skip=frozen)
        if d.x_target is not None:
            out["target/entropy"] = mean_entropy(self.logits_of(model, d.x_target))
        if d.x_test is not None and d.y_test is not None:
            out["target/acc"] = accuracy(self.logits_of(model, d.x_test), d.y_test)
        return out

    # ------------------------------------------------------------------ checkpoints
    def _deploy_payload(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu() for k, v in self.deploy_model().state_dict().items()},
            "classes": list(self.data.classes),
            "input_size": self.size,
            "bottleneck_dim": int(getattr(self.method_cfg, "bottleneck_dim", 0)),
            "epoch": self.epoch,
        }

    def save_last(self) -> None:
        if not self.is_main:
            return
        payload = self._deploy_payload()
        payload.update(
            method=self.method.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scaler=self.scaler.state_dict(),
            ema=self.ema.state_dict() if self.ema is not None else None,
            step=self.step,
            step_in_epoch=self.step_in_epoch,
            epoch_rng=self.epoch_rng,
            best_score=self.best_score,
            best_epoch=self.best_epoch,
            best_metrics=self.best_metrics,
            stale_epochs=self.stale_epochs,
            world_size=self.dist.world if self.dist is not None else 1,
        )
        save_checkpoint(self.run.checkpoint("last"), payload)

    def restore(self, state: dict[str, Any]) -> None:
        self.method.load_state_dict(state["method"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        self.epoch, self.step, self.step_in_epoch = state["epoch"], state["step"], state["step_in_epoch"]
        self.epoch_rng = state.get("epoch_rng")
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.best_metrics, self.stale_epochs = state["best_metrics"], state["stale_epochs"]
        saved_world, world = int(state.get("world_size", 1)), self.dist.world if self.dist is not None else 1
        if saved_world != world:
            self.emit(
                Log(
                    f"This run was trained by {saved_world} process(es) and resumes with {world}: each step now "
                    f"sees a different global batch, so the result will differ from an uninterrupted run.",
                    "warning",
                )
            )
            if self.step_in_epoch > 0:  # the shards of the interrupted epoch no longer line up: redo it
                self.emit(Log(f"Epoch {self.epoch + 1} starts again from its beginning.", "warning"))
                self.step_in_epoch, self.epoch_rng = 0, None

    def end_epoch(self, train_stats: dict[str, float], seconds: float) -> dict[str, float]:
        train_stats = average_metrics(train_stats, self.dist)  # every rank's share of the epoch
        metrics = {**train_stats, **self.evaluate(), "lr": self.optimizer.param_groups[-1]["lr"], "epoch_time": seconds}
        self.epoch += 1
        self.step_in_epoch = 0
        self.epoch_rng = None
        # rank 0's score on every rank: selection and early stopping decide the same everywhere
        score = broadcast_float(selection_score(self.config.select, metrics, self.epoch), self.dist)
        improved = score > self.best_score
        if improved:
            self.best_score, self.best_epoch, self.best_metrics = score, self.epoch, dict(metrics)
            self.stale_epochs = 0
            if self.is_main:
                save_checkpoint(self.run.checkpoint("best"), self._deploy_payload() | {"metrics": metrics})
        else:
            self.stale_epochs += 1
        self.save_last()
        if self.is_main:
            self.run.append_metrics({"epoch": self.epoch, "step": self.step, **metrics})
            self.run.update_info(
                status="running",
                epoch=self.epoch,
                epochs=self.config.epochs,
                best_epoch=self.best_epoch,
                best_metrics=self.best_metrics,
                last_metrics=metrics,
            )
        self.emit(EpochEnd(self.epoch, self.step, metrics))
        return metrics

    # ------------------------------------------------------------------ main loop
    def fit(self) -> TrainResult:
        self.update_info(
            status="running",
            classes=self.data.classes,
            input_size=self.size,
            device=describe_device(self.device),
            source=str(self.config.source),
            target=str(self.config.target or ""),
            target_test=str(self.config.target_test or ""),
            total_steps=self.total_steps,
        )
        self.emit(Started("train", str(self.run.path), self.total_steps, describe_device(self.device)))
        loop: EpochLoop = FeatureCacheLoop(self) if FeatureCacheLoop.applies(self) else StepLoop(self)
        metrics: dict[str, float] = {}
        status = "finished"
        try:
            while self.epoch < self.config.epochs:
                t0 = time.perf_counter()
                stats = loop.run_epoch()
                metrics = self.end_epoch(stats, time.perf_counter() - t0)
                patience = self.config.early_stop_patience
                if patience and self.stale_epochs >= patience:
                    self.emit(Log(f"Stopped early: no better selection score for {patience} epochs."))
                    break
        except Stopped:
            status = "stopped"
            self.epoch_rng = rng_state() if self.step_in_epoch > 0 else None
            self.save_last()
            self.emit(Log(f"Stopped at step {self.step}; resume to continue from here."))
        self.update_info(status=status, epoch=self.epoch, best_epoch=self.best_epoch, best_metrics=self.best_metrics)
        result = TrainResult(self.run.path, status, self.epoch, metrics, self.best_metrics, self.best_epoch)
        self.emit(Finished("train", str(self.run.path), self.best_metrics, stopped=status == "stopped"))
        return result


def run_train(
    config: TrainConfig | None = None,
    emit: Emit = ignore,
    control: JobControl | None = None,
    *,
    resume: str | Path | None = None,
    cache: DecodeCache | None = None,
) -> TrainResult:
    """Start a run from `config`, or continue the run directory `resume` from its last checkpoint."""
    control = control or JobControl()
    dist_info = setup(config.device if config is not None else "auto")
    main = dist_info is None or dist_info.is_main
    if resume is not None:
        run = open_run(resume)
        config = run.config()
        last = run.checkpoint("last")
        state = load_checkpoint(last) if last.is_file() else None
    elif config is not None:
        path = str(create_run(config).path) if main else ""
        run, state = Run(Path(broadcast_text(path, dist_info))), None
    else:
        raise UserError("give a training config, or a run directory to resume.")
    if not main:
        emit = ignore
    lock = run.lock() if main else nullcontext()  # one writer per run directory: RunLocked otherwise
    lock.__enter__()
    try:
        trainer = Trainer(config, run, emit, control, cache, dist_info)
        if state is not None:
            trainer.restore(state)
            if main:
                run.write_metrics([r for r in run.metrics() if r.get("epoch", 0) <= trainer.epoch])
            emit(Log(f"Resuming {run.path.name} at epoch {trainer.epoch + 1}, step {trainer.step}."))
        return trainer.fit()
    except Stopped:
        if main:
            run.update_info(status="stopped")
        emit(Finished("train", str(run.path), {}, stopped=True))
        return TrainResult(run.path, "stopped", 0)
    except UserError as err:  # one failure path: record it in the run and raise; the caller reports it
        if main:
            run.update_info(status="failed", error=str(err))
        raise
    except Exception as err:
        if main:
            run.update_info(status="failed", error=f"{type(err).__name__}: {err}")
        raise
    finally:
        lock.__exit__(None, None, None)
        teardown(dist_info)
