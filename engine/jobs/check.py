"""The check job: the health report of the source folder and, optionally, the target and
target-test folders (engine.data.health), plus each folder's file list for thumbnails."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.core.config import StrictModel
from engine.core.control import JobControl, Stopped
from engine.core.events import Emit, Finished, Started
from engine.data.health import FoldersReport
from engine.jobs.job import Job


class CheckConfig(StrictModel):
    source: Path = Field(description="Labelled source folder: one sub-folder per class.")
    target: Path | None = Field(None, description="Target folder (unlabelled images, or class sub-folders).")
    target_test: Path | None = Field(None, description="Labelled target folder used only to measure accuracy.")
    cache: bool = Field(
        False,
        description="Reuse the report of an earlier check of the same, unchanged folders (the window does, "
        "so a restart does not re-read every image).",
    )

    @field_validator("target", "target_test", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v


class FolderImages(BaseModel):
    """The image files of one folder, in scan order, with their class index (None: unlabelled)."""

    model_config = ConfigDict(extra="forbid")
    classes: list[str]
    paths: list[str]
    labels: list[int | None]

    def count(self, class_name: str) -> int:
        return len(self.paths_of(class_name))

    def paths_of(self, class_name: str | None) -> list[str]:
        """Every file (None), or the files of one class."""
        if class_name is None:
            return list(self.paths)
        label = self.classes.index(class_name) if class_name in self.classes else -1
        return [p for p, lab in zip(self.paths, self.labels, strict=True) if lab == label]


class CheckReport(BaseModel):
    """`health` is None when the check was stopped before it finished."""

    model_config = ConfigDict(extra="forbid")
    health: FoldersReport | None
    folders: dict[str, FolderImages]  # source, target, target_test -> files
    stopped: bool = False

    @property
    def has_errors(self) -> bool:
        return self.health is None or self.health.has_errors


def run(config: CheckConfig, emit: Emit, control: JobControl) -> CheckReport:
    from engine.data.folders import scan_domain
    from engine.data.health import check_folders

    domains = {"source": scan_domain(config.source, name="source")}
    if config.target is not None:
        domains["target"] = scan_domain(config.target, name="target")
    if config.target_test is not None:
        domains["target_test"] = scan_domain(config.target_test, name="target_test")
    folders = {
        name: FolderImages(classes=d.classes, paths=[str(s.path) for s in d.samples], labels=d.labels)
        for name, d in domains.items()
    }
    emit(Started("check", str(config.source), sum(len(d) for d in domains.values())))

    def check() -> FoldersReport:
        from engine.data.stage_progress import StageProgress

        # a stage, like scanning and decoding: counts, a rate and an ETA (a 50k-image folder takes minutes)
        stage = StageProgress(emit, "Checking images", total=sum(len(d) for d in domains.values()))
        report = check_folders(
            domains["source"],
            domains.get("target"),
            domains.get("target_test"),
            progress=lambda done, total: stage.update(done, total),
            control=control,
        )
        stage.finish()
        return report

    try:
        if config.cache:
            from engine.data.check_cache import cached_check

            health, _ = cached_check(domains, check)  # unchanged folders: the stored report
        else:
            health = check()
    except Stopped:
        emit(Finished("check", str(config.source), stopped=True))
        return CheckReport(health=None, folders=folders, stopped=True)
    emit(Finished("check", str(config.source), {"errors": float(health.has_errors)}))
    return CheckReport(health=health, folders=folders)


JOB = Job("check", "health report of image folders", CheckConfig, CheckReport, run)
