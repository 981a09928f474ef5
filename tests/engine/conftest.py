"""Fixtures for engine tests: a tiny demo pair and a short training config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.core.config import TrainConfig
from engine.data.demo import DemoPaths, make_demo


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    """~120 source, ~50 target-train and ~20 target-test images of 32x32 digits."""
    return make_demo(tmp_path_factory.mktemp("demo") / "demo", per_class=12, seed=1)


@pytest.fixture
def train_config(tiny_demo: DemoPaths, tmp_path: Path) -> TrainConfig:
    return TrainConfig(**tiny_demo.folders(), epochs=2, batch_size=32, lr=3e-3, runs_dir=tmp_path / "runs")


@pytest.fixture(scope="session")
def demo_run(tiny_demo: DemoPaths) -> Callable[..., Path]:
    """Train a finished run on the tiny demo's source, measured on its target-test folder (batch 32,
    lr 3e-3, on the CPU): `demo_run(runs_dir, epochs=1, backbone="tiny_cnn", ...)` returns its folder."""
    from engine.training.trainer import run_train

    def train(runs_dir: Path, **settings: Any) -> Path:
        base = {"source": tiny_demo.source, "target_test": tiny_demo.target_test, "batch_size": 32, "lr": 3e-3}
        result = run_train(TrainConfig(**{**base, "device": "cpu", "runs_dir": runs_dir, **settings}))
        assert result.status == "finished"
        return Path(result.run_dir)

    return train


@pytest.fixture
def one_thread():
    """Tiny convolutions run fastest, and steadiest on two shared cores, on one intra-op thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
