"""Settings and reports of the GAN jobs (a GAN run saves its GanTrainConfig as config.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from engine.core.config import Device, StrictModel
from engine.gan.policy import parse_policy


class GanTrainConfig(StrictModel):
    """A GAN run: train from scratch, or transfer a GAN run (`from_run`) to a few images."""

    kind: Literal["gan"] = Field("gan", description="Marks a GAN run directory.")
    data: Path | None = Field(None, description="Folder of training images (class sub-folders when conditional).")
    from_run: Path | None = Field(None, description="GAN run to transfer from (fine-tune its G and D).")
    freeze_d: int = Field(0, ge=0, le=8, description="FreezeD: discriminator blocks kept frozen (0: fine-tune all).")
    diffaugment: str = Field("", description="DiffAugment policy: comma list of color, translation, cutout ('' off).")
    conditional: bool = Field(False, description="Class-conditional G and D (needs class sub-folders).")
    image_size: Literal[32, 64] = Field(32, description="Side of the generated images, 32 or 64 px.")
    steps: int = Field(2000, ge=1, le=1_000_000, description="Generator steps.")
    batch_size: int = Field(32, ge=2, le=1024, description="Images per step.")
    loss: Literal["hinge", "nonsaturating"] = Field("hinge", description="GAN loss.")
    lr_g: float = Field(2e-4, gt=0, le=1, description="Adam learning rate of the generator.")
    lr_d: float = Field(2e-4, gt=0, le=1, description="Adam learning rate of the discriminator.")
    beta1: float = Field(0.0, ge=0, lt=1, description="Adam beta1 (0 is usual with spectral norm).")
    beta2: float = Field(0.9, ge=0, lt=1, description="Adam beta2.")
    z_dim: int = Field(128, ge=2, le=1024, description="Noise size (a transferred run keeps its own).")
    g_width: int = Field(32, ge=4, le=1024, description="Generator channel width (a transferred run keeps its own).")
    d_width: int = Field(32, ge=4, le=1024, description="Discriminator width (a transferred run keeps its own).")
    ema: float = Field(0.999, ge=0, lt=1, description="Decay of the generator's moving average (used to sample).")
    sample_every: int = Field(100, ge=1, description="Steps between sample grids (and KID checks).")
    kid_every: int = Field(1, ge=0, description="Measure KID at every k-th sample grid (0: never while training).")
    kid_samples: int = Field(256, ge=10, le=10_000, description="Generated images per KID check.")
    checkpoint_every: int = Field(
        200, ge=1, description="Steps between checkpoints (also saved at the end and on stop)."
    )
    resize_mixed: bool = Field(False, description="Accept images of different sizes (resize and centre-crop each).")
    device: Device = Field("auto", description="Where to train: auto picks cuda, then mps, then cpu.")
    workers: int = Field(0, ge=0, le=64, description="Processes that decode images.")
    seed: int = Field(0, description="Random seed.")
    runs_dir: Path = Field(Path("runs"), description="Where run directories are created.")
    name: str | None = Field(None, description="Optional run name (default: time-gan-...).")
    resume: Path | None = Field(None, description="Continue this stopped GAN run (other settings are its own).")

    @field_validator("diffaugment")
    @classmethod
    def _policy(cls, v: str) -> str:
        return ",".join(parse_policy(v))

    @field_validator("data", "from_run", "runs_dir", "resume", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, str) else v


class GanTrainReport(BaseModel):
    """What the GAN training job returns."""

    run_dir: Path
    status: str
    steps_done: int
    metrics: dict[str, float] = Field(default_factory=dict)
    kid_history: list[tuple[int, float]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    seconds: float = 0.0
