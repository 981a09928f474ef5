"""Issue 10, points 4, 6, 7 and 8: the window around the pages.

Fake pages (the real ones are tested on their own) with the class names the guide knows, one of
them running a stoppable job that reports progress, as the pages' JobRunners do.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QScrollArea, QTextBrowser, QVBoxLayout, QWidget

from desktop_app.jobs import JobRunner
from desktop_app.main_window import MainWindow
from desktop_app.pages.base import Page
from desktop_app.widgets.config_form import ConfigForm
from desktop_app.widgets.guide import STEPS
from desktop_app.widgets.wheel_guard import guard_wheel
from engine.core.config import TrainConfig
from engine.core.control import JobControl
from engine.core.events import Progress


def _job(emit: Any, control: Any, steps: int) -> int:
    for i in range(1, steps + 1):
        emit(Progress(0, i, 10))
        if i == steps:
            break
    while not control.stop_requested:
        time.sleep(0.01)
    return steps


class _JobPage(Page):
    icon = ""

    def __init__(self, state: Any, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.runner = JobRunner(self)

    def run(self, steps: int = 3) -> None:
        self.runner.start(_job, steps)

    def busy(self) -> bool:
        return self.runner.running

    def stop(self) -> None:
        self.runner.stop()

    def shutdown(self) -> None:
        self.runner.stop_and_wait(5000)


def _page_class(name: str, title: str) -> type:
    return type(name, (_JobPage,), {"title": title})


DataPage = _page_class("DataPage", "Data")
TrainPage = _page_class("TrainPage", "Train")
EvaluatePage = _page_class("EvaluatePage", "Evaluate")
DomainsPage = _page_class("DomainsPage", "Domains")
ExportPage = _page_class("ExportPage", "Export")
FAKE_PAGES = [(__name__, n) for n in ("DataPage", "TrainPage", "EvaluatePage", "DomainsPage", "ExportPage")]


def make_window(qtbot, state) -> MainWindow:
    window = MainWindow(state, FAKE_PAGES)
    qtbot.addWidget(window, before_close_func=lambda w: [p.shutdown() for p in w.pages])
    window.show()
    return window


# ----------------------------------------------------------------------------- 4: wheel and Esc
def _wheel(widget: QWidget, dy: int = -120) -> None:
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(
        pos,
        QPointF(widget.mapToGlobal(QPoint(int(pos.x()), int(pos.y())))),
        QPoint(0, 0),
        QPoint(0, dy),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_scrolls_the_form_not_the_value_under_it(qtbot):
    holder = QWidget()
    inner = QWidget()
    col = QVBoxLayout(inner)
    form = ConfigForm(TrainConfig, base_values={"source": "."})
    col.addWidget(form)
    inner.setMinimumHeight(3000)
    area = QScrollArea()
    area.setWidget(inner)
    area.setWidgetResizable(True)
    QVBoxLayout(holder).addWidget(area)
    holder.resize(500, 300)
    qtbot.addWidget(holder)
    holder.show()
    qtbot.waitExposed(holder)
    spin, combo = form.editor("batch_size"), form.editor("optimizer")
    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus
    before_scroll = area.verticalScrollBar().value()
    _wheel(spin)  # scroll down over the batch size: as in the issue, 64 must stay 64
    _wheel(combo)
    assert form.values()["batch_size"] == 64 and form.values()["optimizer"] == "adamw"
    assert area.verticalScrollBar().value() > before_scroll  # the form scrolled instead
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    _wheel(spin, +120)  # focused: the wheel is the user's way to change it
    assert form.values()["batch_size"] != 64


def test_guard_wheel_covers_inputs_added_later(qtbot):
    from PySide6.QtWidgets import QSpinBox

    root = QWidget()
    qtbot.addWidget(root)
    QSpinBox(root)
    assert guard_wheel(root) == 1 and guard_wheel(root) == 0  # once per widget
    QSpinBox(root)
    assert guard_wheel(root) == 1


def test_esc_does_not_stop_a_job_and_stop_asks_first(qtbot, app_state, monkeypatch):
    window = make_window(qtbot, app_state)
    train = window.show_page("TrainPage")
    train.run()
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.wait(100)
    assert train.busy()
    asked: list[str] = []
    answer = [QMessageBox.StandardButton.No]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: (asked.append(a[2]), answer[0])[1])
    window.stop_action.trigger()
    qtbot.wait(100)
    assert asked and "Train" in asked[0] and train.busy()  # "No": still running
    answer[0] = QMessageBox.StandardButton.Yes
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: not train.busy(), timeout=5000)


# ----------------------------------------------------------------------------- 6: guide, help, status bar
def test_guide_walks_data_train_evaluate_export_with_next(qtbot, app_state):
    window = make_window(qtbot, app_state)
    window.show_page("DataPage")
    assert window.guide.isVisible() and [s.title for s in STEPS] == ["Data", "Train", "Evaluate", "Export"]
    seen = [type(window.current_page()).__name__]
    for _ in range(3):
        assert window.guide.next_button.text().startswith("Next: ")
        qtbot.mouseClick(window.guide.next_button, Qt.MouseButton.LeftButton)
        seen.append(type(window.current_page()).__name__)
    assert seen == ["DataPage", "TrainPage", "EvaluatePage", "ExportPage"]  # Domains is skipped: off the path
    assert not window.guide.next_button.isEnabled()  # the last step
    window.show_page("DomainsPage")
    assert "Export" in window.guide.hint.text()
    window.show_page("TrainPage")
    window.next_action.trigger()  # Ctrl+] does what Next does
    assert type(window.current_page()).__name__ == "EvaluatePage"
    window.guide.closed.emit()  # the ✕
    assert not window.guide.isVisible() and not window.guide_action.isChecked()
    again = make_window(qtbot, app_state)
    assert not again.guide.isVisible()  # remembered
    again.guide_action.trigger()  # Help > Show the guide
    assert again.guide.isVisible()


def test_help_menu_lists_shortcuts_and_explains_the_figures(qtbot, app_state):
    window = make_window(qtbot, app_state)
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    titles = [a.text() for a in help_menu.actions()]
    assert "&Keyboard shortcuts" in titles and any("Method notes" in t for t in titles)
    plain = window.show_shortcuts().findChildren(QTextBrowser)[0].toPlainText()
    assert "Ctrl+R" in plain and "Ctrl+." in plain and "Ctrl+]" in plain and "Esc" not in plain
    notes = window.show_method_notes().findChildren(QTextBrowser)[0]
    plain = notes.toPlainText()
    assert "λ" in plain and "Domain accuracy" in plain and "Proxy A-distance" in plain


def test_status_bar_shows_a_running_job_and_its_progress_on_every_page(qtbot, app_state):
    window = make_window(qtbot, app_state)
    data = window.show_page("DataPage")
    assert not window.job_status.isVisible()
    data.run(steps=3)
    window.show_page("ExportPage")  # another page: the status bar still says it
    qtbot.waitUntil(lambda: "3/10" in window.job_status.button.text(), timeout=5000)
    assert window.job_status.isVisible() and window.job_status.button.text().startswith("Data: running")
    assert "30%" in window.job_status.button.text() and window.job_status.bar.value() == 3
    qtbot.mouseClick(window.job_status.button, Qt.MouseButton.LeftButton)
    assert window.current_page() is data
    data.stop()
    qtbot.waitUntil(lambda: not window.job_status.isVisible(), timeout=5000)


# ----------------------------------------------------------------------------- 7: dialogs and folders
def test_file_dialogs_never_open_in_the_working_directory(qtbot, app_state, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from desktop_app.widgets import folder_picker
    from desktop_app.widgets.folder_picker import FolderPicker

    cwd = tmp_path / "launched_here"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(folder_picker, "_last_used", [])
    data = tmp_path / "appdata"
    data.mkdir()
    monkeypatch.setattr(folder_picker, "data_folder", lambda: data)
    starts: list[str] = []
    chosen = tmp_path / "images"
    chosen.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda p, t, start, *a: (starts.append(start), "")[1])
    picker = FolderPicker()
    qtbot.addWidget(picker)
    picker.edit.setText("relative/nowhere")  # a relative path would resolve against the working directory
    picker.browse_button.click()
    assert starts[-1] == str(data)  # nothing used yet: the data folder, not cwd
    monkeypatch.setattr(
        QFileDialog, "getExistingDirectory", lambda p, t, start, *a: (starts.append(start), str(chosen))[1]
    )
    picker.edit.setText("")
    picker.browse_button.click()
    assert picker.path() == str(chosen)
    other = FolderPicker()
    qtbot.addWidget(other)
    other.browse_button.click()
    assert starts[-1] == str(chosen)  # the last-used folder
    form = ConfigForm(TrainConfig, fields=["runs_dir"], base_values={"source": "."})
    qtbot.addWidget(form)
    form.set_values({"runs_dir": "runs"})  # the default is relative
    form._editors["runs_dir"]._browse(form.editor("runs_dir"))
    assert starts[-1] != str(cwd) and Path(starts[-1]).is_absolute()
    assert all(s != str(cwd) for s in starts)


def test_show_folder_says_where_when_no_file_manager(qtbot, tmp_path, monkeypatch):
    from PySide6.QtGui import QDesktopServices, QGuiApplication

    from desktop_app.widgets.folder_picker import show_folder

    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    parent = QWidget()
    qtbot.addWidget(parent)
    assert show_folder(parent, tmp_path) is False
    assert str(tmp_path) in parent.property("last_folder_message")
    assert QGuiApplication.clipboard().text() == str(tmp_path)
    for box in parent.findChildren(QMessageBox):
        box.close()


def test_open_demo_folder_action(qtbot, app_state, tmp_path, monkeypatch):
    from desktop_app import app as app_module
    from engine.data.demo import make_demo

    monkeypatch.setattr(app_module, "data_dir", lambda: tmp_path / "data")
    monkeypatch.setattr(app_module, "ensure_demo", lambda root, parent=None: bool(make_demo(root, per_class=2)))
    window = make_window(qtbot, app_state)
    window.show_page("ExportPage")
    window.demo_action.trigger()
    assert app_state.source == str(tmp_path / "data" / "demo" / "source")
    assert app_state.target_test == str(tmp_path / "data" / "demo" / "target" / "test")
    assert type(window.current_page()).__name__ == "DataPage"


# ----------------------------------------------------------------------------- 8: resume, last page, cache
def _fake_run(runs_dir: Path, name: str, status: str, **info: Any) -> Path:
    from engine.core.config import TrainConfig, save_toml
    from engine.core.runs import Run

    path = runs_dir / name
    (path / "checkpoints").mkdir(parents=True)
    (path / "checkpoints" / "last.pt").write_bytes(b"x")
    save_toml(TrainConfig(source=Path("/nowhere")), path / "config.toml")
    run = Run(path)
    run.update_info(status=status, method="dann", epoch=2, epochs=10, **info)
    return path


def test_start_offers_to_resume_a_stopped_or_killed_run(qtbot, app_state, monkeypatch):
    from desktop_app.resume_offer import interrupted_runs

    runs = app_state.runs_dir
    stopped = _fake_run(runs, "a-stopped", "stopped")
    dead = subprocess_pid()
    killed = _fake_run(runs, "b-killed", "running", pid=dead)
    _fake_run(runs, "c-live", "running", pid=os.getpid())  # a process still trains it
    _fake_run(runs, "d-done", "finished")
    found = {r.path.name for r in interrupted_runs(runs)}
    assert found == {stopped.name, killed.name}
    window = make_window(qtbot, app_state)
    window.offers_resume = True
    resumed: list[str] = []
    monkeypatch.setattr(window, "resume_run", lambda d: (resumed.append(d), True)[1])
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: (asked.append(a[2]), QMessageBox.StandardButton.No)[1])
    window.on_engine_ready({"device": "cpu"})
    qtbot.waitUntil(lambda: bool(asked), timeout=3000)
    assert "epoch 2 of 10" in asked[0] and resumed == []
    declined = asked[0].split(" ")[0]
    again = make_window(qtbot, app_state)  # next start: the declined run is not offered again
    again.offers_resume = True
    monkeypatch.setattr(again, "resume_run", lambda d: (resumed.append(d), True)[1])
    monkeypatch.setattr(
        QMessageBox, "question", lambda *a, **k: (asked.append(a[2]), QMessageBox.StandardButton.Yes)[1]
    )
    again.on_engine_ready({"device": "cpu"})
    qtbot.waitUntil(lambda: bool(resumed), timeout=3000)
    assert Path(resumed[0]).name in {stopped.name, killed.name} and Path(resumed[0]).name != declined


def subprocess_pid() -> int:
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_last_page_is_kept_across_restarts(qtbot, app_state):
    window = make_window(qtbot, app_state)
    window.show_page("EvaluatePage")
    again = make_window(qtbot, app_state)
    assert type(again.current_page()).__name__ == "EvaluatePage"


def test_folder_check_is_cached_until_the_folders_change(tiny_demo, monkeypatch):
    from engine.jobs import check
    from engine.jobs.check import CheckConfig

    calls: list[int] = []
    import engine.data.health as health

    real = health.check_folders
    monkeypatch.setattr(health, "check_folders", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    config = CheckConfig(
        source=tiny_demo.source, target=tiny_demo.target_train, target_test=tiny_demo.target_test, cache=True
    )
    first = check.run(config, lambda e: None, JobControl())
    second = check.run(config, lambda e: None, JobControl())  # a restart on the same folders
    assert second.health is not None and first.health is not None
    assert len(calls) == 1 and second.health.model_dump(mode="json") == first.health.model_dump(mode="json")
    some_image = next(Path(tiny_demo.target_test).rglob("*.png"))
    later = time.time() + 5
    os.utime(some_image, (later, later))  # an image changed: checked again
    check.run(config, lambda e: None, JobControl())
    assert len(calls) == 2
    check.run(config.model_copy(update={"cache": False}), lambda e: None, JobControl())  # the CLI's default
    assert len(calls) == 3
