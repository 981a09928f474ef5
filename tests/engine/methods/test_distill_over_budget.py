"""Distillation with the images over the memory budget: the teacher pass reads the splits on disk a
batch at a time, and the run is step for step the one trained with the images in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.core.config import TrainConfig
from engine.core.events import Collector, Log
from engine.data.demo import DemoPaths
from engine.training.trainer import run_train


def test_distilling_from_disk_equals_distilling_in_memory(
    demo_run: Callable[..., Path], tiny_demo: DemoPaths, tmp_path: Path
) -> None:
    teacher = demo_run(tmp_path / "teacher", epochs=1, seed=0)
    results = []
    for budget in (0, 4000):
        cfg = TrainConfig(
            **tiny_demo.folders(),
            method="distill",
            method_options={"teacher": str(teacher), "temperature": 2.0},
            backbone="tiny_cnn",
            epochs=1,
            batch_size=16,
            ema_decay=0,
            threads=1,
            cache_memory_mb=budget,
            runs_dir=tmp_path / "runs",
            name=f"budget{budget}",
        )
        events = Collector()
        res = run_train(cfg, emit=events)
        logs = "\n".join(e.message for e in events.of(Log))
        assert res.status == "finished"
        assert ("batch by batch" in logs) == (budget == 0) and "Teacher outputs computed once" in logs
        results.append(res.metrics)
    disk, memory = results
    assert "val/acc" in memory and "target/acc" in memory
    for k in [k for k in memory if "time" not in k]:
        assert disk[k] == pytest.approx(memory[k], abs=1e-6), k
