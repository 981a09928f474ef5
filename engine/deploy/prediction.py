"""One file's prediction: its own small module so the predict job's report (engine.jobs.predict)
can name it without importing onnx or onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Prediction:
    """One file's result: the top classes with probabilities, or an error and no classes."""

    path: str
    top: list[tuple[str, float]]
    error: str | None = None
