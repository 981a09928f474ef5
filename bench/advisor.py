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
`--load FILE` prints the tables of a saved file (bench/advisor_rules.py: the ranking rules
measured offline on the stored scores). `--add METHOD...` trains a new method's candidates into
the stored advices of `--json` without re-running the others: the same demo (shift, seed, images
per class), training settings, epochs (those of rung `--rung`, default 0) and scorers, saved after
each candidate (a stopped run resumes); the tables then show every rule with and without them.

    .venv/bin/python bench/advisor.py                                  # 6 shifts x 2 seeds
    .venv/bin/python bench/advisor.py --shifts texture noise --seeds 1
    .venv/bin/python bench/advisor.py --load bench/results/advisor_zoo.json
    .venv/bin/python bench/advisor.py --add self_ensembling --json bench/results/advisor_zoo.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHIFTS = ["texture", "blur", "rotation", "inversion", "noise", "scale"]

from advisor_rules import (  # noqa: E402  (bench/ is the script's own folder, on sys.path)
    SCORES,
    agreement_table,
    fixed_table,
    leave_one_shift_out,
    mean_finite,
    picks_table,
    rule_table,
    rung1_table,
    spearman,
    tie_table,
)


def one_advice(shift: str, seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from engine.data.demo import make_demo
    from engine.jobs.advise import JOB, AdviseConfig

    demo = make_demo(work / f"{shift}-{seed}", seed=seed, per_class=args.per_class, shift=shift)
    flags = ("methods", "grid_points", "min_epochs", "max_epochs", "budget_minutes", "batch_size", "lr")
    cfg = AdviseConfig(
        **demo.folders(),
        **{flag: getattr(args, flag) for flag in flags},
        seed=seed,
        small_shift=0.0,  # measure every candidate, even on a small shift
        **({"tie_z": args.tie_z} if args.tie_z is not None else {}),
        **({"rank_by": args.rank_by} if args.rank_by else {}),
        device="cpu",
        runs_dir=work / f"runs-{shift}-{seed}",
    )
    t0 = time.perf_counter()
    report = JOB.run(cfg)
    seconds = time.perf_counter() - t0
    done = [e for e in report.candidates if e.status == "finished"]
    out: dict[str, Any] = {
        "shift": shift,
        "seed": seed,
        "seconds": seconds,
        "pad": report.shift.proxy_a_distance if report.shift else None,
    }
    out["candidates"] = [
        {"label": e.label, "rung": e.rung, "epochs": e.epochs, **e.scores, "combined": e.combined} for e in done
    ]
    rescore_rung0(out)  # ρ and regret of each score (and the combined one) over rung 0
    save_advice_probs(report, done, Path(args.json), shift, seed)
    pick = report.recommended
    assert pick is not None
    best = max(e.scores["target_acc"] for e in done)
    out.update(pick=pick.label, pick_epochs=pick.epochs, pick_acc=pick.scores["target_acc"], best_acc=best)
    out["regret"] = best - pick.scores["target_acc"]
    dann = next(
        (e for e in done if e.method == "dann" and e.options.get("transfer_weight") == 1.0 and e.epochs == pick.epochs),
        None,
    )
    out["dann_acc"] = dann.scores["target_acc"] if dann else dann_default(cfg, pick.epochs, work)
    return out


def probs_path(json_path: Path, shift: str, seed: int) -> Path:
    """Where an advice's target softmaxes are kept: `<json stem>-probs/<shift>-<seed>.npz`."""
    return json_path.with_name(f"{json_path.stem}-probs") / f"{shift}-{seed}.npz"


def save_advice_probs(report: Any, done: list[Any], json_path: Path, shift: str, seed: int) -> None:
    """Every finished candidate's target softmax, keyed `r<rung> <label>` (for offline rules on
    the ensemble's agreement, bench/advisor_rules.py)."""
    import numpy as np

    from engine.advisor.advice import load_probs

    arrays = {f"r{e.rung} {e.label}": p for e in done if (p := load_probs(report.advice_dir, e)) is not None}
    path = probs_path(json_path, shift, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)


def add_candidates(
    row: dict[str, Any],
    stored: dict[str, Any],
    methods: list[str],
    work: Path,
    save: Any,
    rung: int = 0,
    epochs: int | None = None,
) -> None:
    """Train the candidates of `methods` (their grid at the stored `grid_points`) for the epochs
    of a stored advice's rung `rung` (an advice that did not reach it is left alone), with the
    same demo (shift, seed, images per class), training settings and scorers as the advice's own
    candidates, and append them to that rung; `save` is called after each one. A candidate
    already there is skipped (a stopped run resumes). `epochs` trains them longer (or shorter)
    than the rung's own candidates: a per-method first rung for methods that start slowly."""
    from engine.advisor.advice import AdviceState, Entry
    from engine.advisor.candidates import SOURCE_ONLY, candidate_grid
    from engine.advisor.driver import Advice
    from engine.core.control import JobControl
    from engine.data.demo import make_demo
    from engine.jobs.advise import AdviseConfig

    shift, seed = row["shift"], row["seed"]
    stored_epochs = next((c["epochs"] for c in row["candidates"] if c["rung"] == rung), None)
    if stored_epochs is None:
        return
    epochs = epochs or stored_epochs
    cands = [c for c in candidate_grid(methods, stored["grid_points"]) if c.method != SOURCE_ONLY]
    have = {c["label"] for c in row["candidates"] if c["rung"] == rung}
    todo = [c for c in cands if c.label not in have]
    if not todo:
        return
    demo = make_demo(work / f"{shift}-{seed}", seed=seed, per_class=stored["per_class"], shift=shift)
    flags = ("grid_points", "min_epochs", "max_epochs", "budget_minutes", "batch_size", "lr")
    cfg = AdviseConfig(
        **demo.folders(),
        methods=list(dict.fromkeys([*stored["methods"], *methods])),
        **{flag: stored[flag] for flag in flags},
        seed=seed,
        small_shift=0.0,
        device="cpu",
        runs_dir=work / f"runs-{shift}-{seed}",
    )
    state = AdviceState(config=cfg.model_dump(mode="json"), rungs=[(epochs, len(todo))])
    advice_dir = work / f"runs-{shift}-{seed}" / "added"
    advice_dir.mkdir(parents=True, exist_ok=True)
    adv = Advice(cfg, state, advice_dir, lambda _event: None, JobControl())
    adv.prepare()
    adv.cands = todo
    for i, cand in enumerate(todo):
        e = Entry(candidate=i, rung=rung, epochs=epochs, method=cand.method, options=cand.options, label=cand.label)
        adv.train(e)
        print(f"  {shift} seed {seed}: {e.label} {e.status} in {e.seconds:.0f} s {e.scores}", flush=True)
        if e.status != "finished":
            row.setdefault("dropped", []).append({"label": e.label, "reason": e.reason})
            continue
        row["candidates"].append(
            {
                "label": e.label,
                "rung": rung,
                "epochs": epochs,
                **e.scores,
                "combined": None,
                "seconds": e.seconds,
                "added": True,
            }
        )
        rescore_rung0(row)
        save()


def rescore_rung0(row: dict[str, Any]) -> None:
    """The row's rung-0 ρ and regret per score over its rung-0 candidates (source-only included,
    as `one_advice` measures them), after candidates were added."""
    from engine.advisor.ranking import combined_scores, rank_candidates

    rung0 = [c for c in row["candidates"] if c["rung"] == 0]
    truth = [c["target_acc"] for c in rung0]
    rows = [{k: c[k] for k in SCORES} for c in rung0]
    row["rho"] = {name: spearman([sign * r[name] for r in rows], truth) for name, sign in SCORES.items()}
    row["rho"]["combined"] = spearman([v or 0.0 for v in combined_scores(rows)], truth)
    row["regret0"] = {}
    for by in ("combined", *SCORES):
        order, _ = rank_candidates(rows, by, 0.1)
        row["regret0"][by] = max(truth) - truth[order[0]]


def dann_default(cfg: Any, epochs: int, work: Path) -> float:
    """DANN at its defaults (transfer_weight 1), trained like the advisor's candidates."""
    from engine.advisor.driver import train_config
    from engine.core.runs import open_run
    from engine.training.trainer import run_train

    tc = train_config(cfg, None, epochs, f"dann-default-e{epochs}").model_copy(update={"method": "dann"})
    result = run_train(tc)
    return float(open_run(result.run_dir).info()["best_metrics"]["target/acc"])


def load_probs_beside(json_path: Path, rows: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The stored target softmaxes of `rows` (save_advice_probs), where they were saved."""
    import numpy as np

    out: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows:
        path = probs_path(json_path, r["shift"], r["seed"])
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                out[(r["shift"], r["seed"])] = {k: z[k] for k in z.files}
    return out


def tables(
    rows: list[dict[str, Any]],
    added: list[str] | None = None,
    per_class: int = 50,
    probs: dict[tuple[str, int], dict[str, Any]] | None = None,
) -> str:
    """The per-advice table, the score table and the offline rule tables (also without `added`);
    with the target softmaxes (`probs`), the agreement rules on rung 0 and on the last rung."""
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
            f"| {k} | {mean_finite([r['rho'][k] for r in rows]):+.2f} | {100 * mean_finite([r['regret0'][k] for r in rows]):.1f} |"
        )
    for exclude in [(), *([tuple(added)] if added else [])]:
        for with_source_only in (True, False):
            lines.append("")
            who = (
                "every rung-0 candidate"
                if with_source_only
                else "rung-0 adaptation candidates (source-only the baseline)"
            )
            without = f", without {', '.join(exclude)}" if exclude else ""
            lines.append(f"Offline, {who}{without}:")
            lines += rule_table(rows, with_source_only, exclude)
    lines.append("")
    lines.append("Picks among the rung-0 adaptation candidates (source-only the baseline), true target accuracy:")
    shown = ["val_acc", "combined (4 scores)", "snd", "entropy", "val_acc+snd", "2 val_acc+dev+snd+entropy"]
    lines += picks_table(rows, shown)
    for exclude in [(), *([tuple(added)] if added else [])]:
        without = f", without {', '.join(exclude)}" if exclude else ""
        lines += ["", f"Always one candidate (no scores), rung 0{without}:"]
        lines += fixed_table(rows, exclude)
        lines += ["", f"Rung 1 (longer runs), where the advices reached it{without}:"]
        lines += rung1_table(rows, shown, exclude)
        held, chosen = leave_one_shift_out(rows, exclude)
        lines += [
            "",
            f"Rule chosen on five shifts, regret on the sixth{without}: {100 * held:.1f} points ({'; '.join(chosen)})",
        ]
    n_val = round(0.2 * 10 * per_class)  # the demo's 10 classes, the default val_fraction
    ties = tie_table(rows, n_val)
    if ties:
        lines += [
            "",
            f"The last rung re-ranked offline by source accuracy, ties within tie_z standard errors ({n_val} "
            "validation images) by class skew; regret against every run of the advice:",
            *ties,
        ]
    for rung, where in ((0, "Rung 0 (its candidates' best true accuracy)"), (None, "The last rung")):
        agree = agreement_table(rows, probs or {}, rung)
        if agree:
            lines += ["", f"{where} re-ranked offline by source accuracy and by ensemble agreement; regret:", *agree]
    lines.append("")
    regret = mean_finite([r["regret"] for r in rows])
    gain = mean_finite([r["pick_acc"] - r["dann_acc"] for r in rows])
    wins = sum(r["pick_acc"] >= r["dann_acc"] for r in rows)
    lines.append(
        f"advisor over {len(rows)} advices: mean regret {100 * regret:.1f} points; pick - DANN default "
        f"{100 * gain:+.1f} points (pick >= DANN in {wins}/{len(rows)}); mean time {mean_finite([r['seconds'] for r in rows]) / 60:.1f} min"
    )
    return "\n".join(lines)


def add_to_stored(args: argparse.Namespace) -> int:
    """`--add`: the stored advices of `--json` get the new methods' rung-0 candidates, saved after each."""
    path = Path(args.json)
    stored = json.loads(path.read_text())
    added = stored["args"].setdefault("added_methods", [])
    added += [m for m in args.add if m not in added]

    def save() -> None:
        from engine.core.fsutil import atomic_write_json

        atomic_write_json(path, stored)

    work = Path(tempfile.mkdtemp(prefix="ts-advisor-add-"))
    for row in stored["rows"]:
        if args.only and row["shift"] not in args.only:
            continue
        add_candidates(row, stored["args"], args.add, work, save, args.rung, args.epochs)
    save()
    print(tables(stored["rows"], added, stored["args"].get("per_class", 50)))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shifts", nargs="+", default=SHIFTS)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--first-seed", type=int, default=0, help="seeds run from this one")
    p.add_argument("--methods", nargs="+", default=["finetune", "dann", "coral", "mcc", "importance_weighting"])
    p.add_argument("--grid-points", type=int, default=2)
    p.add_argument("--min-epochs", type=int, default=2)
    p.add_argument("--max-epochs", type=int, default=4)
    p.add_argument("--budget-minutes", type=float, default=8.0)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--rank-by", default=None, help="the advice's rank_by (default: AdviseConfig's)")
    p.add_argument(
        "--tie-z",
        type=float,
        default=None,
        help="the advice's tie_z (default: AdviseConfig's); 0: plain source accuracy",
    )
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "advisor_zoo.json"))
    p.add_argument("--load", nargs="+")
    p.add_argument(
        "--add",
        nargs="+",
        metavar="METHOD",
        help="train these methods' candidates into the stored advices of --json (rung 0, the stored settings), "
        "keeping every earlier candidate's scores, then print the tables",
    )
    p.add_argument("--only", nargs="+", default=None, help="with --add: only these shifts")
    p.add_argument("--rung", type=int, default=0, help="with --add: the rung to add to (its stored epochs)")
    p.add_argument(
        "--epochs", type=int, default=None, help="with --add: train them this long instead of the rung's epochs"
    )
    args = p.parse_args()
    if args.load:
        loaded = [json.loads(Path(f).read_text()) for f in args.load]
        added = sorted({m for d in loaded for m in d["args"].get("added_methods", [])})
        rows = [r for d in loaded for r in d["rows"]]
        probs = {
            k: v
            for f, d in zip(args.load, loaded, strict=True)
            for k, v in load_probs_beside(Path(f), d["rows"]).items()
        }
        for row in rows:  # files saved before the combined score's ρ was measured on rung 0 alone
            rescore_rung0(row)
        print(tables(rows, added, loaded[0]["args"].get("per_class", 50), probs))
        return 0
    import torch

    torch.set_num_threads(1)
    if args.add:
        return add_to_stored(args)
    rows: list[dict[str, Any]] = []
    work = Path(tempfile.mkdtemp(prefix="ts-advisor-"))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
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
    print(tables(rows, per_class=args.per_class, probs=load_probs_beside(Path(args.json), rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
