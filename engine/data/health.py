"""Dataset health check: open every image once, report what would hurt training. No torch here.

Finds unreadable files, exact duplicates, empty / tiny classes, imbalance, and class mismatches
between the source and target domains. Reports are pydantic models (JSON for the CLI, text for people).
"""

from __future__ import annotations

import hashlib
import os
import statistics
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, PrivateAttr

from engine.core.errors import UnreadableImage
from engine.data.folders import Domain, scan_domain
from engine.data.images import open_rgb_with_info

Progress = Callable[[int, int], None]
SMALL_CLASS = 5
IMBALANCE_RATIO = 3.0
_MAX_LISTED = 10


class Issue(BaseModel):
    """One finding; `error` blocks training, `warning` deserves a look, `info` is for the record."""

    model_config = ConfigDict(extra="forbid")
    level: Literal["error", "warning", "info"]
    code: str
    message: str
    path: str | None = None


class HealthReport(BaseModel):
    """What one domain folder holds and what is wrong with it. `class_counts` counts readable images."""

    model_config = ConfigDict(extra="forbid")
    domain: str
    root: str
    labelled: bool
    num_images: int
    classes: list[str]
    class_counts: dict[str, int]
    unreadable: list[dict[str, str]]
    duplicates: list[list[str]]
    sizes: dict[str, int]
    modes: dict[str, int]
    formats: dict[str, int]
    issues: list[Issue]
    _hashes: dict[str, str] = PrivateAttr(default_factory=dict)  # path -> content hash

    @property
    def has_errors(self) -> bool:
        return any(i.level == "error" for i in self.issues)

    @property
    def num_readable(self) -> int:
        return self.num_images - len(self.unreadable)

    def to_text(self) -> str:
        """A human report; every unreadable file is listed with its path and reason."""
        kind = "labelled" if self.labelled else "unlabelled"
        lines = [f"Domain '{self.domain}' ({kind}): {self.root}"]
        lines.append(
            f"  images: {self.num_images} found, {self.num_readable} readable, {len(self.unreadable)} unreadable"
        )
        if self.labelled:
            counts = ", ".join(f"{c}: {n}" for c, n in self.class_counts.items())
            lines.append(f"  classes ({len(self.classes)}): {counts}")
        if self.sizes:
            s = self.sizes
            lines.append(
                f"  size (W×H): min {s['min_width']}×{s['min_height']}, median {s['median_width']}×"
                f"{s['median_height']}, max {s['max_width']}×{s['max_height']}"
            )
        if self.modes:
            lines.append("  colour modes: " + ", ".join(f"{m} {n}" for m, n in sorted(self.modes.items())))
        if self.formats:
            lines.append("  formats: " + ", ".join(f"{m} {n}" for m, n in sorted(self.formats.items())))
        if self.unreadable:
            lines.append("  unreadable files (skipped in training):")
            lines += [f"    {u['path']}: {u['reason']}" for u in self.unreadable]
        if self.duplicates:
            lines.append(f"  identical files ({len(self.duplicates)} groups):")
            lines += ["    " + " == ".join(group) for group in self.duplicates]
        lines += _issue_lines(self.issues)
        return "\n".join(lines)


class FoldersReport(BaseModel):
    """Health of the source, target and target-test folders plus the cross-domain checks."""

    model_config = ConfigDict(extra="forbid")
    source: HealthReport
    target: HealthReport | None = None
    target_test: HealthReport | None = None
    issues: list[Issue] = []

    def reports(self) -> list[HealthReport]:
        return [r for r in (self.source, self.target, self.target_test) if r is not None]

    @property
    def has_errors(self) -> bool:
        return any(i.level == "error" for i in self.issues) or any(r.has_errors for r in self.reports())

    def to_text(self) -> str:
        parts = [r.to_text() for r in self.reports()]
        if self.issues:
            parts.append("Across folders:\n" + "\n".join(_issue_lines(self.issues, header=False)))
        verdict = "ERRORS: fix them before training." if self.has_errors else "OK to train."
        return "\n\n".join([*parts, verdict])

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)


def _issue_lines(issues: list[Issue], header: bool = True) -> list[str]:
    if not issues:
        return []
    lines = ["  issues:"] if header else []
    for i in issues:
        where = f" [{i.path}]" if i.path else ""
        lines.append(f"    {i.level.upper()}: {i.message}{where}")
    return lines


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _inspect(path: str, max_pixels: int | None) -> dict[str, Any]:
    """Read, hash and decode one file; never raises for a bad image."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return {"path": path, "hash": None, "error": exc.strerror or str(exc)}
    digest = hashlib.blake2b(data, digest_size=16).hexdigest() if data else None
    try:
        _, info = open_rgb_with_info(path, max_pixels, data=data)
    except UnreadableImage as exc:
        return {"path": path, "hash": digest, "error": exc.reason}
    return {"path": path, "hash": digest, "error": None, "info": info}


def _run_pool(
    paths: list[str],
    max_pixels: int | None,
    progress: Progress | None,
    control: Any,
    done_before: int = 0,
    total: int | None = None,
) -> list[dict[str, Any]]:
    """Inspect all paths on a thread pool (PIL decoding releases the GIL); results in input order."""
    total = len(paths) if total is None else total
    results: list[dict[str, Any] | None] = [None] * len(paths)
    workers = max(1, min(8, (os.cpu_count() or 2)))
    window = workers * 4  # bounded queue: stop/pause act within a few images
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health") as pool:
        pending: dict[Future, int] = {}
        next_i = 0
        done = 0
        try:
            while next_i < len(paths) or pending:
                while next_i < len(paths) and len(pending) < window:
                    pending[pool.submit(_inspect, paths[next_i], max_pixels)] = next_i
                    next_i += 1
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    results[pending.pop(fut)] = fut.result()
                done += len(finished)
                if progress is not None:
                    progress(done_before + done, total)
                if control is not None:
                    control.check()
        finally:
            for fut in pending:
                fut.cancel()
    return [r for r in results if r is not None]


def _summarise(domain: Domain, results: list[dict[str, Any]]) -> HealthReport:
    unreadable = [{"path": r["path"], "reason": r["error"]} for r in results if r["error"] is not None]
    good = [r for r in results if r["error"] is None]
    bad_paths = {u["path"] for u in unreadable}
    by_hash: dict[str, list[str]] = {}
    for r in results:
        if r["hash"] is not None:
            by_hash.setdefault(r["hash"], []).append(r["path"])
    duplicates = sorted(sorted(g) for g in by_hash.values() if len(g) > 1)
    infos = [r["info"] for r in good]
    sizes: dict[str, int] = {}
    if infos:
        ws = [i.width for i in infos]
        hs = [i.height for i in infos]
        sizes = {
            "min_width": min(ws),
            "median_width": int(statistics.median(ws)),
            "max_width": max(ws),
            "min_height": min(hs),
            "median_height": int(statistics.median(hs)),
            "max_height": max(hs),
        }
    counts = dict.fromkeys(domain.classes, 0)
    for s in domain.samples:
        if s.label is not None and str(s.path) not in bad_paths:
            counts[domain.classes[s.label]] += 1
    report = HealthReport(
        domain=domain.name,
        root=str(domain.root),
        labelled=domain.labelled,
        num_images=len(domain),
        classes=list(domain.classes),
        class_counts=counts if domain.labelled else {},
        unreadable=unreadable,
        duplicates=duplicates,
        sizes=sizes,
        modes=dict(Counter(i.mode for i in infos)),
        formats=dict(Counter(i.format for i in infos)),
        issues=_domain_issues(domain, counts, unreadable, duplicates, len(good)),
    )
    report._hashes = {r["path"]: r["hash"] for r in results if r["hash"] is not None}
    return report


def _domain_issues(
    domain: Domain, counts: dict[str, int], unreadable: list[dict[str, str]], duplicates: list[list[str]], readable: int
) -> list[Issue]:
    issues: list[Issue] = []
    root = str(domain.root)
    if readable == 0:
        issues.append(
            Issue(
                level="error",
                code="all_unreadable",
                path=root,
                message=f"None of the {len(domain)} images in '{domain.name}' can be read.",
            )
        )
    elif unreadable:
        issues.append(
            Issue(
                level="warning",
                code="unreadable",
                path=root,
                message=f"{len(unreadable)} of {len(domain)} images cannot be read and will be skipped.",
            )
        )
    if duplicates:
        extra = sum(len(g) - 1 for g in duplicates)
        issues.append(
            Issue(
                level="warning",
                code="duplicates",
                path=root,
                message=f"{len(duplicates)} groups of identical files ({extra} redundant copies).",
            )
        )
        if domain.labelled:
            label_of = {str(s.path): s.label for s in domain.samples}
            clash = [g for g in duplicates if len({label_of.get(p) for p in g}) > 1]
            if clash:
                issues.append(
                    Issue(
                        level="warning",
                        code="duplicate_across_classes",
                        path=clash[0][0],
                        message=f"{len(clash)} identical images sit in different classes (contradictory labels).",
                    )
                )
    if domain.empty_classes:
        issues.append(
            Issue(
                level="warning",
                code="empty_class",
                path=root,
                message=f"Class folder(s) without images, ignored: {_names(domain.empty_classes)}.",
            )
        )
    if domain.labelled and readable:
        if len(counts) == 1:
            issues.append(
                Issue(
                    level="warning",
                    code="single_class",
                    path=root,
                    message=f"Only one class ({domain.classes[0]}); a classifier needs at least two.",
                )
            )
        small = [f"{c} ({n})" for c, n in counts.items() if n < SMALL_CLASS]
        if small:
            issues.append(
                Issue(
                    level="warning",
                    code="small_class",
                    path=root,
                    message=f"Classes with fewer than {SMALL_CLASS} readable images: {_names(small)}.",
                )
            )
        nonzero = {c: n for c, n in counts.items() if n > 0}
        if len(nonzero) > 1:
            big = max(nonzero, key=lambda c: nonzero[c])
            tiny = min(nonzero, key=lambda c: nonzero[c])
            ratio = nonzero[big] / nonzero[tiny]
            if ratio >= IMBALANCE_RATIO:
                issues.append(
                    Issue(
                        level="warning",
                        code="imbalance",
                        path=root,
                        message=f"Classes are imbalanced: '{big}' has {nonzero[big]} images, "
                        f"'{tiny}' has {nonzero[tiny]} ({ratio:.1f}×).",
                    )
                )
    others = [p for p, why in domain.skipped if why.startswith("not an image")]
    if others:
        issues.append(
            Issue(
                level="info",
                code="non_image_files",
                path=root,
                message=f"{len(others)} files without an image extension were ignored.",
            )
        )
    odd = [(p, why) for p, why in domain.skipped if not why.startswith("not an image")]
    for p, why in odd[:_MAX_LISTED]:
        issues.append(Issue(level="info", code="skipped", path=p, message=f"Skipped while scanning: {why}."))
    return issues


def check_domain(
    domain: Domain, *, progress: Progress | None = None, control: Any = None, max_pixels: int | None = None
) -> HealthReport:
    """Open every image of `domain` once (thread pool) and report its health.

    `progress(done, total)` is called as files finish; `control.check()` between files lets a
    GUI pause or stop the check (it raises engine.core.control.Stopped).
    """
    results = _run_pool([str(p) for p in domain.paths], max_pixels, progress, control)
    return _summarise(domain, results)


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
    issues: list[Issue] = []
    extra = [c for c in target.classes if c not in source.classes]
    if extra:
        issues.append(
            Issue(
                level="error",
                code="class_missing_in_source",
                path=str(target.root),
                message=f"'{target.name}' has classes the source '{source.name}' lacks: {_names(extra)}. "
                "Rename them to match the source folders or remove them.",
            )
        )
    missing = [c for c in source.classes if c not in target.classes]
    if missing:
        issues.append(
            Issue(
                level="warning",
                code="class_missing_in_target",
                path=str(target.root),
                message=f"'{target.name}' has no images of source classes: {_names(missing)}.",
            )
        )
    return issues


def _as_domain(d: Domain | str | os.PathLike[str], name: str, labelled: bool | None) -> Domain:
    return d if isinstance(d, Domain) else scan_domain(Path(d), name=name, labelled=labelled)


def _overlap(a: HealthReport, b: HealthReport) -> set[str]:
    return set(a._hashes.values()) & set(b._hashes.values())


def check_folders(
    source: Domain | str | os.PathLike[str],
    target: Domain | str | os.PathLike[str] | None = None,
    target_test: Domain | str | os.PathLike[str] | None = None,
    *,
    progress: Progress | None = None,
    control: Any = None,
    max_pixels: int | None = None,
) -> FoldersReport:
    """Check the source (and optional target / target-test folders) and how they fit together.

    Paths are scanned first (UserError for a missing or empty folder). Progress counts files over all folders.
    """
    src = _as_domain(source, "source", None)
    tgt = _as_domain(target, "target", None) if target is not None else None
    tst = _as_domain(target_test, "target_test", None) if target_test is not None else None
    domains = [d for d in (src, tgt, tst) if d is not None]
    total = sum(len(d) for d in domains)
    reports: list[HealthReport] = []
    done = 0
    for d in domains:
        results = _run_pool([str(p) for p in d.paths], max_pixels, progress, control, done, total)
        done += len(d)
        reports.append(_summarise(d, results))
    src_r = reports[0]
    tgt_r = reports[1] if tgt is not None else None
    tst_r = reports[-1] if tst is not None else None
    issues: list[Issue] = []
    if not src.labelled:
        issues.append(
            Issue(
                level="error",
                code="source_unlabelled",
                path=str(src.root),
                message=f"The source folder {src.root} must be labelled: one sub-folder per class.",
            )
        )
    for d in (tgt, tst):
        if d is not None:
            issues += compare_domains(src, d)
    if tst is not None and not tst.labelled:
        issues.append(
            Issue(
                level="error",
                code="target_test_unlabelled",
                path=str(tst.root),
                message=f"The target test folder {tst.root} must be labelled (one sub-folder per class) "
                "to measure accuracy.",
            )
        )
    pairs = [(src_r, tst_r, "source", "target test"), (tgt_r, tst_r, "target", "target test")]
    for a, b, an, bn in pairs:
        if a is not None and b is not None and a is not b:
            shared = _overlap(a, b)
            if shared:
                issues.append(
                    Issue(
                        level="warning",
                        code="test_overlap",
                        path=b.root,
                        message=f"{len(shared)} images of the {bn} folder also appear in the {an} "
                        "folder; target accuracy will look better than it is.",
                    )
                )
    return FoldersReport(source=src_r, target=tgt_r, target_test=tst_r, issues=issues)
