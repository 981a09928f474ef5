"""Advisor page, driven like a user: folders and methods, Advise, the table filling live, Stop,
Resume, and "Train the recommended"."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop_app.pages.advisor import AdvisorPage
from desktop_app.widgets.advice_table import CHECK_COLUMN, HEADERS
from desktop_app.widgets.table_utils import column_texts
from engine.core.runs import list_runs

pytest_plugins = ["conftest_pages"]
pytestmark = pytest.mark.usefixtures("pages_errors")
TIMEOUT_MS = 600_000
STATUS, SKEW, AGREE = HEADERS.index("Status"), HEADERS.index("Class skew"), HEADERS.index("Agreement")


@pytest.fixture
def page(pages_open, pages_state, pages_demo):
    pages_state.set_folders(str(pages_demo.source), str(pages_demo.target_train), str(pages_demo.target_test))
    page = pages_open(AdvisorPage, pages_state, (1200, 800))
    page.set_methods(["finetune", "coral"])
    page.grid_points.setValue(1)
    page.min_epochs.setValue(1)
    page.max_epochs.setValue(2)
    page.full_epochs.setValue(1)
    return page


def test_advise_fills_the_table_live_then_trains_the_recommended(qtbot, page, pages_state, pages_errors):
    assert page.edits["target"].text() == pages_state.target  # folders come from the state
    seen: list[int] = []  # finished rows at each refresh
    page.table_updated.connect(
        lambda _: seen.append(sum(t.startswith("finished") for t in column_texts(page.table.table, STATUS)))
    )
    with qtbot.waitSignal(page.finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    report = blocker.args[0]
    assert pages_errors == []
    assert report.status == "finished"
    # live: a refresh per finished candidate (rung 0: 2, rung 1: the better one), then the report's
    assert seen == [1, 2, 3, 3]
    assert page.table.row_count() == 3
    labels = column_texts(page.table.table, 2)
    assert sorted(labels[1:]) == ["coral transfer_weight=1", "finetune"]  # rung 0 below
    assert labels[0] == report.recommended.label  # the last rung first, best first
    bars = page.table.bar_values()
    assert len(bars) == 3 and all(0 <= b <= 100 for b in bars)
    assert not page.table.table.isColumnHidden(CHECK_COLUMN)  # a target test was given: the check column shows
    skews = [float(t) for t in column_texts(page.table.table, SKEW)]  # every candidate has one, 0 to 1
    assert len(skews) == 3 and all(0.0 <= v <= 1.0 for v in skews)
    # coral, ranked alone in each rung, agrees with its own ensemble on every target image; the
    # source-only baseline is not ranked and has no agreement
    agree = dict(zip(labels, column_texts(page.table.table, AGREE), strict=True))
    assert agree["finetune"] == "–" and agree["coral transfer_weight=1"].startswith("100")
    assert "proxy A-distance" in page.shift_label.text()
    assert report.recommended.label in page.answer.text()  # coral: source-only is the baseline row
    assert "the baseline" in " ".join(column_texts(page.table.table, STATUS))
    assert "Warning: The target has only" in page.answer.text()  # 40 target images: noisy scores
    runs = {r.path for r in list_runs(pages_state.runs_dir)}
    assert {Path(e.run_dir) for e in report.candidates} == runs  # every candidate is a normal run
    assert page.train_button.isEnabled() and not page.resume_button.isEnabled()

    with qtbot.waitSignal(page.trained, timeout=TIMEOUT_MS) as done:
        qtbot.mouseClick(page.train_button, Qt.MouseButton.LeftButton)
    trained = done.args[0]
    assert trained.status == "finished"
    assert pages_state.run_dir == trained.run_dir
    assert Path(trained.run_dir).name.endswith(report.recommended_config["name"].split("-recommended-")[1])


def test_stop_then_resume_the_advice(qtbot, page, pages_errors):
    def stop_after_first(rows: int) -> None:  # the first candidate's row came: Stop
        if page.runner.running and page.stop_button.isEnabled() and "Stopping" not in page.status.text():
            qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)

    page.table_updated.connect(stop_after_first)
    with qtbot.waitSignal(page.finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    stopped = blocker.args[0]
    assert stopped.stopped and "Resume" in page.status.text()
    assert page.resume_button.isEnabled() and not page.train_button.isEnabled()
    finished_before = [e.run_dir for e in stopped.candidates if e.status == "finished"]
    assert len(finished_before) >= 1
    page.table_updated.disconnect(stop_after_first)

    with qtbot.waitSignal(page.finished, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(page.resume_button, Qt.MouseButton.LeftButton)
    resumed = blocker.args[0]
    assert pages_errors == []
    assert resumed.status == "finished" and resumed.advice_dir == stopped.advice_dir
    assert [e.run_dir for e in resumed.candidates][: len(finished_before)] == finished_before
    assert page.table.row_count() == len(resumed.candidates) == 3


def test_missing_target_is_explained(qtbot, page, pages_errors):
    page.edits["target"].setText("")
    qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
    assert len(pages_errors) == 1 and "target folder" in pages_errors[0][0]
    assert not page.runner.running
