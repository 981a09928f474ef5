"""Start the desktop app: check the display, create the QApplication, show the window, then load torch.

The window appears first; torch and the engine's registries load in a background thread and the
pages are told when they are ready. `--demo` writes the demo data into the user's data folder on
first start (with a progress dialog) and opens the window on it.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

ORG_NAME = APP_NAME = "TransferStudio"
_HEADLESS_PLATFORMS = {"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"}
# (soname Qt's xcb platform links, Debian/Ubuntu package that ships it)
XCB_LIBRARIES: list[tuple[str, str]] = [
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    ("libxcb-sync.so.1", "libxcb-sync1"),
    ("libxcb-shm.so.0", "libxcb-shm0"),
    ("libxcb-render.so.0", "libxcb-render0"),
    ("libxcb-util.so.1", "libxcb-util1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxkbcommon.so.0", "libxkbcommon0"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
]


# ----------------------------------------------------------------------------- display checks
def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """One line saying what to do when there is no display to open a window on (Linux), else None."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    if env.get("QT_QPA_PLATFORM", "").split(":")[0] in _HEADLESS_PLATFORMS:
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    return (
        "transfer-studio: no display found (DISPLAY and WAYLAND_DISPLAY are unset): run it inside a desktop session "
        "or over `ssh -X`, use the command line instead (`transfer-studio --help`), or set QT_QPA_PLATFORM=offscreen."
    )


def _loadable(soname: str) -> bool:
    """True when the dynamic loader finds `soname`: exactly what Qt's plugin will ask it for."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_system_libraries(
    env: Mapping[str, str] | None = None, platform: str | None = None, loadable: Callable[[str], bool] | None = None
) -> list[tuple[str, str]]:
    """(library, package) pairs Qt's xcb platform needs but the system lacks; [] when xcb is not used.

    Checked before the QApplication exists, because a failing xcb plugin aborts the process with
    Qt's raw "could not load the Qt platform plugin" message that names no package.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return []
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    if qpa and qpa != "xcb":
        return []
    if not qpa and env.get("WAYLAND_DISPLAY") and (env.get("XDG_SESSION_TYPE") == "wayland" or not env.get("DISPLAY")):
        return []  # Qt picks its wayland platform here
    check = loadable or _loadable  # looked up now, not bound at definition (tests replace _loadable)
    return [(lib, pkg) for lib, pkg in XCB_LIBRARIES if not check(lib)]


def _x_display_reachable(display: str) -> bool | None:
    """Whether an X server answers on `display` (libxcb's xcb_connect); None when libxcb is absent."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return None
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return conn is not None and xcb.xcb_connection_has_error(conn) == 0
    finally:
        if conn:
            xcb.xcb_disconnect(conn)


def unreachable_display(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    reachable: Callable[[str], bool | None] | None = None,
) -> str | None:
    """One line when DISPLAY names an X server that does not answer (Qt would abort the process
    there with "could not connect to display"); None when it answers, or xcb is not used."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    display = env.get("DISPLAY", "")
    if (qpa and qpa != "xcb") or not display:
        return None
    if not qpa and env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland":
        return None  # Qt picks its wayland platform here
    if (reachable or _x_display_reachable)(display) is not False:
        return None
    return (
        f"transfer-studio: cannot connect to the X display {display!r} (DISPLAY is set but no X server answers): "
        "start the desktop session or fix DISPLAY, use the command line (`transfer-studio --help`), "
        "or set QT_QPA_PLATFORM=offscreen."
    )


def missing_libraries_message(missing: list[tuple[str, str]]) -> str:
    libs = ", ".join(lib for lib, _ in missing)
    pkgs = " ".join(pkg for _, pkg in missing)
    return (
        f"transfer-studio: the window needs system libraries that are missing ({libs}); "
        f"install them, e.g. `sudo apt install {pkgs}` on Debian/Ubuntu, then start again."
    )


# ----------------------------------------------------------------------------- background engine load
def load_engine() -> dict[str, Any]:
    """Import torch and everything a run needs (run in a background thread); returns versions and device."""
    from engine.core.runtime import preload

    return preload()


def make_engine_loader(parent: Any = None) -> Any:
    """A QThread that runs `load_engine` and reports `ready(dict)` or `failed(message, details)`."""
    from PySide6.QtCore import QThread, Signal

    class EngineLoader(QThread):
        ready = Signal(dict)
        failed = Signal(str, str)

        def run(self) -> None:
            try:
                info = load_engine()
            except Exception as err:
                self.failed.emit(f"{type(err).__name__}: {err}", traceback.format_exc())
            else:
                self.ready.emit(info)

    return EngineLoader(parent)


# ----------------------------------------------------------------------------- demo data
def data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def demo_folders(root: Path) -> tuple[Path, Path, Path]:
    return root / "source", root / "target" / "train", root / "target" / "test"


def ensure_demo(root: Path, parent: Any = None, per_class: int = 150) -> bool:
    """Write the demo into `root` unless it is there, showing a progress dialog; False if it failed or was cancelled."""
    if (root / "README.txt").is_file():
        return True
    from PySide6.QtCore import QEventLoop, Qt
    from PySide6.QtWidgets import QProgressDialog

    from desktop_app import errors
    from desktop_app.jobs import JobRunner
    from engine.core.events import Progress

    partial = root.with_name(root.name + ".partial")

    def job(emit: Any, control: Any) -> None:
        from engine.data.demo import make_demo

        if partial.exists():
            shutil.rmtree(partial)

        def progress(done: int, total: int) -> None:
            emit(Progress(0, done, total))
            control.check()

        make_demo(partial, per_class=per_class, progress=progress)
        if root.exists():
            shutil.rmtree(root)
        partial.rename(root)

    dialog = QProgressDialog("Writing the demo images (first start only)…", "Cancel", 0, 0, parent)
    dialog.setWindowTitle("Transfer Studio")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(0)
    loop = QEventLoop()
    outcome: dict[str, Any] = {"ok": False}

    def on_events(batch: list) -> None:
        last = next((e for e in reversed(batch) if isinstance(e, Progress)), None)
        if last is not None:
            dialog.setMaximum(last.total_steps)
            dialog.setValue(last.step)

    def on_failed(message: str, details: str) -> None:
        if not runner.control or not runner.control.stop_requested:
            errors.show_error(parent, f"The demo data could not be written to {root}: {message}", details)
        loop.quit()

    def on_finished(_: Any) -> None:
        outcome["ok"] = True
        loop.quit()

    runner = JobRunner(events=on_events, failed=on_failed, finished=on_finished)
    dialog.canceled.connect(runner.stop)
    root.parent.mkdir(parents=True, exist_ok=True)
    runner.start(job)
    dialog.show()
    loop.exec()
    dialog.close()
    return bool(outcome["ok"])


# ----------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="transfer-studio-gui", description="Transfer Studio desktop app.")
    p.add_argument("--demo", action="store_true", help="open on the demo data (written on first start)")
    p.add_argument(
        "--timings", action="store_true", help=argparse.SUPPRESS
    )  # bench: print times, quit when torch is ready
    return p.parse_args(list(argv) if argv is not None else sys.argv[1:])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; returns the exit code (1 with a one-line message when no window can open)."""
    args = parse_args(argv)
    problem = display_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    missing = missing_system_libraries()
    if missing:
        print(missing_libraries_message(missing), file=sys.stderr)
        return 1
    unreachable = unreachable_display()
    if unreachable:
        print(unreachable, file=sys.stderr)
        return 1

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from desktop_app.compat import guard_none_refcount
    from desktop_app.jobs import share_the_gil_quickly
    from desktop_app.main_window import MainWindow
    from desktop_app.resources import resource_path
    from desktop_app.state import AppState

    guard_none_refcount()
    share_the_gil_quickly()
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName("Transfer Studio")
    QApplication.setDesktopFileName("transfer-studio")  # Wayland app id: matches transfer-studio.desktop
    QApplication.setWindowIcon(QIcon(str(resource_path("icons/transfer-studio.png"))))
    app.setStyle("Fusion")  # the palette (light or dark) still follows the system
    from desktop_app.resources import app_style

    app.setStyleSheet(app_style())  # resources/style.qss: the few colours that carry meaning
    settings = QSettings()
    root = data_dir()
    state = AppState(settings, workspace=Path(str(settings.value("workspace", root))))
    if not args.demo:
        state.set_folders(*(str(settings.value(f"folders/{k}", "") or "") for k in ("source", "target", "target_test")))
    window = MainWindow(state)
    from desktop_app import crash

    crash.install(root, window)  # uncaught errors in slots and threads: a dialog, and ROOT/crash.log
    window.offers_resume = not args.timings  # a stopped or killed run is offered once torch is ready
    window.show()
    app.processEvents()
    shown = time.time()
    if args.timings:
        print(json.dumps({"window_shown": shown}), flush=True)

    loader = make_engine_loader()
    loader.ready.connect(window.on_engine_ready)
    loader.failed.connect(window.on_engine_failed)
    if args.timings:
        loader.ready.connect(lambda _: (print(json.dumps({"torch_ready": time.time()}), flush=True), window.close()))
        loader.failed.connect(lambda *_: window.close())
    loader.start()

    if args.demo:
        demo = root / "demo"
        if not args.timings and ensure_demo(demo, window):
            state.set_folders(*(str(p) for p in demo_folders(demo)))
            data_page = window.page("DataPage")
            if data_page is not None:
                if not settings.value("window/page"):  # first start: the Data page; later the last one
                    window.show_page("DataPage")
                data_page.check()  # type: ignore[attr-defined]  # a cached report when nothing changed

    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl+C or kill: stop the jobs (runs stay resumable) and quit
        signal.signal(sig, lambda *_: window.close_without_asking())
    tick = QTimer()
    tick.timeout.connect(lambda: None)  # lets Python run its signal handlers while Qt waits
    tick.start(250)
    code = app.exec()
    loader.wait(120_000)
    return int(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
