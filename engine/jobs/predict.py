"""The predict job: classify image files (one, several, or every file under folders) with an
ONNX model through onnxruntime, without torch; optionally write the rows as CSV.

The onnxruntime session of the last model used is kept (keyed by path and modification time),
so a page that predicts file after file pays for loading the model once.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.core.config import StrictModel
from engine.core.control import JobControl, Stopped
from engine.core.events import Emit, Finished, Progress, Started
from engine.deploy.prediction import FolderScore, Prediction, folder_labels, score_folder
from engine.jobs.job import Job

if TYPE_CHECKING:
    from engine.deploy.predict import OnnxClassifier

_lock = threading.Lock()
_cached: tuple[str, float, OnnxClassifier] | None = None


class PredictConfig(StrictModel):
    model: Path = Field(description="ONNX image classifier (an exported run, or any compatible file).")
    inputs: list[Path] = Field(min_length=1, description="Image files and/or folders (searched recursively).")
    top_k: int = Field(3, ge=1, le=100, description="How many of the most likely classes to keep per image.")
    csv: Path | None = Field(None, description="Also write the rows to this CSV file.")
    chunk: int = Field(
        256, ge=1, le=4096, description="Files per step (one decoded batch): progress and Stop act between steps."
    )

    @field_validator("inputs", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, (str, Path)) else v


class PredictReport(BaseModel):
    """One row per file, in order; unreadable files are rows with `error` set."""

    model_config = ConfigDict(extra="forbid")
    model: str
    inputs: list[str]
    top_k: int
    predictions: list[Prediction]
    total: int  # files found; more than len(predictions) when stopped
    stopped: bool = False
    csv: str | None = None
    model_run: str | None = None  # the run the model was exported from, when its metadata says
    score: FolderScore | None = None  # accuracy and confusion when a folder of class sub-folders was predicted

    @property
    def errors(self) -> int:
        return sum(1 for p in self.predictions if p.error)


def classifier(model: Path) -> OnnxClassifier:
    """The classifier for `model`, reusing the last one while the file is unchanged."""
    global _cached
    key, mtime = str(model), model.stat().st_mtime if model.is_file() else 0.0
    with _lock:
        if _cached is not None and _cached[0] == key and _cached[1] == mtime:
            return _cached[2]
    from engine.deploy.predict import OnnxClassifier

    clf = OnnxClassifier(model)
    with _lock:
        _cached = (key, mtime, clf)
    return clf


def run(config: PredictConfig, emit: Emit, control: JobControl) -> PredictReport:
    from engine.deploy.predict import list_images, write_csv

    clf = classifier(config.model)
    paths: list[Path] = []
    for target in config.inputs:
        paths.extend(list_images(target))
    emit(Started("predict", str(config.model), len(paths)))
    predictions: list[Prediction] = []
    stopped = False
    for start in range(0, len(paths), config.chunk):
        try:
            control.check()
        except Stopped:
            stopped = True
            break
        predictions.extend(clf.predict_paths(paths[start : start + config.chunk], top_k=config.top_k))
        emit(Progress(0, len(predictions), len(paths)))
    csv = None
    if config.csv is not None:
        csv = str(write_csv(predictions, config.csv, config.top_k))
    score = score_folder(
        predictions, folder_labels(config.inputs, [p.path for p in predictions], clf.classes), clf.classes
    )
    emit(Finished("predict", str(config.model), {"files": float(len(predictions))}, stopped=stopped))
    return PredictReport(
        model=str(config.model),
        inputs=[str(p) for p in config.inputs],
        top_k=config.top_k,
        predictions=predictions,
        total=len(paths),
        stopped=stopped,
        csv=csv,
        model_run=clf.info.run_id or None,
        score=score,
    )


JOB = Job("predict", "classify images with an ONNX model (no torch)", PredictConfig, PredictReport, run)
