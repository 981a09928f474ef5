"""GAN transfer benchmark on the demo: pretrain an unconditional GAN on the source (1,500 grey
digits), then transfer it to 50 and 200 target images (textured colour digits) four ways:
scratch, fine-tune, FreezeD, FreezeD + DiffAugment. Each is scored by KID and FID against 500
held-out target images (target/train not used for training, plus target/test) on the fixed
random-CNN features. Prints a markdown table (mean ± std over seeds, CPU minutes per run) and
writes JSON. CPU-small by design: width-32 networks, 1 thread.

    OMP_NUM_THREADS=1 .venv/bin/python bench/gan_transfer.py --seeds 1 --sizes 50
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import spread  # noqa: E402  (after the repository root is on sys.path)

METHODS = {
    "scratch": {},
    "finetune": {"from": True},
    "freezed": {"from": True, "freeze_d": 2},
    "freezed+diffaug": {"from": True, "freeze_d": 2, "diffaugment": "color,translation,cutout"},
}


def split_target(demo: Path, out: Path, n: int, seed: int) -> tuple[Path, Path]:
    """`n` seeded target/train images to out/few; 500 others (rest of train + test) to out/heldout."""
    import random

    files = sorted((demo / "target" / "train").glob("*.png"))
    random.Random(seed).shuffle(files)
    few, held = out / "few", out / "heldout"
    few.mkdir(parents=True)
    held.mkdir(parents=True)
    for f in files[:n]:
        shutil.copy2(f, few / f.name)
    rest = files[n:] + sorted((demo / "target" / "test").rglob("*.png"))
    for i, f in enumerate(rest[:500]):
        shutil.copy2(f, held / f"{i:04d}.png")
    return few, held


def train(runs: Path, name: str, data: Path, steps: int, seed: int, **extra: Any) -> tuple[Path, float]:
    from engine.gan.config import GanTrainConfig
    from engine.jobs.gan_train import JOB

    cfg = GanTrainConfig.model_validate(
        {"data": data, "steps": steps, "seed": seed, "runs_dir": runs, "name": name, "device": "cpu",
         "batch_size": 32, "sample_every": 100, "kid_every": 0, "checkpoint_every": 10_000, **extra}
    )  # fmt: skip
    t = time.process_time()
    report = JOB.run(cfg)
    return report.run_dir, (time.process_time() - t) / 60


def score(run_dir: Path, held: Path) -> dict[str, float]:
    from engine.jobs.gan_score import JOB, GanScoreConfig

    r = JOB.run(GanScoreConfig(run_dir=run_dir, real=held, n_fake=500))
    return {"kid": r.kid, "fid": r.fid, "precision": r.precision, "recall": r.recall, "coverage": r.coverage}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", default="50,200", help="target images, comma list")
    ap.add_argument("--pretrain-steps", type=int, default=1500)
    ap.add_argument("--steps", type=int, default=500, help="transfer steps")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--source-run", help="reuse this pretrained source GAN run instead of pretraining")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "gan_transfer.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from bench._common import demo_dir

    demo = demo_dir()
    work = Path(tempfile.mkdtemp(prefix="ts-gan-bench-"))
    runs = work / "runs"
    if args.source_run:
        src_run, src_min = Path(args.source_run), 0.0
    else:
        src_run, src_min = train(runs, "source", demo / "source", args.pretrain_steps, 0)
    steps = "reused " + str(src_run) if args.source_run else f"{args.pretrain_steps} steps"
    print(f"pretrained on 1,500 source digits: {steps}, {src_min:.1f} CPU min", flush=True)
    rows: dict[str, dict[str, list[float]]] = {}
    for n in [int(s) for s in args.sizes.split(",")]:
        for seed in range(args.seeds):
            few, held = split_target(demo, work / f"n{n}-s{seed}", n, seed)
            for method in args.methods.split(","):
                opts = dict(METHODS[method])
                extra = {k: v for k, v in opts.items() if k != "from"}
                if opts.get("from"):
                    extra["from_run"] = src_run
                run_dir, minutes = train(runs, f"{method}-n{n}-s{seed}", few, args.steps, seed, **extra)
                s = score(run_dir, held)
                key = f"{n}|{method}"
                row = rows.setdefault(key, {})
                for k, v in {**s, "cpu_min": minutes}.items():
                    row.setdefault(k, []).append(v)
                print(f"n={n} seed={seed} {method:16s} KID {s['kid']:.4f} FID {s['fid']:.1f} "
                      f"({minutes:.1f} CPU min)", flush=True)  # fmt: skip
                Path(args.json).write_text(
                    json.dumps({"args": vars(args), "source_cpu_min": src_min, "rows": rows}, indent=1)
                )
    print("\n| target images | method | KID ↓ | FID ↓ | precision | recall | CPU min |")
    print("|---|---|---|---|---|---|---|")
    for key, r in rows.items():
        n, method = key.split("|")
        print(f"| {n} | {method} | {spread(r['kid'], 4)} | {spread(r['fid'], 1)} | {spread(r['precision'], 2)} | "
              f"{spread(r['recall'], 2)} | {spread(r['cpu_min'], 1)} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
