"""Pixel-level domain adaptation benchmark on the demo (grey digits -> textured colour digits)
or another shift of the zoo (`--shift blur`, engine/data/shifts.py).

Target accuracy of a small_cnn trained on (a) the source only, (b) DANN (feature level alone),
(c) pixel_da at its defaults (CyCADA: the translated source beside the original one, with DANN
on top) from a `gan translate` run (cycle loss + semantic consistency from the source-only
classifier), (d) the pixel level alone (translations only, no feature loss: what pixel_da was
before), and (e) pixel_da at its defaults from a CUT translator (`--loss cut`). The translator's
CPU time is counted in the rows that use it. Prints a markdown table (mean ± std over seeds,
CPU minutes) and writes JSON.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/gan_pixel_da.py --seeds 3 --translate-steps 400
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


def translate(demo: Path, runs: Path, classifier: Path, loss: str, steps: int, seed: int) -> tuple[Path, float]:
    """A translation run (its folder) and its CPU minutes."""
    from engine.jobs.gan_translate import JOB, TranslateConfig, TranslateRequest

    t = time.process_time()
    config = TranslateConfig(
        source=demo / "source", target=demo / "target" / "train", out=runs / f"translated-{loss}-s{seed}",
        classifier=classifier, steps=steps, loss=loss, seed=seed, device="cpu", runs_dir=runs,
        name=f"translate-{loss}-s{seed}",
    )  # fmt: skip
    report = JOB.run(TranslateRequest(config=config))
    return report.run_dir, (time.process_time() - t) / 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--translate-steps", type=int, default=400)
    ap.add_argument("--shift", default="texture", help="target domain from the shift zoo (texture: the demo)")
    ap.add_argument("--no-cut", action="store_true", help="skip the CUT translator row")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "gan_pixel_da.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from engine.data.demo import make_demo

    demo = Path(tempfile.mkdtemp(prefix="ts-pixel-da-")) / "demo"
    make_demo(demo, shift=args.shift)
    runs = demo.parent / "runs"
    rows = AccuracyRows(args.json, vars(args), width=40)

    for seed in range(args.first_seed, args.first_seed + args.seeds):
        src, m = train(demo, runs, f"source-only-s{seed}", "finetune", seed, args.epochs)
        rows.record("source only", src.best_metrics["target/acc"], m, seed)
        dann, m = train(demo, runs, f"dann-s{seed}", "dann", seed, args.epochs)
        rows.record("DANN (feature level)", dann.best_metrics["target/acc"], m, seed)
        cycle, t_cycle = translate(demo, runs, src.run_dir, "cycle", args.translate_steps, seed)
        px, m = train(demo, runs, f"pixel-da-s{seed}", "pixel_da", seed, args.epochs, translator=str(cycle))
        rows.record("pixel_da, defaults (cycle)", px.best_metrics["target/acc"], m + t_cycle, seed)
        alone, m = train(demo, runs, f"pixel-only-s{seed}", "pixel_da", seed, args.epochs, translator=str(cycle),
                         feature_method="none", source_share=0.0)  # fmt: skip
        rows.record("pixel level alone (cycle)", alone.best_metrics["target/acc"], m + t_cycle, seed)
        if not args.no_cut:
            cut, t_cut = translate(demo, runs, src.run_dir, "cut", args.translate_steps, seed)
            px, m = train(demo, runs, f"pixel-da-cut-s{seed}", "pixel_da", seed, args.epochs, translator=str(cut))
            rows.record("pixel_da, defaults (CUT)", px.best_metrics["target/acc"], m + t_cut, seed)

    rows.print_table("method")
    return 0


if __name__ == "__main__":
    sys.exit(main())
