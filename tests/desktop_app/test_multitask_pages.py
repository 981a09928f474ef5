"""Multitask from the window: the Train page's task box (add task folders, start, per-task curves
plotted live), then the exported model on the Predict page showing every task's top-k."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from desktop_app.pages.predict import PredictPage
from desktop_app.pages.train import TrainPage
from desktop_app.widgets.table_utils import column_texts, fmt_percent
from desktop_app.widgets.task_picker import task_name_for
from engine.multitask.demo import MultitaskDemoPaths, make_multitask_demo

TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def mt_gui_demo(tmp_path_factory: pytest.TempPathFactory) -> MultitaskDemoPaths:
    return make_multitask_demo(tmp_path_factory.mktemp("mtgui") / "demo", per_class=12, scarce=5, test_per_class=2)


def test_task_names_from_folders() -> None:
    assert task_name_for("/data/digit", set()) == "digit"
    assert task_name_for("/data/digit", {"digit"}) == "digit_2"
    assert task_name_for("/data/2 colours", set()) == "task_2_colours"


def test_train_two_task_folders_then_predict_every_task(
    qtbot, app_state, engine_info, error_calls, mt_gui_demo, monkeypatch
) -> None:
    page = TrainPage(app_state)
    qtbot.addWidget(page, before_close_func=lambda w: w.shutdown())
    page.resize(1300, 860)
    page.show()
    page.engine_ready(engine_info)
    picker = page.settings_panel.task_picker
    assert not picker.body.isEnabled() and "source folder" in page.start_reason.text()

    qtbot.mouseClick(picker.enabled_box, Qt.MouseButton.LeftButton)
    assert picker.active and page.method() == "multitask"  # ticking the box picks the method
    assert not page.start_button.isEnabled() and "Add a folder for each task" in page.start_reason.text()
    chosen = iter([str(mt_gui_demo.tasks["digit"]), str(mt_gui_demo.tasks["parity"])])
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: next(chosen))
    qtbot.mouseClick(picker.add_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(picker.add_button, Qt.MouseButton.LeftButton)
    assert picker.tasks() == {"digit": str(mt_gui_demo.tasks["digit"]), "parity": str(mt_gui_demo.tasks["parity"])}
    picker.table.item(1, 0).setText("bad name")  # a rename the engine would refuse: said at once
    assert not page.start_button.isEnabled() and "Task name 'bad name'" in page.start_reason.text()
    picker.table.item(1, 0).setText("parity")
    page.settings_panel.basic_form.set_values({"epochs": 3, "batch_size": 16, "lr": 0.003})
    assert page.start_button.isEnabled(), page.start_reason.text()

    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.busy(), timeout=TIMEOUT_MS)
    assert error_calls == []
    info = json.loads((Path(page.run_dir) / "run.json").read_text())
    assert info["status"] == "finished" and set(info["tasks"]) == {"digit", "parity"}
    # every task's loss and accuracy were plotted while it trained, validation accuracies per epoch
    for key in ("task/digit/loss", "task/parity/loss", "task/digit/acc"):
        assert page.plots.curve_length(key) > 0, key
    assert page.plots.curve_length("val/parity/acc", epoch=True) == 3
    assert page.plots.plot("Accuracy") is not None

    # the Evaluate page measures every task and shows the one chosen
    from desktop_app.pages.evaluate import EvaluatePage

    app_state.set_run(page.run_dir)
    evaluate = EvaluatePage(app_state)
    qtbot.addWidget(evaluate, before_close_func=lambda w: w.shutdown())
    evaluate.show()
    evaluate.set_data(str(mt_gui_demo.test_labels.parent))
    with qtbot.waitSignal(evaluate.evaluated, timeout=TIMEOUT_MS) as done:
        qtbot.mouseClick(evaluate.evaluate_button, Qt.MouseButton.LeftButton)
    report = done.args[0]
    assert error_calls == [] and set(report.tasks) == {"digit", "parity"}
    assert evaluate.task_combo.isVisible() and evaluate.task_combo.count() == 2
    evaluate.show_task("parity")
    parity = report.tasks["parity"]
    assert evaluate.matrix.classes() == parity.classes and "task parity" in evaluate.accuracy_label.text()
    assert fmt_percent(parity.accuracy) in evaluate.accuracy_label.text()
    assert evaluate.table.rowCount() == len(parity.classes)

    from engine.deploy.export_job import export_run
    from engine.jobs.export import ExportConfig

    onnx_path = Path(export_run(ExportConfig(run_dir=Path(page.run_dir))).path)
    app_state.set_model(str(onnx_path))
    predict = PredictPage(app_state)
    qtbot.addWidget(predict, before_close_func=lambda w: w.shutdown())
    predict.show()
    assert predict.model_info is not None and predict.model_info.tasks == ("digit", "parity")
    image = sorted((mt_gui_demo.test_labels.parent / "images").iterdir())[0]
    predict.top_k.setValue(2)
    with qtbot.waitSignal(predict.predicted, timeout=TIMEOUT_MS) as blocker:
        predict.predict([str(image)])
    (pred,) = blocker.args[0]
    shown = column_texts(predict.topk_table, 0)
    assert len(shown) == 4 and sum(t.startswith("digit: ") for t in shown) == 2
    assert f"parity: {pred.tasks['parity'][0][0]}" in shown
    with qtbot.waitSignal(predict.predicted, timeout=TIMEOUT_MS):
        predict.predict([str(image.parent)])
    first = column_texts(predict.folder_table, 1)[0]
    assert first.startswith("digit: ") and ", parity: " in first
    assert error_calls == []
