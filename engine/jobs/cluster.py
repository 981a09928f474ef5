"""The cluster job: sort a folder of images into clusters by raw pixels or learned features, measured
against its class folders when it has them (engine.analysis.clustering does the work)."""

from __future__ import annotations

from engine.analysis.clustering import ClusterConfig, ClusterReport
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job


def run(config: ClusterConfig, emit: Emit, control: JobControl) -> ClusterReport:
    from engine.analysis.clustering import run_cluster

    return run_cluster(config, emit, control)


JOB = Job("cluster", "sort a folder of images into clusters by learned features", ClusterConfig, ClusterReport, run)
