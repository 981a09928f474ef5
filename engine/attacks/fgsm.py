"""FGSM: one signed-gradient step (Goodfellow, Shlens, Szegedy, "Explaining and Harnessing
Adversarial Examples", ICLR 2015). With norm='l2' it is the fast gradient method (FGM): one step
of length eps along the L2-normalised gradient.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.attacks.base import AttackConfig, WhiteBoxAttack, goal_labels, register


class FGSMConfig(AttackConfig):
    """eps defaults to 8/255 (linf) or 0.5 (l2), the usual CIFAR-scale budgets (torchattacks: 8/255)."""


@register("fgsm")
class FGSM(WhiteBoxAttack):
    """Fast Gradient Sign Method.

    Untargeted: x' = clip(x + eps * sign(grad_x CE(f(x), y))); targeted: step *down* the
    cross-entropy of the target class. Shapes: x [N,C,H,W] in [0,1], y/target [N].

    Example:
        >>> res = FGSM(eps=8 / 255)(model, x, y)
        >>> res.success.float().mean()
    """

    config_cls: ClassVar[type[AttackConfig]] = FGSMConfig
    config: FGSMConfig

    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        cfg = self.config
        eps = cfg.budget()
        xr = x.clone().requires_grad_(True)
        logits = model(xr)
        if cfg.targeted:
            loss = -F.cross_entropy(logits, goal_labels(y, target, True), reduction="sum")
        else:
            loss = F.cross_entropy(logits, y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, xr)
        if cfg.norm == "linf":
            step = eps * grad.sign()
        else:
            n = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (x.dim() - 1)))
            step = eps * grad / n
        return (x + step).clamp(0.0, 1.0)
