"""A full disk while writing a checkpoint leaves a resumable run: status 'stopped', not 'failed'."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.core.config import TrainConfig
from engine.core.errors import DiskFull
from engine.core.runs import open_run
from engine.training import trainer as trainer_module
from engine.training.trainer import run_train


def test_disk_full_marks_the_run_stopped_and_it_resumes(
    train_config: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = trainer_module.save_checkpoint
    writes: list[Path] = []

    def fill_up(path: Path, payload: dict[str, Any]) -> None:
        writes.append(path)
        if payload.get("epoch") == 2:
            raise DiskFull(f"{path}: no space left on the device. Free some space, then resume the run.")
        real(path, payload)

    monkeypatch.setattr(trainer_module, "save_checkpoint", fill_up)
    train_config.epochs = 3
    with pytest.raises(DiskFull):
        run_train(train_config)
    run = open_run(sorted(train_config.runs_dir.iterdir())[-1])
    assert run.info()["status"] == "stopped" and "no space left" in run.info()["error"]
    monkeypatch.setattr(trainer_module, "save_checkpoint", real)
    resumed = run_train(resume=run.path)  # from the intact checkpoint of epoch 1
    assert resumed.status == "finished" and [r["epoch"] for r in run.metrics()] == [1, 2, 3]
