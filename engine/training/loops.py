"""Epoch loops used by the trainer.

`StepLoop` runs a method's `training_step` on image batches (with target batches for
adaptation methods). `FeatureCacheLoop` is the fast path for a frozen backbone: features are
computed once, then only the head trains on them (tens of times faster per epoch).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

from engine.core.events import Log, Progress
from engine.methods import Batch
from engine.training.devices import to_device_float

if TYPE_CHECKING:  # pragma: no cover
    from engine.training.trainer import Trainer


class EpochLoop:
    def __init__(self, trainer: Trainer) -> None:
        self.t = trainer
        self._last = time.perf_counter()
        self._step_time = 0.0

    def begin_epoch(self) -> None:
        """Seed this epoch's randomness, or restore it when resuming in the middle of the epoch."""
        t = self.t
        if t.step_in_epoch > 0 and t.epoch_rng is not None:
            from engine.training.checkpoints import set_rng_state

            set_rng_state(t.epoch_rng)
        else:
            t.step_in_epoch = 0
            torch.manual_seed(t.config.seed * 7919 + t.epoch + 1)

    def shard(self, perm: torch.Tensor) -> torch.Tensor:
        """This process's share of an epoch's permutation (all of it without torchrun)."""
        d = self.t.dist
        return perm if d is None else perm[d.rank :: d.world]

    def report(self, metrics: dict[str, float]) -> None:
        now = time.perf_counter()
        dt, self._last = now - self._last, now
        self._step_time = dt if self._step_time == 0 else 0.9 * self._step_time + 0.1 * dt
        t = self.t
        eta = self._step_time * (t.total_steps - t.step)
        t.emit(Progress(t.epoch + 1, t.step, t.total_steps, metrics, eta))

    def run_epoch(self) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError


def _stats(losses: list[float], accs: list[float]) -> dict[str, float]:
    if not losses:
        return {}
    return {"train/loss": sum(losses) / len(losses), "train/acc": sum(accs) / len(accs)}


class StepLoop(EpochLoop):
    """Mini-batches of images through the method, one optimiser step each."""

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        cfg = trainer.config
        self.transform = None
        if cfg.augment != "none":
            from engine.data.loading import make_transform

            self.transform = make_transform(cfg.augment, trainer.size)

    def _source_batches(self, perm: torch.Tensor, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        t = self.t
        bs, x, y = t.batch_size, t.data.x_train, t.data.y_train
        batches = [perm[i * bs : (i + 1) * bs] for i in range(start, t.steps_per_epoch)]
        if self.transform is None:
            for idx in batches:
                yield to_device_float(x[idx], t.device), y[idx].to(t.device)
            return
        from engine.data.loading import TensorImageDataset

        dataset = TensorImageDataset(x, y, self.transform)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=[b.tolist() for b in batches],
            num_workers=t.config.workers,
            pin_memory=t.device.type == "cuda",
        )
        for xb, yb in loader:
            yield xb.to(t.device, non_blocking=True), yb.to(t.device, non_blocking=True)

    def run_epoch(self) -> dict[str, float]:
        t = self.t
        self.begin_epoch()
        g = t.epoch_generator(t.epoch)
        perm = self.shard(torch.randperm(len(t.data.x_train), generator=g))
        xt = t.data.x_target if t.method.uses_target else None
        perm_t = self.shard(torch.randperm(len(xt), generator=g)) if xt is not None else None
        t.method.train()
        losses: list[float] = []
        accs: list[float] = []
        batches = self._source_batches(perm, t.step_in_epoch)
        while t.step_in_epoch < t.steps_per_epoch:
            t.control.check()
            xs, ys = next(batches)
            x_target = None
            if xt is not None and perm_t is not None:
                i = t.step_in_epoch
                idx = perm_t[torch.arange(i * len(xs), (i + 1) * len(xs)) % len(perm_t)]
                x_target = to_device_float(xt[idx], t.device)
            batch = Batch(xs, ys, x_target, t.step, t.step / max(1, t.total_steps))
            loss, acc, metrics = t.optimiser_step(batch)
            t.step_in_epoch += 1
            losses.append(loss)
            accs.append(acc)
            self.report(metrics)
        return _stats(losses, accs)


class FeatureCacheLoop(EpochLoop):
    """Frozen backbone: backbone features once (no augmentation), then head-only epochs."""

    @staticmethod
    def applies(trainer: Trainer) -> bool:
        check = getattr(trainer.method, "feature_cache_ok", None)
        return bool(check and check() and not trainer.method.uses_target and trainer.dist is None)

    def __init__(self, trainer: Trainer) -> None:
        super().__init__(trainer)
        if trainer.config.augment != "none":
            trainer.emit(
                Log(
                    "Augmentation is off while the frozen backbone's features are cached "
                    "(set cache_features = false to train the head on augmented images).",
                    "warning",
                )
            )
        trainer.emit(Log("Backbone frozen: computing its features once."))
        self.cache: dict[int, torch.Tensor] = {}
        self.f_train = self.features(trainer.data.x_train)
        trainer.logits_of = self.cached_logits  # type: ignore[method-assign]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        key = id(x)
        if key not in self.cache:
            t = self.t
            outs = []
            model = t.model
            model.eval()
            with torch.inference_mode():
                for i in range(0, len(x), 256):
                    outs.append(model.backbone_features(to_device_float(x[i : i + 256], t.device)).float())
            self.cache[key] = torch.cat(outs) if outs else torch.zeros(0, model.backbone_dim, device=t.device)
        return self.cache[key]

    def head(self, model: nn.Module, f: torch.Tensor) -> torch.Tensor:
        return model.head(model.bottleneck(f))  # type: ignore[operator]

    @torch.inference_mode()
    def cached_logits(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        was = model.training
        model.eval()
        try:
            return self.head(model, self.features(x)).float().cpu()
        finally:
            model.train(was)

    def run_epoch(self) -> dict[str, float]:
        t = self.t
        self.begin_epoch()
        perm = torch.randperm(len(self.f_train), generator=t.epoch_generator(t.epoch)).to(t.device)
        y = t.data.y_train.to(t.device)
        t.method.train()
        losses: list[float] = []
        accs: list[float] = []
        while t.step_in_epoch < t.steps_per_epoch:
            t.control.check()
            i = t.step_in_epoch
            idx = perm[i * t.batch_size : (i + 1) * t.batch_size]
            f, yb = self.f_train[idx].clone(), y[idx]
            t.set_lr()
            logits = self.head(t.model, f)
            loss = t.method.classification_loss(logits, yb)
            t.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            t.optimizer.step()
            if t.ema is not None:
                t.ema.update_parameters(t.model)
            t.step += 1
            t.step_in_epoch += 1
            value = float(loss.detach())
            losses.append(value)
            accs.append(float((logits.argmax(1) == yb).float().mean()))
            self.report({"loss": value, "loss/cls": value, "lr": t.optimizer.param_groups[-1]["lr"]})
        return _stats(losses, accs)
