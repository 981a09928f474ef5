"""Frozen backbone: per-epoch time with cached features vs computing them every step.

resnet18 (random weights: the timing does not depend on them) at 64x64 on the demo source.
Prints seconds per epoch of each and the ratio. Aim: >= 10x.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import demo_dir

from engine.core.config import TrainConfig
from engine.core.events import EpochEnd
from engine.training.trainer import run_train


def epoch_times(cfg: TrainConfig) -> tuple[list[float], float]:
    """Training seconds of each epoch, and the wall time of the whole run (features, evaluation...)."""
    times: list[float] = []
    t0 = time.perf_counter()
    run_train(cfg, lambda e: times.append(e.metrics["epoch_time"]) if isinstance(e, EpochEnd) else None)
    return times, time.perf_counter() - t0


def main() -> None:
    root = demo_dir(per_class=60)
    runs = Path(tempfile.mkdtemp(prefix="ts-bench-runs-"))
    base = dict(
        source=root / "source",
        backbone="resnet18",
        weights="random",
        image_size=64,
        epochs=4,
        batch_size=64,
        runs_dir=runs,
        val_fraction=0.2,
    )
    cached, cached_wall = epoch_times(
        TrainConfig(**base, method_options={"linear_probe": True, "cache_features": True})
    )
    plain, plain_wall = epoch_times(TrainConfig(**base, method_options={"linear_probe": True, "cache_features": False}))
    per_cached = sum(cached) / len(cached)
    per_plain = sum(plain) / len(plain)
    print("resnet18 64x64 linear probe, 480 training images, 4 epochs, CPU")
    print(f"no cache : {per_plain:8.4f} s/epoch   run wall time {plain_wall:6.1f} s")
    print(f"cached   : {per_cached:8.4f} s/epoch   run wall time {cached_wall:6.1f} s (features computed once)")
    print(f"ratio per epoch: {per_plain / per_cached:.1f}x  (aim >= 10x)")
    print(f"ratio of whole runs: {plain_wall / cached_wall:.1f}x")


if __name__ == "__main__":
    main()
