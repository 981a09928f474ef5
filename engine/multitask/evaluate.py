"""Measuring a multitask model task by task: logits of every task, and a report per task (accuracy,
per-class precision and recall, confusion matrix) on a labels table or task folders.

The evaluate job calls `evaluate_tasks` when the run is a multitask run; the report's top-level
accuracy and confusion matrix are the first task's (so single-task readers still work), and
`tasks` holds every task's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.multitask.losses import MISSING
from engine.training.devices import to_device_float


@torch.inference_mode()
def all_task_logits(
    model: Any, x_uint8: torch.Tensor, device: torch.device, batch_size: int = 256, control: JobControl | None = None
) -> dict[str, torch.Tensor]:
    """Every task's logits of uint8 images, in eval mode, on the CPU."""
    was = model.training
    model.eval()
    outs: dict[str, list[torch.Tensor]] = {t: [] for t in model.tasks}
    try:
        for i in range(0, len(x_uint8), batch_size):
            if control is not None:
                control.check()
            got = model.forward_all(to_device_float(x_uint8[i : i + batch_size], device))
            for t in model.tasks:
                outs[t].append(got[t].float().cpu())
    finally:
        model.train(was)
    return {t: torch.cat(v) if v else torch.zeros(0, model.sizes[t]) for t, v in outs.items()}


def read_eval_table(data: Path, tasks: dict[str, list[str]]) -> Any:
    """The evaluation data of a multitask run: a labels CSV, a folder holding labels.csv, or a
    folder holding one class folder per task (named after the tasks)."""
    from engine.multitask.table import from_csv, from_folders

    if data.is_file():
        return from_csv(data)
    if (data / "labels.csv").is_file():
        return from_csv(data / "labels.csv")
    found = {t: data / t for t in tasks if (data / t).is_dir()}
    if found:
        return from_folders(found)
    raise UserError(
        f"{data}: a multitask run is measured on a labels table (a CSV, or a folder holding labels.csv) "
        f"or a folder with one class folder per task ({', '.join(tasks)})."
    )


def evaluate_tasks(
    model: Any, info: dict[str, Any], data: Path, device: torch.device, batch_size: int, control: JobControl | None
) -> dict[str, Any]:
    """Per-task accuracy, per-class scores and confusion matrix; tasks the data lacks are left out."""
    from engine.analysis.evaluate import confusion_matrix, per_class
    from engine.multitask.data import decode_table

    tasks: dict[str, list[str]] = info["tasks"]
    table = read_eval_table(data, tasks)
    common = [t for t in table.tasks if t in tasks]
    if not common:
        raise UserError(
            f"{data}: none of its tasks ({', '.join(table.tasks)}) is one of the run's ({', '.join(tasks)})."
        )
    for t in common:
        unknown = sorted(set(table.classes[t]) - set(tasks[t]))
        if unknown:
            raise UserError(f"{data}: task '{t}' has classes {unknown} the model does not know (it knows {tasks[t]}).")
    images, labels, paths, skipped = decode_table(table, int(info["input_size"]), 0, control)
    logits = all_task_logits(model.to(device), images, device, batch_size, control)
    out: dict[str, Any] = {}
    for t in common:
        col = table.tasks.index(t)
        remap = torch.tensor([tasks[t].index(c) for c in table.classes[t]], dtype=torch.long)
        mask = labels[:, col] != MISSING
        y = remap[labels[mask, col]]
        probs = torch.softmax(logits[t][mask], 1)
        pred = probs.argmax(1)
        cm = confusion_matrix(pred.numpy(), y.numpy(), len(tasks[t]))
        rows = [paths[i] for i in mask.nonzero().flatten().tolist()]
        wrong = (pred != y).nonzero().flatten().tolist()
        out[t] = {
            "n": int(mask.sum()),
            "accuracy": float((pred == y).float().mean()) if len(y) else float("nan"),
            "classes": tasks[t],
            "per_class": per_class(cm, tasks[t]),
            "confusion_matrix": cm.tolist(),
            "misclassified": [
                {
                    "path": rows[i],
                    "true": tasks[t][int(y[i])],
                    "predicted": tasks[t][int(pred[i])],
                    "confidence": float(probs[i, pred[i]]),
                }
                for i in wrong
            ],
        }
    return {"tasks": out, "skipped": [{"path": p, "reason": r} for p, r in skipped]}


def evaluate_multitask_run(
    model: Any, info: dict[str, Any], config: Any, emit: Any, control: JobControl | None
) -> dict[str, Any]:
    """The evaluate job's report for a multitask run: `tasks` per task, the top level the first's."""
    from engine.core.events import Finished, Log, Started
    from engine.training.devices import pick_device

    emit(Started("evaluate", str(config.run_dir)))
    got = evaluate_tasks(model, info, Path(config.data), pick_device(config.device), config.batch_size, control)
    tasks: dict[str, Any] = got["tasks"]
    first = next(iter(tasks.values()))
    for name, t in tasks.items():
        emit(Log(f"Task '{name}': accuracy {t['accuracy']:.2%} on {t['n']} images"))
    mean = sum(t["accuracy"] for t in tasks.values()) / len(tasks)
    emit(Finished("evaluate", str(config.run_dir), {"accuracy": first["accuracy"], "mean_task_accuracy": mean}))
    return {
        "run_dir": str(config.run_dir),
        "data": str(config.data),
        "checkpoint": info.get("checkpoint", ""),
        **first,
        "skipped": got["skipped"],
        "tasks": tasks,
    }
