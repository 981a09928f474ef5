"""The GAN export job: a GAN run's averaged generator as one ONNX file (images in [0, 1]),
checked against PyTorch; sampling it then needs only numpy and onnxruntime."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Started
from engine.jobs.job import Job


class GanExportConfig(StrictModel):
    run_dir: Path = Field(description="GAN run directory to export.")
    out: Path = Field(description="ONNX file to write (e.g. G.onnx).")
    atol: float = Field(1e-4, gt=0, le=1, description="Largest pixel difference (0..1) allowed against PyTorch.")


class GanExportReport(BaseModel):
    out: Path
    max_abs_diff: float
    passed: bool
    z_dim: int
    num_classes: int
    classes: list[str]
    image_size: int


def run(config: GanExportConfig, emit: Emit, control: JobControl) -> GanExportReport:
    from engine.gan.export import export_generator, parity
    from engine.gan.run_io import load_generator

    if config.out.suffix.lower() != ".onnx":
        raise UserError(f"{config.out}: the output must be an .onnx file (e.g. --out G.onnx).")
    g, arch, classes = load_generator(config.run_dir)
    emit(Started("gan_export", str(config.run_dir), 0))
    control.check()
    export_generator(g, arch, classes, config.out)
    diff = parity(g, arch, config.out)
    report = GanExportReport(
        out=config.out,
        max_abs_diff=diff,
        passed=diff <= config.atol,
        z_dim=arch.z_dim,
        num_classes=arch.num_classes,
        classes=classes,
        image_size=arch.image_size,
    )
    emit(Finished("gan_export", str(config.out), {"max_abs_diff": diff}))
    return report


JOB = Job("gan_export", "export a GAN's generator to ONNX", GanExportConfig, GanExportReport, run)
