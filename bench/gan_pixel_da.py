"""Pixel-level domain adaptation benchmark on the demo (grey digits -> textured colour digits).

Target accuracy of a small_cnn trained on (a) the source only, (b) DANN (feature-level
adaptation, for comparison), (c) pixel_da: the source translated into the target's style by a
`gan translate` run (cycle loss + semantic consistency from the source-only classifier).
Prints a markdown table (mean ± std over seeds, CPU minutes) and writes JSON.

    OMP_NUM_THREADS=1 .venv/bin/python bench/gan_pixel_da.py --seeds 1 --translate-steps 600
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


def train(demo: Path, runs: Path, name: str, method: str, seed: int, epochs: int, **options: Any) -> tuple[Any, float]:
    from engine.core.config import TrainConfig
    from engine.training.trainer import run_train

    cfg = TrainConfig(
        source=demo / "source", target=demo / "target" / "train", target_test=demo / "target" / "test",
        method=method, method_options=options, weights="random", epochs=epochs, device="cpu", seed=seed,
        runs_dir=runs, name=name,
    )  # fmt: skip
    t = time.process_time()
    result = run_train(cfg)
    return result, (time.process_time() - t) / 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--translate-steps", type=int, default=1500)
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "gan_pixel_da.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from bench._common import demo_dir
    from engine.jobs.gan_translate import JOB, TranslateConfig, TranslateRequest

    demo = demo_dir()
    runs = Path(tempfile.mkdtemp(prefix="ts-pixel-da-")) / "runs"
    rows = AccuracyRows(args.json, vars(args))

    for seed in range(args.seeds):
        src, m = train(demo, runs, f"source-only-s{seed}", "finetune", seed, args.epochs)
        rows.record("source only", src.best_metrics["target/acc"], m, seed)
        t = time.process_time()
        tr = JOB.run(
            TranslateRequest(
                config=TranslateConfig(
                    source=demo / "source",
                    target=demo / "target" / "train",
                    out=runs / f"translated-s{seed}",
                    classifier=src.run_dir,
                    steps=args.translate_steps,
                    seed=seed,
                    device="cpu",
                    runs_dir=runs,
                    name=f"translate-s{seed}",
                )
            )
        )
        t_min = (time.process_time() - t) / 60
        px, m = train(demo, runs, f"pixel-da-s{seed}", "pixel_da", seed, args.epochs, translator=str(tr.run_dir))
        rows.record("pixel_da (translate + train)", px.best_metrics["target/acc"], m + t_min, seed)
        dann, m = train(demo, runs, f"dann-s{seed}", "dann", seed, args.epochs)
        rows.record("DANN", dann.best_metrics["target/acc"], m, seed)

    rows.print_table("method")
    return 0


if __name__ == "__main__":
    sys.exit(main())
