"""Architecture contracts: engine/ never imports Qt; desktop_app/ never imports torch at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_ENGINE = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph", "superqt", "desktop_app")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_engine_never_imports_qt_or_the_app() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(FORBIDDEN_IN_ENGINE))
        for p in (ROOT / "engine").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_desktop_app_never_calls_torch_directly() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "desktop_app").rglob("*.py") if "torch" in _imports(p)]
    assert offenders == []


def test_light_imports_stay_light() -> None:
    """The CLI entry, configs, data scanning and ONNX prediction load without torch."""
    code = (
        "import sys, engine.cli, engine.core.config, engine.core.events, engine.data.folders, engine.data.health, "
        "engine.deploy.predict, engine.deploy.onnx_check; print(sorted(m for m in ('torch', 'PySide6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
