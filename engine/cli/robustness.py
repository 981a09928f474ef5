"""`attack`: a robustness evaluation of a run or an ONNX model over a grid of budgets."""

from __future__ import annotations

import argparse

from engine.cli.common import add_command, parse_options, run_with_flags, write_json_if_asked


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def cmd_attack(args: argparse.Namespace) -> int:
    from engine.cli.progress import TrainPrinter
    from engine.jobs.attack import JOB

    flags = ("model", "data", "attack", "norm", "limit", "surrogate", "task")
    eps = [float(e) for e in args.eps.split(",") if e.strip()] if args.eps is not None else None
    printer = TrainPrinter(quiet=False)
    try:
        report = run_with_flags(JOB, args, printer, *flags, eps=eps, attack_options=parse_options(args.set) or None)
    finally:
        printer.close()
    print(f"clean accuracy {report.clean_accuracy:.3f} on {report.n_images} images; report in {report.folder}")
    print(f"{'eps':>8} {'accuracy':>9} {'success':>8} {'L2 mean':>8} {'Linf mean':>9} {'queries':>8}")
    for row in report.results:
        print(
            f"{row.eps:>8.4f} {row.accuracy:>9.3f} {row.success_rate:>8.3f} {_num(row.l2_mean, '8.3f'):>8} "
            f"{_num(row.linf_mean, '9.4f'):>9} {_num(row.queries_mean, '8.0f'):>8}"
        )
    return write_json_if_asked(args, report)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = add_command(
        sub,
        "attack",
        cmd_attack,
        "attack a run (white-box) or an ONNX model (query-only, transfer) and chart robustness",
    )
    sp.add_argument("model", help="run directory or .onnx file")
    sp.add_argument("--data")
    sp.add_argument("--attack")
    sp.add_argument("--eps", help="comma-separated budgets in pixel units [0,1], e.g. 0,0.01,0.03,0.1")
    sp.add_argument("--norm", choices=["linf", "l2"])
    sp.add_argument("--limit", type=int)
    sp.add_argument("--surrogate", help="run directory used to craft transfer attacks on an ONNX model")
    sp.add_argument("--set", action="append", metavar="NAME=VALUE", help="an attack setting, e.g. --set steps=20")
    sp.add_argument("--task", help="a multitask model: the task to attack (default: the first)")
    sp.add_argument("--json")
