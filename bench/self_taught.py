"""Self-taught learning benchmark: 10 labelled target images per class, many unlabelled ones.

On the demo (source: clean digits; target: textured colour digits), a classifier is fine-tuned
on 10 labelled images per class taken from target/test and measured on the other target/test
images, starting from (a) random init, (b) the source-trained model, (c) SimCLR on the
unlabelled target/train folder, (d) BYOL on it, (e) SimCLR on source + target/train together.
Each pretrained start is also measured as a linear probe (frozen backbone, head only).
Prints a markdown table (accuracy mean ± std over seeds, CPU minutes per row) and writes JSON.

    OMP_NUM_THREADS=1 .venv/bin/python bench/self_taught.py --seeds 1 --ssl-epochs 60
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import mean_std, pretrain_digits, save_json  # noqa: E402  (bench/ is the script's own folder, on sys.path)

STARTS = {"a": "(a) random init", "b": "(b) source-trained", "c": "(c) SimCLR on target", "d": "(d) BYOL on target"}
STARTS["e"] = "(e) SimCLR on source + target"
SSL = {"c": ("simclr", False), "d": ("byol", False), "e": ("simclr", True)}


def split_few_shot(test_dir: Path, out: Path, per_class: int, seed: int) -> tuple[Path, Path]:
    """Copy `per_class` images of each class to out/few/, the rest to out/eval/ (seeded choice)."""
    import random

    few, rest = out / "few", out / "eval"
    rng = random.Random(seed)
    for cls in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        files = sorted(cls.iterdir())
        rng.shuffle(files)
        for i, f in enumerate(files):
            dest = (few if i < per_class else rest) / cls.name / f.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest)
    return few, rest


def source_weights(run_dir: Path, out: Path) -> Path:
    """The source-trained classifier's backbone as a plain state dict file (the backbone's own keys)."""
    import torch

    from engine.training.checkpoints import load_checkpoint

    state = load_checkpoint(run_dir / "checkpoints" / "best.pt")["model"]
    bb = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    torch.save(bb, out)
    return out


def finetune(few: Path, eval_dir: Path, weights: str, seed: int, runs: Path, args: Any, probe: bool) -> float:
    from engine.core.config import TrainConfig
    from engine.training.trainer import run_train

    cfg = TrainConfig(
        source=few,
        target_test=eval_dir,
        method="finetune",
        method_options={"linear_probe": probe, "backbone_lr_factor": 1.0},
        backbone=args.backbone,
        weights=weights,
        epochs=args.ft_epochs,
        batch_size=32,
        lr=1e-3,
        augment="light",
        val_fraction=0.0,
        select="last",
        seed=seed,
        runs_dir=runs,
    )
    return float(run_train(cfg).metrics["target/acc"])


def pretrain(data: list[Path], method: str, epochs: int, seed: int, runs: Path, knn: Path, backbone: str) -> Path:
    report = pretrain_digits(data, runs, method=method, backbone=backbone, epochs=epochs, seed=seed, knn_data=knn)
    print(f"  {method} on {[p.name for p in data]}: {report.metrics}", flush=True)
    return report.run_dir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="an existing demo folder (default: write one)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed + seeds - 1")
    ap.add_argument("--backbone", default="small_cnn", help="e.g. small_cnn_gap, the former small_cnn")
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--ssl-epochs", type=int, default=60)
    ap.add_argument("--source-epochs", type=int, default=8)
    ap.add_argument("--ft-epochs", type=int, default=25)
    ap.add_argument("--json", type=Path, default=Path("bench/self_taught.json"))
    ap.add_argument("--only", nargs="+", choices=list(STARTS), default=list(STARTS), help="rows to run")
    ap.add_argument("--reuse", nargs="+", default=[], metavar="KEY=RUN", help="existing runs, e.g. source=RUN c=RUN")
    args = ap.parse_args()

    import torch

    from engine.core.config import TrainConfig
    from engine.data.demo import make_demo
    from engine.training.trainer import run_train

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="self_taught_"))
    data = args.data or make_demo(work / "demo").source.parent
    source, target, test = data / "source", data / "target" / "train", data / "target" / "test"
    rows: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}

    def record(name: str, fn: Any) -> None:
        t0 = time.process_time()
        acc = fn()
        cpu[name] = cpu.get(name, 0.0) + (time.process_time() - t0) / 60
        rows.setdefault(name, []).append(acc)
        print(f"{name}: {acc:.3f}", flush=True)

    for seed in range(args.first_seed, args.first_seed + args.seeds):
        runs = work / f"runs{seed}"
        few, eval_dir = split_few_shot(test, work / f"split{seed}", args.per_class, seed)
        reuse = dict(item.split("=", 1) for item in args.reuse)
        starts: dict[str, str] = {}
        if "a" in args.only:
            starts[STARTS["a"]] = "random"
        if "b" in args.only:
            t0 = time.process_time()
            src_run = (
                Path(reuse["source"])
                if "source" in reuse
                else run_train(
                    TrainConfig(
                        source=source,
                        backbone=args.backbone,
                        weights="random",
                        epochs=args.source_epochs,
                        seed=seed,
                        runs_dir=runs,
                    )
                ).run_dir
            )
            starts[STARTS["b"]] = str(source_weights(src_run, work / f"source{seed}.pt"))
            cpu["source training"] = cpu.get("source training", 0.0) + (time.process_time() - t0) / 60
        for key, (method, both) in SSL.items():
            if key not in args.only:
                continue
            t0 = time.process_time()
            folders = [source, target] if both else [target]
            epochs = args.ssl_epochs if not both else max(1, args.ssl_epochs * 600 // 2100)
            starts[STARTS[key]] = reuse.get(key) or str(
                pretrain(folders, method, epochs, seed, runs, eval_dir, args.backbone)
            )
            cpu[f"{STARTS[key]} pretraining"] = (
                cpu.get(f"{STARTS[key]} pretraining", 0.0) + (time.process_time() - t0) / 60
            )
        for key, weights in starts.items():
            record(f"{key}, fine-tuned", partial(finetune, few, eval_dir, weights, seed, runs, args, False))
            if key != "(a) random init":
                record(f"{key}, linear probe", partial(finetune, few, eval_dir, weights, seed, runs, args, True))

    print(
        f"\n{args.per_class} labelled target images per class; {args.seeds} seed(s); target accuracy on the rest of target/test\n"
    )
    print("| start | target accuracy % | CPU min (per seed) |\n|---|---|---|")
    for name, v in rows.items():
        print(f"| {name} | {mean_std(v)} | {cpu[name] / args.seeds:.1f} |")
    for name, minutes in cpu.items():
        if name not in rows:
            print(f"| {name} | – | {minutes / args.seeds:.1f} |")
    save_json(args.json, {"rows": rows, "cpu_minutes": cpu, "args": vars(args)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
