"""JobRunner: engine jobs in a worker thread, events in throttled batches, errors as signals."""

from __future__ import annotations

import threading
import time

import pytest

from desktop_app.jobs import JobRunner
from engine.core.errors import UserError
from engine.core.events import Log, Progress


def counting_job(emit, control, n: int, delay: float = 0.0):
    for i in range(n):
        control.check()
        emit(Progress(1, i + 1, n))
        if delay:
            time.sleep(delay)
    return {"done": n, "thread": threading.get_ident()}


def test_events_arrive_in_batches_then_finished(qtbot):
    runner = JobRunner()
    batches: list[list] = []
    runner.events.connect(batches.append)
    with qtbot.waitSignal(runner.finished, timeout=10_000) as result:
        runner.start(counting_job, 5000)
    assert result.args[0]["done"] == 5000
    assert result.args[0]["thread"] != threading.get_ident()  # ran off the UI thread
    events = [e for b in batches for e in b]
    assert [e.step for e in events] == list(range(1, 5001))
    assert len(batches) < 200  # 5000 events, a few dozen redraws at most
    assert not runner.running


def test_user_error_becomes_failed_with_its_message(qtbot):
    def bad(emit, control):
        emit(Log("about to fail"))
        raise UserError("folder /nope: not found. Choose an existing folder.")

    runner = JobRunner()
    got: list = []
    runner.events.connect(got.extend)
    with qtbot.waitSignal(runner.failed, timeout=10_000) as failed:
        runner.start(bad)
    message, details = failed.args
    assert message == "folder /nope: not found. Choose an existing folder."
    assert "Traceback" in details
    assert any(isinstance(e, Log) for e in got)


def test_other_exceptions_name_their_type(qtbot):
    def crash(emit, control):
        raise ZeroDivisionError("division by zero")

    runner = JobRunner()
    with qtbot.waitSignal(runner.failed, timeout=10_000) as failed:
        runner.start(crash)
    assert failed.args[0] == "ZeroDivisionError: division by zero"


def test_pause_holds_progress_and_resume_continues(qtbot):
    runner = JobRunner()
    seen: list[int] = []
    runner.events.connect(lambda b: seen.extend(e.step for e in b))
    runner.start(counting_job, 400, 0.005)
    qtbot.waitUntil(lambda: len(seen) >= 5, timeout=10_000)
    runner.pause()
    assert runner.paused
    qtbot.wait(250)
    frozen = len(seen)
    qtbot.wait(400)
    assert len(seen) == frozen and runner.running
    runner.resume()
    qtbot.waitUntil(lambda: len(seen) > frozen, timeout=10_000)
    with qtbot.waitSignal(runner.finished, timeout=20_000):
        pass
    assert seen[-1] == 400


def test_stop_and_wait_joins_the_worker(qtbot):
    runner = JobRunner()
    runner.start(counting_job, 100_000, 0.001)
    qtbot.waitUntil(lambda: runner.running, timeout=5_000)
    qtbot.wait(50)
    worker = runner._worker
    with qtbot.waitSignal(runner.running_changed, timeout=10_000):
        assert runner.stop_and_wait(10_000)
        assert not worker.isRunning()  # joined before stop_and_wait returned
    with qtbot.waitSignal(runner.finished, timeout=10_000) as again:  # the runner is reusable
        runner.start(counting_job, 3)
    assert again.args[0]["done"] == 3


def test_the_window_takes_the_gil_back_quickly():
    import sys

    from desktop_app.jobs import GIL_SWITCH_INTERVAL_S, share_the_gil_quickly

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)  # CPython's default
        assert share_the_gil_quickly() == pytest.approx(0.005)
        assert sys.getswitchinterval() == pytest.approx(GIL_SWITCH_INTERVAL_S) and GIL_SWITCH_INTERVAL_S < 0.005
        sys.setswitchinterval(0.0002)
        share_the_gil_quickly()
        assert sys.getswitchinterval() == pytest.approx(0.0002, rel=0.01)  # never lengthened
    finally:
        sys.setswitchinterval(before)
