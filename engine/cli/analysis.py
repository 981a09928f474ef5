"""`evaluate` (accuracy, per-class figures, confusion matrix) and `embed` (features in 2-D)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from engine.cli.common import BarPrinter, add_command, run_with_flags, write_json_if_asked

if TYPE_CHECKING:
    from engine.analysis.zero_shot_eval import ZeroShotScores


def cmd_evaluate(args: argparse.Namespace) -> int:
    from engine.jobs.evaluate import JOB

    report = run_with_flags(JOB, args, BarPrinter("evaluating"), "run_dir", "data", "checkpoint")
    parts = report.tasks.items() if report.tasks else [("", report)]
    for task, r in parts:
        if task:
            print(f"task {task}:")
        print(f"accuracy: {r.accuracy:.4f} on {r.n} images")
        print(f"{'class':<20} {'precision':>9} {'recall':>7} {'support':>8}")
        for row in r.per_class:
            note = f"  ({row.note})" if row.note else ""
            print(f"{row.name:<20} {row.precision:>9.3f} {row.recall:>7.3f} {row.support:>8d}{note}")
        print("confusion matrix (rows: true, columns: predicted)")
        for name, counts in zip(r.classes, r.confusion_matrix, strict=True):
            print(f"{name:<12} " + " ".join(f"{v:>4d}" for v in counts))
    if report.zero_shot is not None:
        print_zero_shot(report.zero_shot)
    return write_json_if_asked(args, report)


def print_zero_shot(zs: ZeroShotScores) -> None:
    """Generalised zero-shot figures: per-class mean accuracies and their harmonic mean H."""
    print(f"zero-shot: seen {', '.join(zs.seen_classes)}; unseen {', '.join(zs.unseen_classes)}")
    print(f"{'':<26} {'seen acc':>9} {'unseen acc':>10} {'H':>7}")
    for name, f in ((f"calibrated (gamma {zs.calibration:.3g})", zs.calibrated), ("uncalibrated", zs.uncalibrated)):
        print(f"{name:<26} {f.seen_acc:>9.4f} {f.unseen_acc:>10.4f} {f.h:>7.4f}")
    print(f"unseen acc among unseen classes only (conventional ZSL): {zs.zsl_unseen_acc:.4f}")


def cmd_embed(args: argparse.Namespace) -> int:
    from engine.jobs.embed import JOB

    report = run_with_flags(JOB, args, BarPrinter("embedding"), "run_dir", "out", "method", "limit")
    print(f"wrote {args.out}")
    from engine.analysis.embedding import describe_shift

    print(describe_shift(report))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = add_command(
        sub, "evaluate", cmd_evaluate, "accuracy, per-class precision/recall and confusion matrix on a labelled folder"
    )
    sp.add_argument("run_dir")
    sp.add_argument("--data", required=True)
    sp.add_argument("--checkpoint", choices=["best", "last"], default=None)
    sp.add_argument("--json")

    sp = add_command(sub, "embed", cmd_embed, "plot source and target features (PCA or t-SNE) and the proxy A-distance")
    sp.add_argument("run_dir")
    sp.add_argument("--out", required=True)
    sp.add_argument("--method", choices=["pca", "tsne"], default="pca")
    sp.add_argument("--limit", type=int, default=1000)
