"""The ranking rules of bench/advisor.py measured offline on the stored scores (no training):
each rule's Spearman ρ, regret and pick against DANN among an advice's candidates, with or
without source-only and with or without some methods; each rule's picks per advice; always
picking one fixed candidate; and the rules among the candidates of rung 1 (trained longer),
where advices reached it.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

SCORES = {"val_acc": 1.0, "dev": -1.0, "snd": 1.0, "entropy": -1.0}


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def mean_finite(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.fmean(finite) if finite else float("nan")


# Ranking rules measured offline on the stored rung-0 scores (no training): (by, score weights).
RULES: dict[str, tuple[str, dict[str, float] | None]] = {
    "combined (4 scores)": ("combined", None),
    "val_acc": ("val_acc", None),
    "dev": ("dev", None),
    "snd": ("snd", None),
    "entropy": ("entropy", None),
    "val_acc+entropy": ("combined", {"val_acc": 1.0, "entropy": 1.0}),
    "val_acc+snd+entropy": ("combined", {"val_acc": 1.0, "snd": 1.0, "entropy": 1.0}),
    "val_acc+snd": ("combined", {"val_acc": 1.0, "snd": 1.0}),
    "2 val_acc+dev+snd+entropy": ("combined", {"val_acc": 2.0, "dev": 1.0, "snd": 1.0, "entropy": 1.0}),
}


def _method(label: str) -> str:
    return label.split(" ")[0]


def offline_pick(
    row: dict[str, Any],
    rule: tuple[str, dict[str, float] | None],
    with_source_only: bool,
    exclude: tuple[str, ...] = (),
    rung: int = 0,
) -> tuple[float, float, float, str]:
    """Spearman ρ, regret, pick − DANN (transfer_weight 1) and the picked label of a ranking rule
    among an advice's rung-0 candidates (all trained for the same epochs), from their stored
    scores; candidates of the `exclude` methods are left out (as if they had not been tried)."""
    from engine.advisor.ranking import combined_scores, rank_candidates

    pool = [c for c in row["candidates"] if c["rung"] == rung and _method(c["label"]) not in exclude]
    rung0 = pool if with_source_only else [c for c in pool if c["label"] != "finetune"]
    rows = [{k: c[k] for k in SCORES} for c in rung0]
    truth = [c["target_acc"] for c in rung0]
    by, weights = rule
    if by == "combined":
        values = [v or 0.0 for v in combined_scores(rows, weights)]
    else:
        values = [SCORES[by] * r[by] for r in rows]
    order, _ = rank_candidates(rows, by, 0.1, weights)
    pick = truth[order[0]]
    dann = next((c["target_acc"] for c in pool if c["label"] == "dann transfer_weight=1"), math.nan)
    best = max(c["target_acc"] for c in pool)
    return spearman(values, truth), best - pick, pick - dann, rung0[order[0]]["label"]


def offline(
    row: dict[str, Any],
    rule: tuple[str, dict[str, float] | None],
    with_source_only: bool,
    exclude: tuple[str, ...] = (),
) -> tuple[float, float, float]:
    """offline_pick without the label."""
    return offline_pick(row, rule, with_source_only, exclude)[:3]


def rule_table(rows: list[dict[str, Any]], with_source_only: bool, exclude: tuple[str, ...] = ()) -> list[str]:
    lines = ["| rule | mean ρ | mean regret (points) | pick − DANN (points) |", "|---|---|---|---|"]
    for name, rule in RULES.items():
        m = [offline(r, rule, with_source_only, exclude) for r in rows]
        lines.append(
            f"| {name} | {mean_finite([x[0] for x in m]):+.2f} | {100 * mean_finite([x[1] for x in m]):.1f} | "
            f"{100 * mean_finite([x[2] for x in m]):+.1f} |"
        )
    return lines


def picks_table(rows: list[dict[str, Any]], rules: list[str]) -> list[str]:
    """Per advice, among the rung-0 adaptation candidates: the best one by true target accuracy,
    and each rule's pick with its true accuracy (source-only the baseline row)."""
    lines = [
        "| shift | seed | best (true acc) | " + " | ".join(rules) + " |",
        "|---|---|---|" + "---|" * len(rules),
    ]
    for r in rows:
        rung0 = [c for c in r["candidates"] if c["rung"] == 0 and c["label"] != "finetune"]
        best = max(rung0, key=lambda c: c["target_acc"])
        cells = []
        for name in rules:
            label = offline_pick(r, RULES[name], False)[3]
            acc = next(c["target_acc"] for c in rung0 if c["label"] == label)
            cells.append(f"{_short(label)} {100 * acc:.1f}")
        lines.append(
            f"| {r['shift']} | {r['seed']} | {_short(best['label'])} {100 * best['target_acc']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def _short(label: str) -> str:
    """'self_ensembling transfer_weight=3' -> 'self_ensembling 3'."""
    head, _, tail = label.partition(" ")
    return head + (" " + tail.split("=")[-1] if tail else "")


def fixed_table(rows: list[dict[str, Any]], exclude: tuple[str, ...] = (), top: int = 4) -> list[str]:
    """The regret of always picking one candidate (no scores at all), the `top` best: the bar a
    label-free rule has to clear."""
    labels = sorted({c["label"] for r in rows for c in r["candidates"] if c["rung"] == 0})
    out = []
    for label in labels:
        if _method(label) in exclude:
            continue
        regrets = []
        for r in rows:
            rung0 = [c for c in r["candidates"] if c["rung"] == 0 and _method(c["label"]) not in exclude]
            mine = [c["target_acc"] for c in rung0 if c["label"] == label]
            if mine:
                regrets.append(max(c["target_acc"] for c in rung0) - mine[0])
        if len(regrets) == len(rows):
            out.append((mean_finite(regrets), label))
    lines = ["| always this candidate | mean regret (points) |", "|---|---|"]
    lines += [f"| {label} | {100 * regret:.1f} |" for regret, label in sorted(out)[:top]]
    return lines


def rung1_table(rows: list[dict[str, Any]], rules: list[str], exclude: tuple[str, ...] = ()) -> list[str]:
    """Each rule's pick and regret among the rung-1 adaptation candidates of the advices that
    reached rung 1 (the candidates the advice promoted, plus any added at that rung)."""
    lines = ["| shift | seed | best (true acc) | " + " | ".join(rules) + " |", "|---|---|---|" + "---|" * len(rules)]
    for r in rows:
        rung1 = [c for c in r["candidates"] if c["rung"] == 1 and c["label"] != "finetune"]
        rung1 = [c for c in rung1 if _method(c["label"]) not in exclude]
        if not rung1:
            continue
        best = max(rung1, key=lambda c: c["target_acc"])
        cells = []
        for name in rules:
            label = offline_pick(r, RULES[name], False, exclude, rung=1)[3]
            acc = next(c["target_acc"] for c in rung1 if c["label"] == label)
            cells.append(f"{_short(label)} {100 * acc:.1f}")
        lines.append(
            f"| {r['shift']} | {r['seed']} | {_short(best['label'])} {100 * best['target_acc']:.1f} | "
            + " | ".join(cells)
            + " |"
        )
    reached = [r for r in rows if any(c["rung"] == 1 for c in r["candidates"])]
    if reached:
        means = [mean_finite([offline_pick(r, RULES[n], False, exclude, rung=1)[1] for r in reached]) for n in rules]
        lines.append("| mean regret | | | " + " | ".join(f"{100 * m:.1f}" for m in means) + " |")
    return lines


def leave_one_shift_out(rows: list[dict[str, Any]], exclude: tuple[str, ...] = ()) -> tuple[float, list[str]]:
    """The rung-0 regret of choosing the rule on the other shifts: for each shift, the rule of
    RULES with the lowest mean regret on the other five shifts' advices (source-only the
    baseline), measured on that shift's advices. Returns the mean held-out regret and the rule
    chosen for each shift: a rule that only fits the zoo as a whole does not survive this."""
    regret = {name: [offline(r, rule, False, exclude)[1] for r in rows] for name, rule in RULES.items()}
    shifts = [r["shift"] for r in rows]
    held: list[float] = []
    chosen = []
    for shift in sorted(set(shifts)):
        train = [i for i, s in enumerate(shifts) if s != shift]
        name = min(regret, key=lambda n: (mean_finite([regret[n][i] for i in train]), n != "val_acc"))
        chosen.append(f"{shift}: {name}")
        held += [regret[name][i] for i, s in enumerate(shifts) if s == shift]
    return mean_finite(held), chosen


def tie_table(rows: list[dict[str, Any]], n_val: int, tie_zs: tuple[float, ...] = (0.0, 1.0, 2.0)) -> list[str]:
    """The recommendation re-made offline on each advice's last rung (its adaptation candidates,
    as promoted in the run) by source accuracy with ties within `tie_z` binomial standard errors
    ordered by class skew (`tie_z` 0: plain source accuracy), against the best true accuracy of
    every run the advice trained: the end-to-end regret, had that rule been the last rung's."""
    from engine.advisor.ranking import rank_candidates

    def last(r: dict[str, Any]) -> list[dict[str, Any]]:
        cands = [c for c in r["candidates"] if c["label"] != "finetune"]
        top = max(c["rung"] for c in cands)
        return [c for c in cands if c["rung"] == top]

    usable = [r for r in rows if all("class_tv" in c for c in last(r))]
    if not usable:
        return []
    head = " | ".join(f"tie_z {z:g}" for z in tie_zs)
    lines = [f"| shift | seed | best (true acc) | {head} |", "|---|---|---|" + "---|" * len(tie_zs)]
    sums = [0.0] * len(tie_zs)
    for r in usable:
        cands = last(r)
        best = max(c["target_acc"] for c in r["candidates"])
        cells = []
        for j, z in enumerate(tie_zs):
            order, _ = rank_candidates(cands, "val_acc", 0.1, n_val=n_val, tie_z=z)
            pick = cands[order[0]]
            sums[j] += best - pick["target_acc"]
            cells.append(f"{_short(pick['label'])} {100 * pick['target_acc']:.1f}")
        lines.append(f"| {r['shift']} | {r['seed']} | {100 * best:.1f} | " + " | ".join(cells) + " |")
    lines.append("| mean regret | | | " + " | ".join(f"{100 * s / len(usable):.1f}" for s in sums) + " |")
    return lines


AGREEMENT_RULES: dict[str, tuple[str, float | None]] = {
    "val_acc": ("val_acc", None),
    "agreement (skew band 0.1)": ("agreement", 0.1),
    "agreement (skew band 0.2)": ("agreement", 0.2),
    "agreement (every candidate votes)": ("agreement", None),
}


def agreement_table(
    rows: list[dict[str, Any]], probs: dict[tuple[str, int], dict[str, Any]], rung: int | None = None
) -> list[str]:
    """The recommendation re-made offline on each advice's rung `rung` (None: its last rung; its
    adaptation candidates, as promoted in the run) by source accuracy and by agreement with the
    ensemble of the low-skew candidates (ranking.agreement_values), from the stored target
    softmaxes (`probs[(shift, seed)]["r<rung> <label>"]`), against the best true accuracy of
    every run the advice trained (rung 0: of rung 0's candidates)."""
    from engine.advisor.ranking import rank_candidates

    lines = [
        "| shift | seed | best (true acc) | " + " | ".join(AGREEMENT_RULES) + " |",
        "|---|---|---|" + "---|" * len(AGREEMENT_RULES),
    ]
    sums = [0.0] * len(AGREEMENT_RULES)
    rhos: list[list[float]] = [[] for _ in AGREEMENT_RULES]
    n = 0
    for r in rows:
        stored = probs.get((r["shift"], r["seed"]))
        cands = [c for c in r["candidates"] if c["label"] != "finetune"]
        top = max(c["rung"] for c in cands) if rung is None else rung
        cands = [c for c in cands if c["rung"] == top]
        if stored is None or not cands or not all(f"r{c['rung']} {c['label']}" in stored for c in cands):
            continue
        pool = r["candidates"] if rung is None else cands
        best = max(c["target_acc"] for c in pool)
        scored = [{k: c.get(k) for k in (*SCORES, "class_tv")} for c in cands]
        soft = [stored[f"r{c['rung']} {c['label']}"] for c in cands]
        cells = []
        for j, (by, band) in enumerate(AGREEMENT_RULES.values()):
            order, values = rank_candidates(scored, by, 0.1, probs=soft, skew_band=band)
            rhos[j].append(
                spearman([v if v is not None else math.nan for v in values], [c["target_acc"] for c in cands])
            )
            pick = cands[order[0]]
            sums[j] += best - pick["target_acc"]
            cells.append(f"{_short(pick['label'])} {100 * pick['target_acc']:.1f}")
        n += 1
        lines.append(f"| {r['shift']} | {r['seed']} | {100 * best:.1f} | " + " | ".join(cells) + " |")
    if not n:
        return []
    lines.append("| mean regret | | | " + " | ".join(f"{100 * s / n:.1f}" for s in sums) + " |")
    lines.append("| mean Spearman ρ | | | " + " | ".join(f"{mean_finite(x):+.2f}" for x in rhos) + " |")
    return lines
