"""The main window: a side bar of pages, a stack, menus, shortcuts, the status bar. Wiring only.

Pages come from `PAGES`, a list of (module, class) names imported with importlib, so a page
module that does not exist yet is skipped and a broken one is reported without taking the window
down. Pages that define `engine_ready(info)` are told when torch has loaded in the background.

Around the pages: a guide bar (Data -> Train -> Evaluate -> Export, with "Next"), a status-bar
indicator of any running job with its progress, the Help menu (shortcuts, method notes), an offer
to resume an interrupted run once torch is ready, and the wheel guard on every page's inputs.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

from PySide6.QtCore import QSize, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.about import about_html
from desktop_app.cache_action import add_cache_action
from desktop_app.compat import guard_none_refcount
from desktop_app.page_list import PAGES, load_page_classes
from desktop_app.pages.base import Page
from desktop_app.state import AppState
from desktop_app.widgets import help_dialog
from desktop_app.widgets.form_utils import action
from desktop_app.widgets.guide import GuideBar
from desktop_app.widgets.job_status import JobStatus
from desktop_app.widgets.wheel_guard import guard_wheel

guard_none_refcount()  # PySide6 6.12.0 on Python < 3.12 (see desktop_app.compat)
APP_TITLE = "Transfer Studio"
FRAME_GUESS = (8, 40)  # width and height a window manager's frame and title bar take, before it says


class MainWindow(QMainWindow):
    def __init__(
        self, state: AppState, pages: list[tuple[str, str]] | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.engine_info: dict[str, Any] = {}
        self._ask_before_closing = True
        self.setWindowTitle(APP_TITLE)
        self.sidebar = QListWidget()
        self.sidebar.setIconSize(QSize(20, 20))
        self.sidebar.setFixedWidth(150)
        self.sidebar.setToolTip("Pages of the app, in the order of the work.")
        self.stack = QStackedWidget()
        self.pages: list[Page] = []
        classes, self.page_problems = load_page_classes(PAGES if pages is None else pages)
        for cls in classes:
            self._add_page(cls)
        self.guide = GuideBar([type(p).__name__ for p in self.pages])
        self.guide.go_to.connect(self.show_page)
        self.guide.closed.connect(lambda: self.set_guide_visible(False))
        central = QWidget()
        col = QVBoxLayout(central)
        col.setContentsMargins(4, 4, 4, 0)
        col.addWidget(self.guide)
        row = QHBoxLayout()
        row.addWidget(self.sidebar)
        row.addWidget(self.stack, 1)
        col.addLayout(row, 1)
        self.setCentralWidget(central)
        self.job_status = JobStatus()
        self.job_status.open_page.connect(lambda page: self.show_page(type(page).__name__))
        self.job_status.watch(self.pages)
        self.statusBar().addPermanentWidget(self.job_status)
        self.engine_label = QLabel("Loading PyTorch…")
        self.engine_label.setToolTip("PyTorch loads in the background; training starts once it is ready.")
        self.statusBar().addPermanentWidget(self.engine_label)
        self._resume_offered = False
        self._fitted = False
        self.offers_resume = False  # the app turns it on; tests and screenshots get no surprise dialog
        self._build_actions()
        self.set_guide_visible(str(state.settings.value("window/guide", "true")).lower() != "false")
        self.sidebar.currentRowChanged.connect(self._on_page_selected)
        self._restore()
        for problem in self.page_problems:
            print(f"transfer-studio: page not loaded: {problem}", file=sys.stderr)
        if self.page_problems:
            self.statusBar().showMessage(
                f"{len(self.page_problems)} page(s) could not be loaded; see the terminal.", 10_000
            )

    # ------------------------------------------------------------------ construction
    def _add_page(self, cls: type[Page]) -> None:
        try:
            page = cls(self.state)
        except Exception as err:
            self.page_problems.append(f"{cls.__name__}: {type(err).__name__}: {err}")
            traceback.print_exc()
            return
        self.pages.append(page)
        self.stack.addWidget(page)
        icon = getattr(QStyle.StandardPixmap, page.icon, None) if page.icon else None
        item = QListWidgetItem(page.title)
        if icon is not None:
            item.setIcon(self.style().standardIcon(icon))
        item.setToolTip(f"{page.title} page")
        self.sidebar.addItem(item)
        signal = getattr(page, "resume_requested", None)
        if signal is not None and hasattr(signal, "connect"):
            signal.connect(self.resume_run)

    def _build_actions(self) -> None:
        start_tip = "Start training with the Train page's settings."
        self.start_action = action(self, "&Start training", self._on_start_action, "Ctrl+R", start_tip)
        # not Esc: a key pressed to close a popup must not end a run; and Stop asks first
        stop_tip = "Stop the running job, after asking; a training run keeps a checkpoint."
        self.stop_action = action(self, "S&top", self._on_stop_action, "Ctrl+.", stop_tip)
        quit_action = action(self, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        about_action = action(self, "&About Transfer Studio", self._on_about)
        self.demo_action = action(
            self,
            "Open &demo folder",
            self.open_demo,
            tip="Use the demo images (written on first use) as source, target and target test.",
        )
        next_tip = "The guide's next step: Data, Train, Evaluate, Export."
        self.next_action = action(self, "&Next step", self.next_step, "Ctrl+]", next_tip)
        self.guide_action = QAction("Show the &guide", self)
        self.guide_action.setCheckable(True)
        self.guide_action.toggled.connect(self.set_guide_visible)
        self.shortcuts_action = action(
            self, "&Keyboard shortcuts", self.show_shortcuts, QKeySequence.StandardKey.HelpContents
        )
        notes_action = action(self, "&Method notes (λ, domain accuracy, A-distance)", self.show_method_notes)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.demo_action)
        self.cache_action = add_cache_action(file_menu, self)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        run_menu = menu.addMenu("&Run")
        run_menu.addAction(self.start_action)
        run_menu.addAction(self.stop_action)
        go = menu.addMenu("&Go")
        go.addAction(self.next_action)
        go.addSeparator()
        self.go_actions: list[QAction] = []
        for i, page in enumerate(self.pages[:9]):
            go_to = go.addAction(page.title)
            go_to.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            go_to.triggered.connect(lambda _=False, row=i: self.sidebar.setCurrentRow(row))
            self.go_actions.append(go_to)
        help_menu = menu.addMenu("&Help")
        for help_action in (self.guide_action, self.shortcuts_action, notes_action):
            help_menu.addAction(help_action)
        help_menu.addSeparator()
        help_menu.addAction(about_action)
        self.help_dialogs: list[QWidget] = []
        self.addActions([self.start_action, self.stop_action, quit_action, about_action, self.next_action])
        self.addAction(self.shortcuts_action)

    def _restore(self) -> None:
        s = self.state.settings
        geometry = s.value("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 820)
        self.fit_to_screen()
        names = [type(p).__name__ for p in self.pages]
        last = str(s.value("window/page", ""))
        self.sidebar.setCurrentRow(names.index(last) if last in names else 0)

    def fit_to_screen(self) -> None:
        """Shrink the window to the screen's free area (a 1366x768 laptop, or a geometry saved on a
        larger monitor), so the status bar and the buttons at the bottom stay reachable."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            return
        free = screen.availableGeometry()
        frame = self.frameGeometry().size() - self.geometry().size()  # title bar and borders
        if not self.isVisible() or frame.height() <= 0:  # before the window manager framed it: a guess
            frame = QSize(FRAME_GUESS[0], FRAME_GUESS[1])
        width = max(self.minimumSizeHint().width(), min(self.width(), free.width() - frame.width()))
        height = max(self.minimumSizeHint().height(), min(self.height(), free.height() - frame.height()))
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)

    # ------------------------------------------------------------------ API
    def page(self, name: str) -> Page | None:
        """A page by class name (e.g. 'TrainPage') or title (e.g. 'Train')."""
        return next((p for p in self.pages if type(p).__name__ == name or p.title == name), None)

    def current_page(self) -> Page | None:
        widget = self.stack.currentWidget()
        return widget if isinstance(widget, Page) else None

    def show_page(self, name: str) -> Page | None:
        page = self.page(name)
        if page is not None:
            self.sidebar.setCurrentRow(self.pages.index(page))
        return page

    def resume_run(self, run_dir: str) -> bool:
        """Open the Train page (the Generate page for a translation run) and continue `run_dir`."""
        from engine.core.runs import run_kind

        if run_kind(run_dir) == "translate":
            resume = getattr(self.show_page("GeneratePage"), "resume_translation", None)
            return bool(resume is not None and resume(run_dir))
        train = self.show_page("TrainPage")
        return bool(train is not None and train.resume(run_dir))  # type: ignore[attr-defined]

    def close_without_asking(self) -> None:
        """Close as the window's close button does, stopping jobs without the question (Ctrl+C, SIGTERM)."""
        self._ask_before_closing = False
        self.close()

    def on_engine_ready(self, info: dict[str, Any]) -> None:
        """Torch and the engine have loaded: tell the pages, show it in the status bar."""
        self.engine_info = dict(info)
        device = info.get("device", "?")
        self.engine_label.setText(f"torch ready · {device}")
        self.engine_label.setToolTip(
            f"PyTorch {info.get('torch', '')} loaded in {info.get('seconds', 0):.1f} s; training runs on {device}."
        )
        for page in self.pages:
            hook = getattr(page, "engine_ready", None)
            if callable(hook):
                try:
                    hook(self.engine_info)
                except Exception as err:
                    errors.show_error(
                        self, f"The {page.title} page could not use the engine: {err}", traceback.format_exc()
                    )
        QTimer.singleShot(0, self.offer_resume)  # resuming needs the engine: now it is there

    # ------------------------------------------------------------------ guide, help, demo, resume
    def set_guide_visible(self, shown: bool) -> None:
        self.guide.setVisible(shown)
        self.state.settings.setValue("window/guide", "true" if shown else "false")
        if hasattr(self, "guide_action") and self.guide_action.isChecked() != shown:
            self.guide_action.setChecked(shown)

    def next_step(self) -> None:
        target = self.guide.next_page()
        if target:
            self.show_page(target)

    def shortcut_actions(self) -> list[QAction]:
        """Every action of the window and its menus that has a shortcut (the Help list reads these)."""
        return [a for a in self.findChildren(QAction) if a.shortcuts() and a.text()]

    def show_shortcuts(self) -> QWidget:
        dialog = help_dialog.show_help(self, "Keyboard shortcuts", help_dialog.shortcuts_html(self.shortcut_actions()))
        self.help_dialogs.append(dialog)
        return dialog

    def show_method_notes(self) -> QWidget:
        dialog = help_dialog.show_help(self, "Method notes", help_dialog.METHOD_NOTES)
        self.help_dialogs.append(dialog)
        return dialog

    def open_demo(self) -> bool:
        """Write the demo on first use, then make it the chosen folders and open the Data page."""
        from desktop_app.app import data_dir, demo_folders, ensure_demo

        root = data_dir() / "demo"
        if not ensure_demo(root, self):
            return False
        self.state.set_folders(*(str(p) for p in demo_folders(root)))
        self.show_page("DataPage")
        self.statusBar().showMessage(f"Demo folders chosen: {root}", 8000)
        return True

    def offer_resume(self) -> bool:
        """Once per start: offer to continue the newest stopped or killed run; True if it resumed."""
        if not self.offers_resume or self._resume_offered or any(p.busy() for p in self.pages):
            return False
        self._resume_offered = True
        from desktop_app.resume_offer import ask_to_resume

        run_dir = ask_to_resume(self, self.state)
        return bool(run_dir) and self.resume_run(run_dir)

    def on_engine_failed(self, message: str, details: str) -> None:
        self.engine_label.setText("PyTorch failed to load")
        errors.show_error(self, f"PyTorch could not be loaded, so training is unavailable: {message}", details)

    def about_text(self) -> str:
        return about_html(self.engine_info, str(self.state.workspace))

    # ------------------------------------------------------------------ slots
    def _on_page_selected(self, row: int) -> None:
        if 0 <= row < len(self.pages):
            self.stack.setCurrentIndex(row)
            page = self.pages[row]
            self.state.settings.setValue("window/page", type(page).__name__)
            self.guide.set_current(type(page).__name__)
            page.on_shown()
            guard_wheel(page)  # inputs created since the last visit too

    def _on_start_action(self) -> None:
        train = self.show_page("TrainPage")
        if train is None:
            return
        if not train.start():  # type: ignore[attr-defined]
            _, reason = train.can_start()  # type: ignore[attr-defined]
            self.statusBar().showMessage(reason or "Training is already running.", 5000)

    def _on_stop_action(self) -> None:
        current = self.current_page()
        candidates = ([current] if current is not None else []) + self.pages
        for page in candidates:
            stop = getattr(page, "stop", None)
            if page.busy() and callable(stop):
                if errors.ask(
                    self,
                    "Stop the job?",
                    f"Stop the job running on the {page.title} page?"
                    + ("\n\nThe run keeps a checkpoint and can be resumed." if page.title == "Train" else ""),
                ):
                    stop()
                    self.statusBar().showMessage(f"Stopping the {page.title} job…", 5000)
                return

    def _on_about(self) -> None:
        QMessageBox.about(self, "About Transfer Studio", self.about_text())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:  # once framed, the real title bar height is known: fit again
            self._fitted = True
            QTimer.singleShot(0, self.fit_to_screen)

    def closeEvent(self, event: QCloseEvent) -> None:
        busy = [p for p in self.pages if p.busy()]
        if busy and self._ask_before_closing:
            names = ", ".join(p.title for p in busy)
            if not errors.ask(
                self,
                "Stop and quit?",
                f"A job is still running on the {names} page. Stop it and quit?\n\n"
                "A training run saves a checkpoint and can be resumed later from the Runs page.",
            ):
                event.ignore()
                return
            self.statusBar().showMessage("Stopping…")
        for page in self.pages:
            try:
                page.shutdown()
            except Exception:
                traceback.print_exc()
        self.state.settings.setValue("window/geometry", self.saveGeometry())
        self.state.settings.sync()
        event.accept()
