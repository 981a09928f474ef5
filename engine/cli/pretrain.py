"""`transfer-studio pretrain`: SimCLR or BYOL on folders of unlabelled images (a resumable run)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.common import add_command


def cmd_pretrain(args: argparse.Namespace) -> int:
    from engine.cli.common import run_job
    from engine.cli.progress import TrainPrinter
    from engine.core.config import load_config
    from engine.jobs.pretrain import JOB, PretrainRequest
    from engine.ssl.config import PretrainConfig

    if args.resume:
        request = PretrainRequest(resume=args.resume)
    else:
        keys = ["data", "method", "backbone", "weights", "epochs", "batch_size", "lr", "image_size", "knn_data"]
        keys += ["temperature", "device", "workers", "seed", "runs_dir", "name"]
        overrides: dict[str, Any] = {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}
        if args.flip:
            overrides["flip"] = True
        request = PretrainRequest(config=load_config(PretrainConfig, args.config, overrides))
    printer = TrainPrinter(quiet=args.quiet)
    try:
        report = run_job(JOB, request, printer)
    finally:
        printer.close()
    shown = ", ".join(f"{k} {v:.4f}" for k, v in report.metrics.items())
    print(f"run: {report.run_dir}  ({report.status}, {report.epochs_done} epochs; {shown})")
    print(f"use it: transfer-studio train ... --backbone <same> --weights {report.run_dir}")
    return 0 if report.status in ("finished", "stopped") else 1


def register(sub: Any) -> None:
    """Add the `pretrain` command to the CLI's sub-parsers."""
    help = "self-supervised pretraining (SimCLR, BYOL) of a backbone on unlabelled images"
    sp = add_command(sub, "pretrain", cmd_pretrain, help)
    sp.add_argument("--data", action="append", help="folder of images (repeat for several; labels are ignored)")
    sp.add_argument("--method", choices=["simclr", "byol"])
    sp.add_argument("--backbone")
    sp.add_argument("--weights", help="starting weights: random (default), auto, pretrained or a file")
    sp.add_argument("--epochs", type=int)
    sp.add_argument("--batch-size", type=int)
    sp.add_argument("--lr", type=float)
    sp.add_argument("--temperature", type=float, help="SimCLR NT-Xent temperature")
    sp.add_argument("--image-size", type=int)
    sp.add_argument("--knn-data", help="labelled folder: report kNN accuracy of the features every epoch")
    sp.add_argument("--flip", action="store_true", help="random horizontal flips (photos; not digits or text)")
    sp.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    sp.add_argument("--workers", type=int)
    sp.add_argument("--seed", type=int)
    sp.add_argument("--name")
    sp.add_argument("--runs-dir")
    sp.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or killed pretraining run")
    sp.add_argument("--quiet", action="store_true", help="no progress bar, one line per epoch")
