"""DeepFool: minimal perturbation by repeated linearisation of the decision boundaries
(Moosavi-Dezfooli, Fawzi, Frossard, "DeepFool: a simple and accurate method to fool deep
neural networks", CVPR 2016).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor, nn

from engine.attacks.base import AttackConfig, Norm, WhiteBoxAttack, goal_labels, is_success, register


class DeepFoolConfig(AttackConfig):
    """Paper defaults: overshoot 0.02, at most 50 steps, the 10 top-scoring classes as candidates."""

    EPS_REQUIRED: ClassVar[bool] = False

    norm: Norm = Field("l2", description="'l2' (the paper's main variant) or 'linf' (its l_p extension).")
    overshoot: float = Field(0.02, ge=0, le=1, description="Push this fraction past the linearised boundary.")
    steps: int = Field(50, ge=1, le=10_000, description="Maximum linearisation steps.")
    top_k: int = Field(10, ge=2, le=10_000, description="Candidate classes: the k best-scoring on the clean image.")


def _view(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


@register("deepfool")
class DeepFool(WhiteBoxAttack):
    """DeepFool, L2 (default) or L∞; eps, when given, bounds the result (projected).

    At each step, for every candidate class k, w_k = grad(z_k - z_y) and f_k = z_k - z_y; the
    closest linearised boundary is l = argmin |f_k| / ||w_k||_q (q = 2 for L2, 1 for L∞) and the
    step is r = (|f_l| / ||w_l||_q + 1e-4) * w_l / ||w_l||_2 (L2) or * sign(w_l) (L∞). The total
    perturbation is scaled by (1 + overshoot). Targeted mode uses the target as the only
    candidate. Shapes: x [N,C,H,W] in [0,1], y/target [N].

    Example:
        >>> res = DeepFool()(model, x, y)          # unbounded: res.norms["l2"] is the distance
        >>> res = DeepFool(eps=0.5)(model, x, y)   # success only within L2 <= 0.5
    """

    config_cls: ClassVar[type[AttackConfig]] = DeepFoolConfig
    config: DeepFoolConfig
    minimal_norm: ClassVar[bool] = True

    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        cfg = self.config
        with torch.no_grad():
            logits0 = model(x)
        if cfg.targeted:
            cand = goal_labels(y, target, True)[:, None]
        else:
            k = min(cfg.top_k, logits0.shape[1]) - 1
            cand = logits0.scatter(1, y[:, None], float("-inf")).topk(k, dim=1).indices
        r_tot = torch.zeros_like(x)
        x_adv = x.clone()
        active = torch.arange(len(x), device=x.device)
        for it in range(cfg.steps + 1):
            xa = x_adv[active].clone().requires_grad_(True)
            logits = model(xa)
            with torch.no_grad():
                done = is_success(logits.argmax(1), y[active], None if target is None else target[active], cfg.targeted)
            if it == cfg.steps or bool(done.all()):
                break
            keep = (~done).nonzero().squeeze(1)
            active = active[keep]
            lk, ya, ca = logits[keep], y[active], cand[active]
            diffs = lk.gather(1, ca) - lk.gather(1, ya[:, None])  # [m, k]
            grads = []
            for j in range(ca.shape[1]):
                (g,) = torch.autograd.grad(diffs[:, j].sum(), xa, retain_graph=j < ca.shape[1] - 1)
                grads.append(g[keep])
            with torch.no_grad():
                w = torch.stack(grads, dim=1)  # [m, k, C, H, W]
                wf = w.flatten(2)
                qn = wf.norm(dim=2) if cfg.norm == "l2" else wf.abs().sum(dim=2)
                dist = diffs.detach().abs() / qn.clamp_min(1e-12)
                best = dist.argmin(dim=1)
                rows = torch.arange(len(active), device=x.device)
                wl, pert = w[rows, best], dist[rows, best]
                if cfg.norm == "l2":
                    step = wl / _view(wl.flatten(1).norm(dim=1).clamp_min(1e-12), wl)
                else:
                    step = wl.sign()
                r_tot[active] += _view(pert + 1e-4, wl) * step
                x_adv[active] = (x[active] + (1 + cfg.overshoot) * r_tot[active]).clamp(0, 1)
        return x_adv
