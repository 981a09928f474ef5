"""Domain-adaptation benchmark: source-only (fine-tuning) and every adaptation method on the
demo pair (source -> target/train unlabelled, measured on target/test), several seeds.

Prints a markdown table of target test accuracy (mean ± std over seeds) for the checkpoint the
trainer SELECTED without target labels (`--select`, default source validation accuracy), for the
last epoch, and the wall time per run. Target test labels are used only to report accuracy.

    .venv/bin/python bench/domain_adaptation.py                 # demo in a temp folder, 3 seeds
    .venv/bin/python bench/domain_adaptation.py --data DEMO --seeds 1 --methods finetune dann
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DA_METHODS = ["adabn", "dann", "cdan", "dan", "coral", "mcc", "self_training"]


def _mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values) * 100
    std = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    return f"{mean:.1f} ± {std:.1f}"


def run_one(
    method: str, seed: int, data: Path, runs_dir: Path, args: argparse.Namespace, cache: Any = None
) -> dict[str, Any]:
    """Train one method with one seed; returns selected/last target accuracy and wall time."""
    from engine.core.config import TrainConfig
    from engine.training.trainer import run_train

    options: dict[str, Any] = dict(json.loads(args.options)) if args.options else {}
    # what the user did not set on the command line stays at the app's defaults
    given = {k: getattr(args, k) for k in ("epochs", "batch_size", "lr", "optimizer") if getattr(args, k) is not None}
    config = TrainConfig(
        source=data / "source",
        target=data / "target" / "train",
        target_test=data / "target" / "test",
        method=method,
        method_options=options,
        backbone="small_cnn",
        weights="random",
        select=args.select,
        ema_decay=args.ema,
        device=args.device,
        seed=seed,
        runs_dir=runs_dir,
        name=f"{method}-s{seed}",
        **given,
    )
    t0 = time.perf_counter()
    result = run_train(config, cache=cache)
    seconds = time.perf_counter() - t0
    return {
        "method": method,
        "seed": seed,
        "selected": result.best_metrics.get("target/acc", float("nan")),
        "selected_epoch": result.best_epoch,
        "last": result.metrics.get("target/acc", float("nan")),
        "val": result.best_metrics.get("val/acc", float("nan")),
        "seconds": seconds,
    }


_CACHE: Any = None


def _worker(job: tuple[str, int, str, str, dict[str, Any]]) -> dict[str, Any]:
    """One run in a worker process (one torch thread each, decoded folders cached per process)."""
    global _CACHE
    import torch

    from engine.data.prepare import DecodeCache

    method, seed, data, runs_dir, ns = job
    torch.set_num_threads(ns.pop("_threads"))
    if _CACHE is None:
        _CACHE = DecodeCache()
    return run_one(method, seed, Path(data), Path(runs_dir), argparse.Namespace(**ns), _CACHE)


def table(rows: list[dict[str, Any]], methods: list[str]) -> str:
    lines = [
        "| method | target acc, selected (%) | target acc, last epoch (%) | source val acc (%) | time / run (s) |",
        "|---|---|---|---|---|",
    ]
    for m in methods:
        r = [x for x in rows if x["method"] == m]
        if not r:
            continue
        label = "source-only (finetune)" if m == "finetune" else m
        secs = statistics.fmean(x["seconds"] for x in r)
        lines.append(
            f"| {label} | {_mean_std([x['selected'] for x in r])} | {_mean_std([x['last'] for x in r])} "
            f"| {_mean_std([x['val'] for x in r])} | {secs:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="Demo folder (made by make_demo); default: a fresh one in a temp folder.")
    ap.add_argument("--methods", nargs="+", default=["finetune", *DA_METHODS])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, help="Default: the app's.")
    ap.add_argument("--batch-size", type=int, help="Default: the app's.")
    ap.add_argument("--lr", type=float, help="Default: the app's.")
    ap.add_argument("--optimizer", choices=["adamw", "sgd"], help="Default: the app's.")
    ap.add_argument("--select", default="val_acc", choices=["val_acc", "target_entropy", "last"])
    ap.add_argument("--ema", type=float, help="Weight averaging decay (0: off; default: the method's).")
    ap.add_argument(
        "--options", default="", help="JSON method options given to EVERY method, e.g. '{\"target_bn\": false}'."
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--jobs", type=int, default=2, help="Runs trained at once, in separate processes (use the number of cores)."
    )
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads per run.")
    ap.add_argument("--json", type=Path, help="Also write every run's numbers here.")
    ap.add_argument("--runs-dir", type=Path, help="Keep the run directories here (default: a temp folder, deleted).")
    args = ap.parse_args(argv)

    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from engine.data.demo import make_demo

    with tempfile.TemporaryDirectory(prefix="da-bench-") as tmp:
        data = args.data or make_demo(Path(tmp) / "demo").source.parent
        ns = {k: v for k, v in vars(args).items() if k not in ("data", "json", "runs_dir")} | {"_threads": args.threads}
        runs_dir = args.runs_dir or Path(tmp) / "runs"
        jobs = [(m, seed, str(data), str(runs_dir), dict(ns)) for m in args.methods for seed in range(args.seeds)]
        rows: list[dict[str, Any]] = []
        t0 = time.perf_counter()
        with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=mp.get_context("spawn")) as pool:
            for row in pool.map(_worker, jobs):
                rows.append(row)
                print(
                    f"{row['method']:14s} seed {row['seed']}: selected {row['selected'] * 100:5.1f}% (epoch {row['selected_epoch']}), "
                    f"last {row['last'] * 100:5.1f}%, {row['seconds']:.0f} s",
                    flush=True,
                )
        total = time.perf_counter() - t0
    print()
    from engine.core.config import TrainConfig

    d = TrainConfig.model_fields
    pick = lambda k: getattr(args, k) if getattr(args, k) is not None else d[k].default  # noqa: E731
    ema = "the method's default" if args.ema is None else (args.ema or "off")
    print(
        f"Demo pair, small_cnn 32x32, {pick('epochs')} epochs, batch {pick('batch_size')} per domain, "
        f"{pick('optimizer')} lr {pick('lr')}, {args.seeds} seeds, checkpoint selected by {args.select} "
        f"(no target labels), EMA {ema}, options {args.options or 'default'}."
    )
    print()
    print(table(rows, args.methods))
    print()
    print(f"Total wall time: {total / 60:.1f} min ({args.jobs} runs at once, {args.threads} torch thread(s) each).")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
