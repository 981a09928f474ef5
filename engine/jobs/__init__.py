"""Every long action of the app as a job: `run(config, emit, control) -> report` (see job.py).

One module per job; the CLI commands and the window's pages both drive them, so no orchestration
lives in either. Importing this package is instant: it imports no job module (the window imports
`engine.jobs.job` at start-up, and a page imports its own job when it is built). `all_jobs()`
imports them all, for listings. A new job is a module with `JOB = Job(...)` named in `_MODULES`.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from engine.core.registry import Registry
from engine.jobs.job import Job

_MODULES = (
    "train",
    "evaluate",
    "export",
    "attack",
    "embed",
    "check",
    "predict",
    "compress",
    "pretrain",
    "cluster",
    "check_tasks",
    "explain",
    "report",
    "advise",
    "gan_train",
    "gan_sample",
    "gan_score",
    "gan_export",
    "gan_translate",
)


@cache
def all_jobs() -> Registry[Job[Any, Any]]:
    """Every job by name (entries differ in their config and report classes; each module's JOB keeps its types)."""
    jobs: Registry[Job[Any, Any]] = Registry("job")
    for name in _MODULES:
        job = importlib.import_module(f"engine.jobs.{name}").JOB
        jobs.add(job.name, job)
    return jobs


__all__ = ["Job", "all_jobs"]
