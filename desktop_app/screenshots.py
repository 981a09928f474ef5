"""`python -m desktop_app.screenshots OUTDIR`: a PNG of every page, offscreen, on fresh demo data.

Data page with its health report, Train page during and after a short run, then every other page
present (after the run is selected as the current run, each page's `on_shown()` is called and its
job, if any, is waited for). Settings and workspace live in a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

SIZE = (1440, 900)
# What a person would do on each other page before looking at it (skipped when the page lacks it).
ACTIONS: dict[str, Callable[[object, Path, object], object]] = {
    "EvaluatePage": lambda page, demo, state: page.evaluate(),  # type: ignore[attr-defined]
    "ExportPage": lambda page, demo, state: page.export(),  # type: ignore[attr-defined]
    "PredictPage": lambda page, demo, state: page.predict(
        sorted(str(p) for p in (demo / "target" / "test").rglob("*.png"))[:24]
    ),  # type: ignore[attr-defined]
    "RunsPage": lambda page, demo, state: page.select_paths([state.run_dir]),  # type: ignore[attr-defined]
    "RobustnessPage": lambda page, demo, state: page.run_attack(),  # type: ignore[attr-defined]
    "DomainsPage": lambda page, demo, state: page.embed(),  # type: ignore[attr-defined]
}


def _wait(app: object, done: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        if done():
            return True
        time.sleep(0.01)
    return False


def _settle(app: object, seconds: float = 0.4) -> None:
    _wait(app, lambda: False, seconds)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0] if args else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TRANSFER_STUDIO_OFFLINE", "1")
    from desktop_app.compat import guard_none_refcount

    guard_none_refcount()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from desktop_app import errors
    from desktop_app.app import demo_folders, load_engine
    from desktop_app.main_window import MainWindow
    from desktop_app.state import AppState
    from engine.data.demo import make_demo

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setStyle("Fusion")
    problems: list[str] = []
    errors.show_error = lambda parent, message, details="", title="": problems.append(message)  # type: ignore[assignment]
    tmp = Path(tempfile.mkdtemp(prefix="ts-shots-"))
    make_demo(tmp / "demo", per_class=40)
    state = AppState(QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat), workspace=tmp / "workspace")
    state.set_folders(*(str(p) for p in demo_folders(tmp / "demo")))
    window = MainWindow(state)
    window.resize(*SIZE)
    window.show()
    window.on_engine_ready(load_engine())
    written: list[Path] = []

    def shot(name: str) -> None:
        _settle(app)
        path = out / f"{name}.png"
        window.grab().save(str(path))
        written.append(path)

    data = window.show_page("DataPage")
    if data is not None:
        data.check()  # type: ignore[attr-defined]
        _wait(app, lambda: not data.busy(), 120)
        data.grid.thumbnails.wait_idle()  # type: ignore[attr-defined]
        shot("data")
    train = window.show_page("TrainPage")
    if train is not None:
        train.set_method("finetune")  # type: ignore[attr-defined]
        train.basic_form.set_values({"epochs": 8, "batch_size": 32, "lr": 0.003})  # type: ignore[attr-defined]
        train.start()  # type: ignore[attr-defined]
        _wait(app, lambda: train.progress.value() > 0.5 * train.progress.maximum() > 0, 300)  # type: ignore[attr-defined]
        shot("train_running")
        _wait(app, lambda: not train.busy(), 600)
        shot("train_done")
    for page in window.pages:
        if type(page).__name__ in ("DataPage", "TrainPage"):
            continue
        window.show_page(type(page).__name__)  # calls on_shown()
        _wait(app, lambda page=page: not page.busy(), 300)
        action = ACTIONS.get(type(page).__name__)
        if action is not None:
            try:
                action(page, tmp / "demo", state)
            except Exception as err:
                problems.append(f"{page.title}: {type(err).__name__}: {err}")
            _wait(app, lambda page=page: not page.busy(), 300)
        shot(page.title.lower().replace(" ", "_"))
    window.close_without_asking()
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    for path in written:
        print(path)
    for message in problems:
        print(f"error dialog: {message}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
