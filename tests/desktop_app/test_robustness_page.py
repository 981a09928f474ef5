"""Robustness page, driven like a user: pick an attack and budgets, Run, read curves, table and examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QSpinBox, QWidget

from desktop_app.pages.robustness import RobustnessPage
from desktop_app.widgets.attack_settings import parse_eps
from desktop_app.widgets.table_utils import column_texts

pytest_plugins = ["conftest_pages"]
pytestmark = pytest.mark.usefixtures("pages_errors")
TIMEOUT_MS = 120_000


@pytest.fixture
def page(pages_open, pages_state_with_run):
    page = pages_open(RobustnessPage, pages_state_with_run, (1440, 860))
    page.engine_ready({})  # as the main window does once torch has loaded
    return page


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, text)


def choose(combo: QComboBox, data: str) -> None:
    index = combo.findData(data)
    assert index >= 0, f"{data!r} not offered"
    combo.setCurrentIndex(index)


def test_parse_eps_accepts_fractions_and_names_bad_values():
    assert parse_eps("0, 0.01; 8/255", "linf") == ([0.0, 0.01, 8 / 255], "")
    assert parse_eps("0 2", "l2") == ([0.0, 2.0], "")
    values, message = parse_eps("0, 2", "linf")
    assert values == [] and "2" in message and "[0, 1]" in message
    assert "'abc'" in parse_eps("0, abc", "linf")[1]
    assert parse_eps("  ", "linf")[1].startswith("give at least one")


def test_attack_run_shows_curve_table_and_examples_then_overlays_a_second(
    qtbot, page, pages_run, pages_demo, pages_errors, pages_screenshot
):
    assert page.model_kind() == "run" and page.run_chooser.run_dir().endswith("run-a")
    assert page.data_edit.text() == str(pages_demo.target_test)  # default: the target test folder
    page.set_data(str(pages_demo.source))  # the 1-epoch model gets a few source images right: something to attack
    choose(page.attack_combo, "fgsm")
    choose(page.norm_combo, "linf")
    assert (
        page.attack_settings.form is not None
        and "eps" not in page.attack_settings.form.field_names()
        and "norm" not in page.attack_settings.form.field_names()
    )
    type_into(qtbot, page.eps_edit, "0, 0.05, 0.1")
    page.limit.setValue(40)
    assert page.run_button.isEnabled()

    with qtbot.waitSignal(page.attacked, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert pages_errors == []
    assert report.attack == "fgsm" and report.n_images == 40
    assert report.clean_accuracy > 0  # precondition: the model classifies some images right, so they are attacked
    results = page.results
    assert results.curve_names() == ["fgsm linf"]
    xs, ys = results.curve_data(0)
    assert xs == pytest.approx([0.0, 0.05, 0.1])
    assert ys[0] >= ys[-1]
    assert ys == pytest.approx([r.accuracy for r in report.results])
    assert results.table.rowCount() == 3
    assert column_texts(results.table, 0) == ["0", "0.05", "0.1"]
    assert column_texts(results.table, 1)[0].endswith("%")
    assert "Done" in page.status.text() and not page.stop_button.isEnabled() and page.run_button.isEnabled()
    assert page.progress.value() == page.progress.maximum()

    examples = results.gallery
    assert examples.count() >= 1
    assert all(Path(item.path).is_file() for item in examples.items())
    assert Path(examples.items()[0].path).parent == Path(report.folder)
    assert not examples.preview.source_pixmap().isNull()
    qtbot.mouseClick(examples.preview, Qt.MouseButton.LeftButton)
    assert examples.dialog is not None and examples.dialog.isVisible()
    assert not examples.dialog.picture.pixmap().isNull()
    examples.dialog.close()

    # a second attack adds a second curve to the same plot
    choose(page.attack_combo, "pgd")
    page.attack_settings.form.set_values({"steps": 2})
    with qtbot.waitSignal(page.attacked, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    assert pages_errors == []
    assert results.curve_names() == ["fgsm linf", "pgd linf"]
    assert len(results.curve_data(1)[0]) == 3
    assert results.report_combo.count() == 2 and results.selected_report()["attack"] == "pgd"
    qtbot.wait(200)
    pages_screenshot(page, "robustness")

    results.report_combo.setCurrentIndex(0)  # back to FGSM's table
    assert results.selected_report()["attack"] == "fgsm"
    qtbot.mouseClick(results.clear_button, Qt.MouseButton.LeftButton)
    assert results.curve_names() == [] and results.table.rowCount() == 0 and examples.count() == 0


def test_bad_eps_grid_is_flagged_inline_and_disables_run(qtbot, page):
    assert page.run_button.isEnabled()
    type_into(qtbot, page.eps_edit, "0, 2")
    assert not page.run_button.isEnabled()
    assert page.eps_error.isVisibleTo(page) and "2" in page.eps_error.text() and "[0, 1]" in page.eps_error.text()
    assert page.run_attack() is False
    choose(page.attack_combo, "pgd")
    choose(page.norm_combo, "l2")  # l2 budgets may exceed 1
    assert page.run_button.isEnabled() and not page.eps_error.isVisibleTo(page)
    choose(page.norm_combo, "linf")
    assert not page.run_button.isEnabled()
    type_into(qtbot, page.eps_edit, "0, 8/255")
    assert page.run_button.isEnabled() and page.eps_values()[0] == [0.0, 8 / 255]


def test_onnx_model_offers_query_and_transfer_attacks_only(qtbot, page):
    assert {"fgsm", "pgd", "square", "transfer"} <= set(page.attacks())
    assert not page.attack_settings.onnx_note.isVisibleTo(page)
    page.set_model_kind("onnx")
    assert set(page.attacks()) == {"square", "hopskipjump", "transfer"}
    assert page.onnx_edit.isEnabled() and not page.run_chooser.isEnabled()
    # white-box attacks stay listed, greyed, and the page says why
    combo = page.attack_combo
    listed = [combo.itemData(i) for i in range(combo.count())]
    assert {"fgsm", "pgd"} <= set(listed)
    fgsm = listed.index("fgsm")
    assert not combo.model().flags(combo.model().index(fgsm, 0)) & Qt.ItemFlag.ItemIsEnabled
    assert "needs a run" in combo.itemText(fgsm)
    note = page.attack_settings.onnx_note
    assert note.isVisibleTo(page) and "gradients" in note.text() and "fgsm" in note.text()
    choose(page.attack_combo, "transfer")
    assert page.surrogate.isVisibleTo(page) and page.surrogate.isEnabled()
    assert "base" in page.attack_settings.form.field_names()
    choose(page.attack_combo, "square")
    assert not page.surrogate.isVisibleTo(page)
    assert [page.norm_combo.itemData(i) for i in range(page.norm_combo.count())] == ["linf"]
    assert "batch_size" not in page.attack_settings.form.field_names()  # one Batch size on the page, not two
    page.batch.setValue(17)
    assert page.job_options()["batch_size"] == page.job_options()["attack_options"]["batch_size"] == 17


def test_onnx_that_is_not_a_classifier_shows_the_engine_error(qtbot, page, pages_errors, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 32, 32])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "not-a-classifier", [x], [y])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))

    page.set_model_kind("onnx")
    page.set_onnx(str(path))
    choose(page.attack_combo, "square")
    page.limit.setValue(4)
    with qtbot.waitSignal(page.runner.failed, timeout=TIMEOUT_MS):
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    assert len(pages_errors) == 1
    message, _details = pages_errors[0]
    assert "identity.onnx" in message
    assert page.status.text() == "The attack failed." and page.results.curve_names() == []
    assert page.run_button.isEnabled()


def test_long_attack_shows_progress_and_stops_with_a_partial_report(qtbot, page, pages_demo, pages_errors):
    page.set_data(str(pages_demo.source))
    choose(page.attack_combo, "pgd")
    page.attack_settings.form.set_values({"steps": 400})
    type_into(qtbot, page.eps_edit, "0, 0.1")
    page.limit.setValue(40)
    page.batch.setValue(4)
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    assert page.busy() and page.stop_button.isEnabled() and not page.run_button.isEnabled()
    qtbot.waitUntil(lambda: page.progress.value() >= 1, timeout=TIMEOUT_MS)
    assert page.progress.maximum() == 10
    with qtbot.waitSignal(page.attacked, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert report.stopped and 0 < report.n_images < 40
    assert page.status.text().startswith("Stopped")
    assert page.results.curve_names() == ["pgd linf"]
    assert pages_errors == []


def test_every_setting_has_a_tooltip(page):
    kinds = (QLineEdit, QComboBox, QSpinBox, QAbstractButton)
    missing = [
        f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}"
        for kind in kinds
        for w in page.findChildren(kind)
        if isinstance(w, QWidget)
        and w.isVisibleTo(page)
        and not w.toolTip()
        and w.parent() is not None
        and type(w.parent()).__name__ not in ("QSpinBox", "SciSpinBox", "OptionalIntSpinBox", "QComboBox")
    ]
    assert missing == []
