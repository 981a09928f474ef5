"""Reading an ONNX classifier's metadata (engine.deploy.export writes it): class names, the
preprocessing statistics, the input size and a multitask model's tasks. Every bad value is a
UserError naming the file, the key and what is expected. Kept apart from onnx_check (which
checks the graph) so each stays small; no onnx import here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    import onnx

DEFAULT_INPUT_SIZE = 224
MAX_SIDE = 8192  # pixels: an input side beyond this is no image classifier this app feeds


def tasks_of(path: Path, meta: dict[str, str], model: onnx.ModelProto) -> tuple[str, ...]:
    """A multitask model's tasks (metadata 'tasks'): one output each, named after the task, in order."""
    value = json_list(path, meta, "tasks")
    if value is None:
        return ()
    names = [o.name for o in model.graph.output]
    if not value or value != names:
        raise UserError(f"{path.name}: metadata 'tasks' is {value!r} but the outputs are {names}; they must match")
    return tuple(str(v) for v in value)


def task_classes_of(path: Path, meta: dict[str, str], tasks: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    if not tasks:
        return {}
    try:
        value = json.loads(meta.get("task_classes", "{}"))
    except json.JSONDecodeError:
        raise UserError(f"{path.name}: metadata 'task_classes' is not valid JSON") from None
    ok = isinstance(value, dict) and all(
        isinstance(value.get(t), list) and value[t] and all(isinstance(c, str) for c in value[t]) for t in tasks
    )
    if not ok:
        raise UserError(
            f"{path.name}: metadata 'task_classes' must map every task ({', '.join(tasks)}) to its class names"
        )
    return {t: tuple(value[t]) for t in tasks}


def json_list(path: Path, meta: dict[str, str], key: str) -> list[Any] | None:
    if key not in meta:
        return None
    try:
        value = json.loads(meta[key])
    except json.JSONDecodeError:
        raise UserError(f"{path.name}: metadata '{key}' is not valid JSON: {meta[key][:80]!r}") from None
    if not isinstance(value, list):
        raise UserError(f"{path.name}: metadata '{key}' must be a JSON list, found {meta[key][:80]!r}")
    return value


def stats_of(
    path: Path, meta: dict[str, str], key: str, channels: int, default: tuple[float, ...]
) -> tuple[float, ...]:
    value = json_list(path, meta, key)
    if value is None:
        if channels == 1:
            return (sum(default) / 3,)
        return default
    ok = len(value) == channels and all(isinstance(v, (int, float)) and math.isfinite(v) for v in value)
    if not ok or (key == "std" and any(v <= 0 for v in value)):
        raise UserError(
            f"{path.name}: metadata '{key}' is {value!r}; expected {channels} finite numbers"
            + (" above 0" if key == "std" else "")
        )
    return tuple(float(v) for v in value)


def classes_of(path: Path, meta: dict[str, str], num_classes: int | None) -> tuple[tuple[str, ...], int | None]:
    value = json_list(path, meta, "classes")
    if value is None:
        if num_classes is None:
            return (), None
        return tuple(f"class_{i}" for i in range(num_classes)), num_classes
    if not value or not all(isinstance(c, str) for c in value):
        raise UserError(f"{path.name}: metadata 'classes' must be a non-empty JSON list of names")
    if num_classes is not None and len(value) != num_classes:
        raise UserError(
            f"{path.name}: metadata 'classes' names {len(value)} classes but the output has {num_classes} scores"
        )
    return tuple(value), len(value)


def input_size_of(path: Path, meta: dict[str, str], hw: tuple[Any, Any], name: str) -> int:
    h, w = hw
    static = isinstance(h, int) and isinstance(w, int)
    if static and h != w:
        raise UserError(f"{path.name}: input '{name}' is {h}×{w}; Transfer Studio feeds square images (H == W)")
    if "input_size" in meta:
        try:
            size = int(meta["input_size"])
        except ValueError:
            raise UserError(
                f"{path.name}: metadata 'input_size' is {meta['input_size']!r}; expected a whole number"
            ) from None
        if size <= 0 or size > MAX_SIDE:
            raise UserError(
                f"{path.name}: metadata 'input_size' is {size}; expected a number of pixels from 1 to {MAX_SIDE}"
            )
        if static and size != h:
            raise UserError(f"{path.name}: metadata 'input_size' is {size} but the input is fixed at {h}×{w}")
        return size
    return int(h) if static else DEFAULT_INPUT_SIZE
