"""Runs page, driven like a user: see the runs, open, resume, compare curves, delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from desktop_app.pages.runs import COLUMNS, RunsPage
from desktop_app.widgets.table_utils import column_texts
from engine.core.runs import Run

pytest_plugins = ["conftest_pages"]
pytestmark = pytest.mark.usefixtures("pages_errors")


@pytest.fixture
def runs(pages_state, pages_run, pages_copy_run) -> tuple[Path, Path]:
    """Two runs: the real finished one, and a copy turned into a stopped 3-epoch run with other curves."""
    a = pages_copy_run(pages_run, pages_state, "run-a")
    b = pages_copy_run(pages_run, pages_state, "run-b")
    run_b = Run(b)
    run_b.write_metrics(
        [
            {"epoch": e, "step": 3 * e, "train/loss": 2.3 - 0.4 * e, "val/acc": 0.2 * e, "target/acc": 0.1 * e}
            for e in (1, 2, 3)
        ]
    )
    run_b.update_info(status="stopped", epoch=3, epochs=5, best_metrics={"val/acc": 0.6, "target/acc": 0.3})
    return a, b


@pytest.fixture
def page(qtbot, pages_state, runs):
    page = RunsPage(pages_state)
    qtbot.addWidget(page)
    page.resize(1000, 700)
    page.show()
    return page


def _row(page: RunsPage, name: str) -> int:
    return column_texts(page.table, 0).index(name)


def test_runs_are_listed_with_status_and_best_metrics(page, runs, pages_run):
    assert sorted(column_texts(page.table, 0)) == ["run-a", "run-b"]
    status = COLUMNS.index("Status")
    assert page.table.item(_row(page, "run-a"), status).text() == "finished"
    assert page.table.item(_row(page, "run-b"), status).text() == "stopped"
    row_b = _row(page, "run-b")
    assert page.table.item(row_b, COLUMNS.index("Epochs")).text() == "3/5"
    assert page.table.item(row_b, COLUMNS.index("Best val acc")).text() == "60.0%"
    assert page.table.item(row_b, COLUMNS.index("Method")).text() == "finetune"
    assert page.table.item(row_b, COLUMNS.index("Backbone")).text() == "small_cnn"
    assert page.table.item(row_b, COLUMNS.index("Created")).text() != ""


def test_open_and_resume(qtbot, page, pages_state, runs):
    a, b = runs
    page.select_paths([str(a)])
    assert not page.resume_button.isEnabled()  # a finished run has nothing to resume
    qtbot.mouseClick(page.open_button, Qt.MouseButton.LeftButton)
    assert pages_state.run_dir == str(a)
    assert page.selected_paths() == [str(a)]  # the refresh after run_changed keeps the selection

    page.select_paths([str(b)])
    assert page.resume_button.isEnabled()
    with qtbot.waitSignal(page.resume_requested, timeout=1000) as blocker:
        qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [str(b)]


def test_compare_draws_one_curve_per_selected_run(page, runs, pages_screenshot):
    a, b = runs
    page.select_paths([str(a), str(b)])
    assert not page.open_button.isEnabled()
    metrics = [page.metric_combo.itemText(i) for i in range(page.metric_combo.count())]
    assert metrics[:3] == ["val/acc", "target/acc", "train/loss"]
    assert sorted(page.curve_names()) == ["run-a", "run-b"]
    page.metric_combo.setCurrentText("train/loss")
    items = page.plot.getPlotItem().listDataItems()
    assert sorted(i.name() for i in items) == ["run-a", "run-b"]
    curve_b = next(i for i in items if i.name() == "run-b")
    xs, ys = curve_b.getData()
    assert list(xs) == [1, 2, 3] and list(ys) == pytest.approx([1.9, 1.5, 1.1])
    pages_screenshot(page, "runs")
    page.select_paths([str(a)])
    assert page.curve_names() == ["run-a"]


def test_delete_asks_first_and_removes_folder(qtbot, page, pages_state, runs, monkeypatch):
    a, b = runs
    pages_state.set_run(str(b))
    page.select_paths([str(b)])
    asked: list[str] = []

    def answer(reply):
        def question(parent, title, text, *args, **kwargs):
            asked.append(text)
            return reply

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert b.is_dir() and "run-b" in column_texts(page.table, 0)

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    assert len(asked) == 2 and "run-b" in asked[1]
    assert not b.exists() and a.is_dir()
    assert column_texts(page.table, 0) == ["run-a"]
    assert pages_state.run_dir == ""  # the current run was deleted


def test_refresh_on_runs_updated(page, pages_state, pages_run, pages_copy_run):
    pages_copy_run(pages_run, pages_state, "run-c")
    assert "run-c" not in column_texts(page.table, 0)
    pages_state.runs_updated.emit()
    assert "run-c" in column_texts(page.table, 0)
