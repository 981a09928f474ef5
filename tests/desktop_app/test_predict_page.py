"""Predict page, driven like a user: drop an image, drop a folder, save CSV, open a wrong ONNX file."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from desktop_app.pages.predict import PredictPage
from desktop_app.widgets.table_utils import column_texts

pytest_plugins = ["conftest_pages"]
pytestmark = pytest.mark.usefixtures("pages_errors")
TIMEOUT_MS = 60_000


@pytest.fixture
def page(pages_open, pages_state, pages_onnx):
    pages_state.set_model(str(pages_onnx))
    return pages_open(PredictPage, pages_state, (1000, 650))


def drop(page: PredictPage, *paths: Path) -> bool:
    """Send the drag-enter and drop events a file manager would; True when the page accepted the drag."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(
        QPoint(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(page, enter)
    if not enter.isAccepted():
        return False
    event = QDropEvent(
        QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(page, event)
    return True


def test_drop_image_shows_top_k_bars(qtbot, page, pages_demo, pages_errors, pages_screenshot):
    assert page.model_info is not None and "model.onnx" in page.model_label.text()
    image = sorted((pages_demo.target_test / "3").iterdir())[0]
    page.top_k.setValue(4)
    with qtbot.waitSignal(page.predicted, timeout=TIMEOUT_MS) as blocker:
        assert drop(page, image)
    (pred,) = blocker.args[0]
    assert pages_errors == [] and pred.error is None
    assert page.stack.currentIndex() == 1
    assert page.topk_table.rowCount() == 4
    assert column_texts(page.topk_table, 0) == [c for c, _ in pred.top]
    bars = [page.topk_table.cellWidget(r, 1) for r in range(4)]
    values = [b.value() for b in bars]
    assert values == sorted(values, reverse=True) and sum(values) <= 1001
    assert not page.image_label.pixmap().isNull()
    pages_screenshot(page, "predict_image")


def test_drop_folder_table_with_error_row_and_save_csv(
    qtbot, page, pages_demo, tmp_path, monkeypatch, pages_errors, pages_screenshot
):
    folder = tmp_path / "incoming"
    folder.mkdir()
    for digit in ("1", "7"):
        for src in sorted((pages_demo.target_test / digit).iterdir()):
            shutil.copy(src, folder / f"{digit}_{src.name}")
    (folder / "notes.txt").write_text("not an image")
    with qtbot.waitSignal(page.predicted, timeout=TIMEOUT_MS) as blocker:
        assert drop(page, folder)
    preds = blocker.args[0]
    assert pages_errors == []
    assert page.stack.currentIndex() == 2
    table = page.folder_table
    assert table.rowCount() == len(preds) == 5
    files = column_texts(table, 0)
    assert "notes.txt" in files
    error_row = files.index("notes.txt")
    assert table.item(error_row, 5).text() != "" and table.item(error_row, 1).text() == ""
    assert all(table.item(r, 1).text() for r in range(5) if r != error_row)
    assert "1 could not be read" in page.status.text()

    out = tmp_path / "preds.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "CSV files (*.csv)"))
    assert page.save_csv_button.isEnabled()
    qtbot.mouseClick(page.save_csv_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.csv_path == str(out), timeout=TIMEOUT_MS)
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5
    by_name = {Path(r["path"]).name: r for r in rows}
    assert by_name["notes.txt"]["error"] and not by_name["notes.txt"]["prediction"]
    assert all(r["prediction"] for n, r in by_name.items() if n != "notes.txt")
    pages_screenshot(page, "predict_folder")


def _not_a_classifier(path: Path) -> Path:
    """A valid ONNX graph that takes a vector, not an image."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "vector", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_open_non_classifier_model_shows_error_and_keeps_model(
    qtbot, page, pages_state, pages_onnx, tmp_path, monkeypatch, pages_errors
):
    bad = _not_a_classifier(tmp_path / "vector.onnx")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    qtbot.mouseClick(page.open_model_button, Qt.MouseButton.LeftButton)
    assert len(pages_errors) == 1
    assert "vector.onnx" in pages_errors[0][0] and "rank 2" in pages_errors[0][0]
    assert page.model_info is not None and page.model_info.path == str(pages_onnx)
    assert pages_state.onnx_path == str(pages_onnx)

    copy = tmp_path / "copy.onnx"  # dropping a good model makes it the current one
    shutil.copy(pages_onnx, copy)
    assert drop(page, copy)
    assert page.model_info.path == str(copy) and pages_state.onnx_path == str(copy)
    assert len(pages_errors) == 1


def test_predict_without_model_asks_for_one(qtbot, pages_state, pages_demo, pages_errors):
    page = PredictPage(pages_state)
    qtbot.addWidget(page)
    image = sorted((pages_demo.target_test / "0").iterdir())[0]
    assert drop(page, image)
    assert len(pages_errors) == 1 and "Open model" in pages_errors[0][0]
    assert not page.runner.running


def test_a_labelled_folder_shows_accuracy_confusion_thumbnails_and_the_run(
    qtbot, page, pages_demo, pages_run, pages_errors
):
    assert f"from run {pages_run.name}" in page.model_label.text()
    with qtbot.waitSignal(page.predicted, timeout=TIMEOUT_MS) as blocker:
        assert page.predict([str(pages_demo.target_test)])
    preds = blocker.args[0]
    assert pages_errors == []
    results = page.results
    score = results.score
    assert score is not None and score.counted == len(preds) == sum(sum(row) for row in score.confusion)
    right = sum(Path(p.path).parent.name == p.top[0][0] for p in preds)
    assert score.correct == right and results.score_panel.isVisible()
    assert f"{right} of {len(preds)}" in results.score_label.text() and "right against" in page.status.text()
    assert results.matrix.matrix().sum() == len(preds)
    table = page.folder_table
    assert not table.isColumnHidden(4)
    truth = {table.item(r, 0).toolTip(): table.item(r, 4).text() for r in range(table.rowCount())}
    assert all(Path(path).parent.name == label for path, label in truth.items())
    qtbot.waitUntil(lambda: not table.item(0, 0).icon().isNull(), timeout=10_000)  # a thumbnail
