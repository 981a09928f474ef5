"""The method advisor over the shift zoo: does the label-free ranking pick what the target labels
would have picked?

For every shift of engine/data/shifts.py and seed, the demo pair is written (`--per-class`
source images per class), the advise job runs with its defaults but a fixed, CPU-cheap plan
(`--methods`, `--min-epochs`, `--max-epochs`, `--budget-minutes`, one torch thread), and the
labelled target test gives each candidate's TRUE target accuracy (the advisor never sees it).
Measured:

- Spearman's ρ between each label-free score (sign-corrected: −DEV, −entropy) and the true
  accuracy across the rung-0 candidates (all trained for the same epochs), per advice, averaged;
- regret of each score used alone on rung 0 (best true accuracy − that of the candidate the score
  ranks first), and the advisor's end-to-end regret (best true accuracy of every run it trained −
  that of its recommendation);
- the recommendation against the fixed default, DANN (transfer_weight 1) trained for as many
  epochs as the recommendation (taken from the advice's runs when it is there, else trained).

Every advice's rows go to `--json` as they finish, so a stopped bench keeps what it measured;
`--load FILE` prints the tables of a saved file.

    .venv/bin/python bench/advisor.py                                  # 6 shifts x 2 seeds
    .venv/bin/python bench/advisor.py --shifts texture noise --seeds 1
    .venv/bin/python bench/advisor.py --load bench/results/advisor_zoo.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHIFTS = ["texture", "blur", "rotation", "inversion", "noise", "scale"]
SCORES = {"val_acc": 1.0, "dev": -1.0, "snd": 1.0, "entropy": -1.0}


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def one_advice(shift: str, seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from engine.advisor.ranking import rank_candidates
    from engine.data.demo import make_demo
    from engine.jobs.advise import JOB, AdviseConfig

    demo = make_demo(work / f"{shift}-{seed}", seed=seed, per_class=args.per_class, shift=shift)
    flags = ("methods", "grid_points", "min_epochs", "max_epochs", "budget_minutes", "batch_size", "lr")
    cfg = AdviseConfig(
        **demo.folders(),
        **{flag: getattr(args, flag) for flag in flags},
        seed=seed,
        small_shift=0.0,  # measure every candidate, even on a small shift
        device="cpu",
        runs_dir=work / f"runs-{shift}-{seed}",
    )
    t0 = time.perf_counter()
    report = JOB.run(cfg)
    seconds = time.perf_counter() - t0
    done = [e for e in report.candidates if e.status == "finished"]
    rung0 = [e for e in done if e.rung == 0]
    truth0 = [e.scores["target_acc"] for e in rung0]
    out: dict[str, Any] = {
        "shift": shift,
        "seed": seed,
        "seconds": seconds,
        "pad": report.shift.proxy_a_distance if report.shift else None,
    }
    out["rho"] = {name: spearman([sign * e.scores[name] for e in rung0], truth0) for name, sign in SCORES.items()}
    out["rho"]["combined"] = spearman([e.combined or 0.0 for e in rung0], truth0)
    rows = [{k: v for k, v in e.scores.items() if k != "target_acc"} for e in rung0]
    best0 = max(truth0)
    out["regret0"] = {}
    for by in ("combined", *SCORES):
        order, _ = rank_candidates(rows, by, cfg.val_gate)
        out["regret0"][by] = best0 - truth0[order[0]]
    pick = report.recommended
    assert pick is not None
    best = max(e.scores["target_acc"] for e in done)
    out.update(pick=pick.label, pick_epochs=pick.epochs, pick_acc=pick.scores["target_acc"], best_acc=best)
    out["regret"] = best - pick.scores["target_acc"]
    out["candidates"] = [
        {"label": e.label, "rung": e.rung, "epochs": e.epochs, **e.scores, "combined": e.combined} for e in done
    ]
    dann = next(
        (e for e in done if e.method == "dann" and e.options.get("transfer_weight") == 1.0 and e.epochs == pick.epochs),
        None,
    )
    out["dann_acc"] = dann.scores["target_acc"] if dann else dann_default(cfg, pick.epochs, work)
    return out


def dann_default(cfg: Any, epochs: int, work: Path) -> float:
    """DANN at its defaults (transfer_weight 1), trained like the advisor's candidates."""
    from engine.advisor.driver import train_config
    from engine.core.runs import open_run
    from engine.training.trainer import run_train

    tc = train_config(cfg, None, epochs, f"dann-default-e{epochs}").model_copy(update={"method": "dann"})
    result = run_train(tc)
    return float(open_run(result.run_dir).info()["best_metrics"]["target/acc"])


# Ranking rules measured offline on the stored rung-0 scores (no training): (by, score weights).
RULES: dict[str, tuple[str, dict[str, float] | None]] = {
    "combined (4 scores)": ("combined", None),
    "val_acc": ("val_acc", None),
    "dev": ("dev", None),
    "snd": ("snd", None),
    "entropy": ("entropy", None),
    "val_acc+entropy": ("combined", {"val_acc": 1.0, "entropy": 1.0}),
    "val_acc+snd+entropy": ("combined", {"val_acc": 1.0, "snd": 1.0, "entropy": 1.0}),
}


def offline(
    row: dict[str, Any], rule: tuple[str, dict[str, float] | None], with_source_only: bool
) -> tuple[float, ...]:
    """Spearman ρ, regret and pick − DANN (transfer_weight 1) of a ranking rule among an advice's
    rung-0 candidates (all trained for the same epochs), from their stored scores."""
    from engine.advisor.ranking import combined_scores, rank_candidates

    rung0 = [c for c in row["candidates"] if c["rung"] == 0]
    if not with_source_only:
        rung0 = [c for c in rung0 if c["label"] != "finetune"]
    rows = [{k: c[k] for k in SCORES} for c in rung0]
    truth = [c["target_acc"] for c in rung0]
    by, weights = rule
    if by == "combined":
        values = [v or 0.0 for v in combined_scores(rows, weights)]
    else:
        values = [SCORES[by] * r[by] for r in rows]
    order, _ = rank_candidates(rows, by, 0.1, weights)
    pick = truth[order[0]]
    dann = next(c["target_acc"] for c in row["candidates"] if c["rung"] == 0 and c["label"] == "dann transfer_weight=1")
    best = max(c["target_acc"] for c in row["candidates"] if c["rung"] == 0)
    return spearman(values, truth), best - pick, pick - dann


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return statistics.fmean(finite) if finite else float("nan")


def tables(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| shift | seed | PAD | pick | pick acc | best acc | regret | DANN acc | "
        + " | ".join(f"ρ {k}" for k in ("combined", *SCORES))
        + " |"
    ]
    lines.append("|" + "---|" * (8 + 1 + len(SCORES)))
    for r in rows:
        rho = " | ".join(f"{r['rho'][k]:+.2f}" for k in ("combined", *SCORES))
        lines.append(
            f"| {r['shift']} | {r['seed']} | {r['pad']:.2f} | {r['pick']} ({r['pick_epochs']} ep) | {100 * r['pick_acc']:.1f} | "
            f"{100 * r['best_acc']:.1f} | {100 * r['regret']:.1f} | {100 * r['dann_acc']:.1f} | {rho} |"
        )
    lines.append("")
    lines.append("| score | mean Spearman ρ | mean regret on rung 0 (points) |")
    lines.append("|---|---|---|")
    for k in ("combined", *SCORES):
        lines.append(
            f"| {k} | {_mean([r['rho'][k] for r in rows]):+.2f} | {100 * _mean([r['regret0'][k] for r in rows]):.1f} |"
        )
    for with_source_only in (True, False):
        lines.append("")
        who = (
            "every rung-0 candidate" if with_source_only else "rung-0 adaptation candidates (source-only the baseline)"
        )
        lines.append(f"Offline, {who}: | rule | mean ρ | mean regret (points) | pick − DANN (points) |")
        lines.append("|---|---|---|---|")
        for name, rule in RULES.items():
            m = [offline(r, rule, with_source_only) for r in rows]
            lines.append(
                f"| {name} | {_mean([x[0] for x in m]):+.2f} | {100 * _mean([x[1] for x in m]):.1f} | "
                f"{100 * _mean([x[2] for x in m]):+.1f} |"
            )
    lines.append("")
    regret = _mean([r["regret"] for r in rows])
    gain = _mean([r["pick_acc"] - r["dann_acc"] for r in rows])
    wins = sum(r["pick_acc"] >= r["dann_acc"] for r in rows)
    lines.append(
        f"advisor over {len(rows)} advices: mean regret {100 * regret:.1f} points; pick - DANN default "
        f"{100 * gain:+.1f} points (pick >= DANN in {wins}/{len(rows)}); mean time {_mean([r['seconds'] for r in rows]) / 60:.1f} min"
    )
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shifts", nargs="+", default=SHIFTS)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--methods", nargs="+", default=["finetune", "dann", "coral", "mcc", "importance_weighting"])
    p.add_argument("--grid-points", type=int, default=2)
    p.add_argument("--min-epochs", type=int, default=2)
    p.add_argument("--max-epochs", type=int, default=4)
    p.add_argument("--budget-minutes", type=float, default=8.0)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "advisor_zoo.json"))
    p.add_argument("--load", nargs="+")
    args = p.parse_args()
    if args.load:
        print(tables([r for f in args.load for r in json.loads(Path(f).read_text())["rows"]]))
        return 0
    import torch

    torch.set_num_threads(1)
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="ts-advisor-"))
    for seed in range(args.seeds):
        for shift in args.shifts:
            row = one_advice(shift, seed, args, work)
            rows.append(row)
            print(
                f"{shift} seed {seed}: pick {row['pick']} {100 * row['pick_acc']:.1f} % (best {100 * row['best_acc']:.1f}, "
                f"DANN {100 * row['dann_acc']:.1f}) in {row['seconds'] / 60:.1f} min",
                flush=True,
            )
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(
                json.dumps({"args": {k: v for k, v in vars(args).items() if k != "load"}, "rows": rows}, indent=1)
            )
    print(tables(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
