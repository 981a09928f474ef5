"""The GAN training loop: D step, G step, generator EMA, grids, KID checks, checkpoints.

Deterministic and resumable: each step's real batch comes from a generator seeded by
(seed, step), and the global RNG state (noise, DiffAugment) is saved with the checkpoint, so a
stopped run resumed continues exactly as if it had not stopped. A non-finite loss stops the run
before the optimiser step that would spread it, naming the step; the checkpoint on disk is the
last good one. A discriminator that rejects nearly every fake while KID keeps rising is the
signature of mode collapse: the loop warns (Log warning, and in the report).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, EpochEnd, Log, Progress, Started
from engine.core.fsutil import atomic_write_bytes
from engine.core.runs import Run
from engine.gan.config import GanTrainConfig
from engine.gan.data import GanImages, to_model_range, to_unit_range
from engine.gan.diffaugment import diff_augment, parse_policy
from engine.gan.ema import GeneratorEma
from engine.gan.features import make_extractor
from engine.gan.freeze import freeze_discriminator, set_train_mode
from engine.gan.grid import fixed_noise, grid_png
from engine.gan.losses import d_loss, g_loss
from engine.gan.models import build_pair
from engine.gan.run_io import GanArch
from engine.gan.scores import kid
from engine.training.checkpoints import rng_state, save_checkpoint, set_rng_state
from engine.training.devices import describe_device, pick_device


class NonFiniteLoss(UserError):
    """A GAN loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


def collapse_warning(kids: list[float], rejected_share: float, step: int) -> str | None:
    """A warning when D rejects >= 99% of fakes and KID rose at each of the last 3 checks."""
    if len(kids) < 3 or rejected_share < 0.99:
        return None
    a, b, c = kids[-3:]
    if not (a < b < c and c > 1.2 * min(kids)):
        return None
    return (
        f"step {step}: possible mode collapse: the discriminator rejects {rejected_share:.0%} of the generated "
        f"images and KID rose at each of the last 3 checks ({a:.4f} -> {b:.4f} -> {c:.4f}). Look at the samples; "
        "if they repeat, stop and try DiffAugment, FreezeD or a lower discriminator learning rate."
    )


class GanTrainer:
    """One GAN run: networks, optimisers, data; `fit()` trains to `config.steps`."""

    def __init__(
        self,
        config: GanTrainConfig,
        run: Run,
        data: GanImages,
        emit: Emit,
        control: JobControl,
        arch: GanArch,
        transfer: dict[str, Any] | None = None,
    ) -> None:
        self.config, self.run, self.data, self.emit, self.control, self.arch = config, run, data, emit, control, arch
        self.device = pick_device(config.device)
        torch.manual_seed(config.seed)
        g, d = build_pair(
            arch.image_size, arch.num_classes, z_dim=arch.z_dim, g_width=arch.g_width, d_width=arch.d_width
        )
        if transfer is not None:
            g.load_state_dict(transfer["ema"]["model"])  # start from the source's averaged generator
            d.load_state_dict(transfer["discriminator"])
        self.g, self.d = g.to(self.device), d.to(self.device)
        d_params = freeze_discriminator(self.d, config.freeze_d)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(d_params, lr=config.lr_d, betas=betas)
        self.ema = GeneratorEma(self.g, config.ema)
        self.policy = parse_policy(config.diffaugment)
        self.real = data.images  # uint8 (DiskImages over the memory budget), made float a batch at a time
        self.labels = data.labels.clamp(min=0)
        self.z_fixed, self.y_fixed = fixed_noise(arch.z_dim, arch.num_classes, config.seed)
        self.step = 0
        self.kid_history: list[tuple[int, float]] = []
        self.warnings: list[str] = []
        self.last_metrics: dict[str, float] = {}
        self.checks = 0
        self._window: dict[str, float] = {}
        self._extract: Any = None
        self._real_feats: np.ndarray | None = None

    # ------------------------------------------------------------------ state
    def payload(self) -> dict[str, Any]:
        return {
            "kind": "gan",
            "arch": self.arch.as_dict(),
            "classes": list(self.data.classes) if self.arch.num_classes else [],
            "generator": self.g.state_dict(),
            "discriminator": self.d.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "checks": self.checks,
            "kid_history": [[s, k] for s, k in self.kid_history],
            "warnings": list(self.warnings),
            "metrics": dict(self.last_metrics),
            "rng": rng_state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.g.load_state_dict(state["generator"])
        self.d.load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step, self.checks = int(state["step"]), int(state["checks"])
        self.kid_history = [(int(s), float(k)) for s, k in state["kid_history"]]
        self.warnings = list(state["warnings"])
        self.last_metrics = dict(state["metrics"])
        set_rng_state(state["rng"])

    def save(self) -> None:
        save_checkpoint(self.run.checkpoint("last"), self.payload())

    # ------------------------------------------------------------------ one step
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.step)
        idx = torch.randperm(len(self.real), generator=gen)[: self.config.batch_size]
        y = self.labels[idx].to(self.device) if self.arch.num_classes else None
        return to_model_range(self.real[idx]).to(self.device), y

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x

    def _finite(self, loss: torch.Tensor, which: str) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteLoss(
                f"{self.run.path}: the {which} loss became {float(loss.detach())} at step {self.step + 1}; training stopped. "
                f"The last good checkpoint ({self.run.checkpoint('last')}) is kept. Lower the learning rates "
                f"(lr_g {self.config.lr_g}, lr_d {self.config.lr_d}) and start again from it or from scratch."
            )

    def train_step(self) -> dict[str, float]:
        cfg = self.config
        real, y = self._batch()
        z = torch.randn(len(real), self.arch.z_dim, device=self.device)
        with torch.no_grad():
            fake = self.g(z, y)
        out_real, out_fake = self.d(self._aug(real), y), self.d(self._aug(fake), y)
        loss_d = d_loss(cfg.loss, out_real, out_fake)
        self._finite(loss_d, "discriminator")
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        z = torch.randn(len(real), self.arch.z_dim, device=self.device)
        loss_g = g_loss(cfg.loss, self.d(self._aug(self.g(z, y)), y))
        self._finite(loss_g, "generator")
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.ema.update(self.g)
        self.step += 1
        return {
            "g_loss": loss_g.item(),
            "d_loss": loss_d.item(),
            "d_real": out_real.mean().item(),
            "d_fake": out_fake.mean().item(),
            "fake_rejected": (out_fake < 0).float().mean().item(),
        }

    # ------------------------------------------------------------------ checks
    @torch.no_grad()
    def generate(self, n: int, seed: int) -> torch.Tensor:
        """`n` images in [-1, 1] from the averaged generator (classes balanced when conditional)."""
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.arch.z_dim, generator=gen)
        y = torch.arange(n) % self.arch.num_classes if self.arch.num_classes else None
        g = self.ema.model
        out = [
            g(z[i : i + 256].to(self.device), None if y is None else y[i : i + 256].to(self.device)).cpu()
            for i in range(0, n, 256)
        ]
        return torch.cat(out)

    def measure_kid(self) -> float:
        if self._extract is None:
            self._extract, _ = make_extractor(None)
            self._real_feats = self._extract(to_unit_range(to_model_range(self.real[:2000])))
        assert self._real_feats is not None
        fake = self._extract(to_unit_range(self.generate(self.config.kid_samples, seed=1)))
        mean, _ = kid(self._real_feats, fake, subsets=10, subset_size=min(len(self._real_feats), len(fake), 1000))
        return mean

    def write_grid(self) -> Path:
        with torch.no_grad():
            z = self.z_fixed.to(self.device)
            y = None if self.y_fixed is None else self.y_fixed.to(self.device)
            images = self.ema.model(z, y).cpu()
        path = self.run.path / "samples" / "latest.png"
        atomic_write_bytes(path, grid_png(images, per_row=8))
        return path

    def check(self) -> None:
        """The sample grid, KID (every kid_every-th check), a metrics row, the collapse check."""
        self.checks += 1
        self.write_grid()
        n = max(1.0, self._window.pop("n", 1.0))
        metrics = {k: v / n for k, v in self._window.items()}
        self._window = {}
        if self.config.kid_every and self.checks % self.config.kid_every == 0:
            metrics["kid"] = self.measure_kid()
            self.kid_history.append((self.step, metrics["kid"]))
        warning = collapse_warning([k for _, k in self.kid_history], metrics.get("fake_rejected", 0.0), self.step)
        if warning and "kid" in metrics:
            self.warnings.append(warning)
            self.emit(Log(warning, "warning"))
        self.last_metrics = metrics
        self.run.append_metrics({"epoch": self.checks, "step": self.step, **metrics})
        self.run.update_info(status="running", step=self.step, metrics=metrics, warnings=self.warnings)
        self.emit(EpochEnd(self.checks, self.step, dict(metrics)))

    # ------------------------------------------------------------------ loop
    def fit(self) -> None:
        cfg = self.config
        self.emit(Started("gan_train", str(self.run.path), cfg.steps, describe_device(self.device)))
        self.run.update_info(
            status="running", images=len(self.data), total_steps=cfg.steps, image_size=self.arch.image_size
        )
        if self.step == 0:
            self.write_grid()
        self.g.train()
        set_train_mode(self.d, cfg.freeze_d)
        started, first = time.monotonic(), self.step
        while self.step < cfg.steps:
            self.control.check()
            metrics = self.train_step()
            for k, v in metrics.items():
                self._window[k] = self._window.get(k, 0.0) + v
            self._window["n"] = self._window.get("n", 0.0) + 1
            eta = (time.monotonic() - started) / (self.step - first) * (cfg.steps - self.step)
            self.emit(Progress(self.checks + 1, self.step, cfg.steps, metrics, eta))
            if self.step % cfg.sample_every == 0 or self.step == cfg.steps:
                self.check()
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save()
