"""Explanation methods on the demo model: how faithful each map is and what it costs.

Trains a tiny_cnn (global pooling + one linear layer, so exact CAM applies) on the demo source,
exports it with its CAM output, and explains the same images (target test by default) with each method:
Grad-CAM and Grad-CAM++ on the PyTorch run, occlusion, RISE and exact CAM through onnxruntime.
Prints deletion and insertion AUC (mean over images, for the predicted class) against a random
map, and the time and model queries per image of each method. One thread everywhere.

    OMP_NUM_THREADS=1 .venv/bin/python bench/explain.py --per-class 4 --epochs 6
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import demo_dir

METHODS = (("gradcam", "run"), ("gradcam++", "run"), ("occlusion", "onnx"), ("rise", "onnx"), ("cam", "onnx"))


def pick_images(folder: Path, per_class: int, into: Path) -> Path:
    """The first `per_class` images of each class sub-folder, linked into one folder."""
    for cls in sorted(p for p in folder.iterdir() if p.is_dir()):
        for img in sorted(cls.iterdir())[:per_class]:
            dst = into / cls.name / img.name
            dst.parent.mkdir(parents=True, exist_ok=True)
            dst.symlink_to(img.resolve())
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=4, help="images per class to explain")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--backbone", default="tiny_cnn")
    parser.add_argument("--domain", choices=["target", "source"], default="target", help="which images to explain")
    parser.add_argument("--json", help="also write the figures as JSON")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from engine.core.config import TrainConfig
    from engine.jobs.explain import JOB, ExplainConfig
    from engine.jobs.export import JOB as EXPORT
    from engine.jobs.export import ExportConfig
    from engine.training.trainer import run_train

    demo = demo_dir()
    work = Path(tempfile.mkdtemp(prefix="ts-bench-explain-"))
    result = run_train(
        TrainConfig(
            source=demo / "source",
            target_test=demo / "target" / "test",
            backbone=args.backbone,
            epochs=args.epochs,
            runs_dir=work / "runs",
            device="cpu",
            name="explain",
        )
    )
    run = Path(result.run_dir)
    onnx = work / "model.onnx"
    EXPORT.run(ExportConfig(run_dir=run, out=onnx, cam=True))
    folder = demo / "target" / "test" if args.domain == "target" else demo / "source"
    images = pick_images(folder, args.per_class, work / "images")
    best = json.loads((run / "run.json").read_text())["best_metrics"]
    print(
        f"{args.backbone}, {args.epochs} epochs: source val acc {best.get('val/acc', float('nan')):.3f}, "
        f"target acc {best.get('target/acc', float('nan')):.3f}; {args.per_class * 10} {args.domain} images"
    )
    rows = []
    for method, kind in METHODS:
        model = run if kind == "run" else onnx
        rep = JOB.run(ExplainConfig(model=model, images=images, method=method, out=work / method, limit=10_000))
        s = rep.mean_scores
        assert s is not None
        rows.append(
            {
                "method": method,
                "on": "PyTorch run" if kind == "run" else "ONNX (onnxruntime)",
                "deletion": s.deletion,
                "insertion": s.insertion,
                "random_deletion": s.random_deletion,
                "random_insertion": s.random_insertion,
                "ms_per_image": rep.seconds_per_image * 1000,
                "queries_per_image": rep.queries_per_image,
                "images": len(rep.images),
            }
        )
    print(
        "| method | model | deletion AUC ↓ (random) | insertion AUC ↑ (random) | ins − del | ms / image | queries / image |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['method']} | {r['on']} | {r['deletion']:.3f} ({r['random_deletion']:.3f}) | "
            f"{r['insertion']:.3f} ({r['random_insertion']:.3f}) | {r['insertion'] - r['deletion']:+.3f} | "
            f"{r['ms_per_image']:.1f} | {r['queries_per_image']:.0f} |"
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"backbone": args.backbone, "epochs": args.epochs, "domain": args.domain, "rows": rows}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
