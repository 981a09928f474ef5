"""A small advice on the tiny demo: three candidates, two rungs of 1 and 2 epochs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data.demo import DemoPaths
from engine.jobs.advise import AdviseConfig


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every advisor test on one intra-op thread (the root conftest's `one_thread`)."""


@pytest.fixture
def advise_config(tiny_demo: DemoPaths, tmp_path: Path) -> AdviseConfig:
    return AdviseConfig(
        **tiny_demo.folders(),
        methods=["finetune", "coral", "importance_weighting"],
        grid_points=1,
        min_epochs=1,
        max_epochs=2,
        budget_minutes=30,
        batch_size=32,
        lr=3e-3,
        small_shift=0.0,
        device="cpu",
        runs_dir=tmp_path / "runs",
    )
