"""One file's prediction, and how a set of predictions scores against class folders: its own
small module so the predict job's report (engine.jobs.predict) can name them without importing
onnx or onnxruntime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict


@dataclass
class Prediction:
    """One file's result: the top classes with probabilities, or an error and no classes."""

    path: str
    top: list[tuple[str, float]]
    error: str | None = None
    tasks: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # a multitask model: top-k per task


class FolderScore(BaseModel):
    """Predictions against the class sub-folders they came from (a labelled folder was predicted).

    `confusion[i][j]` counts images of class i predicted as class j (classes in the model's order);
    files outside a class folder or unreadable are not counted.
    """

    model_config = ConfigDict(extra="forbid")
    accuracy: float
    correct: int
    counted: int
    classes: list[str]
    confusion: list[list[int]]
    labels: dict[str, str]  # file path -> true class, for the files counted


def folder_labels(inputs: Sequence[Path], paths: Sequence[str], classes: Sequence[str]) -> dict[str, str]:
    """True classes from folder names: a file in `<input folder>/<class>/...` whose class is one of
    the model's `classes` is labelled with it; other files are left out."""
    known = set(classes)
    roots = [Path(p).resolve() for p in inputs if Path(p).is_dir()]
    labels: dict[str, str] = {}
    for path in paths:
        resolved = Path(path).resolve()
        for root in roots:
            if resolved.is_relative_to(root):
                parts = resolved.relative_to(root).parts
                if len(parts) > 1 and parts[0] in known:
                    labels[path] = parts[0]
                break
    return labels


def score_folder(
    predictions: Sequence[Prediction], labels: dict[str, str], classes: Sequence[str]
) -> FolderScore | None:
    """Accuracy and confusion matrix of `predictions` against `labels`; None when no file is labelled."""
    index = {c: i for i, c in enumerate(classes)}
    confusion = [[0] * len(classes) for _ in classes]
    counted: dict[str, str] = {}
    for pred in predictions:
        true = labels.get(pred.path)
        if true is None or pred.error or not pred.top or pred.top[0][0] not in index:
            continue
        confusion[index[true]][index[pred.top[0][0]]] += 1
        counted[pred.path] = true
    if not counted:
        return None
    correct = sum(confusion[i][i] for i in range(len(classes)))
    return FolderScore(
        accuracy=correct / len(counted),
        correct=correct,
        counted=len(counted),
        classes=list(classes),
        confusion=confusion,
        labels=counted,
    )
