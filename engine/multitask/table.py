"""The task labels of a multitask run, read from task folders or a labels CSV. No torch here.

A `TaskTable` is one row per image and one column per task: `labels[i][t]` indexes the classes
of task t, or is -1 when image i has no label for it. Tasks may have different images (one
folder per task: an image found in two task folders, by its resolved path, carries both labels)
or the same ones (a labels table). Every mistake the issue names is refused here with a message
that names the file, task, column or row and what to do.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.errors import UserError

TASK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")
PATH_COLUMNS = ("path", "file", "image", "filename")
MISSING = -1


@dataclass
class TaskTable:
    """Images (absolute paths) and their labels per task (-1: none)."""

    root: Path
    paths: list[Path]
    tasks: list[str]
    classes: dict[str, list[str]]
    labels: list[list[int]]  # [image][task]
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def count(self, task: str) -> int:
        t = self.tasks.index(task)
        return sum(1 for row in self.labels if row[t] != MISSING)

    def class_counts(self, task: str) -> dict[str, int]:
        t = self.tasks.index(task)
        counts = dict.fromkeys(self.classes[task], 0)
        for row in self.labels:
            if row[t] != MISSING:
                counts[self.classes[task][row[t]]] += 1
        return counts

    def shared(self, a: str, b: str) -> int:
        """Images labelled for both tasks."""
        ia, ib = self.tasks.index(a), self.tasks.index(b)
        return sum(1 for row in self.labels if row[ia] != MISSING and row[ib] != MISSING)

    def subset(self, keep: list[int]) -> TaskTable:
        return TaskTable(
            self.root, [self.paths[i] for i in keep], self.tasks, self.classes, [self.labels[i] for i in keep]
        )


def check_task_name(name: str, where: str) -> str:
    if not TASK_NAME.match(name):
        raise UserError(
            f"{where}: task name {name!r} is not usable: start with a letter and use letters, digits and _ "
            "(at most 40), e.g. digit or parity; it names the ONNX output and the metrics."
        )
    return name


def _check_classes(table: TaskTable, where: str) -> None:
    """Every task needs two classes with labelled images."""
    for task in table.tasks:
        counts = {c: n for c, n in table.class_counts(task).items() if n > 0}
        if not counts:
            raise UserError(f"{where}: task '{task}' has no labelled image; give it labels or leave the task out.")
        if len(counts) < 2:
            only = next(iter(counts))
            raise UserError(
                f"{where}: task '{task}' has one class ('{only}', {counts[only]} images); a task needs at least "
                "two classes to learn anything. Add images of another class or leave the task out."
            )


def from_folders(tasks: dict[str, Path]) -> TaskTable:
    """One labelled folder per task; an image in several task folders carries all their labels."""
    from engine.data.folders import scan_domain

    if not tasks:
        raise UserError("multitask: give at least one task, as --task NAME=FOLDER.")
    index: dict[str, int] = {}
    paths: list[Path] = []
    rows: list[list[int]] = []
    classes: dict[str, list[str]] = {}
    names = [check_task_name(n, "--task") for n in tasks]
    for t, name in enumerate(names):
        folder = tasks[name]
        try:
            domain = scan_domain(folder, name=name, labelled=True)
        except UserError as err:
            raise UserError(f"task '{name}' folder: {err}") from None
        classes[name] = list(domain.classes)
        for s in domain.samples:
            key = os.path.realpath(s.path)
            if key not in index:
                index[key] = len(paths)
                paths.append(Path(s.path))
                rows.append([MISSING] * len(names))
            assert s.label is not None
            rows[index[key]][t] = s.label
    root = Path(os.path.commonpath([str(Path(p).resolve()) for p in tasks.values()]))
    table = TaskTable(root, paths, names, classes, rows)
    _check_classes(table, "--task")
    return table


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise UserError(f"labels table {path}: file not found. Give a CSV with a path column and one column per task.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise UserError(f"labels table {path}: not UTF-8 text. Save it as a UTF-8 CSV.") from None
    except csv.Error as err:
        raise UserError(f"labels table {path}: not a readable CSV ({err}).") from None
    if len(rows) < 2:
        raise UserError(f"labels table {path}: needs a header row and at least one image row.")
    return [h.strip() for h in rows[0]], rows[1:]


def from_csv(path: str | os.PathLike[str]) -> TaskTable:
    """A labels table: a path column (relative to the table's folder), one column per task."""
    path = Path(path)
    header, body = _read_rows(path)
    lower = [h.lower() for h in header]
    col = next((lower.index(c) for c in PATH_COLUMNS if c in lower), None)
    if col is None:
        raise UserError(
            f"labels table {path}: no path column; the header is {header}. Name the column of image files 'path'."
        )
    task_cols = [i for i in range(len(header)) if i != col]
    if not task_cols:
        raise UserError(f"labels table {path}: only a path column; add one column per task (its header names it).")
    tasks = [check_task_name(header[i], f"labels table {path}, header") for i in task_cols]
    if len(set(tasks)) != len(tasks):
        dup = sorted({t for t in tasks if tasks.count(t) > 1})
        raise UserError(f"labels table {path}: task column(s) {dup} appear twice; give each task one column.")
    base = path.parent
    seen: dict[str, int] = {}
    names: dict[str, list[str]] = {t: [] for t in tasks}
    paths: list[Path] = []
    raw: list[list[str]] = []
    missing: list[str] = []
    for line, row in enumerate(body, start=2):
        cells = [c.strip() for c in row] + [""] * (len(header) - len(row))
        if len(row) > len(header) and any(c.strip() for c in row[len(header) :]):
            raise UserError(f"labels table {path}, row {line}: {len(row)} cells but the header has {len(header)}.")
        file = cells[col]
        if not file:
            raise UserError(f"labels table {path}, row {line}: the path cell is empty.")
        full = (base / file).resolve() if not Path(file).is_absolute() else Path(file)
        if str(full) in seen:
            raise UserError(
                f"labels table {path}, row {line}: '{file}' is listed twice (first on row {seen[str(full)]}); "
                "give each image one row with all its labels."
            )
        seen[str(full)] = line
        values = [cells[i] for i in task_cols]
        if not any(values):
            continue  # a row without any label teaches nothing
        if not full.is_file():
            missing.append(file)
            continue
        paths.append(full)
        raw.append(values)
    if not paths:
        shown = ", ".join(missing[:3])
        raise UserError(
            f"labels table {path}: none of the listed images exists (e.g. {shown}); paths are relative to {base}."
        )
    for values in raw:
        for t, v in zip(tasks, values, strict=True):
            if v and v not in names[t]:
                names[t].append(v)
    classes = {t: sorted(names[t]) for t in tasks}
    order = {t: {c: i for i, c in enumerate(classes[t])} for t in tasks}
    labels = [[order[t][v] if v else MISSING for t, v in zip(tasks, values, strict=True)] for values in raw]
    table = TaskTable(base, paths, tasks, classes, labels)
    if missing:
        table.warnings.append(
            f"labels table {path}: {len(missing)} listed image(s) do not exist and are left out (e.g. {missing[0]})."
        )
    _check_classes(table, f"labels table {path}")
    for i, a in enumerate(tasks):
        for b in tasks[i + 1 :]:
            if table.shared(a, b) == 0:
                raise UserError(
                    f"labels table {path}: tasks '{a}' and '{b}' have no image in common. A labels table is for "
                    "images that carry several labels; for tasks with different images give one folder per task "
                    f"(--task {a}=FOLDER --task {b}=FOLDER)."
                )
    return table


def read_tasks(tasks: dict[str, Path], labels: Path | None) -> TaskTable:
    """The table of a run: task folders or a labels CSV (not both)."""
    if tasks and labels is not None:
        raise UserError("multitask: give task folders (--task NAME=FOLDER) or a labels table (--labels CSV), not both.")
    if labels is not None:
        return from_csv(labels)
    return from_folders(tasks)
