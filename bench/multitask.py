"""Multitask benchmark: does a scarce task learn better next to a plentiful one?

The multitask demo (engine.multitask.demo): 32x32 grey digits, `digit` labelled on every training
image, `parity` (even / odd) on only 10 images a class. Rows: parity trained alone (plain
fine-tuning on its 20 images, as many optimiser steps as the multitask runs), then parity trained
with digit under each loss weighting (equal, uncertainty, PCGrad), and one run branching after
stage 2 instead of after the backbone, and one without the per-step top-up of scarce-task images
(task_batch 0). Accuracy on held-out test images labelled for both tasks
(mean ± std over seeds), small_cnn from random weights, the last epoch's model, one CPU thread.

    .venv/bin/python bench/multitask.py                      # 3 seeds, ~10 minutes on one thread
    .venv/bin/python bench/multitask.py --seeds 0 --epochs 4
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
sys.path.insert(0, str(ROOT / "bench"))

from _common import mean_std  # noqa: E402  (bench/ on sys.path above)

ROWS: dict[str, dict[str, Any] | None] = {
    "parity alone (fine-tuning on its 20 images)": None,
    "parity + digit, equal": {"weighting": "equal"},
    "parity + digit, uncertainty (Kendall 2018)": {"weighting": "uncertainty"},
    "parity + digit, PCGrad": {"weighting": "pcgrad"},
    "parity + digit, equal, branch after stage 2": {"weighting": "equal", "shared_stages": 2},
    "parity + digit, equal, no task top-up (task_batch 0)": {"weighting": "equal", "task_batch": 0},
}


def test_accuracy(run_dir: Path, test_labels: Path) -> dict[str, float]:
    """Accuracy per task on the held-out table (a single-task run answers for parity)."""
    import torch

    from engine.core.runs import load_run_model
    from engine.multitask.data import decode_table
    from engine.multitask.evaluate import all_task_logits
    from engine.multitask.table import from_csv

    model, info = load_run_model(run_dir, which="last")
    table = from_csv(test_labels)
    images, labels, _, _ = decode_table(table, int(info["input_size"]), 0, None)
    cpu = torch.device("cpu")
    if "tasks" in info:
        logits = all_task_logits(model, images, cpu)
        names = info["tasks"]
    else:
        from engine.analysis.evaluate import predict_logits

        logits, names = {"parity": predict_logits(model, images, cpu)}, {"parity": info["classes"]}
    out = {}
    for task, lg in logits.items():
        col = table.tasks.index(task)
        remap = torch.tensor([names[task].index(c) for c in table.classes[task]])
        out[task] = float((lg.argmax(1) == remap[labels[:, col]]).float().mean())
    return out


def train(cfg: dict[str, Any]) -> Path:
    from engine.core.config import TrainConfig
    from engine.training.trainer import run_train

    result = run_train(TrainConfig.model_validate(cfg))
    return result.run_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=100, help="digit images a class")
    ap.add_argument("--scarce", type=int, default=10, help="parity images a class")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args(argv)

    import torch

    from engine.multitask.demo import make_multitask_demo

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="ts-bench-mt-"))
    results: dict[str, dict[str, list[float]]] = {row: {"parity": [], "digit": []} for row in ROWS}
    started = time.perf_counter()
    for seed in args.seeds:
        demo = make_multitask_demo(work / f"demo{seed}", seed=seed, per_class=args.per_class, scarce=args.scarce)
        n_images = args.per_class * 10
        steps = args.epochs * (int(n_images * 0.8) // 64)
        common = {"backbone": "small_cnn", "weights": "random", "seed": seed, "select": "last", "device": "cpu"}
        common |= {"runs_dir": str(work / "runs"), "lr": 3e-3}
        for row, options in ROWS.items():
            if options is None:  # the single task: 16 training images, one step an epoch
                cfg = {**common, "source": str(demo.tasks["parity"]), "method": "finetune", "epochs": steps}
            else:
                cfg = {**common, "labels": str(demo.labels), "method": "multitask", "method_options": options}
                cfg["epochs"] = args.epochs
            t0 = time.perf_counter()
            acc = test_accuracy(train(cfg), demo.test_labels)
            for task, value in acc.items():
                results[row][task].append(value)
            shown = ", ".join(f"{t} {v:.1%}" for t, v in acc.items())
            print(f"seed {seed}  {row}: {shown}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"\n{len(args.seeds)} seeds, {args.epochs} epochs, {time.perf_counter() - started:.0f} s in all\n")
    print("| Training | Parity test acc. (%) | Digit test acc. (%) |")
    print("|---|---|---|")
    for row, accs in results.items():
        print(f"| {row} | {mean_std(accs['parity'])} | {mean_std(accs['digit'])} |")
    if args.out is not None:
        args.out.write_text(json.dumps({"seeds": args.seeds, "epochs": args.epochs, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
