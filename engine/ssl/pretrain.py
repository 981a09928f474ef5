"""The pretraining job: SimCLR or BYOL on folders of unlabelled images, as a resumable run.

`run_pretrain(config, emit, control)` starts a run; `run_pretrain(resume=RUN_DIR)` continues it.
Each epoch's order is seeded by (seed, epoch) and the random state is saved on stop, so a
stopped run resumes at the exact step it stopped at. Emits Started, Progress (per step: loss),
EpochEnd (train/loss, knn/acc when a labelled folder is given, lr) and Finished, like training.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.core.events import Emit, EpochEnd, Finished, Log, Progress, Started, ignore
from engine.core.runs import Run
from engine.data.disk_images import budget_bytes, concat
from engine.data.folders import scan_domain
from engine.data.loading import decode_domain
from engine.models.backbones import get_backbone_spec
from engine.models.weights import load_into, resolve_pretrained
from engine.ssl.config import PretrainConfig, PretrainReport
from engine.ssl.heads import Encoder, ema_momentum, ema_update, mlp
from engine.ssl.knn import knn_accuracy
from engine.ssl.losses import byol_loss, nt_xent
from engine.ssl.run_io import create_pretrain_run, open_pretrain_run
from engine.ssl.views import TwoViews
from engine.training.checkpoints import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from engine.training.devices import describe_device, pick_device


def _decode(
    folder: Path, size: int, labelled: bool, config: PretrainConfig, emit: Emit, control: JobControl, budget: int
) -> Any:
    try:
        domain = scan_domain(folder, labelled=labelled)
    except UserError as err:
        role = "kNN folder" if labelled else "pretraining folder"
        raise UserError(f"{role}: {err}") from None
    # within `budget` bytes in memory, over it DiskImages read a batch at a time by the loops
    decoded = decode_domain(domain, size, workers=config.workers, control=control, budget=budget)
    if decoded.skipped:
        emit(
            Log(
                f"{folder}: {len(decoded.skipped)} unreadable file(s) left out, e.g. {decoded.skipped[0][0]}", "warning"
            )
        )
    return decoded


class Pretrainer:
    """One pretraining run: models, data, optimiser; `fit()` trains to the last epoch."""

    def __init__(self, config: PretrainConfig, run: Run, emit: Emit, control: JobControl) -> None:
        self.config, self.run, self.emit, self.control = config, run, emit, control
        spec = get_backbone_spec(config.backbone)
        self.size = config.image_size or spec.input_size
        self.device = pick_device(config.device)
        share = budget_bytes(None) // (len(config.data) + (1 if config.knn_data else 0))  # the budget split evenly
        parts = [_decode(p, self.size, False, config, emit, control, share).images for p in config.data]
        self.images = concat(parts)  # one tensor in memory, else the folders read per batch
        n = len(self.images)
        if n < 2:
            raise UserError(f"{', '.join(map(str, config.data))}: {n} readable image(s); pretraining needs at least 2.")
        self.knn: Any = (
            _decode(config.knn_data, self.size, True, config, emit, control, share) if config.knn_data else None
        )
        self.batch_size = min(config.batch_size, n)
        self.steps_per_epoch = max(1, n // self.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        torch.manual_seed(config.seed)
        self.full, extract = spec.build()
        state = resolve_pretrained(spec, config.weights)
        if state is not None:
            load_into(self.full, state, config.weights)
        bb = extract(self.full)
        self.encoder = Encoder(bb.module, bb.dim, spec.mean, spec.std, config.hidden_dim, config.projection_dim)
        modules: list[nn.Module] = [self.encoder]
        self.predictor: nn.Module | None = None
        self.target: Encoder | None = None
        if config.method == "byol":
            self.predictor = mlp(config.projection_dim, config.hidden_dim, config.projection_dim)
            self.target = copy.deepcopy(self.encoder).requires_grad_(False)
            modules.append(self.predictor)
        for m in [*modules, self.target]:
            if m is not None:
                m.to(self.device)
        params = [p for m in modules for p in m.parameters()]
        self.base_lr = config.lr * self.batch_size / 256
        self.optimizer = torch.optim.AdamW(params, lr=self.base_lr, weight_decay=config.weight_decay)
        self.views = TwoViews(self.size, min_scale=config.min_scale, flip=config.flip, invert=config.invert)
        self.epoch, self.step_in_epoch, self.global_step = 0, 0, 0
        self.loss_sum, self.loss_n = 0.0, 0
        self.last_metrics: dict[str, float] = {}

    # ------------------------------------------------------------------ state
    def payload(self) -> dict[str, Any]:
        return {
            "kind": "pretrain",
            "method": self.config.method,
            "backbone_name": self.config.backbone,
            "input_size": self.size,
            "backbone": self.full.state_dict(),
            "encoder": self.encoder.state_dict(),
            "predictor": self.predictor.state_dict() if self.predictor is not None else {},
            "target": self.target.state_dict() if self.target is not None else {},
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "loss_sum": self.loss_sum,
            "loss_n": self.loss_n,
            "rng": rng_state(),
            "metrics": self.last_metrics,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        if self.predictor is not None and self.target is not None:
            self.predictor.load_state_dict(state["predictor"])
            self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step_in_epoch = int(state["epoch"]), int(state["step_in_epoch"])
        self.global_step = int(state["global_step"])
        self.loss_sum, self.loss_n = float(state["loss_sum"]), int(state["loss_n"])
        self.last_metrics = dict(state.get("metrics", {}))
        set_rng_state(state["rng"])

    def save(self) -> None:
        save_checkpoint(self.run.checkpoint("last"), self.payload())

    # ------------------------------------------------------------------ steps
    def lr_at(self, step: int) -> float:
        warm = int(self.config.warmup_epochs * self.steps_per_epoch)
        if warm > 0 and step < warm:
            return self.base_lr * (step + 1) / warm
        p = (step - warm) / max(1, self.total_steps - warm)
        return self.base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, p)))

    def step(self, batch: torch.Tensor) -> float:
        v1, v2 = (v.to(self.device) for v in self.views(batch))
        lr = self.lr_at(self.global_step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        _, z1 = self.encoder(v1)
        _, z2 = self.encoder(v2)
        if self.predictor is None or self.target is None:
            loss = nt_xent(z1, z2, self.config.temperature)
        else:
            with torch.no_grad():
                _, t1 = self.target(v1)
                _, t2 = self.target(v2)
            loss = byol_loss(self.predictor(z1), self.predictor(z2), t1, t2)
        if not torch.isfinite(loss):
            raise UserError(
                f"the loss became {float(loss)} at step {self.global_step}; lower the learning rate (lr = {self.config.lr})."
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.target is not None:
            ema_update(self.target, self.encoder, ema_momentum(self.global_step, self.total_steps, self.config.ema))
        return loss.item()

    @torch.no_grad()
    def knn_acc(self) -> float:
        if self.knn is None:
            return float("nan")
        self.encoder.eval()
        feats = [
            self.encoder.features(self.knn.images[i : i + 256].to(self.device).float() / 255).cpu()
            for i in range(0, len(self.knn), 256)
        ]
        self.encoder.train()
        return knn_accuracy(torch.cat(feats), self.knn.labels, self.config.knn_k)

    def fit(self) -> str:
        cfg = self.config
        self.emit(Started("pretrain", str(self.run.path), self.total_steps, describe_device(self.device)))
        self.run.update_info(status="running", input_size=self.size, images=len(self.images), total_epochs=cfg.epochs)
        if self.epoch == 0 and self.step_in_epoch == 0 and self.knn is not None:
            self.last_metrics = {"knn/acc": self.knn_acc()}
            self.emit(Log(f"kNN accuracy before pretraining: {self.last_metrics['knn/acc']:.3f}"))
            self.run.update_info(initial_knn_acc=self.last_metrics["knn/acc"])
        self.encoder.train()
        started = time.monotonic()
        while self.epoch < cfg.epochs:
            order = torch.randperm(
                len(self.images), generator=torch.Generator().manual_seed(cfg.seed * 100_003 + self.epoch)
            )
            while self.step_in_epoch < self.steps_per_epoch:
                self.control.check()
                s = self.step_in_epoch * self.batch_size
                loss = self.step(self.images[order[s : s + self.batch_size]])
                self.loss_sum, self.loss_n = self.loss_sum + loss, self.loss_n + 1
                self.step_in_epoch += 1
                self.global_step += 1
                done = self.global_step - (self.epoch * self.steps_per_epoch)
                rate = (time.monotonic() - started) / max(1, done)
                eta = rate * (self.total_steps - self.global_step)
                self.emit(Progress(self.epoch + 1, self.global_step, self.total_steps, {"loss": loss}, eta))
            self.epoch += 1
            self.last_metrics = {
                "train/loss": self.loss_sum / max(1, self.loss_n),
                "lr": self.lr_at(self.global_step - 1),
            }
            if self.knn is not None:
                self.last_metrics["knn/acc"] = self.knn_acc()
            self.step_in_epoch, self.loss_sum, self.loss_n = 0, 0.0, 0
            self.run.append_metrics({"epoch": self.epoch, "step": self.global_step, **self.last_metrics})
            self.save()
            self.run.update_info(status="running", epoch=self.epoch, metrics=self.last_metrics)
            self.emit(EpochEnd(self.epoch, self.global_step, dict(self.last_metrics)))
        return "finished"


def run_pretrain(
    config: PretrainConfig | None = None,
    emit: Emit = ignore,
    control: JobControl | None = None,
    *,
    resume: str | Path | None = None,
) -> PretrainReport:
    """Pretrain a backbone (new run from `config`, or continue the run at `resume`)."""
    control = control or JobControl()
    begun = time.monotonic()
    if resume is not None:
        run, config = open_pretrain_run(resume)
    elif config is None:
        raise UserError("run_pretrain needs a config or a run directory to resume.")
    else:
        for folder in [*config.data, *([config.knn_data] if config.knn_data else [])]:
            if not Path(folder).is_dir():
                raise UserError(f"{folder}: folder not found. Pick an existing folder of images.")
        run = create_pretrain_run(config)
    trainer: Pretrainer | None = None
    try:
        trainer = Pretrainer(config, run, emit, control)
        if resume is not None:
            ckpt = run.checkpoint("last")
            if ckpt.is_file():
                trainer.restore(load_checkpoint(ckpt))
                emit(Log(f"resumed at epoch {trainer.epoch + 1}, step {trainer.step_in_epoch}"))
        status = trainer.fit()
    except Stopped:
        if trainer is not None:
            trainer.save()
        run.update_info(status="stopped", epoch=trainer.epoch if trainer else 0)
        emit(Finished("pretrain", str(run.path), trainer.last_metrics if trainer else {}, stopped=True))
        return PretrainReport(
            run_dir=run.path,
            status="stopped",
            epochs_done=trainer.epoch if trainer else 0,
            metrics=trainer.last_metrics if trainer else {},
            seconds=time.monotonic() - begun,
        )
    except Exception as err:  # the job raises; whoever drives it reports the error once
        run.record_failure(err)
        raise
    run.update_info(status=status, epoch=trainer.epoch, metrics=trainer.last_metrics)
    emit(Finished("pretrain", str(run.path), trainer.last_metrics))
    return PretrainReport(
        run_dir=run.path,
        status=status,
        epochs_done=trainer.epoch,
        metrics=trainer.last_metrics,
        seconds=time.monotonic() - begun,
    )
