"""The report job: one self-contained HTML report card of a run, every figure computed by the
engine's jobs (engine.report does the gathering and the page; this module is torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.data.health import FoldersReport
from engine.jobs.attack import RobustnessReport
from engine.jobs.evaluate import EvaluateReport
from engine.jobs.explain import ExplainReport
from engine.jobs.export import ExportReport
from engine.jobs.job import Job

SECTIONS = (
    ("data", "Data"),
    ("training", "Training"),
    ("accuracy", "Accuracy"),
    ("calibration", "Calibration"),
    ("robustness", "Robustness"),
    ("export", "Export"),
    ("explanations", "Explanations"),
    ("environment", "Environment"),
    ("model-card", "Model card"),
)


class ReportConfig(StrictModel):
    run_dir: Path = Field(description="Run directory to report on.")
    out: Path = Field(description="The HTML file to write (one file: images inline, nothing external).")
    data: Path | None = Field(None, description="Labelled target folder; empty: the run's target test folder.")
    robustness: bool = Field(False, description="Run a quick PGD sweep when the run has no saved robustness report.")
    checkpoint: Literal["best", "last"] = Field("best", description="Which checkpoint (a running run: last).")
    model_card: str | None = Field(None, description="Model card text (intended use, limitations); empty: a draft.")
    explain: int = Field(4, ge=0, le=32, description="Most confident mistakes to explain.")
    attack_limit: int = Field(200, ge=1, le=100_000, description="Images attacked by the quick PGD sweep.")
    export: bool = Field(True, description="Export to ONNX (and INT8) to measure parity, accuracy, size, latency.")


class ReliabilityBins(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confidence: list[float | None]
    accuracy: list[float | None]
    count: list[int]


class CalibrationResult(BaseModel):
    """ECE on one labelled set before and after dividing the logits by the fitted temperature."""

    model_config = ConfigDict(extra="forbid")
    domain: str  # "source validation" | "target"
    n: int
    accuracy: float
    ece_before: float
    ece_after: float
    before: ReliabilityBins
    after: ReliabilityBins


class ExportSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    report: ExportReport
    size_bytes: int
    int8_size_bytes: int | None = None


class ReportCardReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    run_dir: str
    checkpoint: str
    still_training: bool = False
    notes: list[str] = Field(default_factory=list)
    sections: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)  # the run's TrainConfig
    metrics: list[dict[str, Any]] = Field(default_factory=list)  # the run's epoch records
    health: FoldersReport | None = None
    proxy_a_distance: float | None = None
    output_a_distance: float | None = None
    source_eval: EvaluateReport
    target_eval: EvaluateReport | None = None
    temperature: float = 1.0
    calibration: list[CalibrationResult] = Field(default_factory=list)
    robustness: list[RobustnessReport] = Field(default_factory=list)
    export: ExportSummary | None = None
    explanations: list[ExplainReport] = Field(default_factory=list)
    more_faithful: str = ""  # the explanation method with the better insertion - deletion, and by how much
    environment: dict[str, str] = Field(default_factory=dict)
    model_card: str = ""


def run(config: ReportConfig, emit: Emit, control: JobControl) -> ReportCardReport:
    from engine.report.collect import make_report

    return make_report(config, emit, control)


JOB = Job("report", "one self-contained HTML report card of a run", ReportConfig, ReportCardReport, run)
