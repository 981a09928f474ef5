"""The train job: a new run from a TrainConfig, or a stopped or killed run continued from its
last checkpoint (engine.training.trainer does the training)."""

from __future__ import annotations

from dataclasses import asdict

from pydantic import BaseModel, ConfigDict, Field

from engine.core.config import TrainConfig
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job, RunRequest


class TrainRequest(RunRequest[TrainConfig]):
    """A new training run (`config`) or a stopped or killed one to continue (`resume`)."""


class TrainReport(BaseModel):
    """How the run ended; `status` is finished, stopped or (for a resumed run that had ended) its status."""

    model_config = ConfigDict(extra="forbid")
    run_dir: str
    status: str
    epochs_done: int
    metrics: dict[str, float] = Field(default_factory=dict)
    best_metrics: dict[str, float] = Field(default_factory=dict)
    best_epoch: int = -1

    @property
    def stopped(self) -> bool:
        return self.status == "stopped"


def run(config: TrainRequest, emit: Emit, control: JobControl) -> TrainReport:
    from engine.training.trainer import run_train

    if config.resume is not None:
        result = run_train(emit=emit, control=control, resume=config.resume)
    else:
        result = run_train(config.config, emit, control)
    return TrainReport.model_validate({**asdict(result), "run_dir": str(result.run_dir)})


JOB = Job(
    "train", "train a model (fine-tuning, domain adaptation, adversarial training)", TrainRequest, TrainReport, run
)
