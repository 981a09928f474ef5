"""Trainer throughput vs a plain hand-written PyTorch loop (same model, data, optimiser).

Prints images/second of each over the training steps (evaluation between epochs excluded) and
the ratio trainer / plain. Aim: >= 0.95.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

import torch
from _common import demo_dir

from engine.core.config import TrainConfig
from engine.core.events import Progress
from engine.data.prepare import DEFAULT_CACHE, prepare_data
from engine.models.classifier import build_model
from engine.training.trainer import run_train

EPOCHS, BATCH = 3, 64


def trainer_rate(cfg: TrainConfig) -> float:
    stamps: list[tuple[int, float]] = []

    def emit(event: object) -> None:
        if isinstance(event, Progress):
            stamps.append((event.epoch, time.perf_counter()))

    run_train(cfg, emit)
    steps, seconds = 0, 0.0
    for (e0, t0), (e1, t1) in itertools.pairwise(stamps):
        if e0 == e1:  # intervals inside an epoch: pure training steps
            steps += 1
            seconds += t1 - t0
    return steps * BATCH / seconds


def plain_rate(cfg: TrainConfig) -> float:
    data = prepare_data(cfg, 32, lambda e: None)
    torch.manual_seed(0)
    model = build_model("small_cnn", len(data.classes)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(data.x_train) // BATCH
    steps, seconds = 0, 0.0
    for _epoch in range(EPOCHS):
        perm = torch.randperm(len(data.x_train))
        last = None
        for i in range(n):
            idx = perm[i * BATCH : (i + 1) * BATCH]
            x = data.x_train[idx].float().div_(255)
            loss = torch.nn.functional.cross_entropy(model(x), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
            now = time.perf_counter()
            if last is not None:
                steps += 1
                seconds += now - last
            last = now
    return steps * BATCH / seconds


def main() -> None:
    root = demo_dir()
    runs = Path(tempfile.mkdtemp(prefix="ts-bench-runs-"))
    cfg = TrainConfig(source=root / "source", epochs=EPOCHS, batch_size=BATCH, runs_dir=runs, warmup_epochs=0)
    prepare_data(cfg, 32, lambda e: None, cache=DEFAULT_CACHE)  # decode once for both
    torch.set_num_threads(torch.get_num_threads())
    results = []
    for i in range(3):  # alternate (and swap the order) to even out machine noise
        if i % 2:
            ours_first = trainer_rate(cfg)
            results.append((plain_rate(cfg), ours_first))
        else:
            plain_first = plain_rate(cfg)
            results.append((plain_first, trainer_rate(cfg)))
    plain = max(r[0] for r in results)
    ours = max(r[1] for r in results)
    print("rounds (plain, trainer) images/s:", ", ".join(f"({p:.0f}, {t:.0f})" for p, t in results))
    print(f"small_cnn 32x32, batch {BATCH}, {torch.get_num_threads()} threads, CPU")
    print(f"plain loop : {plain:8.1f} images/s")
    print(f"trainer    : {ours:8.1f} images/s")
    import statistics

    ratios = [t / p for p, t in results]
    print(
        f"ratio trainer/plain (best rates): {ours / plain:.3f}; per round median {statistics.median(ratios):.3f}  (aim >= 0.95)"
    )


if __name__ == "__main__":
    main()
