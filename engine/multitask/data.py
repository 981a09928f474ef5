"""A multitask run's data: the task table decoded, split, and checked task by task.

`prepare_multitask` returns a `MultitaskData`, a PreparedData whose `y_train` / `y_val` are
[N, tasks] (-1 where an image has no label for a task), so the trainer's loops pass it through
unchanged. The validation split is stratified on each image's class in its scarcest task, so a scarce task
keeps its share of every class on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from engine.core.config import TrainConfig
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Log
from engine.data.disk_images import budget_bytes
from engine.data.folders import Domain, Sample
from engine.data.prepare import DEFAULT_CACHE, DecodeCache, MemoryBudget, PreparedData
from engine.multitask.table import MISSING, TaskTable, read_tasks

SMALL_CLASS = 10  # fewer labelled images than this in a class: a warning
IMBALANCE = 10.0


@dataclass
class MultitaskData(PreparedData):
    tasks: list[str] = field(default_factory=list)
    task_classes: dict[str, list[str]] = field(default_factory=dict)


Level = Literal["error", "warning", "info"]


def task_health(table: TaskTable) -> list[tuple[Level, str]]:
    """(level, message) lines covering every task: images, classes, small and imbalanced classes, overlap."""
    out: list[tuple[Level, str]] = []
    for task in table.tasks:
        counts = table.class_counts(task)
        n = sum(counts.values())
        out.append(("info", f"Task '{task}': {n} labelled images in {len(counts)} classes ({_counts(counts)})."))
        small = [f"{c} ({k})" for c, k in counts.items() if k < SMALL_CLASS]
        if small:
            out.append(("warning", f"Task '{task}': classes with fewer than {SMALL_CLASS} images: {', '.join(small)}."))
        nonzero = [k for k in counts.values() if k > 0]
        if len(nonzero) > 1 and max(nonzero) / min(nonzero) >= IMBALANCE:
            out.append(("warning", f"Task '{task}': classes are imbalanced ({max(nonzero)} vs {min(nonzero)} images)."))
    for i, a in enumerate(table.tasks):
        for b in table.tasks[i + 1 :]:
            out.append(("info", f"Tasks '{a}' and '{b}' share {table.shared(a, b)} images."))
    return out


def _counts(counts: dict[str, int]) -> str:
    shown = ", ".join(f"{c}: {k}" for c, k in list(counts.items())[:12])
    return shown + (", ..." if len(counts) > 12 else "")


def split_keys(labels: torch.Tensor) -> list[tuple[int, int]]:
    """Each image's stratum: its class in the scarcest task it is labelled for, so a task with ten
    images a class keeps its share in validation (the whole label row would put half of them there)."""
    counts = (labels != MISSING).sum(0).tolist()
    order = sorted(range(labels.shape[1]), key=lambda t: counts[t])
    keys = []
    for row in labels.tolist():
        t = next((t for t in order if row[t] != MISSING), -1)
        keys.append((t, row[t] if t >= 0 else MISSING))
    return keys


def decode_table(
    table: TaskTable, size: int, workers: int, control: JobControl | None, cache: DecodeCache | None = None
) -> tuple[torch.Tensor, torch.Tensor, list[str], list[tuple[str, str]]]:
    """Images uint8 [N, 3, size, size], labels int64 [N, tasks], their paths, and the skipped files."""
    domain = Domain(table.root, "multitask", [], [Sample(p, None) for p in table.paths], labelled=False)
    dec = (cache or DEFAULT_CACHE).get_or_decode(domain, size, workers, control)
    row_of = {str(p): i for i, p in enumerate(table.paths)}
    keep = [row_of[p] for p in dec.paths]
    labels = torch.tensor([table.labels[i] for i in keep], dtype=torch.int64).reshape(len(keep), len(table.tasks))
    return dec.images, labels, list(dec.paths), list(dec.skipped)


def prepare_multitask(
    config: TrainConfig, size: int, emit: Emit, control: JobControl | None = None, cache: DecodeCache | None = None
) -> MultitaskData:
    """Read, check, decode and split the tasks named in `config`."""
    from engine.data.split import stratified_split

    table = read_tasks(config.tasks, config.labels)
    for warning in table.warnings:
        emit(Log(warning, "warning"))
    for level, message in task_health(table):
        emit(Log(message, level))
    images, labels, _, skipped = decode_table(table, size, config.workers, control, cache)
    for path, reason in skipped:
        emit(Log(f"Skipped unreadable file {path}: {reason}", "warning"))
    if len(images) < 2:
        raise UserError(f"multitask: only {len(images)} readable image(s); a run needs at least 2.")
    for t, task in enumerate(table.tasks):
        if int((labels[:, t] != MISSING).sum()) == 0:
            raise UserError(f"multitask: task '{task}' has no readable labelled image; check its files.")
    keys = split_keys(labels)
    train_idx, val_idx = stratified_split(keys, config.val_fraction, config.seed)
    ti, vi = torch.tensor(train_idx, dtype=torch.long), torch.tensor(val_idx, dtype=torch.long)
    first = table.tasks[0]
    emit(Log(f"Multitask: {len(images)} images, tasks {', '.join(table.tasks)} ({Path(table.root)})"))
    # the splits in memory while they fit the memory budget, else read from the disk cache per batch
    budget = MemoryBudget(budget_bytes(config.cache_memory_mb))
    data = MultitaskData(
        list(table.classes[first]),
        size,
        budget.take(images, ti),
        labels[ti],
        budget.take(images, vi),
        labels[vi],
        tasks=list(table.tasks),
        task_classes={t: list(table.classes[t]) for t in table.tasks},
    )
    data.on_disk = budget.spilled
    if budget.spilled:
        emit(
            Log(
                f"Decoded images over the memory budget ({budget.total >> 20} MB): reading them from the disk "
                "cache batch by batch. Raise cache_memory_mb to keep more in memory."
            )
        )
    return data
