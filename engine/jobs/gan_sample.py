"""The GAN sampling job: write generated images to a folder (flat, or one sub-folder per class).

The source is a GAN run (its averaged generator, via torch) or an exported G.onnx (numpy and
onnxruntime only: sampling an exported generator needs no torch). With `per_class`, `n`
images per class go to OUT/<class>/, a labelled folder that training can use as synthetic data
(`transfer-studio train --synthetic OUT`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Progress, Started
from engine.jobs.job import Job


class GanSampleConfig(StrictModel):
    run_dir: Path = Field(description="GAN run directory, or an exported generator (.onnx).")
    n: int = Field(64, ge=1, le=100_000, description="Images to write (per class with per_class).")
    out: Path = Field(description="New or empty folder for the images.")
    per_class: bool = Field(False, description="Conditional runs: n images per class, in class sub-folders.")
    seed: int = Field(0, description="Noise seed (the same seed gives the same images).")


class GanSampleReport(BaseModel):
    out: Path
    written: int
    classes: list[str] = Field(default_factory=list)
    source: str


def run(config: GanSampleConfig, emit: Emit, control: JobControl) -> GanSampleReport:
    import numpy as np
    from PIL import Image

    from engine.gan.onnx_sampler import sample_noise

    out = config.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not an empty folder; choose a new folder for the samples.")
    src = config.run_dir
    sample, info = _sampler(src)
    k = int(info["num_classes"])
    classes = list(info["classes"])
    if config.per_class and not k:
        raise UserError(f"{src}: an unconditional generator has no classes; leave out --per-class.")
    total = config.n * k if config.per_class else config.n
    z_all = sample_noise(total, int(info["z_dim"]), config.seed)
    y_all = (np.arange(total) // config.n if config.per_class else np.arange(total) % k) if k else None
    emit(Started("gan_sample", str(out), total))
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for start in range(0, total, 256):
        control.check()
        y = None if y_all is None else y_all[start : start + 256]
        for i, img in enumerate(sample(z_all[start : start + 256], y)):
            idx = start + i
            sub = out / classes[int(y_all[idx])] if config.per_class and y_all is not None else out
            sub.mkdir(parents=True, exist_ok=True)
            arr = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)
            Image.fromarray(arr, "RGB").save(sub / f"gen_{idx:05d}.png", "PNG")
            written += 1
        emit(Progress(1, written, total))
    emit(Finished("gan_sample", str(out), {"written": float(written)}))
    return GanSampleReport(out=out, written=written, classes=classes if config.per_class else [], source=str(src))


Sampler = Callable[[Any, Any], Any]


def _sampler(src: Path) -> tuple[Sampler, dict[str, Any]]:
    """(z, y) -> images [N, 3, S, S] in [0, 1] as numpy, and the generator's info; ONNX needs no torch."""
    if src.suffix.lower() == ".onnx":
        from engine.gan.onnx_sampler import onnx_sample, open_generator

        session, info = open_generator(src)
        return (lambda z, y: onnx_sample(session, info, z, y)), info
    import torch

    from engine.gan.export import Unit
    from engine.gan.run_io import load_generator

    g, arch, classes = load_generator(src)
    unit = Unit(g, bool(arch.num_classes))

    @torch.no_grad()
    def sample(z: Any, y: Any) -> Any:
        return unit(torch.from_numpy(z), None if y is None else torch.from_numpy(y)).numpy()

    return sample, {**arch.as_dict(), "classes": classes}


JOB = Job("gan_sample", "write a GAN's samples to a folder", GanSampleConfig, GanSampleReport, run)
