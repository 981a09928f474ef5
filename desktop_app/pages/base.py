"""Base class of the pages in the main window's side bar."""

from __future__ import annotations

from PySide6.QtWidgets import QWidget

from desktop_app.state import AppState


class Page(QWidget):
    """A page knows its title and the shared state; `on_shown` runs each time it is selected."""

    title = "Page"
    icon = ""  # a QStyle standard pixmap name, e.g. "SP_DirOpenIcon"

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state

    def on_shown(self) -> None:
        """Refresh from the state when the user opens this page."""

    def busy(self) -> bool:
        """True while the page runs a job that closing the window would interrupt."""
        return False

    def shutdown(self) -> None:
        """Stop and join any worker (window close)."""
