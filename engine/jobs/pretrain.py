"""The pretrain job: self-supervised pretraining (SimCLR, BYOL) of a backbone on unlabelled
folders, as a new run or a stopped or killed run continued (engine.ssl.pretrain does the work)."""

from __future__ import annotations

from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job, RunRequest
from engine.ssl.config import PretrainConfig, PretrainReport


class PretrainRequest(RunRequest[PretrainConfig]):
    """A new pretraining run (`config`) or a stopped or killed one to continue (`resume`)."""


def run(request: PretrainRequest, emit: Emit, control: JobControl) -> PretrainReport:
    from engine.ssl.pretrain import run_pretrain

    if request.resume is not None:
        return run_pretrain(emit=emit, control=control, resume=request.resume)
    return run_pretrain(request.config, emit, control)


JOB = Job(
    "pretrain", "self-supervised pretraining of a backbone on unlabelled images", PretrainRequest, PretrainReport, run
)
