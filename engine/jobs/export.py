"""The export job: a run's model -> one ONNX file, verified against PyTorch on real images, with
an optional INT8 copy (engine.deploy.export_job does the work)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job


class ExportConfig(StrictModel):
    run_dir: Path = Field(description="Run directory whose model is exported.")
    out: Path | None = Field(None, description="Where to write the .onnx file (default: RUN_DIR/exports/model.onnx).")
    checkpoint: str = Field("best", pattern="^(best|last)$", description="Which checkpoint to export.")
    parity_images: int = Field(64, ge=2, le=4096, description="Real images used to check ONNX against PyTorch.")
    atol: float = Field(1e-3, gt=0, le=1, description="Largest allowed logit difference between ONNX and PyTorch.")
    int8: bool = Field(False, description="Also write a static INT8 (QDQ) model for fast CPU inference.")
    cam: bool = Field(
        False,
        description="Also output the class activation maps ('cam', [N, classes, h, w]) for exact CAM "
        "explanations; for backbones that end in pooling + one linear layer (tiny_cnn, small_cnn_gap, ResNet, "
        "MobileNet, EfficientNet, without a bottleneck).",
    )


class ParityReport(BaseModel):
    """PyTorch vs onnxruntime logits on a real batch."""

    model_config = ConfigDict(extra="forbid")
    n: int
    max_abs_diff: float
    top1_agreement: float
    batch_sizes_checked: list[int]
    atol: float
    passed: bool


class Int8Check(BaseModel):
    """The INT8 model against fp32 on held-out source images (engine.deploy.compression.int8_check)."""

    model_config = ConfigDict(extra="forbid")
    n: int
    acc_fp32: float
    acc_int8: float
    agreement: float
    latency_ms_fp32: dict[str, float]
    latency_ms_int8: dict[str, float]
    speedup: dict[str, float]
    warning: str = ""  # set when INT8 is slower than fp32 on this CPU (no VNNI)


class ExportReport(ParityReport):
    """The written file and its parity check (and the INT8 model's, when one was made)."""

    path: str
    int8_path: str | None = None
    int8: Int8Check | None = None


def run(config: ExportConfig, emit: Emit, control: JobControl) -> ExportReport:
    from engine.deploy.export_job import export_run

    control.check()
    return export_run(config, emit)


JOB = Job("export", "export a run's model to ONNX and check it against PyTorch", ExportConfig, ExportReport, run)
