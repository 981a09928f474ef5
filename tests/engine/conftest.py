"""Fixtures for engine tests: a tiny demo pair and a short training config."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.config import TrainConfig
from engine.data.demo import DemoPaths, make_demo


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    """~120 source, ~50 target-train and ~20 target-test images of 32x32 digits."""
    return make_demo(tmp_path_factory.mktemp("demo") / "demo", per_class=12, seed=1)


@pytest.fixture
def train_config(tiny_demo: DemoPaths, tmp_path: Path) -> TrainConfig:
    return TrainConfig(
        source=tiny_demo.source,
        target=tiny_demo.target_train,
        target_test=tiny_demo.target_test,
        epochs=2,
        batch_size=32,
        lr=3e-3,
        runs_dir=tmp_path / "runs",
    )


@pytest.fixture
def one_thread():
    """Tiny convolutions run fastest, and steadiest on two shared cores, on one intra-op thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
