"""The check_tasks job: the health report of a multitask data set, task by task.

Task folders each get the full folder report (unreadable files, duplicates, small or imbalanced
classes, engine.data.health); a labels table gets one report of its images. Then every task's
labelled images and classes, the images tasks share, and every refusal the trainer would make
(a task with one class, tasks with no image in common in a table...) as an error line.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Progress, Started
from engine.data.health import HealthReport
from engine.data.health_issues import Issue
from engine.jobs.job import Job


class CheckTasksConfig(StrictModel):
    tasks: dict[str, Path] = Field(default_factory=dict, description="One labelled folder per task, NAME = FOLDER.")
    labels: Path | None = Field(None, description="A labels table: CSV with a path column and one column per task.")

    @model_validator(mode="after")
    def _one(self) -> CheckTasksConfig:
        if bool(self.tasks) == (self.labels is not None):
            raise ValueError("give task folders (tasks) or a labels table (labels), one of the two")
        return self


class CheckTasksReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folders: list[HealthReport]  # one per task folder, or one for the table's images
    issues: list[Issue]  # per task and across tasks

    @property
    def has_errors(self) -> bool:
        return any(i.level == "error" for i in self.issues) or any(r.has_errors for r in self.folders)

    def to_text(self) -> str:
        parts = [r.to_text() for r in self.folders]
        marks = {"error": "ERROR", "warning": "warning", "info": "-"}
        parts.append("Tasks:\n" + "\n".join(f"  {marks[i.level]} {i.message}" for i in self.issues))
        parts.append("ERRORS: fix them before training." if self.has_errors else "OK to train.")
        return "\n\n".join(parts)


def run(config: CheckTasksConfig, emit: Emit, control: JobControl) -> CheckTasksReport:
    from engine.data.folders import Domain, Sample, scan_domain
    from engine.data.health import check_domain
    from engine.multitask.data import task_health
    from engine.multitask.table import read_tasks

    domains: list[Domain] = []
    issues: list[Issue] = []
    try:
        table = read_tasks(config.tasks, config.labels)
    except UserError as err:  # the trainer's refusal, reported as the check's error
        table = None
        issues.append(Issue(level="error", code="tasks", message=str(err)))
    if config.tasks:
        for name, folder in config.tasks.items():
            if folder.is_dir():
                domains.append(scan_domain(folder, name=name, labelled=True))
    elif table is not None:
        domains.append(Domain(table.root, "labels table images", [], [Sample(p, None) for p in table.paths], False))
    total = sum(len(d) for d in domains)
    emit(Started("check_tasks", str(config.labels or next(iter(config.tasks.values()))), total))
    reports: list[HealthReport] = []
    done = 0
    for d in domains:

        def progress(k: int, _n: int, base: int = done) -> None:
            emit(Progress(0, base + k, total))

        reports.append(check_domain(d, progress=progress, control=control))
        done += len(d)
    if table is not None:
        issues += [Issue(level="warning", code="table", message=w) for w in table.warnings]
        issues += [Issue(level=level, code="task", message=m) for level, m in task_health(table)]
    report = CheckTasksReport(folders=reports, issues=issues)
    emit(Finished("check_tasks", "", {"errors": float(report.has_errors)}))
    return report


JOB = Job("check_tasks", "health report of a multitask data set, task by task", CheckTasksConfig, CheckTasksReport, run)
