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
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Qt is imported only once main() has chosen the offscreen platform
    from PySide6.QtCore import QCoreApplication

    from desktop_app.pages.base import Page
    from desktop_app.state import AppState

SIZE = (1440, 900)


def _act(page: Page, demo: Path, state: AppState) -> None:
    """What a person would do on each other page before looking at it (nothing on the rest)."""
    from desktop_app.pages.cluster import ClusterPage
    from desktop_app.pages.domains import DomainsPage
    from desktop_app.pages.evaluate import EvaluatePage
    from desktop_app.pages.export import ExportPage
    from desktop_app.pages.predict import PredictPage
    from desktop_app.pages.robustness import RobustnessPage
    from desktop_app.pages.runs import RunsPage

    if isinstance(page, EvaluatePage):
        page.evaluate()
    elif isinstance(page, ExportPage):
        page.export()
    elif isinstance(page, PredictPage):
        page.predict([str(demo / "target" / "test")])  # a labelled folder: accuracy and matrix too
    elif isinstance(page, RunsPage):
        page.select_paths([state.run_dir])
    elif isinstance(page, RobustnessPage):
        page.run_attack()
    elif isinstance(page, DomainsPage):
        page.embed()
    elif isinstance(page, ClusterPage):
        page.folder.choose(str(demo / "target" / "test"))
        page.k.setValue(10)
        page.start_clustering()


def _wait(app: QCoreApplication, done: Callable[[], bool], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if done():
            return True
        time.sleep(0.01)
    return False


def _settle(app: QCoreApplication, seconds: float = 0.4) -> None:
    _wait(app, lambda: False, seconds)


def _idle(page: Page) -> Callable[[], bool]:
    """A wait condition: `page` has no job running."""
    return lambda: not page.busy()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args[0] if args else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("TRANSFER_STUDIO_OFFLINE", "1")
    from desktop_app.compat import guard_none_refcount

    guard_none_refcount()
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QWidget

    from desktop_app import errors
    from desktop_app.app import demo_folders, load_engine
    from desktop_app.main_window import MainWindow
    from desktop_app.pages.data import DataPage
    from desktop_app.pages.train import TrainPage
    from desktop_app.state import AppState
    from engine.data.demo import make_demo

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    app.setStyle("Fusion")
    problems: list[str] = []

    def record_error(parent: QWidget | None, message: str, details: str = "", title: str = "") -> None:
        problems.append(message)

    errors.show_error = record_error
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
    if isinstance(data, DataPage):
        data.check()
        _wait(app, _idle(data), 120)
        data.grid.thumbnails.wait_idle()
        shot("data")
    train = window.show_page("TrainPage")
    if isinstance(train, TrainPage):
        train.set_method("finetune")
        train.settings_panel.basic_form.set_values({"epochs": 8, "batch_size": 32, "lr": 0.003})
        train.start()
        bar = train.progress
        _wait(app, lambda: bar.value() > 0.5 * bar.maximum() > 0, 300)
        shot("train_running")
        _wait(app, _idle(train), 600)
        shot("train_done")
    for page in window.pages:
        if isinstance(page, DataPage | TrainPage):
            continue
        window.show_page(type(page).__name__)  # calls on_shown()
        _wait(app, _idle(page), 300)
        try:
            _act(page, tmp / "demo", state)
        except Exception as err:
            problems.append(f"{page.title}: {type(err).__name__}: {err}")
        _wait(app, _idle(page), 300)
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
