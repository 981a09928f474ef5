"""`advise`: measure the shift, try the methods within a time budget, recommend one without target labels."""

from __future__ import annotations

import argparse
import math
import sys

from engine.cli.common import add_command, run_with_flags, write_json_if_asked
from engine.core.events import Event, Finished, Log

ADVISE_FLAGS = (
    "source", "target", "target_test", "budget_minutes", "runs_dir", "min_epochs", "max_epochs", "grid_points",
    "rank_by", "tie_z", "skew_band", "backbone", "batch_size", "lr", "seed", "device", "resume",
)  # fmt: skip


def _fmt(value: float | None, percent: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{100 * value:.1f}" if percent else f"{value:.3f}"


def table(report: object) -> list[str]:
    """The candidates as text rows, best first within each rung."""
    from engine.jobs.advise import AdviseReport

    assert isinstance(report, AdviseReport)
    check = any("target_acc" in e.scores for e in report.candidates)
    head = f"{'rung':>4} {'rank':>4} {'candidate':<36} {'ep':>3} {'val%':>6} {'DEV':>7} {'SND':>7} {'entropy':>7} {'skew':>5} {'agree%':>6} {'score':>6}"
    lines = [head + (f" {'target% (check)':>15}" if check else "") + "  status"]
    rows = sorted(report.candidates, key=lambda e: (-e.rung, e.rank or 99, e.candidate))
    for e in rows:
        s = e.scores
        line = (
            f"{e.rung + 1:>4} {e.rank or '–':>4} {e.label[:36]:<36} {e.epochs:>3} {_fmt(s.get('val_acc'), True):>6} "
            f"{_fmt(s.get('dev')):>7} {_fmt(s.get('snd')):>7} {_fmt(s.get('entropy')):>7} "
            f"{_fmt(s.get('class_tv')):>5} {_fmt(s.get('agreement'), True):>6} {_fmt(e.combined):>6}"
        )
        if check:
            line += f" {_fmt(s.get('target_acc'), True):>15}"
        lines.append(line + f"  {e.status}{': ' + e.reason if e.reason else ''}")
    return lines


class AdvisePrinter:
    """Log lines of the advice and its candidates' runs; a line per finished candidate."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, Log):
            print(event.message, file=sys.stderr if event.level != "info" else sys.stdout)
        elif isinstance(event, Finished) and event.job == "advise-candidate":
            shown = ", ".join(f"{k} {v:.3f}" for k, v in event.metrics.items())
            print(f"  scored: {shown}")


def cmd_advise(args: argparse.Namespace) -> int:
    from engine.jobs.advise import JOB

    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    report = run_with_flags(JOB, args, AdvisePrinter(), *ADVISE_FLAGS, methods=methods)
    if report.shift is not None:
        print(f"shift: {report.shift.message}")
    for line in table(report):
        print(line)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.message)
    cfg = report.recommended_config
    if cfg and not report.stopped:
        opts = " ".join(f"--set {k}={v}" for k, v in cfg.get("method_options", {}).items())
        print(
            f"train it in full: transfer-studio train --source {cfg['source']} --target {cfg.get('target', '')} "
            f"--method {cfg['method']} {opts} --epochs {cfg['epochs']} --runs-dir {cfg['runs_dir']}".replace("  ", " ")
        )
    print(f"time: {report.elapsed_s / 60:.1f} of {report.budget_s / 60:.1f} minutes; advice folder {report.advice_dir}")
    return write_json_if_asked(args, report)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = add_command(
        sub, "advise", cmd_advise, "try transfer methods on your data and recommend one without target labels"
    )
    sp.add_argument("--source", help="labelled source folder")
    sp.add_argument("--target", help="target folder (unlabelled images are enough)")
    sp.add_argument("--target-test", help="labelled target folder: true accuracy as a check, never to choose")
    sp.add_argument(
        "--methods",
        help="comma-separated methods (default: finetune,adabn,dann,coral,mcc,importance_weighting,self_ensembling)",
    )
    sp.add_argument("--budget-minutes", type=float, help="time for the whole advice (default 30)")
    sp.add_argument("--runs-dir", help="where the candidates' runs and the advice folder go")
    sp.add_argument("--min-epochs", type=int, help="epochs of the shortest candidate runs (default 2)")
    sp.add_argument("--max-epochs", type=int, help="epochs of the longest (default 8)")
    sp.add_argument("--grid-points", type=int, help="values of each method's sensitive setting (1-3, default 2)")
    sp.add_argument(
        "--rank-by",
        choices=["combined", "val_acc", "dev", "snd", "entropy", "class_tv", "agreement"],
        help="the label-free ranking (default agreement: most target predictions shared with the ensemble "
        "of the candidates of low class skew; val_acc: source validation accuracy; class_tv: lowest class "
        "skew first, which assumes the target has about the source's class mix)",
    )
    sp.add_argument(
        "--skew-band",
        type=float,
        help="with --rank-by agreement: the ensemble's voters have a class skew within this of the lowest (default 0.1)",
    )
    sp.add_argument(
        "--tie-z",
        type=float,
        help="source accuracies within this many standard errors tie and are ordered by class skew "
        "(default 0: off; it assumes the target has about the source's class mix)",
    )
    sp.add_argument("--backbone")
    sp.add_argument("--batch-size", type=int)
    sp.add_argument("--lr", type=float)
    sp.add_argument("--seed", type=int)
    sp.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    sp.add_argument("--resume", help="an advice folder to continue")
    sp.add_argument("--json", help="write the report as JSON")
