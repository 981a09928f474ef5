"""The pretrain job: self-supervised pretraining (SimCLR, BYOL) of a backbone on unlabelled
folders, as a new run or a stopped or killed run continued (engine.ssl.pretrain does the work)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job
from engine.ssl.config import PretrainConfig, PretrainReport


class PretrainRequest(StrictModel):
    """Exactly one of `config` (a new run) and `resume` (a pretraining run directory to continue)."""

    config: PretrainConfig | None = Field(None, description="Settings of a new pretraining run.")
    resume: Path | None = Field(None, description="Pretraining run directory to continue from its last checkpoint.")

    @model_validator(mode="after")
    def _one(self) -> PretrainRequest:
        if (self.config is None) == (self.resume is None):
            raise ValueError("give either a pretraining config (a new run) or resume = a run directory, not both")
        return self


def run(request: PretrainRequest, emit: Emit, control: JobControl) -> PretrainReport:
    from engine.ssl.pretrain import run_pretrain

    if request.resume is not None:
        return run_pretrain(emit=emit, control=control, resume=request.resume)
    return run_pretrain(request.config, emit, control)


JOB = Job(
    "pretrain", "self-supervised pretraining of a backbone on unlabelled images", PretrainRequest, PretrainReport, run
)
