"""HopSkipJump: decision-based attack that needs only the predicted label (Chen, Jordan,
Wainwright, "HopSkipJumpAttack: A Query-Efficient Decision-Based Attack", IEEE S&P 2020).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import numpy as np
from pydantic import Field

from engine.attacks.base import AttackConfig, Norm, goal_labels, register
from engine.attacks.queries import QueryAttack, QueryConfig, QueryCounter


class HopSkipJumpConfig(QueryConfig):
    """Paper defaults: 40 iterations, gamma 1, 100 * sqrt(t) gradient samples capped at 10 000,
    geometric step search. The per-image budget (`max_queries`, 1000 by default) usually ends
    the run first; raise it to 10 000+ for paper-strength results.
    """

    EPS_REQUIRED: ClassVar[bool] = False

    norm: Norm = Field("l2", description="'l2' (Gaussian probes, blended binary search) or 'linf' (sign steps).")
    max_iter: int = Field(40, ge=1, le=10_000, description="Gradient-estimate / step / boundary-search rounds.")
    init_evals: int = Field(
        100, ge=2, le=100_000, description="Probes for the first gradient estimate (grows as sqrt(t))."
    )
    max_evals: int = Field(10_000, ge=2, le=1_000_000, description="Cap on probes per gradient estimate.")
    gamma: float = Field(
        1.0, gt=0, description="Sets the binary-search tolerance theta = gamma / d^(3/2) (l2) or gamma / d^2 (linf)."
    )
    init_tries: int = Field(
        100, ge=1, le=100_000, description="Uniform-noise draws tried to find an adversarial start."
    )


@register("hopskipjump")
class HopSkipJump(QueryAttack):
    """HopSkipJump, L2 or L∞, untargeted or targeted (start from uniform noise of the target class).

    Start: uniform noise that is adversarial, blended towards x by binary search. Each round:
    binary search to the boundary, estimate the boundary normal from the signs of
    `num_evals` random probes at radius delta, jump along it with a geometric step search.
    The smallest adversarial found so far is returned. One query per probe; the clean image
    costs one. Shapes: x [N,C,H,W] in [0,1], y/target [N].

    Example:
        >>> res = HopSkipJump(max_queries=2000)(onnx.logits, x, y)
        >>> res.norms["l2"][res.success].median(), res.queries.float().mean()
    """

    kind: ClassVar[str] = "decision"
    config_cls: ClassVar[type[AttackConfig]] = HopSkipJumpConfig
    config: HopSkipJumpConfig
    minimal_norm: ClassVar[bool] = True

    def _attack(
        self, counter: QueryCounter, x: np.ndarray, y: np.ndarray, target: np.ndarray | None, rng: np.random.Generator
    ) -> np.ndarray:
        cfg = self.config
        n, d = len(x), int(x[0].size)
        l2 = cfg.norm == "l2"
        theta = cfg.gamma / (d * math.sqrt(d)) if l2 else cfg.gamma / d**2
        goal = goal_labels(y, target, cfg.targeted)

        def adv(images: np.ndarray, idx: np.ndarray) -> np.ndarray:
            labels = counter.labels(images, idx)
            return labels == goal[idx] if cfg.targeted else labels != y[idx]

        def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            diff = (a - b).reshape(len(a), d)
            return np.linalg.norm(diff, axis=1) if l2 else np.abs(diff).max(axis=1, initial=0.0)

        counter.new_step()
        adv0 = adv(x, np.arange(n))
        todo = np.nonzero(~adv0)[0]
        pert = x.copy()
        noise = np.zeros_like(x)
        have = np.zeros(n, dtype=bool)
        for _ in range(cfg.init_tries):
            need = todo[~have[todo] & (counter.remaining[todo] > 0)]
            if len(need) == 0:
                break
            counter.new_step()
            cand = rng.uniform(0, 1, size=(len(need), *x.shape[1:])).astype(np.float32)
            ok = adv(cand, need)
            noise[need[ok]] = cand[ok]
            have[need[ok]] = True
        cur = todo[have[todo]]
        hi = self._search(counter, adv, lambda i, a: _blend(x[i], noise[i], a), cur, np.ones(n), np.full(n, 1e-3))
        pert[cur] = _blend(x[cur], noise[cur], hi[cur])
        pert = self._boundary(counter, adv, x, pert, cur, theta, l2, dist)
        best = pert.copy()
        best_d = np.where(np.isin(np.arange(n), cur), dist(pert, x), np.inf)

        for j in range(1, cfg.max_iter + 1):
            act = cur[counter.remaining[cur] > 1]
            if len(act) == 0:
                break
            counter.new_step()
            d_now = dist(pert[act], x[act])
            delta = np.full(len(act), 0.1) if j == 1 else (math.sqrt(d) * theta if l2 else d * theta) * d_now
            num = int(min(cfg.init_evals * math.sqrt(j), cfg.max_evals))
            update = np.zeros_like(x[act])
            usable = np.zeros(len(act), dtype=bool)
            for k, i in enumerate(act):
                m = int(min(num, counter.remaining[i] - 1))
                if m >= 2:
                    g = self._gradient(counter, adv, pert[i], i, m, max(delta[k], 1e-12), l2, rng)
                    update[k] = g if l2 else np.sign(g)
                    usable[k] = True
            act, update, d_now = act[usable], update[usable], d_now[usable]
            step = d_now / math.sqrt(j)
            moved = np.zeros(len(act), dtype=bool)
            new = pert.copy()
            for _ in range(30):
                sel = np.nonzero(~moved & (counter.remaining[act] > 0))[0]
                if len(sel) == 0:
                    break
                cand = np.clip(pert[act[sel]] + step[sel, None, None, None] * update[sel], 0, 1).astype(np.float32)
                ok = adv(cand, act[sel])
                new[act[sel[ok]]] = cand[ok]
                moved[sel[ok]] = True
                step[sel[~ok]] /= 2
            act = act[moved]
            pert = self._boundary(counter, adv, x, new, act, theta, l2, dist)
            d_new = dist(pert[act], x[act])
            better = d_new < best_d[act]
            best[act[better]] = pert[act[better]]
            best_d[act[better]] = d_new[better]
        return best

    @staticmethod
    def _search(
        counter: QueryCounter, adv: Callable, make: Callable, idx: np.ndarray, hi: np.ndarray, tol: np.ndarray
    ) -> np.ndarray:
        """Per-image bisection of alpha in [0, hi]: `make(i, alpha)` is adversarial at hi, not at 0."""
        lo = np.zeros_like(hi)
        hi = hi.astype(np.float64).copy()
        while True:
            sel = idx[((hi[idx] - lo[idx]) > tol[idx]) & (counter.remaining[idx] > 0)]
            if len(sel) == 0:
                return hi
            counter.new_step()
            mid = (hi[sel] + lo[sel]) / 2
            ok = adv(make(sel, mid).astype(np.float32), sel)
            hi[sel[ok]] = mid[ok]
            lo[sel[~ok]] = mid[~ok]

    def _boundary(
        self,
        counter: QueryCounter,
        adv: Callable,
        x: np.ndarray,
        pert: np.ndarray,
        idx: np.ndarray,
        theta: float,
        l2: bool,
        dist: Callable,
    ) -> np.ndarray:
        """Binary search between x and pert (adversarial) to the boundary, to tolerance theta."""
        n = len(x)
        out = pert.copy()
        if len(idx) == 0:
            return out
        if l2:
            hi, tol = np.ones(n), np.full(n, theta)
            make = lambda i, a: _blend(x[i], pert[i], a)  # noqa: E731
        else:
            hi = np.ones(n)
            hi[idx] = dist(pert[idx], x[idx])
            tol = np.maximum(np.minimum(hi * theta, theta), 1e-12)
            make = lambda i, a: _clip_box(x[i], pert[i], a)  # noqa: E731
        hi = self._search(counter, adv, make, idx, hi, tol)
        out[idx] = make(idx, hi[idx])
        return out

    def _gradient(
        self,
        counter: QueryCounter,
        adv: Callable,
        point: np.ndarray,
        i: int,
        m: int,
        delta: float,
        l2: bool,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Monte-Carlo estimate of the boundary normal at `point` from m sign queries (baseline-corrected)."""
        s_frv = np.zeros(point.shape, dtype=np.float64)
        s_rv = np.zeros(point.shape, dtype=np.float64)
        s_f, done = 0.0, 0
        chunk = max(1, min(counter.batch_size, 128))
        while done < m:
            k = min(chunk, m - done)
            shape = (k, *point.shape)
            rv = rng.standard_normal(shape) if l2 else rng.uniform(-1, 1, size=shape)
            rv /= np.linalg.norm(rv.reshape(k, -1), axis=1).reshape(-1, 1, 1, 1)
            probes = np.clip(point + delta * rv, 0, 1).astype(np.float32)
            rv = (probes - point) / delta
            f = 2.0 * adv(probes, np.full(k, i)).astype(np.float64) - 1.0
            s_frv += np.tensordot(f, rv, axes=1)
            s_rv += rv.sum(axis=0)
            s_f += f.sum()
            done += k
        mean_f = s_f / done
        if mean_f == 1.0:
            g = s_rv / done
        elif mean_f == -1.0:
            g = -s_rv / done
        else:
            g = (s_frv - mean_f * s_rv) / done
        return (g / max(float(np.linalg.norm(g)), 1e-12)).astype(np.float32)


def _blend(x: np.ndarray, p: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float64).reshape(-1, 1, 1, 1)
    return ((1 - a) * x + a * p).astype(np.float32)


def _clip_box(x: np.ndarray, p: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float64).reshape(-1, 1, 1, 1)
    return np.clip(p, x - a, x + a).astype(np.float32)
