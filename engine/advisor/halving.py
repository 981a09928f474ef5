"""Successive halving (Jamieson & Talwalkar 2016; Li et al.'s Hyperband uses it as its inner loop)
within a time budget: every candidate trains briefly, the better half (by the label-free
ranking) trains again for twice as long, and so on, so most of the budget goes to the promising
ones. A candidate of a later rung is a new, longer run (its learning-rate schedule is that of
its length), not a continuation.

`plan_halving` gives the rungs; `fit_budget` shrinks a plan that does not fit the budget (fewer
rungs first, then fewer candidates) and refuses a budget too small for even one candidate;
`affordable` re-fits the next rung to the budget left, with its survivors' measured costs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from engine.core.errors import UserError


@dataclass(frozen=True)
class Rung:
    """Train the best `keep` candidates for `epochs` epochs each."""

    epochs: int
    keep: int


@dataclass(frozen=True)
class Plan:
    candidates: int  # how many candidates rung 0 trains (the first ones of the list given)
    rungs: tuple[Rung, ...]
    estimated_s: float


def plan_halving(n: int, min_epochs: int, max_epochs: int, eta: int = 2) -> list[Rung]:
    """Rungs of n, n/η, n/η²... candidates (rounded up) at min_epochs, ·η, ·η²... epochs, until
    one candidate is left or the next rung would pass max_epochs."""
    if n < 1 or min_epochs < 1 or eta < 2:
        raise ValueError("plan_halving needs n >= 1, min_epochs >= 1 and eta >= 2")
    rungs = [Rung(min_epochs, n)]
    while rungs[-1].keep > 1 and rungs[-1].epochs * eta <= max(max_epochs, min_epochs):
        rungs.append(Rung(rungs[-1].epochs * eta, max(1, math.ceil(rungs[-1].keep / eta))))
    return rungs


def plan_cost(rungs: Sequence[Rung], epoch_costs: Sequence[float]) -> float:
    """Seconds: rung 0 trains each candidate (its own cost per epoch); a later rung, whose
    survivors are not known yet, at the cost of its `keep` dearest candidates (the most any
    survivors can cost, without pricing every one at the single dearest: self-ensembling on its
    own backbone costs 7 source-only epochs where the others cost 2.2)."""
    if not rungs:
        return 0.0
    first = sum(c * rungs[0].epochs for c in epoch_costs[: rungs[0].keep])
    dearest = sorted(epoch_costs[: rungs[0].keep], reverse=True)
    return first + sum(r.epochs * sum(dearest[: r.keep]) for r in rungs[1:])


def fit_budget(epoch_costs: Sequence[float], min_epochs: int, max_epochs: int, budget_s: float, eta: int = 2) -> Plan:
    """The largest plan that fits `budget_s`: all rungs if they fit, else fewer rungs, else the
    first k candidates (the caller orders them by priority) at min_epochs. A budget too small for
    the cheapest candidate at min_epochs is the user's mistake."""
    n = len(epoch_costs)
    if n == 0:
        raise UserError("no candidates to train: choose at least one method.")
    one = min(epoch_costs) * min_epochs
    if one > budget_s:
        need = math.ceil(one / 60 * 10) / 10
        raise UserError(
            f"budget_minutes = {budget_s / 60:.2f} is too small for even one candidate: one run of "
            f"{min_epochs} epoch(s) takes about {one / 60:.1f} min here. Give at least {need} minutes "
            f"(--budget-minutes {need}), or fewer epochs per candidate."
        )
    rungs = plan_halving(n, min_epochs, max_epochs, eta)
    while len(rungs) > 1 and plan_cost(rungs, epoch_costs) > budget_s:
        rungs.pop()
    if plan_cost(rungs, epoch_costs) <= budget_s:
        return Plan(n, tuple(rungs), plan_cost(rungs, epoch_costs))
    k, spent = 0, 0.0
    for c in epoch_costs:
        if spent + c * min_epochs > budget_s:
            break
        spent += c * min_epochs
        k += 1
    k = max(k, 1)
    return Plan(k, (Rung(min_epochs, k),), spent)


def affordable(epochs: int, epoch_costs: Sequence[float], keep: int, budget_left_s: float) -> int:
    """How many of the best candidates (best first, each at its measured cost of a rung's epoch)
    the next rung of `epochs` can train in the budget left: `keep` if they fit, else the most of
    the best that do (longer runs of the best few beat stopping early), 0 when not even one does."""
    n = min(keep, len(epoch_costs))
    while n > 0 and epochs * sum(epoch_costs[:n]) > budget_left_s:
        n -= 1
    return n
