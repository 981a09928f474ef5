"""GAN augmentation benchmark: 10 labelled target images per class (textured digits from the
demo's target/test; accuracy on its other 200 images). A small_cnn trained on the 100 real
images alone, against the same with a class-conditional GAN's samples added (`--synthetic`),
the GAN trained on those same 100 images with DiffAugment. Prints a markdown table and writes JSON.

    OMP_NUM_THREADS=1 .venv/bin/python bench/gan_augment.py --seeds 1 --gan-steps 600
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import AccuracyRows  # noqa: E402  (after the repository root is on sys.path)


def classify(few: Path, rest: Path, runs: Path, name: str, seed: int, epochs: int, **extra: Any) -> tuple[float, float]:
    from engine.core.config import TrainConfig
    from engine.training.trainer import run_train

    cfg = TrainConfig(source=few, target_test=rest, weights="random", epochs=epochs, batch_size=32, augment="light",
                      device="cpu", seed=seed, runs_dir=runs, name=name, **extra)  # fmt: skip
    t = time.process_time()
    result = run_train(cfg)
    return result.best_metrics["target/acc"], (time.process_time() - t) / 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--gan-steps", type=int, default=1500)
    ap.add_argument("--per-class", type=int, default=50, help="generated images per class")
    ap.add_argument("--ratio", type=float, default=1.0, help="synthetic images per real training image")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "gan_augment.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from bench._common import demo_dir
    from bench.self_taught import split_few_shot
    from engine.gan.config import GanTrainConfig
    from engine.jobs import gan_sample, gan_train

    demo = demo_dir()
    work = Path(tempfile.mkdtemp(prefix="ts-gan-aug-"))
    rows = AccuracyRows(args.json, vars(args), width=40)

    for seed in range(args.seeds):
        few, rest = split_few_shot(demo / "target" / "test", work / f"s{seed}", 10, seed)
        acc, m = classify(few, rest, work / "runs", f"real-s{seed}", seed, args.epochs)
        rows.record("100 real images", acc, m, seed)
        t = time.process_time()
        gan = gan_train.JOB.run(
            GanTrainConfig(
                data=few,
                conditional=True,
                diffaugment="color,translation,cutout",
                steps=args.gan_steps,
                batch_size=32,
                kid_every=0,
                seed=seed,
                device="cpu",
                runs_dir=work / "runs",
                name=f"cgan-s{seed}",
            )
        )
        out = work / f"synthetic-s{seed}"
        gan_sample.JOB.run(gan_sample.GanSampleConfig(run_dir=gan.run_dir, n=args.per_class, out=out, per_class=True))
        g_min = (time.process_time() - t) / 60
        acc, m = classify(few, rest, work / "runs", f"synth-s{seed}", seed, args.epochs, synthetic=out,
                          synthetic_ratio=args.ratio)  # fmt: skip
        rows.record(f"+ conditional GAN samples (ratio {args.ratio:g})", acc, m + g_min, seed)

    rows.print_table("training images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
