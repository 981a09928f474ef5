"""The one error dialog of the app: a message a person can act on, with the details folded away.

Every page reports engine failures through `show_error`, so a failure is never silent and never
a crash. Tests replace `desktop_app.errors.show_error` to record calls instead of opening a dialog;
call it through the module (`errors.show_error(...)`) so that replacement takes effect.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def build_error_box(
    parent: QWidget | None, message: str, details: str = "", title: str = "Transfer Studio"
) -> QMessageBox:
    """A critical message box with `message` as text and `details` behind "Show Details..."."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # the path can be copied
    if details and details.strip() != message.strip():
        box.setDetailedText(details)
    return box


def show_error(parent: QWidget | None, message: str, details: str = "", title: str = "Transfer Studio") -> None:
    """Show a modal error dialog with the message and expandable details (a traceback, say)."""
    build_error_box(parent, message, details, title).exec()


def ask(parent: QWidget | None, title: str, text: str, default_yes: bool = False) -> bool:
    """A Yes/No question; True for Yes. The default button is No unless `default_yes` (deleting,
    stopping and quitting default to No; resuming a run defaults to Yes)."""
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    return QMessageBox.question(parent, title, text, yes | no, yes if default_yes else no) == yes
