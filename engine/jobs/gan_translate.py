"""The translation job: learn source -> target style from unpaired folders (CycleGAN's cycle loss
or CUT's PatchNCE, plus CyCADA's semantic consistency when a source classifier run is given) and write the labelled
source translated into the target's style, same class sub-folders: a training set for the
target domain (`train --source OUT`), or the `pixel_da` method's translator (its run folder).

The run folder keeps config.toml, metrics.jsonl, the translator (checkpoints/last.pt, every
`checkpoint_every` steps and on stop) and samples/latest.png: source images above their
translations, rewritten as training goes. Like a training run it takes a `RunRequest`: a new
run, or `resume` = a stopped or killed run, which continues from its last checkpoint with the
networks, optimisers and random state it had, so it ends as an uninterrupted run would."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from engine.core.config import Device, StrictModel, UserPath
from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Started
from engine.core.runs import Run, create_kind_run, open_kind_run
from engine.gan.policy import parse_policy
from engine.jobs.job import Job, RunRequest


class TranslateConfig(StrictModel):
    kind: Literal["translate"] = Field("translate", description="Marks a translation run directory.")
    source: UserPath = Field(description="Labelled source folder (class sub-folders).")
    target: UserPath = Field(description="Target folder (unlabelled images are fine).")
    out: UserPath = Field(description="New or empty folder for the translated source (same class sub-folders).")
    classifier: UserPath | None = Field(None, description="Training run on the source: semantic consistency (CyCADA).")
    steps: int = Field(2000, ge=1, le=1_000_000, description="Training steps of the translator.")
    batch_size: int = Field(16, ge=2, le=1024, description="Images per domain per step.")
    image_size: Literal[32, 64] = Field(32, description="Side of the images, 32 or 64 px.")
    width: int = Field(16, ge=4, le=512, description="Channel width of the translator networks.")
    lr: float = Field(2e-4, gt=0, le=1, description="Adam learning rate.")
    loss: Literal["cycle", "cut"] = Field(
        "cycle",
        description="How the content is kept: cycle (CycleGAN's cycle L1, two generators) or cut (CUT's PatchNCE).",
    )
    cycle_weight: float = Field(10.0, ge=0, le=1000, description="Weight of the cycle-consistency L1 (cycle).")
    nce_weight: float = Field(1.0, ge=0, le=1000, description="Weight of the PatchNCE loss (cut).")
    nce_patches: int = Field(64, ge=2, le=4096, description="Patch locations per image and layer for PatchNCE (cut).")
    semantic_weight: float = Field(
        1.0, ge=0, le=1000, description="Weight of the semantic consistency (with a classifier)."
    )
    diffaugment: str = Field("", description="DiffAugment on the discriminators' inputs ('' off).")
    sample_every: int = Field(100, ge=1, description="Steps between sample pairs (and metrics rows).")
    checkpoint_every: int = Field(
        200, ge=1, description="Steps between checkpoints (also saved at the end and on stop); a resume starts there."
    )
    device: Device = Field("auto", description="Where to train.")
    seed: int = Field(0, description="Random seed.")
    runs_dir: UserPath = Field(Path("runs"), description="Where run directories are created.")
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
    loss: str = "cycle"
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


class TranslateRequest(RunRequest[TranslateConfig]):
    """A new translation run (`config`) or a stopped or killed one to continue (`resume`)."""


def _partial(out: Path) -> Path:
    """Where the translations are written before they become `out` in one rename."""
    return out.with_name(f".{out.name}.partial")


def _count_written(out: Path) -> int:
    return sum(1 for _ in out.rglob("*.png")) if out.is_dir() else 0


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out}: already exists and is not an empty folder; choose a new folder for the translations.")


def _open(request: TranslateRequest) -> tuple[TranslateConfig, Run | None, dict[str, Any] | None]:
    """(config, run or None for a new one, checkpoint or None): a new run's output folder is
    checked before anything is made; a resumed run's settings are its own."""
    from engine.training.checkpoints import load_checkpoint

    if request.resume is None:
        assert request.config is not None
        _check_out(request.config.out)
        return request.config, None, None
    run_, config = open_kind_run(request.resume, "translate", TranslateConfig, "translation", "gan translate")
    ckpt = run_.checkpoint("last")
    return config, run_, load_checkpoint(ckpt) if ckpt.is_file() else None


def run(request: TranslateRequest, emit: Emit, control: JobControl) -> TranslateReport:
    from engine.gan.data import load_gan_images

    begun = time.monotonic()
    config, run_, saved = _open(request)
    if run_ is not None and run_.info().get("status") == "finished" and _count_written(config.out):
        emit(Log(f"{run_.path.name} has finished; its translations are in {config.out}."))
        return _report(config, run_.path, "finished", int(run_.info().get("step", config.steps)),
                       _count_written(config.out), dict(run_.info().get("metrics", {})), begun)  # fmt: skip
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
        emit(Log("no source classifier given (--classifier RUN): semantic consistency is off."))
    if run_ is None:
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-translate-{config.loss}"
        info = {"kind": "translate", "method": "translate", "backbone": "cut" if config.loss == "cut" else "cyclegan"}
        run_ = create_kind_run(config, config.runs_dir, config.name, base, **info)
    with run_.lock():
        return _train_and_write(config, run_, saved, src, tgt, classifier, emit, control, begun)


def _train_and_write(
    config: TranslateConfig, run_: Run, saved: dict[str, Any] | None, src: Any, tgt: Any, classifier: Any,
    emit: Emit, control: JobControl, begun: float,
) -> TranslateReport:  # fmt: skip
    import shutil

    from engine.core.fsutil import atomic_write_bytes
    from engine.gan.grid import grid_png, save_png, to_uint8_hwc
    from engine.gan.translate import TranslatorTrainer, pairs_grid
    from engine.training.checkpoints import save_checkpoint
    from engine.training.devices import describe_device, pick_device

    device = pick_device(config.device)
    trainer = TranslatorTrainer(
        src.images, src.labels, tgt.images, classifier=classifier, width=config.width, batch_size=config.batch_size,
        lr=config.lr, loss=config.loss, cycle_weight=config.cycle_weight, nce_weight=config.nce_weight,
        nce_patches=config.nce_patches, semantic_weight=config.semantic_weight, diffaugment=config.diffaugment,
        seed=config.seed, device=device,
    )  # fmt: skip
    if saved is not None:
        trainer.load_state_dict(saved)
        run_.write_metrics([r for r in run_.metrics() if r.get("step", 0) <= trainer.step])
        emit(Log(f"resumed {run_.path.name} at step {trainer.step} of {config.steps}"))
    emit(Started("gan_translate", str(run_.path), config.steps, describe_device(device)))
    run_.update_info(status="running", total_steps=config.steps, image_size=config.image_size, loss=config.loss)

    def grid() -> None:
        atomic_write_bytes(run_.path / "samples" / "latest.png", grid_png(pairs_grid(trainer), per_row=8))

    def check(metrics: dict[str, float]) -> None:
        grid()
        run_.append_metrics({"epoch": (trainer.step - 1) // config.sample_every + 1, "step": trainer.step, **metrics})

    def save(status: str = "running") -> None:
        payload = {"kind": "translate", "image_size": config.image_size, "width": config.width, **trainer.state_dict()}
        save_checkpoint(run_.checkpoint("last"), payload)
        run_.update_info(status=status, step=trainer.step, metrics=trainer.last_metrics)

    grid()
    try:
        trainer.fit(config.steps, emit, control, config.sample_every, check, config.checkpoint_every, save)
    except Stopped:
        save("stopped")
        emit(Finished("gan_translate", str(run_.path), trainer.last_metrics, stopped=True))
        return _report(config, run_.path, "stopped", trainer.step, 0, trainer.last_metrics, begun, classifier)
    except Exception as err:  # the job raises; whoever drives it reports the error once
        run_.record_failure(err)
        raise
    # written beside OUT, renamed into place once complete: a killed write leaves no half folder
    # behind that would look finished, and a resume writes it again
    out, partial = config.out, _partial(config.out)
    _check_out(out)
    shutil.rmtree(partial, ignore_errors=True)
    translated = trainer.translate(src.images)
    written = 0
    try:
        for i, img in enumerate(to_uint8_hwc(translated.float() / 127.5 - 1)):
            control.check()
            cls = src.classes[int(src.labels[i])]
            save_png(partial / cls / f"{cls}_{i:05d}.png", img)
            written += 1
    except Stopped:
        shutil.rmtree(partial, ignore_errors=True)
        run_.update_info(status="stopped", step=trainer.step)
        emit(Finished("gan_translate", str(run_.path), trainer.last_metrics, stopped=True))
        return _report(config, run_.path, "stopped", trainer.step, 0, trainer.last_metrics, begun, classifier)
    if out.is_dir():
        out.rmdir()  # empty (checked above)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial.rename(out)
    run_.update_info(status="finished", step=trainer.step, metrics=trainer.last_metrics, written=written)
    emit(Finished("gan_translate", str(run_.path), trainer.last_metrics))
    return _report(config, run_.path, "finished", trainer.step, written, trainer.last_metrics, begun, classifier)


def _report(config: TranslateConfig, run_dir: Path, status: str, steps: int, written: int,
            metrics: dict[str, float], begun: float, classifier: Any = None) -> TranslateReport:  # fmt: skip
    return TranslateReport(
        run_dir=run_dir, out=config.out if status == "finished" else None, status=status, steps_done=steps,
        written=written, metrics=metrics, semantic=classifier is not None or config.classifier is not None,
        loss=config.loss, seconds=time.monotonic() - begun,
    )  # fmt: skip


JOB = Job(
    "gan_translate", "translate labelled source images into the target's style", TranslateRequest, TranslateReport, run
)
