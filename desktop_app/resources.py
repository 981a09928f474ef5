"""Find the files of the top-level resources/ folder (icon, style, demo configs).

They live beside the packages in a checkout (`make run`), under `share/transfer-studio` in an
installed wheel, and under the bundle's root in the PyInstaller build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def resource_dirs() -> list[Path]:
    """Where resources/ may be, most specific first."""
    dirs = []
    if env := os.environ.get("TRANSFER_STUDIO_RESOURCES"):
        dirs.append(Path(env))
    bundle = getattr(sys, "_MEIPASS", None)  # PyInstaller's unpacked bundle
    if bundle:
        dirs.append(Path(bundle) / "resources")
    dirs.append(Path(__file__).resolve().parent.parent / "resources")  # a checkout
    dirs.append(Path(sys.prefix) / "share" / "transfer-studio")  # an installed wheel
    return dirs


def resource_path(name: str) -> Path | None:
    """The path of resources/`name`, or None when it is not shipped with this installation."""
    for d in resource_dirs():
        path = d / name
        if path.exists():
            return path
    return None


def app_style() -> str:
    """The app's style sheet (empty when the file is missing: the app still works, plainer)."""
    path = resource_path("style.qss")
    return path.read_text(encoding="utf-8") if path else ""
