"""Fixtures for the hostile-input tests (helpers live in reliability_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from reliability_helpers import CLASSES, SIDE, FullDisk, write_images

from engine.core.config import TrainConfig
from engine.core.runs import Run, create_run
from engine.training.checkpoints import save_checkpoint


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> FullDisk:
    return FullDisk(monkeypatch)


@pytest.fixture
def tiny_run(tmp_path: Path) -> Run:
    """A run directory with a randomly initialised small_cnn (8x8, 3 classes) as best and last checkpoint."""
    from engine.models import build_model

    data = write_images(tmp_path / "data")
    torch.manual_seed(0)
    model = build_model("small_cnn", len(CLASSES), weights="random")
    run = create_run(TrainConfig(source=data, image_size=SIDE, runs_dir=tmp_path / "runs", name="tiny", epochs=1))
    state = {"model": model.state_dict(), "classes": CLASSES, "input_size": SIDE, "bottleneck_dim": 0, "epoch": 1}
    save_checkpoint(run.checkpoint("best"), state)
    save_checkpoint(run.checkpoint("last"), state)
    return run
