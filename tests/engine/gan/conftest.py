"""A tiny conditional GAN run shared by the sample, score, export and CLI tests (never modified)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data.demo import DemoPaths


@pytest.fixture(scope="session")
def gan_run(tiny_demo: DemoPaths, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.gan.config import GanTrainConfig
    from engine.jobs.gan_train import JOB

    cfg = GanTrainConfig(
        data=tiny_demo.source,
        conditional=True,
        steps=3,
        sample_every=3,
        kid_every=0,
        z_dim=8,
        g_width=8,
        d_width=8,
        batch_size=8,
        device="cpu",
        runs_dir=tmp_path_factory.mktemp("gan_runs"),
        name="tiny",
    )
    return JOB.run(cfg).run_dir
