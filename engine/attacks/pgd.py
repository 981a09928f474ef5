"""PGD: projected gradient descent on the cross-entropy (Madry, Makelov, Schmidt, Tsipras,
Vladu, "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from engine.attacks.base import AttackConfig, WhiteBoxAttack, goal_labels, is_success, register


class PGDConfig(AttackConfig):
    """Defaults follow Madry et al.: 10 steps of eps/4 (= 2.5 eps / steps) from a random start."""

    steps: int = Field(10, ge=1, le=100_000, description="Gradient steps per restart.")
    step_size: float | None = Field(None, gt=0, description="Step length in pixel units; empty means eps / 4.")
    random_start: bool = Field(True, description="Start from a uniform random point of the eps-ball.")
    restarts: int = Field(1, ge=1, le=1000, description="Independent runs; the strongest result per image is kept.")


def _view(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def random_ball(x: Tensor, eps: float, norm: str, generator: torch.Generator | None = None) -> Tensor:
    """A uniform random perturbation inside the eps-ball, clipped so x + delta stays in [0, 1]."""
    if norm == "linf":
        delta = (torch.rand(x.shape, device=x.device, generator=generator) * 2 - 1) * eps
    else:
        d = torch.randn(x.shape, device=x.device, generator=generator)
        d = d / _view(d.flatten(1).norm(dim=1).clamp_min(1e-12), x)
        dim = x[0].numel()
        r = torch.rand(len(x), device=x.device, generator=generator) ** (1.0 / dim) * eps
        delta = d * _view(r, x)
    return (x + delta).clamp(0, 1) - x


@register("pgd")
class PGD(WhiteBoxAttack):
    """Projected Gradient Descent, L∞ or L2, untargeted or targeted, with restarts.

    Each step: delta <- Proj_eps(delta + alpha * dir(grad)), dir = sign (linf) or grad/||grad||_2
    (l2), then clipped so x + delta is in [0, 1]. Targeted mode descends the cross-entropy of the
    target. The result is the last iterate, or an earlier iterate that fooled the model when the
    last one does not; across restarts a success beats a failure, then the higher loss wins. Shapes: x [N,C,H,W] in [0,1], y/target [N].

    Example:
        >>> res = PGD(eps=8 / 255, steps=10)(model, x, y)
        >>> res = PGD(norm="l2", eps=0.5, targeted=True)(model, x, y, target=t)
    """

    config_cls: ClassVar[type[AttackConfig]] = PGDConfig
    config: PGDConfig

    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> tuple[Tensor, Tensor]:
        cfg = self.config
        eps = cfg.budget()
        alpha = cfg.step_size if cfg.step_size is not None else eps / 4
        labels = goal_labels(y, target, cfg.targeted)
        sign = -1.0 if cfg.targeted else 1.0
        lo, hi = (x - eps).clamp_(min=0), (x + eps).clamp_(max=1)  # linf ball ∩ box, one clamp per step
        best: Tensor | None = None
        best_logits: Tensor | None = None
        best_ok = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        best_loss = torch.full((len(x),), float("-inf"), device=x.device)
        for _ in range(cfg.restarts):
            adv = x + random_ball(x, eps, cfg.norm) if cfg.random_start and eps > 0 else x.clone()
            if cfg.norm == "linf":
                adv = torch.clamp(adv, lo, hi)
            found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
            found_x = x.clone()
            found_logits: Tensor | None = None
            for _ in range(cfg.steps):
                adv.requires_grad_(True)
                logits = model(adv)
                loss = F.cross_entropy(logits, labels, reduction="sum") * sign
                (grad,) = torch.autograd.grad(loss, adv)
                with torch.no_grad():
                    adv = adv.detach()
                    ok = is_success(logits.argmax(1), y, target, cfg.targeted) & ~found
                    if ok.any():  # remember the first iterate that fools each image, and its logits
                        found_logits = logits.detach().clone() if found_logits is None else found_logits
                        found_x[ok], found_logits[ok] = adv[ok], logits[ok].detach()
                        found |= ok
                    if cfg.norm == "linf":
                        adv = torch.clamp(adv.add_(grad.sign_(), alpha=alpha), lo, hi)
                    else:
                        g = grad / _view(grad.flatten(1).norm(dim=1).clamp_min(1e-12), grad)
                        delta = adv - x + alpha * g
                        n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
                        adv = (x + delta * _view((eps / n).clamp(max=1.0), delta)).clamp_(0, 1)
            with torch.no_grad():
                logits = model(adv)
                ok_last = is_success(logits.argmax(1), y, target, cfg.targeted)
                # the last iterate (highest loss) unless only an earlier iterate fooled the model
                use_found = found & ~ok_last
                final = torch.where(_view(use_found, x), found_x, adv)
                final_logits = (
                    torch.where(use_found[:, None], found_logits, logits)
                    if found_logits is not None and use_found.any()  # any found image set found_logits
                    else logits
                )
                if cfg.restarts == 1:
                    return final, final_logits
                ok = ok_last | found
                loss = F.cross_entropy(logits, labels, reduction="none") * sign
                if best is None or best_logits is None:
                    best, best_logits = final.clone(), final_logits.clone()
                better = (ok & ~best_ok) | ((ok == best_ok) & (loss > best_loss))
                best[better], best_logits[better] = final[better], final_logits[better]
                best_loss = torch.where(better, loss, best_loss)
                best_ok |= ok
        assert best is not None and best_logits is not None  # restarts >= 2 reach here, each setting both
        return best, best_logits
