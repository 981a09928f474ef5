"""One ranking from the label-free scores, and the recommendation it leads to.

The default (`by="agreement"`, EnsV: Hu, Luo, Liang & Foo 2024) ranks a rung's candidates by
how often their target predictions match those of the rung's ensemble (the class of the mean
softmax). The voters are the candidates that pass the source-accuracy gate and whose class skew
(`class_tv`) is within `skew_band` of the lowest: a candidate that puts the target in a few
classes does not vote, and ranks after every voter. An ensemble is at least as accurate as its
average member, so a candidate that goes its own way on the target is suspect even when it fits
the source best: on the shift zoo's noise shift self-ensembling fits the source to 0.98 and has
the lowest skew, yet loses 17-28 points on the target, and it agrees with the ensemble on
0.66-0.74 of the target images against 0.83-0.93 for the best ones. Where only one method adapts
(inversion: self-ensembling 88 %, the rest near chance), the rest are too skewed to vote.

The other rankings: one score; or the combined score, the mean of the candidates' normalised
ranks under each score (a Borda count). A sanity gate comes first: a candidate whose source
validation accuracy is more than `val_gate` below the best one's has forgotten the task, and is
ranked after every candidate that has not.

Ranked by source accuracy with `tie_z` > 0 (off by default: on held-out seeds of the shift zoo
it did not lower the regret), candidates within `tie_z` binomial standard errors of the best
accuracy are a statistical tie (on 120 validation images one image is 0.8 points, and later
rungs saturate near 0.97): they come first, ordered by how close their predicted target class
shares are to the source's (`class_tv`, lower first), then the rest by accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from engine.advisor.scores import DIRECTIONS, ensemble_agreement

SCORE_NAMES: tuple[str, ...] = ("val_acc", "dev", "snd", "entropy")
RANK_BY = ("combined", *SCORE_NAMES, "class_tv", "agreement")


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def normalised_ranks(values: Sequence[float | None], direction: str) -> list[float | None]:
    """Each value's rank among the finite ones, scaled to [0, 1] (1 = best), ties sharing their
    average rank; None for a missing or non-finite value. One value alone gets 1."""
    idx = [i for i, v in enumerate(values) if _finite(v)]
    out: list[float | None] = [None] * len(values)
    if not idx:
        return out
    sign = 1.0 if direction == "max" else -1.0
    keyed = sorted(idx, key=lambda i: sign * float(values[i] or 0.0))  # worst first
    n = len(keyed)
    pos = 0
    while pos < n:
        end = pos
        while end + 1 < n and sign * float(values[keyed[end + 1]] or 0.0) == sign * float(values[keyed[pos]] or 0.0):
            end += 1
        avg = (pos + end) / 2
        for j in range(pos, end + 1):
            out[keyed[j]] = 1.0 if n == 1 else avg / (n - 1)
        pos = end + 1
    return out


def combined_scores(
    rows: Sequence[Mapping[str, float | None]], weights: Mapping[str, float] | None = None
) -> list[float | None]:
    """The weighted mean of each candidate's normalised ranks over the scores it has (None when
    it has none). `weights` default to 1 for each of SCORE_NAMES."""
    weights = dict(weights or {name: 1.0 for name in SCORE_NAMES})
    ranks = {name: normalised_ranks([r.get(name) for r in rows], DIRECTIONS[name]) for name in weights}
    out: list[float | None] = []
    for i in range(len(rows)):
        total = norm = 0.0
        for name, w in weights.items():
            rank = ranks[name][i]
            if rank is not None and w > 0:
                total += w * rank
                norm += w
        out.append(total / norm if norm else None)
    return out


def accuracy_tie_band(best_acc: float, n_val: int, tie_z: float) -> float:
    """How far below `best_acc` an accuracy on `n_val` images still ties with it: `tie_z`
    standard errors of a binomial proportion, estimated with one success and one failure added
    (so a perfect score still has a band)."""
    if n_val < 1 or tie_z <= 0 or not math.isfinite(best_acc):
        return 0.0
    p = (best_acc * n_val + 1) / (n_val + 2)
    return tie_z * math.sqrt(p * (1 - p) / n_val)


def _get(row: Mapping[str, float | None], key: str) -> float:
    """`row[key]` as a float, NaN when missing."""
    v = row.get(key)
    return float(v) if v is not None else math.nan


def agreement_members(
    rows: Sequence[Mapping[str, float | None]], has_probs: Sequence[bool], val_gate: float, skew_band: float | None
) -> list[int]:
    """The candidates whose ensemble the others are compared with: those with a target softmax
    that pass the source-accuracy gate and, unless `skew_band` is None, whose class skew is
    within `skew_band` of the lowest one's (a candidate that puts the target in a few classes
    the source does not favour is not a plausible voter)."""
    accs = [a for r in rows if math.isfinite(a := _get(r, "val_acc"))]
    best = max(accs) if accs else math.nan
    ok = [i for i, r in enumerate(rows) if has_probs[i] and not _get(r, "val_acc") < best - val_gate]
    skews = [t for i in ok if math.isfinite(t := _get(rows[i], "class_tv"))]
    if skew_band is None or not skews:
        return ok
    low = min(skews)
    return [i for i in ok if not _get(rows[i], "class_tv") > low + skew_band + 1e-12]


def agreement_values(
    rows: Sequence[Mapping[str, float | None]],
    probs: Sequence[Any | None],
    val_gate: float = 0.1,
    skew_band: float | None = None,
) -> tuple[list[float | None], list[int]]:
    """Each candidate's agreement with the ensemble of `agreement_members` (None without a
    softmax), and those members."""
    has = [p is not None for p in probs]
    members = agreement_members(rows, has, val_gate, skew_band)
    if not members:
        return [None] * len(rows), []
    idx = [i for i, h in enumerate(has) if h]
    agree = ensemble_agreement([p for p in probs if p is not None], [idx.index(m) for m in members])
    out: list[float | None] = [None] * len(rows)
    for i, a in zip(idx, agree, strict=True):
        out[i] = a
    return out, members


def rank_candidates(
    rows: Sequence[Mapping[str, float | None]],
    by: str = "combined",
    val_gate: float = 0.1,
    weights: Mapping[str, float] | None = None,
    n_val: int = 0,
    tie_z: float = 0.0,
    probs: Sequence[Any | None] | None = None,
    skew_band: float | None = None,
) -> tuple[list[int], list[float | None]]:
    """Candidate indices best first, and the value each was ranked by (its combined score, or
    the single score `by`; `weights` weigh the combined one's scores). Candidates without that
    value are left out; those failing the source-accuracy gate come after the rest. Ranked by
    `val_acc` with `tie_z` > 0 and `n_val` validation images, the candidates tied with the best
    accuracy (`accuracy_tie_band`) come first, lowest `class_tv` first."""
    if by not in RANK_BY:
        raise ValueError(f"rank by one of {RANK_BY}, not {by!r}")
    members: set[int] | None = None
    if by == "combined":
        values = combined_scores(rows, weights)
        direction = "max"
    elif by == "agreement":
        agree, voters = agreement_values(rows, probs or [None] * len(rows), val_gate, skew_band)
        values, direction, members = agree, "max", set(voters)
    else:
        values = [r.get(by) for r in rows]
        direction = DIRECTIONS[by]
    accs = [float(a) for r in rows if (a := r.get("val_acc")) is not None and math.isfinite(a)]
    best_acc = max(accs) if accs else math.nan
    sign = 1.0 if direction == "max" else -1.0
    # a single score ties often (source accuracy on a few hundred images): the combined one breaks ties
    tie = combined_scores(rows, weights) if by != "combined" else [0.0] * len(rows)
    band = accuracy_tie_band(best_acc, n_val, tie_z) if by == "val_acc" else 0.0

    def key(i: int) -> tuple[int, int, float, float]:
        acc = rows[i].get("val_acc")
        failed = _finite(acc) and math.isfinite(best_acc) and float(acc or 0.0) < best_acc - val_gate
        if band > 0 and not failed and float(acc or 0.0) >= best_acc - band - 1e-12:
            skew = rows[i].get("class_tv")
            return (0, 0, float(skew or 0.0) if _finite(skew) else math.inf, -float(tie[i] or 0.0))
        outside = members is not None and i not in members  # not a voter: after every voter
        return (1 if failed else 0, 2 if outside else 1, -sign * float(values[i] or 0.0), -float(tie[i] or 0.0))

    order = sorted((i for i, v in enumerate(values) if _finite(v)), key=key)
    return order, values
