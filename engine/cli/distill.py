"""`transfer-studio compress`: the compression report of a distilled (or any) run against its teacher.

Distilling itself is a training method (`transfer-studio train --method distill --set
teacher=RUN_OR_ONNX`); this command measures what it cost: accuracy, size and latency of teacher
and student side by side (and of their INT8 copies with --int8).
"""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import BarPrinter, add_command, run_with_flags, write_json_if_asked
from engine.jobs.compress import CompressReport


def _fmt_acc(v: float | None) -> str:
    return f"{100 * v:.1f}%" if v is not None and v == v else "-"


def print_report(report: CompressReport) -> None:
    print(
        f"{'model':<14} {'params':>9} {'size MB':>8} {'val acc':>8} {'target':>8} "
        f"{'b1 1t ms':>9} {'b1 all':>8} {'b32 1t':>8} {'b32 all':>8}"
    )
    for r in report.rows:
        lat = r.latency_ms
        print(
            f"{r.model:<14} {r.params:>9d} {r.size_bytes / 1e6:>8.2f} {_fmt_acc(r.val_acc):>8} "
            f"{_fmt_acc(r.target_acc):>8} {lat['b1_t1']:>9.3f} {lat['b1_all']:>8.3f} {lat['b32_t1']:>8.3f} "
            f"{lat['b32_all']:>8.3f}"
        )
    ra = report.ratios
    print(
        f"student vs teacher: {ra['params']:.1f}x fewer weights, {ra['size']:.1f}x smaller file, "
        f"{ra['speedup_b1_t1']:.1f}x faster at batch 1 on one thread ({ra['speedup_b32_t1']:.1f}x at batch 32)"
    )
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"report: {report.path}")


def cmd_compress(args: argparse.Namespace) -> int:
    from engine.jobs.compress import JOB

    flags = ("run_dir", "teacher", "data", "repeats")
    report = run_with_flags(JOB, args, BarPrinter("measuring"), *flags, int8=args.int8 or None)
    print_report(report)
    return write_json_if_asked(args, report)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `compress` command to the CLI's subparsers."""
    help = "compare a distilled run with its teacher: accuracy, parameters, ONNX size, latency (compression report)"
    sp = add_command(sub, "compress", cmd_compress, help)
    sp.add_argument("run_dir", help="the student's run directory")
    sp.add_argument("--teacher", required=True, help="the teacher's run directory or .onnx file")
    sp.add_argument("--data", help="a labelled target folder (default: the run's target-test folder)")
    sp.add_argument("--int8", action="store_true", help="also quantize both to INT8 and compare")
    sp.add_argument("--repeats", type=int, help="timed runs per latency figure (median kept; default 30)")
    sp.add_argument("--json", help="also write the report to this file")
