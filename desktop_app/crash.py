"""Unexpected errors in the window: shown, logged, survived.

An exception escaping a Qt slot, a timer or a Python thread would otherwise print to a terminal
nobody sees (or, with some Qt builds, end the app). `install` replaces `sys.excepthook` and
`threading.excepthook` so that each such error

- is appended to `crash.log` in the app's data folder (time, thread, versions, traceback);
- shows the app's one error dialog (desktop_app.errors), on the UI thread whatever thread
  raised it, naming the log file; while one dialog is open, further errors are only logged;
- leaves the window running: the event loop goes on after the dialog is closed.

Engine jobs report their own failures through JobRunner; this catches everything else.
"""

from __future__ import annotations

import platform
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QWidget

from desktop_app import errors

CRASH_LOG_NAME = "crash.log"
MAX_LOG_BYTES = 1 << 20  # beyond 1 MB the log is moved to crash.log.1 and starts afresh


def crash_log_path(data_dir: Path) -> Path:
    return Path(data_dir) / CRASH_LOG_NAME


class CrashHandler(QObject):
    """Logs uncaught exceptions and shows them in a dialog on the UI thread."""

    report = Signal(str, str)  # message, details: emitted from any thread, shown on the UI thread

    def __init__(self, log_path: Path, parent_widget: QWidget | None = None) -> None:
        super().__init__()
        self.log_path = Path(log_path)
        self.parent_widget = parent_widget
        self.showing = False
        self.count = 0
        self._lock = threading.Lock()
        self._old_sys: Any = None
        self._old_threading: Any = None
        self.report.connect(self._show, Qt.ConnectionType.QueuedConnection)

    # ------------------------------------------------------------------ hooks
    def install(self) -> CrashHandler:
        self._old_sys, self._old_threading = sys.excepthook, threading.excepthook
        sys.excepthook = self.handle
        threading.excepthook = self._thread_hook
        return self

    def uninstall(self) -> None:
        if self._old_sys is not None:
            sys.excepthook = self._old_sys
            threading.excepthook = self._old_threading
            self._old_sys = self._old_threading = None

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None or args.exc_type is SystemExit:
            return
        self.handle(args.exc_type, args.exc_value, args.exc_traceback, args.thread)

    def handle(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
        thread: threading.Thread | None = None,
    ) -> None:
        """Log the error and ask the UI thread to show it. Never raises."""
        if issubclass(exc_type, KeyboardInterrupt) and self._old_sys is not None:
            self._old_sys(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        where = (thread or threading.current_thread()).name
        logged = self._append(where, details)
        from engine.core.errors import UserError  # torch-free

        text = str(exc) if isinstance(exc, UserError) else f"{exc_type.__name__}: {exc}"
        note = f"The details were added to {self.log_path}." if logged else "The crash log could not be written."
        message = f"Something went wrong: {text}\n\nThe window keeps working; you can go on. {note}"
        try:
            self.report.emit(message, details)
        except RuntimeError:  # the handler's Qt object is gone (app shutting down)
            sys.__excepthook__(exc_type, exc, tb)

    # ------------------------------------------------------------------ log and dialog
    def _append(self, thread_name: str, details: str) -> bool:
        with self._lock:
            self.count += 1
            try:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                if self.log_path.is_file() and self.log_path.stat().st_size > MAX_LOG_BYTES:
                    self.log_path.replace(self.log_path.with_name(CRASH_LOG_NAME + ".1"))
                stamp = time.strftime("%Y-%m-%d %H:%M:%S")
                head = (
                    f"=== {stamp}  thread {thread_name}  Python {platform.python_version()}  "
                    f"{platform.system()} {platform.release()}\n"
                )
                with open(self.log_path, "a", encoding="utf-8", errors="replace") as fh:
                    fh.write(head + details.rstrip() + "\n\n")
                return True
            except OSError:
                return False

    @Slot(str, str)
    def _show(self, message: str, details: str) -> None:
        if self.showing:  # one dialog at a time; the rest are in the log
            return
        self.showing = True
        try:
            errors.show_error(self.parent_widget, message, details, "Transfer Studio: unexpected error")
        finally:
            self.showing = False


def install(data_dir: Path, parent_widget: QWidget | None = None) -> CrashHandler:
    """Install the handler for the whole app; the crash log is DATA_DIR/crash.log."""
    handler = CrashHandler(crash_log_path(data_dir), parent_widget)
    return handler.install()
