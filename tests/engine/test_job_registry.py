"""Every job module is registered, and importing engine.jobs imports none of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import engine.jobs
from engine.jobs import all_jobs
from engine.jobs.job import Job

JOBS_DIR = Path(engine.jobs.__file__).parent


def test_every_job_module_is_in_the_registry() -> None:
    modules = sorted(p.stem for p in JOBS_DIR.glob("*.py") if p.stem not in ("__init__", "job"))
    jobs = all_jobs()
    names = {job.name for _, job in jobs.items()}
    assert len(names) == len(modules), f"modules {modules} vs jobs {sorted(names)}"
    for _, job in jobs.items():
        assert isinstance(job, Job) and job.summary


def test_importing_the_package_imports_no_job() -> None:
    code = "import sys, engine.jobs; print(sorted(m for m in sys.modules if m.startswith('engine.jobs.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['engine.jobs.job']"
