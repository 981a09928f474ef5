"""Training time with busy neighbours: torch threads = all cores vs all cores but one (the default).

With one torch thread per core, every parallel op waits for its slowest thread; when other
CPU-bound processes hold cores, that thread is the one descheduled, and a run slows many times.
This trains the small CNN on the demo for `--steps` steps with `--competitors` busy processes
(pure-Python loops) running, for each thread count, and prints seconds and the slowdown
against the same count without competitors.

    .venv/bin/python bench/threads_contention.py --steps 20 --competitors 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _burn(stop_at: float) -> None:
    x = 0
    while time.time() < stop_at:
        x += 1


def train_steps(threads: int, steps: int) -> float:
    import torch

    from bench._common import demo_dir
    from engine.core.config import TrainConfig
    from engine.data.prepare import prepare_data
    from engine.models.classifier import build_model
    from engine.training.devices import apply_threads

    apply_threads(threads)
    cfg = TrainConfig(source=demo_dir(per_class=40) / "source")
    data = prepare_data(cfg, 32, lambda e: None)
    model = build_model("small_cnn", len(data.classes), weights="random")
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    t = time.perf_counter()
    for s in range(steps):
        idx = torch.randint(0, len(data.x_train), (64,), generator=torch.Generator().manual_seed(s))
        loss = torch.nn.functional.cross_entropy(model(data.x_train[idx].float() / 255), data.y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    from engine.data.decode import cpu_count

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--competitors", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    cores = cpu_count()
    rows = []
    for threads in sorted({cores, max(1, cores - 1)}, reverse=True):
        quiet = train_steps(threads, args.steps)
        procs = [mp.Process(target=_burn, args=(time.time() + 600,)) for _ in range(args.competitors)]
        for p in procs:
            p.start()
        try:
            busy = train_steps(threads, args.steps)
        finally:
            for p in procs:
                p.terminate()
                p.join()
        rows.append({"cores": cores, "threads": threads, "alone_s": quiet, "with_competitors_s": busy})
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
