"""Point 7 (window): an exception in any slot, timer or thread shows the error dialog, is appended
to the crash log in the data folder, and the window stays usable."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QPushButton

from desktop_app import crash
from desktop_app.main_window import MainWindow
from desktop_app.state import AppState
from engine.core.errors import UserError

PAGES = [("desktop_app.pages.data", "DataPage"), ("desktop_app.pages.train", "TrainPage")]


@pytest.fixture
def window(qtbot: Any, app_state: AppState) -> MainWindow:
    w = MainWindow(app_state, PAGES)
    qtbot.addWidget(w, before_close_func=lambda win: [p.shutdown() for p in win.pages])
    w.show()
    return w


@pytest.fixture
def handler(window: MainWindow, tmp_path: Path) -> Any:
    h = crash.install(tmp_path / "data", window)
    yield h
    h.uninstall()


@pytest.mark.qt_no_exception_capture
def test_slot_timer_and_thread_errors_are_shown_logged_and_survived(
    qtbot: Any, window: MainWindow, handler: Any, error_calls: list[tuple[str, str]], tmp_path: Path
) -> None:
    clicks: list[int] = []
    button = QPushButton("boom", window)
    button.clicked.connect(lambda: (_ for _ in ()).throw(ZeroDivisionError("division by zero in a slot")))
    ok = QPushButton("ok", window)
    ok.clicked.connect(lambda: clicks.append(1))

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # a slot raises
    qtbot.waitUntil(lambda: len(error_calls) == 1, timeout=5000)
    QTimer.singleShot(0, lambda: (_ for _ in ()).throw(UserError("a user error from a timer")))
    qtbot.waitUntil(lambda: len(error_calls) == 2, timeout=5000)

    def worker() -> None:
        raise KeyError("missing in a worker thread")

    t = threading.Thread(target=worker, name="bg-worker")
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(error_calls) == 3, timeout=5000)

    log = crash.crash_log_path(tmp_path / "data")
    messages = [m for m, _ in error_calls]
    assert "ZeroDivisionError: division by zero in a slot" in messages[0] and str(log) in messages[0]
    assert "a user error from a timer" in messages[1] and "UserError" not in messages[1]
    assert "KeyError" in messages[2] and "keeps working" in messages[2]
    assert all("Traceback" in d for _, d in error_calls)
    text = log.read_text(encoding="utf-8")
    assert text.count("=== ") == 3 and "thread bg-worker" in text and "ZeroDivisionError" in text

    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)  # the window still works
    assert clicks == [1]
    window.show_page("TrainPage")
    assert window.current_page() is window.page("TrainPage") and window.isVisible()


@pytest.mark.qt_no_exception_capture
def test_one_dialog_at_a_time_the_rest_logged(
    qtbot: Any, handler: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shown: list[str] = []

    def nested_dialog(parent: Any, message: str, details: str = "", title: str = "") -> None:
        shown.append(message)
        handler.handle(RuntimeError, RuntimeError("second, while the dialog is open"), None)
        qtbot.wait(50)  # the dialog's own event loop delivers the queued report

    monkeypatch.setattr("desktop_app.errors.show_error", nested_dialog)
    handler.handle(RuntimeError, RuntimeError("first"), None)
    qtbot.waitUntil(lambda: len(shown) == 1, timeout=5000)
    qtbot.wait(100)
    assert len(shown) == 1 and handler.count == 2
    assert crash.crash_log_path(tmp_path / "data").read_text().count("=== ") == 2


def test_app_installs_the_handler() -> None:
    """app.main wires it (a minimal edit): the call is there, pointing at the data folder."""
    source = (Path(crash.__file__).parent / "app.py").read_text(encoding="utf-8")
    assert "crash.install(root, window)" in source
