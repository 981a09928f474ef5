"""The app shell: display checks, the window before torch, pages plugging in, settings, shortcuts, closing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from desktop_app import app as app_module
from desktop_app.main_window import PAGES, MainWindow, load_page_classes
from desktop_app.state import AppState

ROOT = Path(__file__).resolve().parents[2]


def make_window(qtbot, state, pages=None) -> MainWindow:
    window = MainWindow(state, pages)
    qtbot.addWidget(window, before_close_func=lambda w: [p.shutdown() for p in w.pages])
    window.show()
    return window


def test_no_display_prints_one_line_and_exits_1(monkeypatch, capsys):
    env = {"HOME": "/home/x"}
    message = app_module.display_problem(env, "linux")
    assert message and "\n" not in message and "DISPLAY" in message
    assert app_module.display_problem({"DISPLAY": ":0"}, "linux") is None
    assert app_module.display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert app_module.display_problem({}, "darwin") is None
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert app_module.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no display" in err


def test_missing_xcb_library_names_the_package(monkeypatch, capsys):
    present = {lib for lib, _ in app_module.XCB_LIBRARIES} - {"libxcb-cursor.so.0", "libEGL.so.1"}
    missing = app_module.missing_system_libraries({"DISPLAY": ":0"}, "linux", loadable=present.__contains__)
    assert missing == [("libxcb-cursor.so.0", "libxcb-cursor0"), ("libEGL.so.1", "libegl1")]
    message = app_module.missing_libraries_message(missing)
    assert "libxcb-cursor0" in message and "libegl1" in message and "\n" not in message
    assert (
        app_module.missing_system_libraries({"QT_QPA_PLATFORM": "offscreen"}, "linux", loadable=lambda _: False) == []
    )
    assert (
        app_module.missing_system_libraries({"WAYLAND_DISPLAY": "wayland-0"}, "linux", loadable=lambda _: False) == []
    )
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(app_module, "_loadable", lambda lib: lib != "libxcb-icccm.so.4")
    monkeypatch.setattr(sys, "platform", "linux")
    assert app_module.main([]) == 1  # before any QApplication: Qt's raw plugin error never shows
    err = capsys.readouterr().err
    assert "libxcb-icccm4" in err and err.count("\n") == 1


def test_unreachable_display_is_one_line_not_a_qt_abort(monkeypatch, capsys):
    env = {"DISPLAY": ":77"}
    assert app_module.unreachable_display(env, "linux", reachable=lambda d: False)
    assert app_module.unreachable_display(env, "linux", reachable=lambda d: True) is None
    assert app_module.unreachable_display(env, "linux", reachable=lambda d: None) is None  # no libxcb: Qt decides
    assert app_module.unreachable_display({**env, "QT_QPA_PLATFORM": "offscreen"}, "linux", lambda d: False) is None
    assert app_module.unreachable_display(env, "darwin", reachable=lambda d: False) is None
    monkeypatch.setenv("DISPLAY", ":77")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(app_module, "_loadable", lambda lib: True)
    monkeypatch.setattr(app_module, "_x_display_reachable", lambda display: display != ":77")
    monkeypatch.setattr(sys, "platform", "linux")
    assert app_module.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ":77" in err and "QT_QPA_PLATFORM=offscreen" in err


def test_a_display_nobody_serves_is_not_reachable():
    """The real check against libxcb: display :77 has no server (skips nothing: None without libxcb)."""
    assert app_module._x_display_reachable(":77") in (False, None)


def test_window_appears_without_importing_torch(tmp_path):
    code = (
        "import sys\n"
        "from PySide6.QtCore import QSettings\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from desktop_app.main_window import MainWindow\n"
        "from desktop_app.state import AppState\n"
        f"s = QSettings({str(tmp_path / 's.ini')!r}, QSettings.Format.IniFormat)\n"
        f"w = MainWindow(AppState(s, workspace={str(tmp_path)!r}))\n"
        "w.show(); app.processEvents()\n"
        "print([p.title for p in w.pages], 'torch' in sys.modules, w.page_problems)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert "['Data', 'Train'" in line and "False" in line.split("]")[1], line  # torch not imported
    assert line.endswith("[]"), f"some pages failed to load: {line}"


def test_pages_plug_in_from_the_list_and_missing_ones_are_skipped(qtbot, app_state):
    classes, problems = load_page_classes([*PAGES, ("desktop_app.pages.not_written_yet", "FuturePage")])
    names = [c.__name__ for c in classes]
    assert names[:2] == ["DataPage", "TrainPage"] and problems == []
    for module, cls in PAGES[2:]:  # the other pages appear exactly when their module exists
        exists = (ROOT / (module.replace(".", "/") + ".py")).is_file()
        assert (cls in names) == exists
    classes, problems = load_page_classes([("desktop_app.pages.data", "NoSuchPage")])
    assert classes == [] and "NoSuchPage" in problems[0]
    window = make_window(
        qtbot,
        app_state,
        [
            ("desktop_app.pages.data", "DataPage"),
            ("desktop_app.pages.nothing", "X"),
            ("desktop_app.pages.train", "TrainPage"),
        ],
    )
    assert [window.sidebar.item(i).text() for i in range(window.sidebar.count())] == ["Data", "Train"]
    window.sidebar.setCurrentRow(1)
    assert window.current_page() is window.page("TrainPage")


def test_geometry_and_last_page_are_restored(qtbot, tmp_path, monkeypatch):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = make_window(qtbot, AppState(settings, workspace=tmp_path))
    window.show_page("TrainPage")
    saved = window.saveGeometry()
    window.close()
    restored: list[bytes] = []
    monkeypatch.setattr(MainWindow, "restoreGeometry", lambda self, g: restored.append(bytes(g)) or True)
    again = make_window(
        qtbot, AppState(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat), workspace=tmp_path)
    )
    assert again.current_page() is again.page("TrainPage")
    assert restored == [bytes(saved)]  # (offscreen clamps sizes to its 800x600 screen, so compare what is restored)


def test_about_box_and_shortcuts(qtbot, app_state, engine_info):
    window = make_window(qtbot, app_state)
    assert "loading" in window.about_text()
    window.on_engine_ready(engine_info)
    text = window.about_text()
    for part in ("PyTorch", engine_info["torch"], "onnxruntime", "Qt", "Device", engine_info["device"]):
        assert part in text
    assert "torch ready" in window.engine_label.text()
    assert window.start_action.shortcut().toString() == "Ctrl+R"
    assert [s.toString() for s in window.stop_action.shortcuts()] == ["Ctrl+."]  # not Esc (issue 10)
    window.start_action.trigger()  # no source folder yet: refused with the reason in the status bar
    assert window.current_page() is window.page("TrainPage")
    assert "source folder" in window.statusBar().currentMessage()


def test_closing_during_training_asks_then_leaves_a_resumable_run(qtbot, demo_state, engine_info, monkeypatch):
    window = make_window(qtbot, demo_state)
    window.on_engine_ready(engine_info)
    train = window.page("TrainPage")
    train.settings_panel.basic_form.set_values({"epochs": 50, "batch_size": 8})
    window.start_action.trigger()  # Ctrl+R
    qtbot.waitUntil(lambda: train.plots.curve_length("loss") >= 3, timeout=60_000)
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: (asked.append(a[2]), QMessageBox.StandardButton.No)[1])
    window.close()
    assert asked and "Train" in asked[0] and window.isVisible() and train.busy()  # "No" keeps it running
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.close()
    assert not window.isVisible() and not train.busy()  # stopped and joined
    run_dir = Path(train.run_dir)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "stopped"
    assert (run_dir / "checkpoints" / "last.pt").is_file()


def test_stop_shortcut_stops_the_running_job(qtbot, demo_state, engine_info, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window = make_window(qtbot, demo_state)
    window.on_engine_ready(engine_info)
    data = window.show_page("DataPage")
    data.check()
    window.stop_action.trigger()  # Ctrl+., confirmed
    qtbot.waitUntil(lambda: not data.busy(), timeout=20_000)
    assert "Stopping" in window.statusBar().currentMessage() or data.report is not None


def test_demo_is_written_once_with_progress(qtbot, tmp_path):
    root = tmp_path / "data" / "demo"
    assert app_module.ensure_demo(root, per_class=3)
    source, target, test = app_module.demo_folders(root)
    assert len(list(source.rglob("*.png"))) == 30 and target.is_dir() and test.is_dir()
    stamp = (root / "README.txt").stat().st_mtime_ns
    assert app_module.ensure_demo(root, per_class=3)  # second start: nothing rewritten
    assert (root / "README.txt").stat().st_mtime_ns == stamp
