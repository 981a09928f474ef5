"""Black-box plumbing: a counting, batching, de-duplicating wrapper around a scores function,
and the base class of attacks that only query a model (scores or decisions).

A scores function maps images [N,3,H,W] float32 in [0,1] to logits or scores [N,C] (e.g.
`OnnxClassifier.logits`). The counter is the only door to it, so query counts are exact.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from engine.attacks.base import (
    Attack,
    AttackConfig,
    AttackResult,
    ScoresFn,
    Victim,
    is_success,
    perturbation_norms,
    project,
)


class QueryBudgetExceeded(RuntimeError):
    """An attack asked for more queries than its budget allows (a bug in the attack)."""


class QueryCounter:
    """Wraps `scores_fn`: sends rows in batches of `batch_size`, counts queries per image and
    never re-sends an image already asked about for the same example within the current step.

    Call `new_step()` at the start of each attack iteration; `queries[i]` is the number of rows
    actually sent for example i. With `budget`, sending more than `budget` rows for one example
    raises QueryBudgetExceeded (attacks check `remaining` first).
    """

    def __init__(self, scores_fn: ScoresFn, n: int, batch_size: int = 256, budget: int | None = None) -> None:
        self.scores_fn = scores_fn
        self.batch_size = max(1, int(batch_size))
        self.budget = budget
        self.queries = np.zeros(n, dtype=np.int64)
        self.calls = 0
        self._cache: dict[tuple[int, bytes], np.ndarray] = {}

    def new_step(self) -> None:
        self._cache.clear()

    @property
    def remaining(self) -> np.ndarray:
        """Queries left per example (a large number when there is no budget)."""
        if self.budget is None:
            return np.full(len(self.queries), np.iinfo(np.int64).max // 2, dtype=np.int64)
        return self.budget - self.queries

    def __call__(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Scores [M, C] for images [M,C,H,W]; `index[m]` is the example row m belongs to."""
        images = np.ascontiguousarray(images, dtype=np.float32)
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if len(images) != len(index):
            raise ValueError(f"{len(images)} images but {len(index)} indices")
        keys = [
            (int(i), hashlib.blake2b(row.tobytes(), digest_size=16).digest())
            for i, row in zip(index, images, strict=False)
        ]
        todo: dict[tuple[int, bytes], int] = {}
        for m, key in enumerate(keys):
            if key not in self._cache and key not in todo:
                todo[key] = m
        if todo:
            rows = np.fromiter(todo.values(), dtype=np.int64, count=len(todo))
            new = np.bincount(index[rows], minlength=len(self.queries))
            if self.budget is not None and np.any(self.queries + new > self.budget):
                raise QueryBudgetExceeded(f"query budget of {self.budget} per image exceeded")
            out = self._send(images[rows])
            self.queries += new
            for key, score in zip(todo, out, strict=False):
                self._cache[key] = score
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys])

    def labels(self, images: np.ndarray, index: np.ndarray) -> np.ndarray:
        """Top-1 decisions only (for decision-based attacks)."""
        scores = self(images, index)
        return scores.argmax(axis=1) if len(scores) else np.zeros(0, dtype=np.int64)

    def _send(self, images: np.ndarray) -> np.ndarray:
        parts = []
        for start in range(0, len(images), self.batch_size):
            self.calls += 1
            parts.append(np.asarray(self.scores_fn(images[start : start + self.batch_size]), dtype=np.float32))
        return np.concatenate(parts)


def scores_in_batches(scores_fn: ScoresFn, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Uncounted scores, batch by batch (used to verify returned images)."""
    parts = [
        np.asarray(scores_fn(np.ascontiguousarray(images[s : s + batch_size], dtype=np.float32)))
        for s in range(0, len(images), max(1, batch_size))
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def np_margin(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """z_label - max_{j != label} z_j per row (numpy twin of `base.margin`)."""
    rows = np.arange(len(scores))
    true = scores[rows, labels]
    other = scores.copy()
    other[rows, labels] = -np.inf
    return true - other.max(axis=1)


class QueryConfig(AttackConfig):
    """Settings shared by query attacks."""

    max_queries: int = Field(1000, ge=1, le=1_000_000, description="Query budget per image (the clean query included).")
    batch_size: int = Field(256, ge=1, le=65536, description="Images per call to the model.")
    seed: int = Field(0, description="Seed of the attack's random numbers.")


class QueryAttack(Attack):
    """Attack that only calls a scores function. Subclasses implement `_attack` with a counter.

    `__call__(scores_fn, x, y, target=None)`: x [N,C,H,W] float32 in [0,1] (tensor or array),
    y/target [N] int. Success is verified with one uncounted call per image on the returned
    images; `queries` counts only what the attack itself asked.
    """

    kind: ClassVar[str] = "score"
    config_cls: ClassVar[type[AttackConfig]] = QueryConfig
    config: QueryConfig

    def _run(self, victim: Victim, x: Tensor, y: Tensor, target: Tensor | None) -> AttackResult:
        t = target.cpu() if target is not None else None
        return self(self._need(victim.scores_fn, "a scores function"), x.cpu(), y.cpu(), t)

    def _attack(
        self, counter: QueryCounter, x: np.ndarray, y: np.ndarray, target: np.ndarray | None, rng: np.random.Generator
    ) -> np.ndarray:
        raise NotImplementedError

    def __call__(
        self,
        scores_fn: ScoresFn,
        x: Tensor | np.ndarray,
        y: Tensor | np.ndarray,
        target: Tensor | np.ndarray | None = None,
    ) -> AttackResult:
        self._check_target(target)
        cfg = self.config
        device = x.device if isinstance(x, Tensor) else torch.device("cpu")
        xn = _to_numpy(x).astype(np.float32, copy=True)
        yn = _to_numpy(y).astype(np.int64, copy=True)
        tn = _to_numpy(target).astype(np.int64, copy=True) if target is not None else None
        counter = QueryCounter(scores_fn, len(xn), cfg.batch_size, cfg.max_queries)
        rng = np.random.default_rng(cfg.seed)
        if len(xn):
            adv = self._attack(counter, xn, yn, tn, rng)
        else:
            adv = xn.copy()
        x_t = torch.from_numpy(xn)
        x_adv = project(x_t, torch.from_numpy(np.asarray(adv, dtype=np.float32)), cfg.eps, cfg.norm)
        scores = scores_in_batches(scores_fn, x_adv.numpy(), cfg.batch_size)
        pred = torch.from_numpy(scores.argmax(axis=1)) if len(xn) else torch.zeros(0, dtype=torch.long)
        success = is_success(pred, torch.from_numpy(yn), torch.from_numpy(tn) if tn is not None else None, cfg.targeted)
        return AttackResult(
            x_adv=x_adv.to(device),
            success=success,
            pred=pred,
            norms=perturbation_norms(x_adv - x_t),
            queries=torch.from_numpy(counter.queries.copy()),
        )


def _to_numpy(a: Tensor | np.ndarray) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)


def torch_scores_fn(model: torch.nn.Module, device: str | torch.device = "cpu") -> ScoresFn:
    """A scores function over a torch model (eval mode assumed), for query attacks on run dirs."""

    def scores(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(images)).to(device)).float().cpu().numpy()

    return scores
