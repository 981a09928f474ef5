"""The check job reports its wait like the other preparation stages: counts, a rate and an ETA."""

from __future__ import annotations

import math

from engine.core.control import JobControl
from engine.core.events import Event, Log, Stage
from engine.data.demo import DemoPaths
from engine.jobs.check import JOB, CheckConfig


def test_check_reports_a_stage_with_counts_and_an_eta(tiny_demo: DemoPaths) -> None:
    events: list[Event] = []
    report = JOB.run(CheckConfig(**tiny_demo.folders()), events.append, JobControl())
    total = sum(len(f.paths) for f in report.folders.values())
    stages = [e for e in events if isinstance(e, Stage)]
    assert stages and {s.stage for s in stages} == {"Checking images"}
    assert all(s.total == total for s in stages) and stages[-1].done == total
    assert [s.done for s in stages] == sorted(s.done for s in stages)  # it only moves forward
    assert all(math.isfinite(s.eta_s) and s.eta_s >= 0 for s in stages if s.done > 0)
    assert any(isinstance(e, Log) and e.message.startswith(f"Checking images: {total:,} images in") for e in events)
