"""The evaluate job: accuracy, per-class precision/recall, confusion matrix and the misclassified
files of a run's model on a labelled folder (engine.analysis.evaluate does the measuring)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.analysis.zero_shot_eval import ZeroShotScores
from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job


class EvaluateConfig(StrictModel):
    run_dir: Path = Field(description="Run directory to evaluate.")
    data: Path = Field(
        description="Labelled folder (class sub-folders) to measure on; for a multitask run a labels CSV, a folder "
        "holding labels.csv, or a folder with one class folder per task."
    )
    checkpoint: str = Field("best", pattern="^(best|last)$", description="Which checkpoint: best or last.")
    device: str = Field("auto", description="auto, cpu, cuda or mps.")
    batch_size: int = Field(256, ge=1, le=4096, description="Images per forward pass.")


class ClassScores(BaseModel):
    """One class's row; `class` is its JSON name (a Python keyword, hence the alias)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(alias="class")
    precision: float  # 0 (not NaN) for a class the model never predicted, as scikit-learn's zero_division=0
    recall: float
    support: int
    predicted: int = 0  # images predicted as this class
    note: str = ""  # e.g. "never predicted": why a figure is 0


class Misclassified(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    true: str
    predicted: str
    confidence: float


class SkippedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    reason: str


class TaskReport(BaseModel):
    """One task's figures in a multitask run's report."""

    model_config = ConfigDict(extra="forbid")
    n: int
    accuracy: float
    classes: list[str]
    per_class: list[ClassScores]
    confusion_matrix: list[list[int]]
    misclassified: list[Misclassified]


class EvaluateReport(TaskReport):
    """What the evaluate job returns (the figures of TaskReport, for the first task of a multitask
    run); `model_dump(by_alias=True)` is the JSON the CLI writes."""

    run_dir: str
    data: str
    checkpoint: str
    skipped: list[SkippedFile]
    zero_shot: ZeroShotScores | None = None  # a zero-shot run on a folder of seen and unseen classes
    tasks: dict[str, TaskReport] = Field(
        default_factory=dict, description="A multitask run: every task's figures (the top level repeats the first)."
    )


def run(config: EvaluateConfig, emit: Emit, control: JobControl) -> EvaluateReport:
    from engine.analysis.evaluate import evaluate_run

    return EvaluateReport.model_validate(evaluate_run(config, emit, control))


JOB = Job("evaluate", "measure a run's model on a labelled folder", EvaluateConfig, EvaluateReport, run)
