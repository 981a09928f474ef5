"""Settings and report of a pretraining run (saved as config.toml in its run directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from engine.core.config import Device, StrictModel, UserPath

SslMethod = Literal["simclr", "byol"]


class PretrainConfig(StrictModel):
    """A self-supervised pretraining run: unlabelled folders in, a backbone out."""

    kind: Literal["pretrain"] = Field("pretrain", description="Marks a pretraining run directory.")
    data: list[Path] = Field(description="Folders of unlabelled images (class sub-folders, if any, are ignored).")
    method: SslMethod = Field("simclr", description="simclr (contrastive, NT-Xent) or byol (no negatives).")
    backbone: str = Field("small_cnn", description="Network architecture from the backbone registry.")
    weights: str = Field("random", description="Starting weights: 'random', 'auto', 'pretrained' or a file.")
    image_size: int | None = Field(None, ge=8, le=1024, description="Side of the square input; empty: the backbone's.")
    epochs: int = Field(50, ge=1, le=10_000, description="Passes over the images.")
    batch_size: int = Field(256, ge=2, le=4096, description="Images per step (each seen as two views).")
    lr: float = Field(2e-3, gt=0, le=10, description="AdamW learning rate (scaled by batch size / 256).")
    weight_decay: float = Field(1e-4, ge=0, le=1, description="AdamW weight decay.")
    warmup_epochs: float = Field(2.0, ge=0, description="Linear learning-rate warm-up, in epochs; then cosine.")
    temperature: float = Field(0.5, gt=0, le=10, description="SimCLR: NT-Xent temperature.")
    ema: float = Field(0.99, ge=0, lt=1, description="BYOL: base momentum of the target network (rises to 1).")
    projection_dim: int = Field(128, ge=8, le=8192, description="Output size of the projector.")
    hidden_dim: int = Field(512, ge=8, le=16384, description="Hidden size of the projector and predictor.")
    min_scale: float = Field(0.3, gt=0, le=1, description="Smallest crop, as a share of the image area.")
    flip: bool = Field(False, description="Random horizontal flips (off: digits and text change when mirrored).")
    invert: bool = Field(False, description="Random colour inversion (strokes light on dark or dark on light).")
    knn_data: UserPath | None = Field(None, description="Labelled folder for the kNN accuracy monitor (optional).")
    knn_k: int = Field(20, ge=1, le=1000, description="Neighbours in the kNN monitor.")
    device: Device = Field("auto", description="Where to train: auto picks cuda, then mps, then cpu.")
    workers: int = Field(0, ge=0, le=64, description="Processes that decode images.")
    seed: int = Field(0, description="Random seed.")
    runs_dir: UserPath = Field(Path("runs"), description="Where run directories are created.")
    name: str | None = Field(None, description="Optional run name (default: time-method-backbone).")

    @field_validator("data", mode="before")
    @classmethod
    def _listify(cls, v: Any) -> Any:
        if isinstance(v, (str, Path)):
            return [v]
        return v

    @field_validator("data")
    @classmethod
    def _non_empty(cls, v: list[Path]) -> list[Path]:
        if not v:
            raise ValueError("give at least one folder of images")
        return [Path(p).expanduser() for p in v]


class PretrainReport(BaseModel):
    """What a pretraining job returns."""

    run_dir: Path
    status: str
    epochs_done: int
    metrics: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
