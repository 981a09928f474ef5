"""Export page, driven like a user: choose the output file, click Export, read the parity report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from desktop_app.pages.export import ExportPage

pytest_plugins = ["conftest_pages"]
pytestmark = pytest.mark.usefixtures("pages_errors")
TIMEOUT_MS = 180_000


@pytest.fixture
def page(pages_open, pages_state, pages_run, pages_copy_run):
    pages_state.set_run(str(pages_copy_run(pages_run, pages_state, "run-a")))
    return pages_open(ExportPage, pages_state, (900, 650))


def test_export_writes_model_shows_parity_and_sets_model(
    qtbot, page, pages_state, tmp_path, monkeypatch, pages_errors, pages_screenshot
):
    run_dir = Path(pages_state.run_dir)
    assert page.run_chooser.run_dir() == str(run_dir)
    assert page.out_edit.text() == str(run_dir / "exports" / "model.onnx")  # the default

    chosen = tmp_path / "models" / "digits"  # the dialog may return a name without the suffix
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), "ONNX models (*.onnx)"))
    qtbot.mouseClick(page.out_browse, Qt.MouseButton.LeftButton)
    out = tmp_path / "models" / "digits.onnx"
    assert page.out_edit.text() == str(out)
    page.on_shown()  # coming back to the page keeps the user's file
    assert page.out_edit.text() == str(out)

    models: list[str] = []
    pages_state.model_changed.connect(models.append)
    with qtbot.waitSignal(page.exported, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert pages_errors == []
    assert report.passed and out.is_file()
    assert (out.parent / "export_report.json").is_file()
    labels = page.parity_labels
    assert labels["path"].text() == str(out)
    assert labels["passed"].text().startswith("Passed")
    assert labels["top1_agreement"].text() == "100.00%"
    assert labels["batch_sizes_checked"].text() == ", ".join(str(b) for b in report.batch_sizes_checked)
    assert float(labels["max_abs_diff"].text().split()[0]) == pytest.approx(report.max_abs_diff, rel=0.01, abs=1e-12)
    assert labels["n"].text() == str(report.n)
    assert pages_state.onnx_path == str(out) and models == [str(out)]
    assert json.loads((run_dir / "run.json").read_text())["exported"] == str(out)
    assert page.export_button.isEnabled() and page.folder_button.isEnabled()
    page.show()
    pages_screenshot(page, "export")


def test_export_failure_is_shown_and_model_is_not_set(qtbot, page, pages_state, pages_errors):
    (Path(pages_state.run_dir) / "checkpoints" / "best.pt").unlink()
    (Path(pages_state.run_dir) / "checkpoints" / "last.pt").unlink()
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(pages_errors) == 1, timeout=TIMEOUT_MS)
    assert "no checkpoint" in pages_errors[0][0]
    assert page.parity_labels["passed"].text() == "–"
    assert pages_state.onnx_path == ""
    assert page.export_button.isEnabled()
