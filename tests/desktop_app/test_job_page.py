"""JobPage, the base of every page that runs an engine job: a page that supplies only its config
and how it shows its report gets Run/Stop, progress, status, busy state, the failure dialog and
shutdown. Driven with a small real job (counts to N, stoppable, can fail), no torch."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel, Field
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSpinBox, QVBoxLayout

from desktop_app.pages.job_page import JobPage
from engine.core.config import StrictModel
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Progress, Started
from engine.jobs.job import Job


class CountConfig(StrictModel):
    n: int = Field(ge=1)
    delay_s: float = 0.0
    fail_at: int | None = None


class CountReport(BaseModel):
    counted: int
    stopped: bool = False


def count(config: CountConfig, emit: Emit, control: JobControl) -> CountReport:
    emit(Started("count", total_steps=config.n))
    for i in range(1, config.n + 1):
        if config.fail_at == i:
            raise UserError(f"cannot count past {i - 1}: the number {i} is cursed")
        control.check()
        time.sleep(config.delay_s)
        emit(Progress(0, i, config.n))
    emit(Log(f"counted to {config.n}"))
    emit(Finished("count"))
    return CountReport(counted=config.n)


COUNT = Job("count", "count to n", CountConfig, CountReport, count)


class CountPage(JobPage):
    """Everything a new page needs: its job, its settings -> config, its report -> widgets."""

    job = COUNT
    log_to_status = True

    def __init__(self, state, parent=None) -> None:
        super().__init__(state, parent)
        self.n = QSpinBox()
        self.n.setRange(0, 10_000)
        self.result = QLabel()
        self.delay_s, self.fail_at = 0.0, None
        layout = QVBoxLayout(self)
        layout.addWidget(self.n)
        layout.addLayout(self.action_row())
        layout.addWidget(self.result)

    def make_config(self) -> CountConfig | None:
        return (
            self.job.parse({"n": self.n.value(), "delay_s": self.delay_s, "fail_at": self.fail_at})
            if self.n.value()
            else None
        )

    def show_report(self, report: CountReport) -> None:
        self.result.setText(f"counted {report.counted}")

    def set_inputs_enabled(self, enabled: bool) -> None:
        self.n.setEnabled(enabled)


@pytest.fixture
def page(pages_open, app_state):
    return pages_open(CountPage, app_state)


def test_run_shows_progress_status_and_the_typed_report(qtbot, page, error_calls):
    page.n.setValue(50)
    with qtbot.waitSignal(page.finished, timeout=10_000) as blocker:
        qtbot.mouseClick(page.run_button, Qt.MouseButton.LeftButton)
        assert page.busy() and not page.run_button.isEnabled() and page.stop_button.isEnabled()
        assert not page.n.isEnabled()  # the page's own inputs are off while it runs
    report = blocker.args[0]
    assert isinstance(report, CountReport) and report.counted == 50 and page.report is report
    assert page.result.text() == "counted 50"
    assert page.progress.maximum() == 50 and page.progress.value() == 50
    assert page.status.text() == "counted to 50"  # the job's last log line
    assert not page.busy() and page.run_button.isEnabled() and not page.stop_button.isEnabled() and page.n.isEnabled()
    assert error_calls == []


def test_refused_config_starts_nothing(qtbot, page, error_calls):
    page.n.setValue(0)  # make_config says no
    assert page.start() is False and not page.busy()


def test_failure_shows_the_dialog_once_and_the_status(qtbot, page, error_calls):
    page.n.setValue(20)
    page.fail_at = 7
    with qtbot.waitSignal(page.runner.failed, timeout=10_000):
        page.start()
    assert error_calls == [("cannot count past 6: the number 7 is cursed", error_calls[0][1])]
    assert page.status.text() == "Failed." and page.report is None and page.run_button.isEnabled()


def test_stop_ends_quietly_and_shutdown_joins(qtbot, page, error_calls):
    page.n.setValue(10_000)
    page.delay_s = 0.001
    page.start()
    qtbot.waitUntil(lambda: page.progress.value() > 0, timeout=10_000)
    with qtbot.waitSignal(page.runner.failed, timeout=10_000):  # Stopped: no report for this job
        qtbot.mouseClick(page.stop_button, Qt.MouseButton.LeftButton)
    assert page.status.text() == "Stopped." and error_calls == [] and not page.busy()
    page.start()
    assert page.busy()
    page.shutdown()  # window close: stops the job and joins its thread
    assert not page.busy()
