"""Start-up cost: showing the main window imports neither torch nor onnx (issue 10, point 13).

torch loads on a background thread after the window is shown; the onnx package (a second to
import) loads when the Predict page is first opened. Run in a fresh interpreter, since this test
session has imported both long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

pytest_plugins = ["conftest_pages"]

SCRIPT = r"""
import json, sys
from pathlib import Path
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop_app.main_window import MainWindow
from desktop_app.state import AppState
root = Path(sys.argv[1])
settings = QSettings(str(root / "settings.ini"), QSettings.Format.IniFormat)
state = AppState(settings, workspace=root)
state.set_model(sys.argv[2])  # a model chosen in an earlier session
window = MainWindow(state)
window.show()
app.processEvents()
shown = sorted(m for m in ("torch", "onnx", "onnxruntime") if m in sys.modules)
window.show_page("PredictPage")
app.processEvents()
after = sorted(m for m in ("torch", "onnx", "onnxruntime") if m in sys.modules)
print(json.dumps({"shown": shown, "predict": after, "model": window.page("PredictPage").model_info is not None}))
"""


def test_showing_the_window_imports_neither_torch_nor_onnx(tmp_path: Path, pages_onnx: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path), str(pages_onnx)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shown"] == [], f"imported before the window was shown: {result['shown']}"
    assert "onnx" in result["predict"] and "torch" not in result["predict"]  # opening Predict checks the model
    assert result["model"]
