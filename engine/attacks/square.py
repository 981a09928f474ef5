"""Square Attack, L∞, score-based (Andriushchenko, Croce, Flammarion, Hein, "Square Attack: a
query-efficient black-box adversarial attack via random search", ECCV 2020).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from engine.attacks.base import AttackConfig, goal_labels, register
from engine.attacks.queries import QueryAttack, QueryConfig, QueryCounter, np_margin


class SquareConfig(QueryConfig):
    """Paper defaults for L∞: p_init 0.05 and the piecewise-constant p schedule (defined over
    10 000 iterations and rescaled to `max_queries`). The budget defaults to 1000 queries per
    image (the paper reports up to 10 000) to keep reports fast.
    """

    NORMS: ClassVar[tuple[str, ...]] = ("linf",)

    norm: Literal["linf"] = Field("linf", description="Square Attack here is the L∞ variant.")
    p_init: float = Field(0.8, gt=0, le=1, description="Initial fraction of pixels changed per step.")


def p_selection(p_init: float, it: int, n_iters: int) -> float:
    """Fraction of pixels in the square at iteration `it` (the paper's schedule, rescaled)."""
    it = int(it / max(n_iters, 1) * 10000)
    for bound, div in (
        (10, 1),
        (50, 2),
        (200, 4),
        (500, 8),
        (1000, 16),
        (2000, 32),
        (4000, 64),
        (6000, 128),
        (8000, 256),
    ):
        if it <= bound:
            return p_init / div
    return p_init / 512


@register("square")
class SquareAttack(QueryAttack):
    """Random search over square-shaped ±eps updates that lower the margin loss.

    Start: vertical stripes of ±eps. Each step, every unfooled image gets one square of side
    s = round(sqrt(p * H * W)) at a random place, set to ±eps per channel, and keeps it if the
    margin z_y - max_{j!=y} z_j (targeted: max_{j!=t} z_j - z_t) fell. One query per image per
    step; the clean image costs one query. Shapes: x [N,C,H,W] in [0,1], y/target [N].

    Example:
        >>> res = SquareAttack(eps=8 / 255, max_queries=1000)(onnx.logits, x, y)
        >>> res.queries.float().mean()
    """

    config_cls: ClassVar[type[AttackConfig]] = SquareConfig
    config: SquareConfig

    def _attack(
        self, counter: QueryCounter, x: np.ndarray, y: np.ndarray, target: np.ndarray | None, rng: np.random.Generator
    ) -> np.ndarray:
        cfg = self.config
        eps = cfg.budget()
        n, c, h, w = x.shape
        labels = goal_labels(y, target, cfg.targeted)
        sgn = -1.0 if cfg.targeted else 1.0
        idx_all = np.arange(n)

        def loss(scores: np.ndarray, idx: np.ndarray) -> np.ndarray:
            return sgn * np_margin(scores, labels[idx])

        counter.new_step()
        best_loss = loss(counter(x, idx_all), idx_all)
        x_best = x.copy()
        act = np.nonzero((best_loss >= 0) & (counter.remaining > 0))[0]
        if len(act) == 0 or eps == 0:
            return x_best
        counter.new_step()
        init = np.clip(x[act] + eps * rng.choice([-1.0, 1.0], size=(len(act), c, 1, w)), 0, 1).astype(np.float32)
        x_best[act] = init
        best_loss[act] = loss(counter(init, act), act)
        rows, cols = np.arange(h)[None, :], np.arange(w)[None, :]
        for i in range(cfg.max_queries):
            act = np.nonzero((best_loss >= 0) & (counter.remaining > 0))[0]
            if len(act) == 0:
                break
            m = len(act)
            p = p_selection(cfg.p_init, i, cfg.max_queries)
            s = min(max(round(math.sqrt(p * h * w)), 1), max(min(h, w) - 1, 1))
            top = rng.integers(0, h - s + 1, size=m)[:, None]
            left = rng.integers(0, w - s + 1, size=m)[:, None]
            win = ((rows >= top) & (rows < top + s))[:, :, None] & ((cols >= left) & (cols < left + s))[:, None, :]
            win = win[:, None]  # [m, 1, H, W]
            xa, xb = x[act], x_best[act]
            deltas = xb - xa
            signs = rng.choice([-eps, eps], size=(m, c, 1, 1))
            new = np.where(win, signs, deltas)
            for _ in range(10):  # resample squares that would not change the image (as in the paper's code)
                cand = np.clip(xa + new, 0, 1)
                same = np.all((np.abs(cand - xb) < 1e-7) | ~win, axis=(1, 2, 3))
                if not same.any():
                    break
                k = int(same.sum())
                new[same] = np.where(win[same], rng.choice([-eps, eps], size=(k, c, 1, 1)), deltas[same])
            cand = np.clip(xa + new, 0, 1).astype(np.float32)
            counter.new_step()
            new_loss = loss(counter(cand, act), act)
            better = new_loss < best_loss[act]
            x_best[act[better]] = cand[better]
            best_loss[act[better]] = new_loss[better]
        return x_best
