"""Attacking one task of a multitask model: the robustness job's victim is that task's classifier
(its logits alone), and the attacked folder is labelled with that task's classes."""

from __future__ import annotations

from typing import Any

from torch import nn

from engine.core.errors import UserError
from engine.multitask.model import MultitaskClassifier, TaskView


def _pick(tasks: list[str], task: str | None, where: str) -> str:
    if task is None:
        return tasks[0]
    if task not in tasks:
        raise UserError(f"task = {task}: {where} has tasks {', '.join(tasks)}; choose one of them.")
    return task


def run_task(model: nn.Module, info: dict[str, Any], task: str | None) -> tuple[nn.Module, list[str]]:
    """(the task's classifier, its classes) of a multitask run; the first task when none is named."""
    assert isinstance(model, MultitaskClassifier)
    name = _pick(list(info["tasks"]), task, f"run {info.get('run_id', '')}")
    return TaskView(model, name), list(info["tasks"][name])


def onnx_task(clf: Any, task: str | None) -> tuple[str, list[str]]:
    """(the task, its classes) of a multitask ONNX model."""
    name = _pick(list(clf.info.tasks), task, "the ONNX model")
    return name, list(clf.info.task_classes[name])
