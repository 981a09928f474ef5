"""One file's prediction: its own small module so the predict job's report (engine.jobs.predict)
can name it without importing onnx or onnxruntime."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Prediction:
    """One file's result: the top classes with probabilities, or an error and no classes."""

    path: str
    top: list[tuple[str, float]]
    error: str | None = None
    tasks: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # a multitask model: top-k per task
