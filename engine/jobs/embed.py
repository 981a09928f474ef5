"""The embed job: source and target features of a run's model projected to 2-D (PCA or t-SNE),
with the proxy A-distance between the domains (engine.analysis.embedding does the maths)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.events import Emit, Finished, Started
from engine.jobs.job import Job


class EmbedConfig(StrictModel):
    run_dir: Path = Field(description="Run directory whose features are embedded.")
    out: Path | None = Field(None, description="Also write the picture as this PNG file.")
    method: Literal["pca", "tsne"] = Field("pca", description="PCA (fast, linear) or t-SNE (slower, local structure).")
    limit: int = Field(500, ge=4, le=100_000, description="Images per domain, a seeded random subset.")
    checkpoint: Literal["best", "last"] = Field("best", description="Which checkpoint's features.")
    seed: int = Field(0, description="Seed of the subsets and of t-SNE.")
    threads: int | None = Field(None, ge=1, description="Cap on OpenMP threads (t-SNE); empty: no cap.")


class EmbedReport(BaseModel):
    """2-D points of source (domain 0) and target (domain 1) features; labels -1 where unknown."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    method: str
    points: np.ndarray  # [N, 2] float
    domain: np.ndarray  # [N] int
    labels: np.ndarray  # [N] int
    classes: list[str]
    proxy_a_distance: float
    explained_variance: list[float] = Field(default_factory=list)
    output_a_distance: float | None = None  # the same on the class scores (the final layer's output)
    target_accuracy: float | None = None  # of the model on the embedded target images, when labelled
    png: str | None = None
    info: dict[str, str] = Field(default_factory=dict)  # run, method, checkpoint, source, target

    @property
    def n_source(self) -> int:
        return int((self.domain == 0).sum())

    @property
    def n_target(self) -> int:
        return int((self.domain == 1).sum())


def run(config: EmbedConfig, emit: Emit, control: JobControl) -> EmbedReport:
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    from engine.analysis.embedding import embed_run

    emit(Started("embed", str(config.run_dir)))
    control.check()
    limits = threadpool_limits(limits=config.threads, user_api="openmp") if config.threads else nullcontext()
    with limits:
        result = embed_run(
            config.run_dir,
            config.out,
            method=config.method,
            limit=config.limit,
            which=config.checkpoint,
            seed=config.seed,
        )
    emit(Finished("embed", str(config.run_dir), {"proxy_a_distance": result.proxy_a_distance}))
    return result


JOB = Job("embed", "source and target features in 2-D, with the proxy A-distance", EmbedConfig, EmbedReport, run)
