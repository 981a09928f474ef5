"""A Pause / Resume button for a JobRunner's job, as the Train page has one.

The engine's jobs call `JobControl.check()` between steps, which blocks while paused (and still
raises on Stop), so pausing needs nothing from the job itself. The button follows the runner:
enabled while a job runs, back to "Pause" when it ends (a paused job that is stopped ends too).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from desktop_app.jobs import JobRunner


class PauseButton(QPushButton):
    """Pauses the runner's job between two steps; clicked again ("Resume"), continues it.
    `paused_changed(paused, message)` lets a page also write the message to its log."""

    paused_changed = Signal(bool, str)

    def __init__(self, runner: JobRunner, status: QLabel | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Pause", parent)
        self.setToolTip("Pause between two steps; Resume continues exactly where it stopped.")
        self.runner, self.status = runner, status
        self.setEnabled(runner.running)
        self.clicked.connect(lambda *_: self.toggle())
        runner.running_changed.connect(self._on_running_changed)

    def toggle(self) -> None:
        if not self.runner.running:
            return
        if self.runner.paused:
            self.runner.resume()
            self.setText("Pause")
            self._say(False, "Resumed.")
        else:
            self.runner.pause()
            self.setText("Resume")
            self._say(True, "Paused (the job waits between two steps).")

    def _say(self, paused: bool, text: str) -> None:
        if self.status is not None:
            self.status.setText(text)
        self.paused_changed.emit(paused, text)

    def _on_running_changed(self, running: bool) -> None:
        self.setEnabled(running)
        if not running:
            self.setText("Pause")
