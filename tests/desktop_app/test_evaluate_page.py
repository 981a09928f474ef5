"""Evaluate page, driven like a user: pick run and folder, click Evaluate, read the results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from desktop_app.pages.evaluate import EvaluatePage
from desktop_app.widgets.table_utils import column_texts, fmt_percent

pytest_plugins = ["conftest_pages"]
pytestmark = pytest.mark.usefixtures("pages_errors")
TIMEOUT_MS = 120_000


@pytest.fixture
def page(pages_open, pages_state_with_run):
    return pages_open(EvaluatePage, pages_state_with_run, (1100, 800))


def test_evaluate_shows_accuracy_matrix_table_and_gallery(
    qtbot, page, pages_state, pages_demo, pages_errors, pages_screenshot
):
    assert page.run_chooser.run_dir() == pages_state.run_dir
    assert page.data_edit.text() == str(pages_demo.target_test)  # defaults to the target test folder

    with qtbot.waitSignal(page.evaluated, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert pages_errors == []
    assert report.n == 20
    assert fmt_percent(report.accuracy) in page.accuracy_label.text()
    assert np.array_equal(page.matrix.matrix(), np.array(report.confusion_matrix))
    assert page.matrix.classes() == [str(d) for d in range(10)]
    assert len(page.matrix.cell_texts()) == 100
    assert sum(int(t) for t in page.matrix.cell_texts()) == 20
    assert page.table.rowCount() == 10
    assert sorted(column_texts(page.table, 0)) == [str(d) for d in range(10)]

    wrong = report.misclassified
    assert len(wrong) > 0 and page.gallery.count() == len(wrong)
    assert f"{len(wrong)} of 20" in page.gallery_label.text()
    qtbot.waitUntil(lambda: page.gallery.loaded_count() == page.gallery.count(), timeout=10_000)
    first = page.gallery.item(0)
    assert first.text().startswith("true ") and "/ predicted " in first.text()
    assert not first.icon().isNull()
    rect = page.gallery.visualItemRect(first)
    qtbot.mouseClick(page.gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = page.gallery.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.caption.text() == first.text()
    assert dialog.picture.pixmap() is not None and not dialog.picture.pixmap().isNull()
    dialog.close()
    page.show()
    pages_screenshot(page, "evaluate")


def test_a_matrix_cell_filters_the_gallery_and_the_report_saves(qtbot, page, tmp_path, monkeypatch, pages_errors):
    import json

    from PySide6.QtWidgets import QFileDialog

    with qtbot.waitSignal(page.evaluated, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    classes = report.classes
    m = report.misclassified[0]
    i, j = classes.index(m.true), classes.index(m.predicted)
    cell = [w for w in report.misclassified if (w.true, w.predicted) == (m.true, m.predicted)]
    pos = page.matrix.cell_centre(i, j).toPoint()
    qtbot.mouseClick(page.matrix.viewport(), Qt.MouseButton.LeftButton, pos=pos)  # a real click on the cell
    assert page.cell_filter == (m.true, m.predicted)
    assert page.gallery.count() == len(cell)
    assert all(it.caption.startswith(f"true {m.true} / predicted {m.predicted}") for it in page.gallery.items())
    assert page.show_all_button.isVisible() and f"{len(cell)} image(s)" in page.gallery_label.text()
    qtbot.mouseClick(page.show_all_button, Qt.MouseButton.LeftButton)
    assert page.cell_filter is None and page.gallery.count() == len(report.misclassified)
    assert not page.show_all_button.isVisible()

    out = tmp_path / "report.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "JSON (*.json)"))
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    saved = json.loads(out.read_text())
    assert saved["accuracy"] == report.accuracy and saved["confusion_matrix"] == report.confusion_matrix
    assert str(out) in page.status.text() and pages_errors == []


def test_unknown_classes_and_missing_folder_are_reported(qtbot, page, tmp_path: Path, pages_errors):
    page.set_data("")
    qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    assert len(pages_errors) == 1 and "labelled folder" in pages_errors[0][0]
    assert not page.runner.running

    bad = tmp_path / "pets" / "cat"
    bad.mkdir(parents=True)
    Image.new("RGB", (16, 16), (200, 10, 10)).save(bad / "a.png")
    page.set_data(str(tmp_path / "pets"))
    qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(pages_errors) == 2, timeout=TIMEOUT_MS)
    assert "cat" in pages_errors[1][0] and "unknown" in pages_errors[1][0]
    assert page.report is None
    assert page.evaluate_button.isEnabled()
