"""`demo` (write the demo domains) and `check` (health report of image folders)."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.common import BarPrinter, add_command, run_job, write_json


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.data.demo import make_demo

    if args.multitask:
        from engine.multitask.demo import make_multitask_demo

        mt = make_multitask_demo(Path(args.dir), seed=args.seed)
        print(f"labels table (digit, scarce parity): {mt.labels}")
        print("task folders:            " + ", ".join(f"{t}={p}" for t, p in mt.tasks.items()))
        print(f"test labels (both tasks): {mt.test_labels}")
        return 0
    paths = make_demo(Path(args.dir), seed=args.seed, shift=args.shift)
    print(f"source (labelled):       {paths.source}")
    print(f"target train (unlabelled): {paths.target_train}")
    print(f"target test (labelled):  {paths.target_test}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from engine.core.config import load_config
    from engine.jobs.check import JOB, CheckConfig

    if args.task or args.labels:  # a multitask data set: every task checked
        return _check_tasks(args)
    if not args.folder:
        from engine.core.errors import UserError

        raise UserError(
            "check: give a folder, or the tasks of a multitask data set (--task NAME=FOLDER or --labels CSV)."
        )

    overrides = {"source": args.folder, "target": args.target, "target_test": args.target_test}
    config = load_config(CheckConfig, args.config, overrides)
    printer = BarPrinter("checking images")
    try:
        report = run_job(JOB, config, printer)
    finally:
        printer.close()
    if report.health is None:
        print("check stopped")
        return 1
    print(report.health.to_text())
    if args.json:
        write_json(args.json, report.health)
    return 1 if report.has_errors else 0


def cmd_cache(args: argparse.Namespace) -> int:
    from engine.data import image_cache

    if args.action == "clear":
        freed = image_cache.clear()
        print(f"cleared the decoded-image cache: {freed / 2**20:.1f} MB freed ({image_cache.cache_root()})")
        return 0
    print(
        f"decoded-image cache: {image_cache.total_bytes() / 2**20:.1f} MB in {len(image_cache.bundles())} folder(s), "
        f"limit {image_cache.limit_bytes() >> 20} MB ({image_cache.cache_root()})"
    )
    return 0


def _check_tasks(args: argparse.Namespace) -> int:
    from engine.cli.train import parse_tasks
    from engine.jobs.check_tasks import JOB

    config = JOB.parse({"tasks": parse_tasks(args.task), "labels": args.labels})
    printer = BarPrinter("checking tasks")
    try:
        report = run_job(JOB, config, printer)
    finally:
        printer.close()
    print(report.to_text())
    if args.json:
        write_json(args.json, report)
    return 1 if report.has_errors else 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = add_command(
        sub, "demo", cmd_demo, "write the offline demo domains (digits -> coloured textured digits) as PNG folders"
    )
    sp.add_argument("dir")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument(
        "--shift",
        default="texture",
        choices=["texture", "blur", "rotation", "inversion", "noise", "scale"],
        help="target domain from the shift zoo (engine/data/shifts.py); texture is the original demo",
    )
    sp.add_argument(
        "--multitask",
        action="store_true",
        help="write the multitask demo instead: digits with two label sets, parity scarce (10 images a class)",
    )

    sp = add_command(sub, "cache", cmd_cache, "size of the decoded-image cache, or clear it (folders decode again)")
    sp.add_argument("action", choices=["info", "clear"], nargs="?", default="info")

    sp = add_command(sub, "check", cmd_check, "health report of an image folder (and its target folders)")
    sp.add_argument("folder", nargs="?")
    sp.add_argument("--task", action="append", metavar="NAME=FOLDER", help="multitask: check every task's folder")
    sp.add_argument("--labels", metavar="CSV", help="multitask: check a labels table and its tasks")
    sp.add_argument("--target")
    sp.add_argument("--target-test")
    sp.add_argument("--json", help="also write the report as JSON")
