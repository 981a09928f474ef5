"""The "Why?" toggles (Evaluate's enlarged mistake, Predict) and the Runs page's Report button,
driven like a user: click, wait for the background job, read what the window shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices

from desktop_app.pages.evaluate import EvaluatePage, most_confident_mistakes
from desktop_app.pages.predict import PredictPage
from desktop_app.pages.runs import RunsPage

pytest_plugins = ["conftest_pages"]
pytestmark = pytest.mark.usefixtures("pages_errors")
TIMEOUT_MS = 240_000


def test_evaluate_why_shows_predicted_and_true_class_maps(
    qtbot, pages_state, pages_run, pages_demo, pages_copy_run, pages_errors, pages_screenshot
):
    run = pages_copy_run(pages_run, pages_state, "run-why")
    pages_state.set_folders(str(pages_demo.source), "", str(pages_demo.target_test))
    pages_state.set_run(str(run))
    page = EvaluatePage(pages_state)
    qtbot.addWidget(page)
    with qtbot.waitSignal(page.evaluated, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.evaluate_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    first = most_confident_mistakes(report)[0]
    qtbot.waitUntil(lambda: page.gallery.loaded_count() == page.gallery.count(), timeout=10_000)
    rect = page.gallery.visualItemRect(page.gallery.item(0))
    qtbot.mouseClick(page.gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    why = page.why
    assert why is not None and why.isVisibleTo(page.gallery.dialog) and not why.maps.isVisible()
    assert why.method.currentText() == "gradcam"
    with qtbot.waitSignal(why.explained, timeout=TIMEOUT_MS) as shown:
        qtbot.mouseClick(why.toggle, Qt.MouseButton.LeftButton)
    explained = shown.args[0]
    assert pages_errors == []
    assert explained.images[0].path == first.path
    assert [m.name for m in explained.images[0].maps] == [first.predicted, first.true]
    assert why.maps.isVisible()
    assert why.captions[0].text().startswith(f"predicted: {first.predicted}")
    assert why.captions[1].text().startswith(f"true: {first.true}")
    assert all(not p.pixmap().isNull() for p in why.pictures)
    assert "ms" in why.status.text() and "queries" in why.status.text()

    with qtbot.waitSignal(why.explained, timeout=TIMEOUT_MS) as again:  # another method, same toggle
        why.method.setCurrentText("gradcam++")
    assert again.args[0].method == "gradcam++"
    qtbot.mouseClick(why.toggle, Qt.MouseButton.LeftButton)
    assert not why.maps.isVisible()
    pages_screenshot(page.gallery.dialog, "evaluate_why")
    page.gallery.dialog.close()
    page.shutdown()


def test_predict_why_on_an_onnx_model(qtbot, pages_state, pages_onnx, pages_demo, pages_errors):
    pages_state.set_model(str(pages_onnx))
    page = PredictPage(pages_state)
    qtbot.addWidget(page)
    page.resize(1100, 900)
    page.show()
    folder = pages_demo.target_test / "4"
    image = sorted(folder.iterdir())[0]
    with qtbot.waitSignal(page.predicted, timeout=TIMEOUT_MS) as blocker:
        page.predict([str(image)])
    pred = blocker.args[0][0]
    why = page.why
    assert why.isEnabled() and [why.method.itemText(i) for i in range(why.method.count())] == [
        "occlusion",
        "rise",
        "cam",
    ]
    with qtbot.waitSignal(why.explained, timeout=TIMEOUT_MS) as shown:
        qtbot.mouseClick(why.toggle, Qt.MouseButton.LeftButton)
    report = shown.args[0]
    assert report.model_kind == "onnx" and report.method == "occlusion"
    predicted = pred.top[0][0]
    assert why.captions[0].text().startswith(f"predicted: {predicted}")
    other = why.captions[1].text()
    assert other.startswith("true (folder): 4") if predicted != "4" else other.startswith("runner-up:")
    assert report.images[0].queries > 100  # occlusion: one query per square

    why.method.setCurrentText("cam")  # this export has no 'cam' output: the panel says how to get one
    qtbot.waitUntil(lambda: not why.runner.running, timeout=TIMEOUT_MS)
    assert "export RUN --cam" in why.status.text() and not why.toggle.isChecked()
    assert pages_errors == []
    page.shutdown()


def test_runs_report_button_writes_and_opens_the_card(
    qtbot, pages_state, pages_run, pages_copy_run, monkeypatch, pages_errors
):
    run = pages_copy_run(pages_run, pages_state, "run-card")
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    page = RunsPage(pages_state)
    qtbot.addWidget(page)
    page.show()
    page.select_paths([str(run)])
    assert page.report_button.isEnabled()
    qtbot.mouseClick(page.report_button, Qt.MouseButton.LeftButton)
    dialog = page.report_dialog
    assert dialog is not None and dialog.isVisible()
    card = dialog.card.toPlainText()
    assert card.startswith("Intended use") and "Limitations" in card and "small_cnn" in card
    dialog.card.setPlainText(card + "\nReviewed by the test: not for medical use.")
    with qtbot.waitSignal(page.report_written, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(dialog.write_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert pages_errors == []
    out = Path(report.path)
    assert out == run / "report.html" and out.is_file()
    assert "Reviewed by the test: not for medical use." in out.read_text(encoding="utf-8")
    assert [u.toLocalFile() for u in opened] == [str(out)]
    assert page.report_status.text() == "Report written: report.html" and page.report_button.isEnabled()
    page.shutdown()
