"""The GAN scoring job: KID, FID and precision/recall/density/coverage of a GAN run's samples
against a folder of real images, on a local network's features (a run's classifier, or a fixed
random CNN). Nothing is downloaded; the report says what the numbers compare with."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Started
from engine.jobs.job import Job


class GanScoreConfig(StrictModel):
    run_dir: Path = Field(description="GAN run directory to score (its averaged generator).")
    real: Path = Field(description="Folder of real images to compare with (class sub-folders or flat).")
    features: Path | None = Field(
        None, description="Training run whose classifier gives the features (default: a fixed random CNN)."
    )
    n_fake: int = Field(0, ge=0, le=50_000, description="Generated images (0: as many as real ones, at least 500).")
    seed: int = Field(0, description="Noise seed.")


class GanScoreReport(BaseModel):
    run_dir: Path
    real: Path
    kid: float
    kid_std: float
    fid: float
    precision: float
    recall: float
    density: float
    coverage: float
    n_real: int
    n_fake: int
    features: str
    note: str


def run(config: GanScoreConfig, emit: Emit, control: JobControl) -> GanScoreReport:
    from engine.data.disk_images import budget_bytes
    from engine.data.folders import scan_domain
    from engine.data.loading import decode_domain
    from engine.gan.evaluate import score_generator
    from engine.gan.run_io import load_generator

    g, arch, _ = load_generator(config.run_dir)
    if not config.real.is_dir():
        raise UserError(f"{config.real}: folder not found. Pick a folder of real images to compare with.")
    emit(Started("gan_score", str(config.run_dir), 0))
    # within the memory budget in memory, over it DiskImages read a batch at a time by the scorer
    decoded = decode_domain(scan_domain(config.real), arch.image_size, control=control, budget=budget_bytes(None))
    if len(decoded) < 2:
        raise UserError(f"{config.real}: {len(decoded)} readable image(s); scores need at least 2.")
    if len(decoded) < 50:
        emit(
            Log(
                f"{config.real}: only {len(decoded)} real images; KID is unbiased but noisy, FID is biased upward.",
                "warning",
            )
        )
    n_fake = config.n_fake or max(500, len(decoded))
    control.check()
    scores = score_generator(
        g, arch.z_dim, arch.num_classes, decoded.images, n_fake=n_fake, features=config.features, seed=config.seed
    )
    report = GanScoreReport(run_dir=config.run_dir, real=config.real, **scores)
    emit(Finished("gan_score", str(config.run_dir), {"kid": report.kid, "fid": report.fid}))
    return report


JOB = Job("gan_score", "KID, FID, precision/recall/density/coverage of a GAN run", GanScoreConfig, GanScoreReport, run)
