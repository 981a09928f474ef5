"""Shared parts of the adversarial-training methods: the threat-model config, the inner
maximisation (FGSM with random start, or PGD) and live robust-accuracy metrics.

The inner loop runs with the model in eval mode and its weights frozen (BatchNorm statistics
are not polluted by the attack's probes); the outer step then trains on the adversarial batch.
Budgets are in pixel space [0, 1], as for the attacks in engine/attacks.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import Tensor, nn

from engine.attacks.base import frozen_eval, project
from engine.attacks.pgd import random_ball
from engine.methods.base import Method, MethodConfig


class RobustConfig(MethodConfig):
    """Threat model of adversarial training."""

    eps: float = Field(8 / 255, ge=0, le=1, description="Perturbation budget in pixel units [0, 1] (8/255 = 0.031).")
    norm: Literal["linf", "l2"] = Field("linf", description="Threat model: 'linf' (max pixel change) or 'l2'.")
    attack_steps: int = Field(7, ge=1, le=100, description="Gradient steps of the inner attack while training.")
    step_size: float | None = Field(
        None, gt=0, le=1, description="Inner attack step in pixel units; empty means 2.5·eps/steps."
    )
    random_start: bool = Field(True, description="Start the inner attack at a random point of the eps-ball.")
    eval_steps: int = Field(
        10, ge=0, le=100, description="PGD steps for the robust validation accuracy each epoch (0: skip)."
    )

    @model_validator(mode="after")
    def _eps_for_norm(self) -> RobustConfig:
        if self.norm == "linf" and self.eps > 0.5:
            raise ValueError(
                f"eps={self.eps} is too large for linf: images are in [0, 1]; typical values are 2/255 to 16/255"
            )
        return self


def pgd_perturb(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    norm: str,
    steps: int,
    step_size: float,
    random_start: bool = True,
    loss_fn=None,
    init_delta: Tensor | None = None,
) -> Tensor:
    """Adversarial images maximising `loss_fn(logits, y)` (cross-entropy by default): the last
    PGD iterate, inside the eps-ball and [0, 1]. Model mode and weights are left as they were."""
    loss_fn = loss_fn or (lambda logits, labels: F.cross_entropy(logits, labels, reduction="sum"))
    with frozen_eval(model), torch.enable_grad():
        x = x.detach()
        if init_delta is not None:
            delta = project(x, x + init_delta, eps, norm) - x
        else:
            delta = random_ball(x, eps, norm) if random_start and eps > 0 else torch.zeros_like(x)
        for _ in range(steps):
            delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(loss_fn(model(x + delta), y), delta)
            with torch.no_grad():
                if norm == "linf":
                    step = step_size * grad.sign()
                else:
                    step = step_size * grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                delta = project(x, x + delta + step, eps, norm) - x
        return (x + delta).detach()


RC = TypeVar("RC", bound=RobustConfig)


class RobustMethod(Method[RC]):
    """Base of adversarial training: a step size rule and robust accuracy per epoch."""

    kind = "robustness"
    Config = RobustConfig

    def step_size(self, steps: int) -> float:
        cfg = self.config
        return cfg.step_size if cfg.step_size is not None else 2.5 * cfg.eps / steps

    def adversarial(
        self,
        x: Tensor,
        y: Tensor,
        steps: int | None = None,
        random_start: bool | None = None,
        **pgd: Any,
    ) -> Tensor:
        """The inner maximisation with the method's threat model; `pgd` goes to pgd_perturb
        (`loss_fn`, `init_delta`)."""
        cfg = self.config
        n = steps if steps is not None else cfg.attack_steps
        start = cfg.random_start if random_start is None else random_start
        step_size = self.step_size(n)
        return pgd_perturb(
            self.model, x, y, eps=cfg.eps, norm=cfg.norm, steps=n, step_size=step_size, random_start=start, **pgd
        )

    def clean_logits(self, x: Tensor) -> Tensor:
        """Logits of the clean batch in eval mode, without gradients (for the clean accuracy curve)."""
        with frozen_eval(self.model), torch.no_grad():
            return self.model(x)

    def epoch_metrics(self, model: nn.Module, x01: Tensor, y: Tensor) -> dict[str, float]:
        """Robust validation accuracy under PGD (eval_steps steps) on a slice of the validation set."""
        cfg = self.config
        if cfg.eval_steps <= 0 or len(x01) == 0:
            return {}
        steps = cfg.eval_steps
        x_adv = pgd_perturb(
            model,
            x01,
            y,
            eps=cfg.eps,
            norm=cfg.norm,
            steps=steps,
            step_size=2.5 * cfg.eps / steps,
        )
        with torch.no_grad():
            was = model.training
            model.eval()
            acc = float((model(x_adv).argmax(1) == y).float().mean())
            model.train(was)
        return {"val/adv_acc": acc}
