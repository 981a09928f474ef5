"""Carlini-Wagner L2 (Carlini, Wagner, "Towards Evaluating the Robustness of Neural Networks",
IEEE S&P 2017): minimise ||x' - x||_2^2 + c * f(x') in tanh space with Adam, binary search on c.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from engine.attacks.base import AttackConfig, WhiteBoxAttack, goal_labels, register


class CWConfig(AttackConfig):
    """Defaults as in the paper: Adam lr 0.01, kappa 0, 9 binary-search steps over c from
    c = 1e-3, up to 10 000 iterations each with early abort. That is paper strength and slow on a
    CPU: for a quick look, 5 search steps x 100 iterations from c = 0.1 fool most [0, 1] images.
    """

    NORMS: ClassVar[tuple[str, ...]] = ("l2",)
    EPS_REQUIRED: ClassVar[bool] = False

    norm: Literal["l2"] = Field("l2", description="Carlini-Wagner here is the L2 attack.")
    kappa: float = Field(0.0, ge=0, description="Confidence margin the adversarial logit must win by.")
    lr: float = Field(0.01, gt=0, le=10, description="Adam learning rate in tanh space.")
    steps: int = Field(
        10_000, ge=1, le=100_000, description="Adam iterations per binary-search step (paper: 10,000 with early abort)."
    )
    search_steps: int = Field(9, ge=1, le=50, description="Binary-search steps over the constant c (paper: 9).")
    initial_const: float = Field(
        1e-3, gt=0, description="Starting c, the weight of the misclassification term (paper: 1e-3)."
    )
    abort_early: bool = Field(
        True, description="Stop a search step when the loss stops falling (checked every steps/10)."
    )


@register("cw")
class CarliniWagnerL2(WhiteBoxAttack):
    """Carlini-Wagner L2 attack, untargeted or targeted; keeps the smallest successful result.

    x' = (tanh(w) + 1) / 2; f = max(z_y - max_{j!=y} z_j, -kappa) (untargeted) or
    max(max_{j!=t} z_j - z_t, -kappa) (targeted). Per image, c is halved towards the last
    success or multiplied by 10 while failing. With `eps`, only results with L2 <= eps count as
    successes; images without one get the last iterate projected onto the eps-ball.
    Shapes: x [N,C,H,W] in [0,1], y/target [N].

    Example:
        >>> res = CarliniWagnerL2(steps=200)(model, x, y)
        >>> res.norms["l2"][res.success].median()
    """

    config_cls: ClassVar[type[AttackConfig]] = CWConfig
    config: CWConfig
    minimal_norm: ClassVar[bool] = True

    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        cfg = self.config
        n = len(x)
        labels = goal_labels(y, target, cfg.targeted)
        bound = float("inf") if cfg.eps is None else float(cfg.eps)
        w0 = torch.atanh((2 * x - 1) * (1 - 1e-6))
        c = torch.full((n,), cfg.initial_const, device=x.device)
        lower = torch.zeros(n, device=x.device)
        upper = torch.full((n,), 1e10, device=x.device)
        best_l2 = torch.full((n,), float("inf"), device=x.device)
        best = x.clone()
        last = x.clone()
        check_every = max(1, cfg.steps // 10)
        for _ in range(cfg.search_steps):
            w = w0.clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=cfg.lr)
            found = torch.zeros(n, dtype=torch.bool, device=x.device)
            prev = float("inf")
            for it in range(cfg.steps):
                xa = (torch.tanh(w) + 1) / 2
                logits = model(xa)
                l2sq = (xa - x).flatten(1).pow(2).sum(dim=1)
                z_lab = logits.gather(1, labels[:, None]).squeeze(1)
                z_other = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
                gap = (z_other - z_lab) if cfg.targeted else (z_lab - z_other)  # < -kappa: success
                f = (gap + cfg.kappa).clamp(min=0)
                loss = (l2sq + c * f).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                with torch.no_grad():
                    ok = gap < -cfg.kappa if cfg.kappa > 0 else gap < 0
                    l2 = l2sq.sqrt()
                    improve = ok & (l2 < best_l2) & (l2 <= bound)
                    best_l2 = torch.where(improve, l2, best_l2)
                    best[improve] = xa.detach()[improve]
                    found |= ok & (l2 <= bound)
                opt.step()
                if cfg.abort_early and (it + 1) % check_every == 0:
                    value = float(loss.detach())
                    if value > prev * 0.9999:
                        break
                    prev = value
            with torch.no_grad():
                last = ((torch.tanh(w) + 1) / 2).detach()
                upper = torch.where(found, torch.minimum(upper, c), upper)
                lower = torch.where(found, lower, torch.maximum(lower, c))
                c = torch.where(upper < 1e9, (lower + upper) / 2, c * 10)
        have = torch.isfinite(best_l2).view(-1, *([1] * (x.dim() - 1)))
        return torch.where(have, best, last)
