"""The training run shared by every method: devices, AMP, checkpoints, metrics, stop/pause and
resume; the loops (loops.py) train, the optimiser step (step.py) updates, and the handlers
(handlers.py: best checkpoint, early stopping, weight averaging) keep their own state.

`run_train(config, emit, control)` starts a run; `run_train(resume=RUN_DIR)` continues one from
its last checkpoint. Epoch order and augmentation are seeded per epoch (and the RNG state is
saved on stop), so a stopped-and-resumed run follows the same path as an uninterrupted one.
Under torchrun see distributed.py: `batch_size` is the global batch.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.analysis.evaluate import accuracy, mean_entropy
from engine.core.config import TrainConfig
from engine.core.control import JobControl, Stopped
from engine.core.errors import RunLocked, UserError
from engine.core.events import Emit, EpochEnd, Finished, Log, Started, ignore
from engine.core.runs import Run, create_run, open_run
from engine.data.prepare import DecodeCache, PreparedData, ScannedFolders, prepare_data
from engine.methods import Method, MethodContext, get_method
from engine.methods.base import method_config
from engine.models.backbones import get_backbone_spec
from engine.models.bn_stats import recompute_bn_stats
from engine.models.classifier import ImageClassifier, build_model
from engine.training.checkpoints import load_checkpoint, rng_state, save_checkpoint
from engine.training.devices import apply_threads, describe_device, pick_device, to_device_float
from engine.training.distributed import (
    DistInfo,
    broadcast_object,
    broadcast_text,
    device_for,
    setup,
    sync_bn_note,
    sync_buffers,
    teardown,
    wrap_for_ranks,
)
from engine.training.handlers import BestCheckpoint, EarlyStopping, WeightAveraging, selection_score
from engine.training.loops import EpochLoop, FeatureCacheLoop, LoopContext, StepLoop
from engine.training.preflight import preflight
from engine.training.state import Resumable, Stateful, restore_state, training_state
from engine.training.step import NonFiniteLoss, OptimiserStep, Position, lr_factor, make_optimizer

__all__ = ["NonFiniteLoss", "TrainResult", "Trainer", "lr_factor", "run_train", "selection_score"]


@dataclass
class TrainResult:
    run_dir: Path
    status: str
    epochs_done: int
    metrics: dict[str, float] = field(default_factory=dict)
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int = -1


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
        scanned: ScannedFolders | None = None,
    ) -> None:
        self.config, self.run, self.control, self.scanned = config, run, control, scanned  # scanned: walked once
        self.dist = dist_info
        self.world = dist_info.world if dist_info else 1
        self.is_main = dist_info is None or dist_info.is_main
        self.emit = emit if self.is_main else ignore
        self.device = device_for(dist_info, pick_device(config.device))
        used, cores = apply_threads(config.threads)
        how = "as set" if config.threads else "all cores but one"
        self.emit(Log(f"CPU threads: {used} of {cores} cores ({how}; decoding uses as many)."))
        spec = get_backbone_spec(config.backbone)
        self.size = config.image_size or spec.input_size
        self.data: PreparedData = self.load_data(cache)
        method_cls = get_method(config.method)
        self.method_cfg = method_config(config.method, config.method_options)
        if method_cls.uses_target and not method_cls.target_optional and self.data.x_target is None:
            raise UserError(
                f"method '{config.method}' adapts to a target domain: choose a target folder (unlabelled images are fine)."
            )
        n = len(self.data.x_train)
        self.batch_size = min(config.batch_size, n)
        if self.batch_size < self.world:
            raise UserError(
                f"batch_size {self.batch_size} is smaller than the {self.world} processes torchrun started: "
                f"the batch is shared between them, so give at least {self.world}."
            )
        self.steps_per_epoch = max(1, n // self.batch_size)
        self.total_steps = self.steps_per_epoch * config.epochs
        torch.manual_seed(config.seed)
        self.model: ImageClassifier = self.make_model()
        ctx = MethodContext(
            len(self.data.classes),
            self.model.feature_dim,
            self.total_steps,
            self.steps_per_epoch,
            config.label_smoothing,
        )
        self.method: Method[Any] = method_cls(self.model, self.method_cfg, ctx).to(self.device)
        self.method.prepare(self.data, self.emit, config.augment)  # a method's checks against the data
        if self.device.type == "cuda":
            self.method.to(memory_format=torch.channels_last)
        for note in filter(None, (sync_bn_note(config.sync_bn, dist_info), method_cls.backbone_note(config.backbone))):
            self.emit(Log(note))
        self.step_module = wrap_for_ranks(self.method, self.device, config.sync_bn, dist_info)
        groups = self.method.param_groups(config.lr)
        self.optimizer = make_optimizer(groups, config.optimizer, config.weight_decay)
        fp16 = self.device.type == "cuda" and config.amp and not torch.cuda.is_bf16_supported()
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        decay = method_cls.default_ema if config.ema_decay is None else config.ema_decay
        self.averaging = WeightAveraging(self.model, decay) if decay > 0 else None
        self.best = BestCheckpoint(config.select)
        self.early_stop = EarlyStopping(config.early_stop_patience)
        self.pos = Position()
        self.step = OptimiserStep(
            self.method,
            self.optimizer,
            self.scaler,
            self.pos,
            total_steps=self.total_steps,
            warmup_steps=int(config.warmup_epochs * self.steps_per_epoch),
            schedule=config.schedule,
            amp=config.amp,
            device=self.device,
            control=control,
            dist_info=dist_info,
            averaging=self.averaging,
        )
        self.loop: EpochLoop | None = None

    # ------------------------------------------------------------------ helpers
    def load_data(self, cache: DecodeCache | None) -> PreparedData:
        """The run's tensors (a subclass reads other data: multitask tables)."""
        return prepare_data(self.config, self.size, self.emit, self.control, cache, self.scanned)

    def make_model(self) -> ImageClassifier:
        return build_model(
            self.config.backbone,
            len(self.data.classes),
            weights=self.config.weights,
            bottleneck_dim=self.method_cfg.bottleneck_dim,
        )

    def update_info(self, **fields: Any) -> None:
        if self.is_main:
            self.run.update_info(**fields)

    def deploy_model(self) -> ImageClassifier:
        if self.averaging is not None:
            module = self.averaging.module
            assert isinstance(module, ImageClassifier)
            return module
        return self.model

    def make_loop(self) -> EpochLoop:
        ctx = LoopContext(
            self.config,
            self.size,
            self.data,
            self.device,
            self.method,
            self.step_module,
            self.batch_size,
            self.steps_per_epoch,
            self.total_steps,
            self.pos,
            self.step,
            self.emit,
            self.dist,
        )
        return FeatureCacheLoop(ctx) if FeatureCacheLoop.applies(self.method, self.dist) else StepLoop(ctx)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, loop: EpochLoop) -> dict[str, float]:
        """Epoch-end metrics on the whole validation set. With target BatchNorm statistics (AdaBN,
        the adaptation methods' default) source metrics use exact source statistics, target
        metrics exact target ones, and the model keeps the target's: the deployed model is for
        the target domain. Under torchrun every rank starts from rank 0's buffers and evaluates
        the same images (SyncBatchNorm needs every rank in a statistics pass); rank 0's metrics
        are the ones every rank decides on."""
        model = self.deploy_model()
        sync_buffers(self.model, self.dist)
        if self.averaging is not None:
            sync_buffers(self.averaging.module, self.dist)
        d, out = self.data, {}
        target_bn = self.method.target_bn() and d.x_target is not None
        # Exact statistics of the training images (PreciseBN): running averages lag far behind
        # the weights in short runs (one demo epoch of 18 steps left a model at chance in eval
        # mode, train-mode accuracy 54 %). Identical on every rank. Frozen stages keep theirs.
        precise = target_bn or (self.config.precise_bn and not self.method.backbone_frozen())
        frozen = model.stages[: self.method.frozen_stage_count()] if precise else []
        if precise:
            recompute_bn_stats(model, d.x_train, self.device, skip=frozen)
        for note in self.method.fit_head(model, d, self.device):  # closed-form parts (zero-shot)
            self.emit(Log(note))
        if len(d.x_val):
            logits = loop.logits_of(model, d.x_val)
            out["val/acc"] = accuracy(logits, d.y_val)
            out["val/loss"] = float(nn.functional.cross_entropy(logits, d.y_val))
            n = min(len(d.x_val), 256)  # e.g. robust accuracy of adversarial training
            x = to_device_float(d.x_val[:n], self.device)
            out.update(self.method.epoch_metrics(model, x, d.y_val[:n].to(self.device)))
        if target_bn and d.x_target is not None:
            recompute_bn_stats(model, d.x_target, self.device, skip=frozen)
        if d.x_target is not None:
            out["target/entropy"] = mean_entropy(loop.logits_of(model, d.x_target))
        if d.x_test is not None and d.y_test is not None:
            out["target/acc"] = accuracy(loop.logits_of(model, d.x_test), d.y_test)
        return dict(broadcast_object(out, self.dist))

    # ------------------------------------------------------------------ checkpoints
    def _deploy_payload(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu() for k, v in self.deploy_model().state_dict().items()},
            "classes": list(self.data.classes),
            "input_size": self.size,
            "bottleneck_dim": int(self.method_cfg.bottleneck_dim),
            "epoch": self.pos.epoch,
        }

    def resumable(self) -> Resumable:
        handlers: dict[str, Stateful | None] = {
            "best": self.best,
            "early_stop": self.early_stop,
            "averaging": self.averaging,
        }
        return Resumable(self.method, self.optimizer, self.scaler, self.pos, handlers, self.world)

    def save_last(self) -> None:
        if self.is_main:
            save_checkpoint(self.run.checkpoint("last"), self._deploy_payload() | training_state(self.resumable()))

    def end_epoch(self, loop: EpochLoop, train_stats: dict[str, float], seconds: float) -> dict[str, float]:
        metrics = {**train_stats, **self.evaluate(loop), "lr": self.optimizer.param_groups[-1]["lr"]}
        metrics["epoch_time"] = seconds
        self.pos.epoch += 1
        self.pos.step_in_epoch = 0
        self.pos.epoch_rng = None
        improved = self.best.update(self.pos.epoch, metrics)
        self.early_stop.update(improved)
        if improved and self.is_main:
            save_checkpoint(self.run.checkpoint("best"), self._deploy_payload() | {"metrics": metrics})
        self.save_last()
        self.update_info(
            status="running",
            epoch=self.pos.epoch,
            epochs=self.config.epochs,
            best_epoch=self.best.epoch,
            best_metrics=self.best.metrics,
            last_metrics=metrics,
        )
        if self.is_main:
            self.run.append_metrics({"epoch": self.pos.epoch, "step": self.pos.step, **metrics})
        self.emit(EpochEnd(self.pos.epoch, self.pos.step, metrics))
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
            processes=self.world,
        )
        self.emit(Started("train", str(self.run.path), self.total_steps, describe_device(self.device)))
        loop = self.make_loop()
        metrics: dict[str, float] = {}
        status = "finished"
        try:
            while self.pos.epoch < self.config.epochs:
                t0 = time.perf_counter()
                stats = loop.run_epoch()
                metrics = self.end_epoch(loop, stats, time.perf_counter() - t0)
                if self.early_stop.should_stop:
                    self.emit(Log(f"Stopped early: no better selection score for {self.early_stop.patience} epochs."))
                    break
        except Stopped:
            status = "stopped"
            self.pos.epoch_rng = rng_state() if self.pos.step_in_epoch > 0 else None
            self.save_last()
            self.emit(Log(f"Stopped at step {self.pos.step}; resume to continue from here."))
        best = self.best
        self.update_info(status=status, epoch=self.pos.epoch, best_epoch=best.epoch, best_metrics=best.metrics)
        result = TrainResult(self.run.path, status, self.pos.epoch, metrics, best.metrics, best.epoch)
        self.emit(Finished("train", str(self.run.path), best.metrics, stopped=status == "stopped"))
        return result


def _open(
    config: TrainConfig | None, resume: str | Path | None, dist_info: DistInfo | None, emit: Emit = ignore
) -> tuple[TrainConfig, Run, dict[str, Any] | None, ScannedFolders | None]:
    """The run, the checkpoint to resume from and the folders the preflight scanned. Rank 0 reads or creates the
    run directory and sends config and checkpoint to the others (another node may not see it; they scan)."""
    main = dist_info is None or dist_info.is_main
    if resume is not None:
        loaded: tuple[TrainConfig, Path, dict[str, Any] | None] | None = None
        if main:
            run = open_run(resume)
            last = run.checkpoint("last")
            loaded = (run.config(), run.path, load_checkpoint(last) if last.is_file() else None)
        cfg, path, state = broadcast_object(loaded, dist_info)
        return cfg, Run(path), state, None
    if config is None:
        raise UserError("give a training config, or a run directory to resume.")
    scanned = preflight(config, emit) if main else None  # bad input: refused before a run directory exists
    path_text = str(create_run(config).path) if main else ""
    return config, Run(Path(broadcast_text(path_text, dist_info))), None, scanned


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
    if not main:
        emit = ignore
    run: Run | None = None
    lock: AbstractContextManager[object] = nullcontext()
    try:
        config, run, state, scanned = _open(config, resume, dist_info, emit)
        if main:  # a second writer (another CLI or window) is refused, naming the owner
            lock = run.lock()
            lock.__enter__()
        trainer = _trainer_class(config)(config, run, emit, control, cache, dist_info, scanned)
        if state is not None:
            for warning in restore_state(trainer.resumable(), state):
                emit(Log(warning, "warning"))
            if main:
                run.write_metrics([r for r in run.metrics() if r.get("epoch", 0) <= trainer.pos.epoch])
            emit(Log(f"Resuming {run.path.name} at epoch {trainer.pos.epoch + 1}, step {trainer.pos.step}."))
        return trainer.fit()
    except Stopped:
        if main and run is not None:
            run.update_info(status="stopped")
        emit(Finished("train", str(run.path if run else ""), {}, stopped=True))
        return TrainResult(run.path if run else Path(), "stopped", 0)
    except UserError as err:
        # An error that leaves a resumable run (the disk filled up while writing a checkpoint:
        # the previous one is intact) marks it stopped, not failed, so it can be resumed.
        status = "stopped" if getattr(err, "resumable", False) else "failed"
        if main and run is not None and not isinstance(err, RunLocked):  # a locked run is another's
            _best_effort_status(run, status, str(err))
        raise  # one failure path: the driver (CLI, window) reports it once
    except Exception as err:
        if main and run is not None:
            _best_effort_status(run, "failed", f"{type(err).__name__}: {err}")
        raise
    finally:
        lock.__exit__(None, None, None)
        teardown(dist_info)


def _trainer_class(config: TrainConfig) -> type[Trainer]:
    """The trainer of a multitask run (task folders or a labels table) or the plain one."""
    if config.multitask or config.method == "multitask":
        from engine.multitask.trainer import MultitaskTrainer

        return MultitaskTrainer
    return Trainer


def _best_effort_status(run: Run, status: str, error: str) -> None:
    """Record why the run ended; on a full disk even run.json may not fit, and the error that
    matters is the one being raised, not this write's."""
    with suppress(OSError, UserError):
        run.update_info(status=status, error=error)
