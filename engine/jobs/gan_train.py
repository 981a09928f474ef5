"""The GAN training job: train a GAN on a folder, or transfer a GAN run to a few target images
(fine-tune, FreezeD, DiffAugment); resumable; stopped, it keeps its checkpoint and returns.

The work is engine.gan.trainer.GanTrainer; this module makes or reopens the run directory,
checks the transfer source against the new data (image size, class set) and reports."""

from __future__ import annotations

import time
from typing import Any

from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log
from engine.gan.config import GanTrainConfig, GanTrainReport
from engine.jobs.job import Job


def _transfer_source(config: GanTrainConfig) -> tuple[dict[str, Any], Any, list[str]]:
    """The source run's checkpoint, architecture and classes; refused when its image size differs."""
    from engine.gan.run_io import read_gan_checkpoint

    assert config.from_run is not None
    state, arch, src_classes = read_gan_checkpoint(config.from_run)
    if arch.image_size != config.image_size:
        raise UserError(
            f"{config.from_run}: a GAN of {arch.image_size} px, but this run is {config.image_size} px. "
            f"Set the image size to {arch.image_size} (--image-size {arch.image_size}) or start from a "
            f"{config.image_size} px run."
        )
    return state, arch, src_classes


def _check_classes(config: GanTrainConfig, arch: Any, src_classes: list[str], classes: list[str]) -> None:
    """Refuse a source whose class set (or conditioning) differs from the new data's."""
    want = len(classes) if config.conditional else 0
    if arch.num_classes != want or (want and src_classes != classes):
        have = f"conditional on classes {', '.join(src_classes)}" if arch.num_classes else "unconditional"
        new = f"conditional on classes {', '.join(classes)}" if want else "unconditional"
        raise UserError(
            f"{config.from_run}: the source GAN is {have}, but this run is {new}. Transfer between runs with "
            "the same class set (same class folder names), or between unconditional runs."
        )


def run(config: GanTrainConfig, emit: Emit, control: JobControl) -> GanTrainReport:
    from engine.gan.data import load_gan_images
    from engine.gan.run_io import GanArch, create_gan_run, open_gan_run
    from engine.gan.trainer import GanTrainer
    from engine.training.checkpoints import load_checkpoint

    begun = time.monotonic()
    resuming = config.resume is not None
    if config.resume is not None:
        run_, config = open_gan_run(config.resume)
    else:
        if config.data is None:
            raise UserError("gan train: give a folder of training images (--data FOLDER).")
        if config.from_run is None and config.freeze_d:
            raise UserError("freeze_d needs a GAN run to transfer from (--from RUN); a new GAN has nothing to freeze.")
        run_ = None
    if config.freeze_d > (3 if config.image_size == 32 else 4):
        raise UserError(
            f"freeze_d is {config.freeze_d}; a {config.image_size} px discriminator has only "
            f"{3 if config.image_size == 32 else 4} blocks."
        )
    assert config.data is not None
    source = _transfer_source(config) if config.from_run is not None and not resuming else None
    data = load_gan_images(
        config.data,
        config.image_size,
        emit,
        control,
        conditional=config.conditional,
        batch_size=config.batch_size,
        resize_mixed=config.resize_mixed,
        workers=config.workers,
    )
    transfer: dict[str, Any] | None = None
    saved = (
        load_checkpoint(run_.checkpoint("last")) if resuming and run_ and run_.checkpoint("last").is_file() else None
    )
    if saved is not None:  # the run's own networks: the transfer source is no longer needed
        arch = GanArch(**saved["arch"])
    elif config.from_run is not None:
        transfer, arch, src_classes = source if source is not None else _transfer_source(config)
        _check_classes(config, arch, src_classes, data.classes)
    else:
        arch = GanArch(
            config.image_size,
            len(data.classes) if config.conditional else 0,
            config.z_dim,
            config.g_width,
            config.d_width,
        )
    run_ = run_ or create_gan_run(config)
    trainer: GanTrainer | None = None
    try:
        trainer = GanTrainer(config, run_, data, emit, control, arch, None if resuming else transfer)
        if saved is not None:
            trainer.restore(saved)
            emit(Log(f"resumed at step {trainer.step}"))
        trainer.fit()
    except Stopped:
        if trainer is not None:
            trainer.save()
        steps = trainer.step if trainer else 0
        run_.update_info(status="stopped", step=steps)
        metrics = trainer.last_metrics if trainer else {}
        emit(Finished("gan_train", str(run_.path), metrics, stopped=True))
        return _report(run_.path, "stopped", trainer, begun)
    except Exception as err:  # the job raises; whoever drives it reports the error once
        run_.record_failure(err)
        raise
    run_.update_info(status="finished", step=trainer.step, metrics=trainer.last_metrics)
    emit(Finished("gan_train", str(run_.path), trainer.last_metrics))
    return _report(run_.path, "finished", trainer, begun)


def _report(run_dir: Any, status: str, trainer: Any, begun: float) -> GanTrainReport:
    return GanTrainReport(
        run_dir=run_dir,
        status=status,
        steps_done=trainer.step if trainer else 0,
        metrics=trainer.last_metrics if trainer else {},
        kid_history=list(trainer.kid_history) if trainer else [],
        warnings=list(trainer.warnings) if trainer else [],
        seconds=time.monotonic() - begun,
    )


JOB = Job("gan_train", "train a GAN, or transfer one to a few images", GanTrainConfig, GanTrainReport, run)
