"""Every long action of the app as a job: `run(config, emit, control) -> report` (see job.py).

One module per job; the CLI commands and the window's pages both drive them, so no orchestration
lives in either. Importing this package is cheap and torch-free: each job's heavy imports happen
inside its `run`. A new job is a module with `JOB = Job(...)` added to `_MODULES` below.
"""

from __future__ import annotations

from typing import Any

from engine.core.registry import Registry
from engine.jobs import (
    attack,
    check,
    compress,
    embed,
    evaluate,
    export,
    gan_export,
    gan_sample,
    gan_score,
    gan_train,
    predict,
    train,
)
from engine.jobs.job import Job

_MODULES = (
    train,
    evaluate,
    export,
    attack,
    embed,
    check,
    predict,
    compress,
    gan_train,
    gan_sample,
    gan_score,
    gan_export,
)

# Entries differ in their config and report classes; each module's JOB keeps its exact types.
JOBS: Registry[Job[Any, Any]] = Registry("job")
for _module in _MODULES:
    JOBS.add(_module.JOB.name, _module.JOB)

__all__ = ["JOBS", "Job"]
