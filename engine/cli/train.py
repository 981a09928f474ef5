"""`train`: a new run from flags and/or a TOML config, or `--resume RUN_DIR`."""

from __future__ import annotations

import argparse
import os

from engine.cli.common import TomlValue, add_command, parse_options, run_job

TRAIN_FLAGS = (
    "source", "target", "target_test", "synthetic", "synthetic_ratio", "method", "backbone", "weights", "epochs",
    "batch_size", "lr", "optimizer", "augment", "device", "seed", "runs_dir", "image_size", "workers", "threads",
    "cache_memory_mb", "name", "select", "ema_decay",
)  # fmt: skip


def train_overrides(args: argparse.Namespace) -> dict[str, TomlValue]:
    """The TrainConfig fields given as flags (None: not given); `--set` pairs become method_options."""
    out: dict[str, TomlValue] = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k, None) is not None}
    opts = parse_options(args.set)
    if opts:
        out["method_options"] = dict(opts)
    tasks = parse_tasks(getattr(args, "task", None))
    if tasks:
        out["tasks"] = dict(tasks)
    if getattr(args, "labels", None):
        out["labels"] = args.labels
    if (tasks or getattr(args, "labels", None)) and "method" not in out:
        out["method"] = "multitask"
    return out


def parse_tasks(pairs: list[str] | None) -> dict[str, str]:
    """`--task NAME=FOLDER` pairs (repeated) as {name: folder}; a bad or repeated pair is a UserError."""
    from engine.core.errors import UserError

    out: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, folder = pair.partition("=")
        name, folder = name.strip(), folder.strip()
        if not sep or not name or not folder:
            raise UserError(f"--task {pair!r}: write it as NAME=FOLDER, e.g. --task digit=data/digits.")
        if name in out:
            raise UserError(f"--task {name} is given twice; give each task one folder.")
        out[name] = folder
    return out


def cmd_train(args: argparse.Namespace) -> int:
    from engine.cli.progress import TrainPrinter
    from engine.core.config import TrainConfig, load_config
    from engine.jobs.train import JOB, TrainRequest

    if args.resume:
        request = TrainRequest(resume=args.resume)
    else:
        overrides = train_overrides(args)
        config = load_config(TrainConfig, args.config, overrides)
        if args.config and "method_options" in overrides:  # --set adds to the file's method options
            base = load_config(TrainConfig, args.config, {})
            config.method_options = {**base.method_options, **config.method_options}
        request = TrainRequest(config=config)
    printer = TrainPrinter(quiet=args.quiet)
    try:
        result = run_job(JOB, request, printer)
    finally:
        printer.close()
    if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 reports
        return 0
    best = ", ".join(f"{k} {v:.4f}" for k, v in result.best_metrics.items() if k.endswith("acc"))
    print(
        f"run: {result.run_dir}  ({result.status}, {result.epochs_done} epochs; best epoch {result.best_epoch}: {best})"
    )
    return 0 if result.status in ("finished", "stopped") else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = add_command(sub, "train", cmd_train, "train a model (fine-tuning, domain adaptation, adversarial training)")
    sp.add_argument("--source")
    sp.add_argument("--target")
    sp.add_argument("--target-test")
    sp.add_argument(
        "--synthetic", metavar="DIR", help="generated labelled images (class sub-folders) added to training"
    )
    sp.add_argument("--synthetic-ratio", type=float, help="synthetic images per real training image (default 1)")
    sp.add_argument("--method")
    sp.add_argument("--backbone")
    sp.add_argument("--weights", help="auto, pretrained, random, or a .pth/.pt/.safetensors file")
    sp.add_argument("--epochs", type=int)
    sp.add_argument("--batch-size", type=int)
    sp.add_argument("--lr", type=float)
    sp.add_argument("--optimizer", choices=["sgd", "adamw"])
    sp.add_argument("--augment", choices=["none", "light", "strong"])
    sp.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    sp.add_argument("--image-size", type=int)
    sp.add_argument("--workers", type=int, help="processes that augment training batches (0: none)")
    sp.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads for the model and decoding (default: all cores but one)"
    )
    sp.add_argument(
        "--cache-memory",
        type=int,
        metavar="MB",
        dest="cache_memory_mb",
        help="memory for decoded images (default: a quarter of the free memory); above it they are read from disk",
    )
    sp.add_argument("--seed", type=int)
    sp.add_argument("--select", choices=["val_acc", "target_entropy", "last"])
    sp.add_argument("--ema-decay", type=float)
    sp.add_argument("--name")
    sp.add_argument("--runs-dir")
    sp.add_argument("--set", action="append", metavar="NAME=VALUE", help="a method setting, e.g. --set freeze_stages=2")
    sp.add_argument(
        "--task",
        action="append",
        metavar="NAME=FOLDER",
        help="multitask: a task and its labelled folder (repeat for each task; implies --method multitask)",
    )
    sp.add_argument(
        "--labels", metavar="CSV", help="multitask: labels table (a path column, one column per task; empty = no label)"
    )
    sp.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped or killed run from its last checkpoint")
    sp.add_argument("--quiet", action="store_true", help="no progress bar, one line per epoch")
