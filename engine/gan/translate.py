"""Pixel-level domain adaptation: translate labelled source images into the target's style with
an unpaired image-to-image GAN, keeping their labels (CyCADA, Hoffman et al. 2018).

Two generators (source->target, target->source) and two PatchGAN discriminators, trained with
the hinge GAN loss, CycleGAN's cycle-consistency L1 (x -> other domain -> back must give x),
and, when a source classifier is given, CyCADA's semantic consistency: the classifier must
predict the same class for an image before and after translation (the source label for
source images, its own prediction for target images). The classifier is frozen; gradients
reach only the generators. DiffAugment on the discriminators' inputs helps with few target
images. Instead of the cycle, `loss="cut"` keeps the content with CUT's PatchNCE
(engine.gan.patchnce): one generator, one discriminator, no way back needed. `TranslatorTrainer` works on tensors, so the `gan_translate` job (folders) and the
`pixel_da` training method (prepared data) share it; its `state_dict` (networks, optimisers,
step, RNG) makes a stopped or killed translation continue exactly where its checkpoint was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch.nn import functional as F

from engine.core.control import JobControl
from engine.core.events import Emit, EpochEnd, Progress, ignore
from engine.gan.data import to_model_range, to_unit_range
from engine.gan.diffaugment import diff_augment, parse_policy
from engine.gan.losses import d_loss, g_loss
from engine.gan.patchnce import PatchProjector, nce_loss
from engine.gan.translate_nets import PatchD, TranslatorG
from engine.training.checkpoints import rng_state, set_rng_state

if TYPE_CHECKING:  # pragma: no cover
    from engine.data.disk_images import DiskImages

Classifier = Callable[[torch.Tensor], torch.Tensor]  # images in [0, 1] -> logits


class TranslatorTrainer:
    """Train source->target translation on uint8 images [N, 3, S, S] (source labelled).

    `loss` "cycle": CycleGAN (two generators, two discriminators, cycle L1); "cut": CUT (one
    generator and one discriminator, PatchNCE on the source and, as identity, on the target)."""

    def __init__(
        self,
        x_source: torch.Tensor | DiskImages,
        y_source: torch.Tensor,
        x_target: torch.Tensor | DiskImages,
        *,
        classifier: Classifier | None = None,
        width: int = 16,
        batch_size: int = 16,
        lr: float = 2e-4,
        loss: Literal["cycle", "cut"] = "cycle",
        cycle_weight: float = 10.0,
        nce_weight: float = 1.0,
        nce_patches: int = 64,
        semantic_weight: float = 1.0,
        diffaugment: str = "",
        seed: int = 0,
        device: torch.device | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        torch.manual_seed(seed)
        # uint8 (tensors, or DiskImages over the memory budget), made float a batch at a time:
        # a float copy of both domains would take four times the decoded images
        self.xs, self.ys, self.xt = x_source, y_source.long(), x_target
        self.classifier = classifier
        self.batch_size = min(batch_size, len(self.xs), len(self.xt))
        self.loss = loss
        self.cycle_weight, self.semantic_weight = cycle_weight, semantic_weight if classifier else 0.0
        self.nce_weight, self.nce_patches = nce_weight, nce_patches
        self.policy = parse_policy(diffaugment)
        self.seed = seed
        self.g_st, self.d_t = TranslatorG(width).to(self.device), PatchD(width).to(self.device)
        self.nets: dict[str, torch.nn.Module] = {"g_st": self.g_st, "d_t": self.d_t}
        if loss == "cycle":
            self.g_ts, self.d_s = TranslatorG(width).to(self.device), PatchD(width).to(self.device)
            self.nets.update(g_ts=self.g_ts, d_s=self.d_s)
            g_params = [*self.g_st.parameters(), *self.g_ts.parameters()]
            d_params = [*self.d_t.parameters(), *self.d_s.parameters()]
        else:
            self.projector = PatchProjector(TranslatorG.encoder_channels(width)).to(self.device)
            self.nets["projector"] = self.projector
            g_params = [*self.g_st.parameters(), *self.projector.parameters()]
            d_params = list(self.d_t.parameters())
        self.opt_g = torch.optim.Adam(g_params, lr=lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(d_params, lr=lr, betas=(0.5, 0.999))
        self.step = 0
        self.last_metrics: dict[str, float] = {}

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.step)
        i = torch.randperm(len(self.xs), generator=gen)[: self.batch_size]
        j = torch.randperm(len(self.xt), generator=gen)[: self.batch_size]
        xs, xt = to_model_range(self.xs[i]), to_model_range(self.xt[j])
        return xs.to(self.device), self.ys[i].to(self.device), xt.to(self.device)

    def _d_loss(
        self, xs: torch.Tensor, xt: torch.Tensor, fake_t: torch.Tensor, fake_s: torch.Tensor | None
    ) -> torch.Tensor:
        loss = d_loss("hinge", self.d_t(self._aug(xt)), self.d_t(self._aug(fake_t.detach())))
        if fake_s is not None:
            loss = loss + d_loss("hinge", self.d_s(self._aug(xs)), self.d_s(self._aug(fake_s.detach())))
        return loss

    def train_step(self) -> dict[str, float]:
        xs, ys, xt = self._batch()
        cut = self.loss == "cut"
        if cut:  # one pass through G for the source and (identity) the target
            both = self.g_st(torch.cat([xs, xt]))
            fake_t, idt_t, fake_s = both[: len(xs)], both[len(xs) :], None
        else:
            fake_t, fake_s = self.g_st(xs), self.g_ts(xt)
        loss_d = self._d_loss(xs, xt, fake_t, fake_s)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        adv = g_loss("hinge", self.d_t(self._aug(fake_t)))
        metrics: dict[str, float] = {}
        if cut:
            nce = nce_loss(self.g_st, self.projector, xs, fake_t, self.nce_patches)
            nce = 0.5 * (nce + nce_loss(self.g_st, self.projector, xt, idt_t, self.nce_patches))
            loss = adv + self.nce_weight * nce
            metrics["nce"] = nce.item()
        else:
            assert fake_s is not None
            adv = adv + g_loss("hinge", self.d_s(self._aug(fake_s)))
            cycle = F.l1_loss(self.g_ts(fake_t), xs) + F.l1_loss(self.g_st(fake_s), xt)
            loss = adv + self.cycle_weight * cycle
            metrics["cycle"] = cycle.item()
        if self.classifier is not None and self.semantic_weight > 0:
            sem = F.cross_entropy(self.classifier(to_unit_range(fake_t)), ys)
            if fake_s is not None:
                with torch.no_grad():
                    pseudo = self.classifier(to_unit_range(xt)).argmax(1)
                sem = sem + F.cross_entropy(self.classifier(to_unit_range(fake_s)), pseudo)
            loss = loss + self.semantic_weight * sem
            metrics["semantic"] = sem.item()
        if not torch.isfinite(loss) or not torch.isfinite(loss_d):
            from engine.core.errors import UserError

            raise UserError(
                f"the translation losses became non-finite at step {self.step + 1}; lower the learning rate."
            )
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self.step += 1
        return {"g_loss": adv.item(), "d_loss": loss_d.item(), **metrics}

    def fit(self, steps: int, emit: Emit = ignore, control: JobControl | None = None, every: int = 100,
            on_check: Callable[[dict[str, float]], None] | None = None, save_every: int = 0,
            on_save: Callable[[], None] | None = None) -> dict[str, float]:  # fmt: skip
        """Train to `steps`; Progress per step; every `every` steps the window's mean metrics go to
        `on_check` and EpochEnd; `on_save` (the checkpoint) every `save_every` steps and at the end."""
        for net in self.nets.values():
            net.train()
        started, first = time.monotonic(), self.step
        window: dict[str, float] = {}
        n = 0
        while self.step < steps:
            if control is not None:
                control.check()
            m = self.train_step()
            n += 1
            for k, v in m.items():
                window[k] = window.get(k, 0.0) + v
            eta = (time.monotonic() - started) / (self.step - first) * (steps - self.step)
            emit(Progress(self.step // every + 1, self.step, steps, m, eta))
            if self.step % every == 0 or self.step == steps:
                self.last_metrics = {k: v / n for k, v in window.items()}
                window, n = {}, 0
                if on_check is not None:
                    on_check(dict(self.last_metrics))
                emit(EpochEnd((self.step - 1) // every + 1, self.step, dict(self.last_metrics)))
            if on_save is not None and ((save_every and self.step % save_every == 0) or self.step == steps):
                on_save()
        return self.last_metrics

    @torch.no_grad()
    def translate(self, images_u8: torch.Tensor, batch: int = 256) -> torch.Tensor:
        """Source images uint8 [N, 3, S, S] -> translated uint8 images (the labels stay theirs)."""
        return translate_with(self.g_st, images_u8, self.device, batch)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue as if it had not stopped: the networks (g_st
        is what translates; pixel_da reads it), optimisers, step, metrics and the RNG state."""
        state: dict[str, Any] = {name: net.state_dict() for name, net in self.nets.items()}
        state.update(
            loss=self.loss, opt_g=self.opt_g.state_dict(), opt_d=self.opt_d.state_dict(), step=self.step,
            metrics=dict(self.last_metrics), rng=rng_state(),
        )  # fmt: skip
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state[name])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        self.last_metrics = dict(state.get("metrics", {}))
        set_rng_state(state["rng"])


@torch.no_grad()
def translate_with(g: torch.nn.Module, images_u8: torch.Tensor, device: torch.device, batch: int = 256) -> torch.Tensor:
    was = g.training
    g.eval()
    out = []
    for i in range(0, len(images_u8), batch):
        y = g(to_model_range(images_u8[i : i + batch]).to(device)).cpu()
        out.append((to_unit_range(y) * 255 + 0.5).to(torch.uint8))
    g.train(was)
    return torch.cat(out) if out else images_u8.clone()


def pairs_grid(trainer: TranslatorTrainer, n: int = 8) -> torch.Tensor:
    """The first `n` source images above their translations, [2n, 3, S, S] in [-1, 1]."""
    xs = to_model_range(trainer.xs[:n])
    with torch.no_grad():
        was = trainer.g_st.training
        trainer.g_st.eval()
        ys = trainer.g_st(xs.to(trainer.device)).cpu()
        trainer.g_st.train(was)
    return torch.cat([xs, ys])
