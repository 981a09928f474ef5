"""Adversarial training on the demo: robust accuracy under PGD-20 of a PGD-trained model vs a
standard one, at the demo's budget (L∞ 8/255), on the held-out source validation images, and
the clean accuracy each pays. Aim: robust accuracy of the PGD-trained model >= 3x the standard's.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from _common import demo_dir

from engine.attacks import get_attack
from engine.core.config import TrainConfig
from engine.core.runs import load_run_model
from engine.data.prepare import prepare_data
from engine.training.trainer import run_train

EPS = 8 / 255


def robust_accuracy(run_dir: Path, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model, _ = load_run_model(run_dir)
    with torch.no_grad():
        clean = float((model(x).argmax(1) == y).float().mean())
    result = get_attack("pgd")(eps=EPS, steps=20, step_size=EPS / 4)(model, x, y)
    return clean, float((result.pred == y).float().mean())


def main() -> None:
    root = demo_dir()
    runs = Path(tempfile.mkdtemp(prefix="ts-bench-runs-"))
    base = dict(source=root / "source", epochs=10, batch_size=64, lr=3e-3, runs_dir=runs, seed=0)
    rows = []
    for method, options in (("finetune", {}), ("pgd_at", {"eps": EPS, "attack_steps": 7, "eval_steps": 0})):
        cfg = TrainConfig(method=method, method_options=options, name=method, **base)
        t0 = time.perf_counter()
        result = run_train(cfg)
        seconds = time.perf_counter() - t0
        data = prepare_data(cfg, 32, lambda e: None)
        x, y = data.x_val.float().div(255), data.y_val
        clean, robust = robust_accuracy(result.run_dir, x, y)
        rows.append((method, clean, robust, seconds))
    print(f"demo source validation ({len(y)} images), small_cnn, 10 epochs, PGD-20 at L∞ eps = 8/255, CPU")
    print(f"{'model':<10} {'clean acc':>9} {'PGD-20 acc':>10} {'train s':>8}")
    for method, clean, robust, seconds in rows:
        print(f"{method:<10} {clean:>9.3f} {robust:>10.3f} {seconds:>8.1f}")
    std, adv = rows[0][2], rows[1][2]
    ratio = f"{adv / std:.1f}x" if std > 0 else f"unbounded (standard model at {std:.1%})"
    print(
        f"robust accuracy ratio pgd_at/standard: {ratio} (aim >= 3x); "
        f"clean accuracy paid: {rows[0][1] - rows[1][1]:+.3f}"
    )


if __name__ == "__main__":
    main()
