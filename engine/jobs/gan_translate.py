"""The translation job: learn source -> target style from unpaired folders (cycle loss, plus
CyCADA's semantic consistency when a source classifier run is given) and write the labelled
source translated into the target's style, same class sub-folders: a training set for the
target domain (`train --source OUT`), or the `pixel_da` method's translator (its run folder).

The run folder keeps config.toml, metrics.jsonl, the translator (checkpoints/last.pt) and
samples/latest.png: source images above their translations, rewritten as training goes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from engine.core.config import Device, StrictModel
from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Started
from engine.gan.policy import parse_policy
from engine.jobs.job import Job


class TranslateConfig(StrictModel):
    kind: Literal["translate"] = Field("translate", description="Marks a translation run directory.")
    source: Path = Field(description="Labelled source folder (class sub-folders).")
    target: Path = Field(description="Target folder (unlabelled images are fine).")
    out: Path = Field(description="New or empty folder for the translated source (same class sub-folders).")
    classifier: Path | None = Field(None, description="Training run on the source: semantic consistency (CyCADA).")
    steps: int = Field(2000, ge=1, le=1_000_000, description="Training steps of the translator.")
    batch_size: int = Field(16, ge=2, le=1024, description="Images per domain per step.")
    image_size: Literal[32, 64] = Field(32, description="Side of the images, 32 or 64 px.")
    width: int = Field(16, ge=4, le=512, description="Channel width of the translator networks.")
    lr: float = Field(2e-4, gt=0, le=1, description="Adam learning rate.")
    cycle_weight: float = Field(10.0, ge=0, le=1000, description="Weight of the cycle-consistency L1.")
    semantic_weight: float = Field(
        1.0, ge=0, le=1000, description="Weight of the semantic consistency (with a classifier)."
    )
    diffaugment: str = Field("", description="DiffAugment on the discriminators' inputs ('' off).")
    sample_every: int = Field(100, ge=1, description="Steps between sample pairs.")
    device: Device = Field("auto", description="Where to train.")
    seed: int = Field(0, description="Random seed.")
    runs_dir: Path = Field(Path("runs"), description="Where run directories are created.")
    name: str | None = Field(None, description="Optional run name.")

    @field_validator("diffaugment")
    @classmethod
    def _policy(cls, v: str) -> str:
        return ",".join(parse_policy(v))


class TranslateReport(BaseModel):
    run_dir: Path
    out: Path | None
    status: str
    steps_done: int
    written: int
    metrics: dict[str, float] = Field(default_factory=dict)
    semantic: bool
    seconds: float


def source_classifier(run_dir: Path, image_size: int) -> Any:
    """A frozen training run's classifier as images01 -> logits (resized to its input size)."""
    import torch

    from engine.core.runs import load_run_model

    model, info = load_run_model(run_dir)
    model.requires_grad_(False).eval()
    size = int(info["input_size"])

    def logits(x01: torch.Tensor) -> torch.Tensor:
        if size != image_size:
            x01 = torch.nn.functional.interpolate(x01, size=(size, size), mode="bilinear", align_corners=False)
        out: torch.Tensor = model(x01)
        return out

    return logits, list(info["classes"])


def run(config: TranslateConfig, emit: Emit, control: JobControl) -> TranslateReport:

    from engine.core.fsutil import atomic_write_bytes
    from engine.core.runs import create_kind_run
    from engine.gan.data import load_gan_images
    from engine.gan.grid import grid_png, save_png, to_uint8_hwc
    from engine.gan.translate import TranslatorTrainer, pairs_grid
    from engine.training.checkpoints import save_checkpoint
    from engine.training.devices import describe_device, pick_device

    begun = time.monotonic()
    out = config.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not an empty folder; choose a new folder for the translations.")
    src, tgt = (
        load_gan_images(folder, config.image_size, emit, control, conditional=labelled, batch_size=2, resize_mixed=True)
        for folder, labelled in ((config.source, True), (config.target, False))
    )
    classifier = None
    if config.classifier is not None:
        classifier, classes = source_classifier(config.classifier, config.image_size)
        if classes != src.classes:
            raise UserError(
                f"{config.classifier}: its classes ({', '.join(classes)}) differ from the source folder's "
                f"({', '.join(src.classes)}). Give a run trained on this source."
            )
    else:
        emit(Log("no source classifier given (--classifier RUN): semantic consistency is off, cycle loss only."))
    base = time.strftime("%Y%m%d-%H%M%S-translate")
    run_ = create_kind_run(
        config, config.runs_dir, config.name, base, kind="translate", method="translate", backbone="cyclegan"
    )
    run_.update_info(status="running")
    device = pick_device(config.device)
    trainer = TranslatorTrainer(
        src.images, src.labels, tgt.images, classifier=classifier, width=config.width, batch_size=config.batch_size,
        lr=config.lr, cycle_weight=config.cycle_weight, semantic_weight=config.semantic_weight,
        diffaugment=config.diffaugment, seed=config.seed, device=device,
    )  # fmt: skip
    emit(Started("gan_translate", str(run_.path), config.steps, describe_device(device)))

    def check() -> None:
        atomic_write_bytes(run_.path / "samples" / "latest.png", grid_png(pairs_grid(trainer), per_row=8))

    def save(status: str) -> None:
        payload = {"kind": "translate", "image_size": config.image_size, "width": config.width, **trainer.state_dict()}
        save_checkpoint(run_.checkpoint("last"), payload)
        run_.update_info(status=status, step=trainer.step, metrics=metrics)

    metrics: dict[str, float] = {}
    check()
    try:
        metrics = trainer.fit(config.steps, emit, control, config.sample_every, check)
    except Stopped:
        save("stopped")
        emit(Finished("gan_translate", str(run_.path), metrics, stopped=True))
        return TranslateReport(run_dir=run_.path, out=None, status="stopped", steps_done=trainer.step, written=0,
                               metrics=metrics, semantic=classifier is not None, seconds=time.monotonic() - begun)  # fmt: skip
    except UserError as err:
        run_.update_info(status="failed", error=str(err))
        raise
    save("finished")
    translated = trainer.translate(src.images)
    written = 0
    for i, img in enumerate(to_uint8_hwc(translated.float() / 127.5 - 1)):
        control.check()
        cls = src.classes[int(src.labels[i])]
        save_png(out / cls / f"{cls}_{i:05d}.png", img)
        written += 1
    emit(Finished("gan_translate", str(run_.path), metrics))
    return TranslateReport(run_dir=run_.path, out=out, status="finished", steps_done=trainer.step, written=written,
                           metrics=metrics, semantic=classifier is not None, seconds=time.monotonic() - begun)  # fmt: skip


JOB = Job(
    "gan_translate", "translate labelled source images into the target's style", TranslateConfig, TranslateReport, run
)
