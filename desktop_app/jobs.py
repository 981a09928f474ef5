"""Run engine jobs off the UI thread and hand their events back in throttled batches.

A job is any callable `fn(emit, control, *args, **kwargs) -> result` from the engine. It runs in
a QThread; its events go into a thread-safe queue that a 20 Hz QTimer on the UI thread drains,
so a job emitting thousands of events a second costs the window at most 20 redraws a second.
Exceptions arrive as `failed(message, details)`; a UserError's message is meant for the user.
"""

from __future__ import annotations

import queue
import sys
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal

from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job

# How long a thread may hold the GIL while another waits for it. Each time Qt calls back into
# Python (pyqtgraph paints every plot item in Python) the window's thread must take the GIL
# back from a busy worker; with CPython's 5 ms default a repaint of the live plots could wait
# that long many times over. With 1 ms the longest stall during a demo DANN run fell from
# 57-87 ms to 46-57 ms (2-core CPU), at no measurable cost to the training's speed.
GIL_SWITCH_INTERVAL_S = 0.001


def share_the_gil_quickly(interval_s: float = GIL_SWITCH_INTERVAL_S) -> float:
    """Shorten the GIL switch interval for a GUI that runs jobs in threads; returns the old one."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval_s))
    return old


def run_engine_job(emit: Emit, control: JobControl, job: Job[Any, Any], config: Any) -> Any:
    """Worker body for an engine job: below the window's CPU priority, then `job.run`."""
    from desktop_app.compat import lower_thread_priority

    lower_thread_priority()  # its decoding threads inherit it: the window stays first in line
    return job.run(config, emit, control)


class _Worker(QThread):
    def __init__(
        self, fn: Callable[..., Any], control: JobControl, sink: queue.Queue[Any], args: tuple, kwargs: dict
    ) -> None:
        super().__init__()
        self.fn, self.control, self.sink, self.args, self.kwargs = fn, control, sink, args, kwargs
        self.result: Any = None
        self.error: tuple[str, str] | None = None
        self.delivered = False  # its result was handed to the UI

    def run(self) -> None:  # runs in the worker thread
        try:
            self.result = self.fn(self.sink.put, self.control, *self.args, **self.kwargs)
        except Exception as err:
            from engine.core.errors import UserError

            message = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
            self.error = (message, traceback.format_exc())


class JobRunner(QObject):
    """One job at a time. Signals: `events(list)`, `finished(result)`, `failed(message, details)`."""

    events = Signal(list)
    finished = Signal(object)
    failed = Signal(str, str)
    running_changed = Signal(bool)

    def __init__(
        self,
        parent: QObject | None = None,
        interval_ms: int = 50,
        *,
        events: Callable[[list[Any]], Any] | None = None,
        finished: Callable[[Any], Any] | None = None,
        failed: Callable[[str, str], Any] | None = None,
        running_changed: Callable[[bool], Any] | None = None,
    ) -> None:
        """The keyword slots are connected to the signals of the same names (a runner and its
        handlers in one statement)."""
        super().__init__(parent)
        for signal, slot in (
            (self.events, events),
            (self.finished, finished),
            (self.failed, failed),
            (self.running_changed, running_changed),
        ):
            if slot is not None:
                signal.connect(slot)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._worker: _Worker | None = None
        self.control: JobControl | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)

    @property
    def running(self) -> bool:
        """True from `start` until the job's result has been delivered."""
        return self._worker is not None

    @property
    def paused(self) -> bool:
        return self.control is not None and self.control.paused

    def start(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        if self.running:
            raise RuntimeError("a job is already running")
        self.control = JobControl()
        self._queue = queue.Queue()
        worker = _Worker(fn, self.control, self._queue, args, kwargs)
        self._worker = worker
        # bind this worker: a late "finished" of an earlier job must not clear a newer one
        worker.finished.connect(lambda w=worker: self._on_worker_done(w))
        worker.start()
        self._timer.start()
        self.running_changed.emit(True)

    def run_job(self, job: Job[Any, Any], config: Any) -> None:
        """Start an engine job (engine.jobs) with its config; `finished` gets its pydantic report."""
        self.start(run_engine_job, job, config)

    def pause(self) -> None:
        if self.control:
            self.control.pause()

    def resume(self) -> None:
        if self.control:
            self.control.resume()

    def stop(self) -> None:
        if self.control:
            self.control.stop()

    def stop_and_wait(self, timeout_ms: int = 30_000) -> bool:
        """Ask the job to stop and join its thread (window close). True when it ended in time."""
        if not self.running:
            return True
        self.stop()
        worker = self._worker
        assert worker is not None
        done = worker.wait(timeout_ms)
        if done:
            self._on_worker_done(worker)  # deliver now: the window may close before the queued signal
        else:
            self._drain()
        return bool(done)

    def _drain(self) -> None:
        batch = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if batch:
            self.events.emit(batch)

    def _on_worker_done(self, worker: _Worker) -> None:
        if worker.delivered:
            return
        worker.delivered = True
        if worker is not self._worker:
            worker.deleteLater()
            return
        self._timer.stop()
        self._drain()
        self._worker = None
        self.running_changed.emit(False)
        if worker.error is not None:
            self.failed.emit(*worker.error)
        else:
            self.finished.emit(worker.result)
        worker.deleteLater()
