"""Fixtures for the desktop app tests: a tiny demo, a private AppState, the engine loaded, recorded dialogs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from desktop_app.compat import guard_none_refcount

guard_none_refcount()  # PySide6 6.12.0 on Python 3.11 would otherwise abort after some thousand calls

from PySide6.QtCore import QSettings  # noqa: E402

from desktop_app.state import AppState  # noqa: E402
from engine.data.demo import DemoPaths, make_demo  # noqa: E402


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    """~120 source, ~50 target-train and ~20 target-test images of 32x32 digits."""
    return make_demo(tmp_path_factory.mktemp("gui_demo") / "demo", per_class=12, seed=1)


@pytest.fixture
def app_state(qapp: Any, tmp_path: Path) -> AppState:
    """An AppState whose settings live in an INI file in tmp_path, workspace in tmp_path."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    return AppState(settings, workspace=tmp_path / "workspace")


@pytest.fixture
def demo_state(app_state: AppState, tiny_demo: DemoPaths) -> AppState:
    app_state.set_folders(str(tiny_demo.source), str(tiny_demo.target_train), str(tiny_demo.target_test))
    return app_state


@pytest.fixture(scope="session")
def engine_info() -> dict[str, Any]:
    """Torch and the engine loaded, as the app's background loader does."""
    from desktop_app.app import load_engine

    return load_engine()


@pytest.fixture
def error_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Replace the error dialog by a recorder: each call appends (message, details)."""
    calls: list[tuple[str, str]] = []

    def record(parent: Any, message: str, details: str = "", title: str = "") -> None:
        calls.append((message, details))

    monkeypatch.setattr("desktop_app.errors.show_error", record)
    return calls


class Heartbeat:
    """A 10 ms QTimer that records the longest gap between its ticks: the event loop's worst stall."""

    def __init__(self, interval_ms: int = 10) -> None:
        import time

        from PySide6.QtCore import QTimer

        self._clock: Callable[[], float] = time.perf_counter
        self.last = self._clock()
        self.max_gap = 0.0
        self.ticks = 0
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = self._clock()
        self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        self.ticks += 1

    def start(self) -> None:
        self.last = self._clock()
        self.max_gap = 0.0
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.max_gap


@pytest.fixture
def heartbeat(qapp: Any) -> Heartbeat:
    beat = Heartbeat()
    yield beat
    beat.timer.stop()


@pytest.fixture(autouse=True)
def _private_check_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Data page's check cache lives in a temporary folder, never the user's cache."""
    monkeypatch.setattr("engine.data.check_cache.cache_dir_override", tmp_path_factory.mktemp("check_cache"))


@pytest.fixture
def pages_open(qtbot: Any) -> Any:
    """open(PageClass, state, size): the page made, sized and shown like the window shows it;
    shut down (its worker stopped) when the test ends."""
    opened: list[Any] = []

    def open_page(cls: type, state: AppState, size: tuple[int, int] = (1100, 800)) -> Any:
        page = cls(state)
        qtbot.addWidget(page)
        page.resize(*size)
        page.show()
        opened.append(page)
        return page

    yield open_page
    for page in opened:
        page.shutdown()
