"""Epoch loops used by the trainer.

`StepLoop` runs a method's `training_step` on image batches (with target batches for
adaptation methods). `FeatureCacheLoop` is the fast path for a frozen backbone: features are
computed once, then only the head trains on them (tens of times faster per epoch). Both hand
their loss to the same `OptimiserStep`, and both say how the trainer gets logits for evaluation
(`logits_of`): images through the model, or cached features through the head.

A loop sees the run through a `LoopContext`, never the trainer itself, so this module does not
import the trainer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from engine.analysis.evaluate import predict_logits
from engine.core.config import TrainConfig
from engine.core.events import Emit, Log, Progress
from engine.data.prepare import PreparedData
from engine.methods import Batch, Method, StepResult
from engine.models.classifier import ImageClassifier
from engine.training.checkpoints import set_rng_state
from engine.training.devices import to_device_float
from engine.training.distributed import DistInfo, all_mean
from engine.training.step import OptimiserStep, Position


@dataclass
class LoopContext:
    config: TrainConfig
    size: int
    data: PreparedData
    device: torch.device
    method: Method
    step_module: nn.Module  # the method, or the DistributedDataParallel wrapping it
    batch_size: int  # the global batch: every rank takes its share of it
    steps_per_epoch: int
    total_steps: int
    position: Position
    step: OptimiserStep
    emit: Emit
    dist: DistInfo | None


def rank_share(idx: torch.Tensor, dist: DistInfo | None) -> torch.Tensor:
    """This process's share of a global batch (all of it in one process). Sharding each batch,
    not the epoch, keeps the images of every step the same for any number of processes."""
    return idx if dist is None else idx[dist.rank :: dist.world]


class EpochLoop:
    def __init__(self, ctx: LoopContext) -> None:
        self.ctx = ctx
        self._last = time.perf_counter()
        self._step_time = 0.0

    def begin_epoch(self) -> None:
        """Seed this epoch's randomness, or restore it when resuming in the middle of the epoch."""
        c, pos = self.ctx, self.ctx.position
        if pos.step_in_epoch > 0 and pos.epoch_rng is not None:
            set_rng_state(pos.epoch_rng)
        else:
            pos.step_in_epoch = 0
            rank = c.dist.rank if c.dist is not None else 0
            torch.manual_seed(c.config.seed * 7919 + pos.epoch + 1 + 1_000_003 * rank)

    def epoch_generator(self) -> torch.Generator:
        """The epoch's permutation generator: the same on every rank."""
        return torch.Generator().manual_seed(self.ctx.config.seed * 100_003 + self.ctx.position.epoch)

    def logits_of(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits of uint8 images, for evaluation."""
        return predict_logits(model, x, self.ctx.device)

    def report(self, metrics: dict[str, float]) -> None:
        now = time.perf_counter()
        dt, self._last = now - self._last, now
        self._step_time = dt if self._step_time == 0 else 0.9 * self._step_time + 0.1 * dt
        c, pos = self.ctx, self.ctx.position
        eta = self._step_time * (c.total_steps - pos.step)
        c.emit(Progress(pos.epoch + 1, pos.step, c.total_steps, metrics, eta))

    def stats(self, losses: list[float], accs: list[float]) -> dict[str, float]:
        """Epoch means of the training loss and accuracy, averaged over the ranks."""
        if not losses:
            return {}
        loss, acc = all_mean([sum(losses) / len(losses), sum(accs) / len(accs)], self.ctx.dist, self.ctx.device)
        return {"train/loss": loss, "train/acc": acc}

    def run_epoch(self) -> dict[str, float]:  # pragma: no cover - abstract
        raise NotImplementedError


class StepLoop(EpochLoop):
    """Mini-batches of images through the method, one optimiser step each."""

    def __init__(self, ctx: LoopContext) -> None:
        super().__init__(ctx)
        self.transform = None
        if ctx.config.augment != "none":
            from engine.data.loading import make_transform

            self.transform = make_transform(ctx.config.augment, ctx.size)

    def _source_batches(self, batches: list[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        c = self.ctx
        x, y = c.data.x_train, c.data.y_train
        if self.transform is None and c.data.on_disk:  # read the next batch from the cache file meanwhile
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as pool:
                ahead = [pool.submit(x.__getitem__, b) for b in batches[:1]]
                for k, idx in enumerate(batches):
                    xb = ahead.pop().result()
                    if k + 1 < len(batches):
                        ahead.append(pool.submit(x.__getitem__, batches[k + 1]))
                    yield to_device_float(xb, c.device), y[idx].to(c.device)
            return
        if self.transform is None:
            for idx in batches:
                yield to_device_float(x[idx], c.device), y[idx].to(c.device)
            return
        from engine.data.loading import TensorImageDataset

        loader = torch.utils.data.DataLoader(
            TensorImageDataset(x, y, self.transform),
            batch_sampler=[b.tolist() for b in batches],
            num_workers=c.config.workers,
            pin_memory=c.device.type == "cuda",
        )
        for xb, yb in loader:
            yield xb.to(c.device, non_blocking=True), yb.to(c.device, non_blocking=True)

    def run_epoch(self) -> dict[str, float]:
        c, pos = self.ctx, self.ctx.position
        self.begin_epoch()
        g = self.epoch_generator()
        bs = c.batch_size
        perm = torch.randperm(len(c.data.x_train), generator=g)
        xt = c.data.x_target if c.method.uses_target else None
        perm_t = torch.randperm(len(xt), generator=g) if xt is not None else None
        c.method.train()
        losses: list[float] = []
        accs: list[float] = []
        shares = [rank_share(perm[i * bs : (i + 1) * bs], c.dist) for i in range(pos.step_in_epoch, c.steps_per_epoch)]
        batches = self._source_batches(shares)
        while pos.step_in_epoch < c.steps_per_epoch:
            c.step.check_stop()
            i = pos.step_in_epoch
            xs, ys = next(batches)
            x_target = None
            if xt is not None and perm_t is not None:
                idx = perm_t[torch.arange(i * bs, (i + 1) * bs) % len(perm_t)]
                x_target = to_device_float(xt[rank_share(idx, c.dist)], c.device)
            batch = Batch(xs, ys, x_target, pos.step, pos.step / max(1, c.total_steps))
            out = c.step(partial(c.step_module, batch), ys)
            losses.append(out.loss)
            accs.append(out.acc)
            self.report(out.metrics)
        return self.stats(losses, accs)


class FeatureCacheLoop(EpochLoop):
    """Frozen backbone: backbone features once (no augmentation), then head-only epochs."""

    @staticmethod
    def applies(method: Method, dist: DistInfo | None) -> bool:
        return method.feature_cache_ok() and not method.uses_target and dist is None

    def __init__(self, ctx: LoopContext) -> None:
        super().__init__(ctx)
        if ctx.config.augment != "none":
            ctx.emit(
                Log(
                    "Augmentation is off while the frozen backbone's features are cached "
                    "(set cache_features = false to train the head on augmented images).",
                    "warning",
                )
            )
        ctx.emit(Log("Backbone frozen: computing its features once."))
        self.cache: dict[int, torch.Tensor] = {}
        self.f_train = self.features(ctx.data.x_train)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        key = id(x)
        if key not in self.cache:
            c = self.ctx
            outs = []
            model = c.method.model
            model.eval()
            with torch.inference_mode():
                for i in range(0, len(x), 256):
                    outs.append(model.backbone_features(to_device_float(x[i : i + 256], c.device)).float())
            self.cache[key] = torch.cat(outs) if outs else torch.zeros(0, model.backbone_dim, device=c.device)
        return self.cache[key]

    @staticmethod
    def head(model: ImageClassifier, f: torch.Tensor) -> torch.Tensor:
        return model.head(model.bottleneck(f))

    @torch.inference_mode()
    def logits_of(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Logits from the cached backbone features (the backbone is frozen, so they are exact)."""
        if not isinstance(model, ImageClassifier):  # pragma: no cover - the trainer passes its classifier
            return super().logits_of(model, x)
        was = model.training
        model.eval()
        try:
            return self.head(model, self.features(x)).float().cpu()
        finally:
            model.train(was)

    def run_epoch(self) -> dict[str, float]:
        c, pos = self.ctx, self.ctx.position
        self.begin_epoch()
        perm = torch.randperm(len(self.f_train), generator=self.epoch_generator()).to(c.device)
        y = c.data.y_train.to(c.device)
        c.method.train()
        losses: list[float] = []
        accs: list[float] = []
        while pos.step_in_epoch < c.steps_per_epoch:
            c.step.check_stop()
            i = pos.step_in_epoch
            idx = perm[i * c.batch_size : (i + 1) * c.batch_size]
            f, yb = self.f_train[idx].clone(), y[idx]

            def compute(f: torch.Tensor = f, yb: torch.Tensor = yb) -> StepResult:
                logits = self.head(c.method.model, f)
                loss = c.method.classification_loss(logits, yb)
                return StepResult(loss, logits, {"loss/cls": float(loss.detach())})

            out = c.step(compute, yb)
            losses.append(out.loss)
            accs.append(out.acc)
            self.report(out.metrics)
        return self.stats(losses, accs)
