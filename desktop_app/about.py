"""The About box's text: versions of the app and its engine, the device and the workspace."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_html(info: dict[str, Any], workspace: str) -> str:
    """An HTML table of versions; `info` is the engine's (torch version, device) once loaded."""
    rows = [
        ("Transfer Studio", package_version("transfer-studio")),
        ("PyTorch", info.get("torch") or f"{package_version('torch')} (loading…)"),
        ("onnxruntime", package_version("onnxruntime")),
        ("Qt", qVersion()),
        ("PySide6", pyside_version),
        ("Python", platform.python_version()),
        ("Device", info.get("device", "unknown until PyTorch has loaded")),
        ("Workspace", workspace),
    ]
    table = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;{v}</td></tr>" for k, v in rows)
    return f"<p>Transfer learning, domain adaptation and adversarial robustness on images.</p><table>{table}</table>"
