"""A cache of the health check, so a restart of the window on the same folders does not re-read them.

`make run` re-checked all 2,400 demo images at every start (seconds of decoding on a small CPU).
The key is the folders' paths, their file count and their newest modification time (files and
folders): adding, removing or touching an image changes it, a restart does not. Reports are
pydantic models (engine.data.health.FoldersReport) stored as JSON, written atomically.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.fsutil import atomic_write_text

MAX_ENTRIES = 20
cache_dir_override: Path | None = None  # tests point it at a temporary folder


def cache_dir() -> Path:
    if cache_dir_override is not None:
        return cache_dir_override
    import platformdirs

    return Path(platformdirs.user_cache_dir("TransferStudio", appauthor=False)) / "folder_checks"


def folder_key(domains: dict[str, Any]) -> str:
    """Key of scanned domains (name -> engine Domain): roots, file count and newest mtime."""
    parts = []
    for name in sorted(domains):
        d = domains[name]
        paths = [s.path for s in d.samples]
        newest = 0.0
        for p in paths:
            try:
                newest = max(newest, os.stat(p).st_mtime)
            except OSError:
                newest = max(newest, -1.0)
        for folder in {Path(p).parent for p in paths} | {Path(d.root)}:
            try:
                newest = max(newest, os.stat(folder).st_mtime)
            except OSError:
                continue
        parts.append(f"{name}={Path(d.root).resolve()}|{len(paths)}|{newest:.6f}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def cached_check(domains: dict[str, Any], check: Callable[[], Any]) -> tuple[Any, bool]:
    """(report, from_cache): the stored report for these folders, else `check()` stored for next time."""
    from engine.data.health import FoldersReport

    key = folder_key(domains)
    path = cache_dir() / f"{key}.json"
    if path.is_file():
        try:
            return FoldersReport.model_validate_json(path.read_text(encoding="utf-8")), True
        except (OSError, ValueError):
            pass  # unreadable or from an older report format: check again
    report = check()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, report.model_dump_json())
        _prune(path.parent)
    except OSError:
        pass  # a cache that cannot be written only costs time
    return report, False


def _prune(folder: Path) -> None:
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[MAX_ENTRIES:]:
        old.unlink(missing_ok=True)


def clear() -> None:
    for p in cache_dir().glob("*.json"):
        p.unlink(missing_ok=True)


__all__ = ["cache_dir", "cached_check", "clear", "folder_key"]
