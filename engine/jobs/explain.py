"""The explain job: heat maps of what a model looked at, for images or a folder, with their
faithfulness (engine.explain.run does the work; this module is torch-free)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job

Method = Literal["gradcam", "gradcam++", "occlusion", "rise", "cam"]


class ExplainConfig(StrictModel):
    model: Path = Field(description="Run directory (every method) or .onnx file (occlusion, rise, cam).")
    images: Path = Field(description="An image file or a folder of images (searched recursively).")
    method: Method = Field("gradcam", description="gradcam, gradcam++ (runs), occlusion, rise or cam.")
    classes: list[str] = Field(
        default_factory=list, description="Classes to explain (one map each); empty: the predicted class."
    )
    out: Path = Field(description="Folder for the overlays (PNG) and the raw maps (.npy).")
    checkpoint: Literal["best", "last"] = Field("best", description="Which checkpoint of a run.")
    limit: int = Field(500, ge=1, le=100_000, description="Explain at most this many images (in file order).")
    faithfulness: bool = Field(True, description="Also score each map by deletion and insertion AUC vs a random map.")
    steps: int = Field(24, ge=4, le=256, description="Points on the deletion and insertion curves.")
    rise_masks: int = Field(1000, ge=16, le=100_000, description="Random masks per image for RISE.")
    occlusion_window: int | None = Field(None, ge=1, description="Side of the occluding square; empty: 1/8 image.")
    batch_size: int = Field(64, ge=1, le=4096, description="Images per model call.")
    seed: int = Field(0, description="Seed of RISE's masks and the random baseline map.")

    @field_validator("classes", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        if v is None or v == "":
            return []
        return [v] if isinstance(v, str) else v


class MapScores(BaseModel):
    """Deletion (lower is better) and insertion (higher is better) AUC of a map and of a random one."""

    model_config = ConfigDict(extra="forbid")
    deletion: float
    insertion: float
    random_deletion: float
    random_insertion: float


class ExplainedMap(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(alias="class")
    probability: float
    npy: str  # float32 [H, W] in [0, 1] at the model's input size
    overlay: str  # PNG: image | heat map | blend
    scores: MapScores | None = None


class ExplainedImage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    original_size: list[int]  # width, height before the model's resize and centre crop
    predicted: str
    confidence: float
    label: str | None = None  # the parent folder's name when it is one of the model's classes
    maps: list[ExplainedMap]
    seconds: float  # to compute the maps (not the faithfulness curves)
    queries: int  # images the model scored to make the maps


class ExplainReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    model_kind: Literal["run", "onnx"]
    method: str
    layer: str = ""  # the hooked layer of gradient methods
    classes: list[str]
    input_size: int
    out: str
    images: list[ExplainedImage]
    skipped: list[str] = Field(default_factory=list)  # "path: reason"
    seconds_per_image: float = 0.0
    queries_per_image: float = 0.0
    mean_scores: MapScores | None = None
    faithful: bool | None = None  # beats the random map on both deletion and insertion, on average
    notes: list[str] = Field(default_factory=list)
    stopped: bool = False


def run(config: ExplainConfig, emit: Emit, control: JobControl) -> ExplainReport:
    from engine.explain.run import explain_images

    return explain_images(config, emit, control)


JOB = Job(
    "explain", "heat maps of what a model looked at, scored by deletion/insertion", ExplainConfig, ExplainReport, run
)
