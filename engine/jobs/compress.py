"""The compress job: a distilled (or any) run against its teacher, side by side — accuracy on the
run's validation images and a labelled target folder, parameters, ONNX size and onnxruntime
latency, and the same for INT8 copies when asked (engine.deploy.compression does the work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from engine.core.control import JobControl
from engine.core.events import Emit
from engine.deploy.compression import CompressConfig
from engine.jobs.job import Job


class CompressRow(BaseModel):
    """One model of the comparison (teacher, student, and their INT8 copies)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    path: str
    input_size: int
    params: int
    size_bytes: int
    val_acc: float
    target_acc: float | None
    latency_ms: dict[str, float]  # b1_t1, b1_all, b32_t1, b32_all: median ms at batch 1/32, 1/all threads


class CompressReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    student_run: str
    teacher: str
    rows: list[CompressRow]
    ratios: dict[str, float | None]  # teacher / student: params, size, speedup_*; student - teacher: *_delta
    warnings: list[str]
    n_val: int
    n_target: int
    target_folder: str
    threads_all: int | None
    repeats: int
    created: str
    path: str  # where compression_report.json was written


def run(config: CompressConfig, emit: Emit, control: JobControl) -> CompressReport:
    from engine.deploy.compression import compression_report

    control.check()
    return CompressReport.model_validate(compression_report(config, emit))


JOB = Job(
    "compress",
    "compare a distilled run with its teacher: accuracy, size, latency",
    CompressConfig,
    CompressReport,
    run,
)
