"""The status bar's job indicator: on every page, which page runs a job and how far it is.

It watches the pages rather than being told by them: each page's JobRunners (found as children)
report `running_changed` and their events (the last Progress gives step/total); a half-second
poll of `page.busy()` covers jobs a page runs some other way. Clicking it opens the busy page.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from desktop_app.jobs import JobRunner
from engine.core.events import Progress, Stage


class JobStatus(QWidget):
    open_page = Signal(object)  # the page whose job is shown

    def __init__(self, parent: QWidget | None = None, poll_ms: int = 500) -> None:
        super().__init__(parent)
        self.pages: list[Any] = []
        self._runners: dict[int, tuple[Any, JobRunner]] = {}
        self._progress: dict[int, tuple[int, int]] = {}  # id(runner) -> (step, total)
        self.button = QPushButton()
        self.button.setFlat(True)
        self.button.clicked.connect(self._on_clicked)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(140)
        self.bar.setMaximumHeight(14)
        self.bar.setTextVisible(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.bar)
        self._shown_page: Any = None
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.update_now)
        self._timer.start()
        self.update_now()

    def watch(self, pages: list[Any]) -> None:
        self.pages = list(pages)
        self._discover()
        self.update_now()

    def text(self) -> str:
        return self.button.text() if self.isVisibleTo(self.parentWidget() or self) else ""

    # ------------------------------------------------------------------ internals
    def _discover(self) -> None:
        """Connect to runners not seen yet (a page may create one later)."""
        for page in self.pages:
            runners = page.findChildren(JobRunner) if isinstance(page, QObject) else []
            for runner in runners:
                if id(runner) in self._runners:
                    continue
                self._runners[id(runner)] = (page, runner)
                runner.running_changed.connect(lambda _=False: self.update_now())
                runner.events.connect(lambda batch, r=runner: self._on_events(r, batch))

    def _on_events(self, runner: JobRunner, batch: list) -> None:
        last = next((e for e in reversed(batch) if isinstance(e, (Progress, Stage))), None)
        if isinstance(last, Progress):
            self._progress[id(runner)] = (int(last.step), int(last.total_steps))
        elif isinstance(last, Stage):  # checking, scanning, decoding: counted in images, not steps
            self._progress[id(runner)] = (int(last.done), int(last.total))
        if last is not None:
            self.update_now()

    def update_now(self) -> None:
        self._discover()
        busy = []
        for page in self.pages:
            try:
                if page.busy():
                    busy.append(page)
            except Exception:  # a page mid-construction or broken must not break the status bar
                continue
        if not busy:
            self._progress = {k: v for k, v in self._progress.items() if self._runners[k][1].running}
            self._shown_page = None
            self.setVisible(False)
            return
        page = busy[0]
        step, total = 0, 0
        for key, (owner, runner) in self._runners.items():
            if owner is page and runner.running and key in self._progress:
                step, total = self._progress[key]
        extra = f" (+{len(busy) - 1} more)" if len(busy) > 1 else ""
        if total > 0:
            pct = 100 * step / total
            self.button.setText(f"{page.title}: running, {step}/{total} ({pct:.0f}%){extra}")
            self.bar.setRange(0, total)
            self.bar.setValue(min(step, total))
        else:
            self.button.setText(f"{page.title}: running…{extra}")
            self.bar.setRange(0, 0)
        self.button.setToolTip(
            "Jobs running: " + ", ".join(p.title for p in busy) + ". Click to open the page of the first."
        )
        self._shown_page = page
        self.setVisible(True)

    def _on_clicked(self) -> None:
        if self._shown_page is not None:
            self.open_page.emit(self._shown_page)
