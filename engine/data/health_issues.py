"""The findings of a health check: one `Issue` per problem, and the rules that raise them.

Kept apart from engine.data.health (which opens the files) so each stays small. No torch here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from engine.core.fsutil import display_name
from engine.data.folders import UNREADABLE_FOLDER, Domain

SMALL_CLASS = 5
IMBALANCE_RATIO = 3.0
_MAX_LISTED = 10


Level = Literal["error", "warning", "info"]


class Issue(BaseModel):
    """One finding; `error` blocks training, `warning` deserves a look, `info` is for the record."""

    model_config = ConfigDict(extra="forbid")
    level: Level
    code: str
    message: str
    path: str | None = None


class Issues(list[Issue]):
    """The findings of one check, in order; `error`, `warning` and `info` keep each rule to one call."""

    def add(self, level: Level, code: str, path: str | None, message: str) -> None:
        self.append(Issue(level=level, code=code, path=path, message=message))

    def error(self, code: str, path: str | None, message: str) -> None:
        self.add("error", code, path, message)

    def warning(self, code: str, path: str | None, message: str) -> None:
        self.add("warning", code, path, message)

    def info(self, code: str, path: str | None, message: str) -> None:
        self.add("info", code, path, message)


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def domain_issues(
    domain: Domain, counts: dict[str, int], unreadable: list[dict[str, str]], duplicates: list[list[str]], readable: int
) -> list[Issue]:
    issues = Issues()
    root = str(domain.root)
    if readable == 0:
        issues.error("all_unreadable", root, f"None of the {len(domain)} images in '{domain.name}' can be read.")
    elif unreadable:
        issues.warning(
            "unreadable",
            root,
            f"{len(unreadable)} of {len(domain)} images cannot be read and will be skipped.",
        )
    if duplicates:
        extra = sum(len(g) - 1 for g in duplicates)
        issues.warning("duplicates", root, f"{len(duplicates)} groups of identical files ({extra} redundant copies).")
        if domain.labelled:
            label_of = {str(s.path): s.label for s in domain.samples}
            clash = [g for g in duplicates if len({label_of.get(p) for p in g}) > 1]
            if clash:
                issues.warning(
                    "duplicate_across_classes",
                    clash[0][0],
                    f"{len(clash)} identical images sit in different classes (contradictory labels).",
                )
    if domain.empty_classes:
        issues.warning("empty_class", root, f"Class folder(s) without images, ignored: {_names(domain.empty_classes)}.")
    if domain.labelled and readable:
        if len(counts) == 1:
            issues.warning(
                "single_class",
                root,
                f"Only one class ({domain.classes[0]}); a classifier needs at least two.",
            )
        small = [f"{c} ({n})" for c, n in counts.items() if n < SMALL_CLASS]
        if small:
            issues.warning(
                "small_class",
                root,
                f"Classes with fewer than {SMALL_CLASS} readable images: {_names(small)}.",
            )
        nonzero = {c: n for c, n in counts.items() if n > 0}
        if len(nonzero) > 1:
            big = max(nonzero, key=lambda c: nonzero[c])
            tiny = min(nonzero, key=lambda c: nonzero[c])
            ratio = nonzero[big] / nonzero[tiny]
            if ratio >= IMBALANCE_RATIO:
                issues.warning(
                    "imbalance",
                    root,
                    f"Classes are imbalanced: '{big}' has {nonzero[big]} images, "
                    f"'{tiny}' has {nonzero[tiny]} ({ratio:.1f}×).",
                )
    others = [p for p, why in domain.skipped if why.startswith("not an image")]
    if others:
        issues.info("non_image_files", root, f"{len(others)} files without an image extension were ignored.")
    folders = [(p, why) for p, why in domain.skipped if why.startswith(UNREADABLE_FOLDER)]
    for p, why in folders:
        issues.warning("unreadable_folder", p, f"Sub-folder skipped: {why}.")
    odd = [(p, why) for p, why in domain.skipped if not why.startswith(("not an image", UNREADABLE_FOLDER))]
    for p, why in odd[:_MAX_LISTED]:
        issues.info("skipped", p, f"Skipped while scanning: {why}.")
    for issue in issues:
        issue.path = display_name(issue.path) if issue.path else issue.path
        issue.message = display_name(issue.message)
    return issues


def compare_domains(source: Domain, target: Domain) -> list[Issue]:
    """Class-name checks between the training source and a target folder."""
    if not target.labelled:
        return [
            Issue(
                level="info",
                code="target_unlabelled",
                path=str(target.root),
                message=f"'{target.name}' is unlabelled: it can be used for adaptation, not for measuring accuracy.",
            )
        ]
    if not source.labelled:
        return []
    issues, root = Issues(), str(target.root)
    if extra := [c for c in target.classes if c not in source.classes]:
        issues.error(
            "class_missing_in_source",
            root,
            f"'{target.name}' has classes the source '{source.name}' lacks: {_names(extra)}. "
            "Rename them to match the source folders or remove them.",
        )
    if missing := [c for c in source.classes if c not in target.classes]:
        issues.warning(
            "class_missing_in_target", root, f"'{target.name}' has no images of source classes: {_names(missing)}."
        )
    return issues
