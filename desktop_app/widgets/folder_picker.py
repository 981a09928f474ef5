"""A folder chooser: a line edit, a Browse button, a menu of recent folders, and drag-and-drop.

`changed(str)` fires once per user decision (Enter / focus out after an edit, a browse, a drop or
a recent entry), not on every key press, so a page can remember the folder and re-check it.

Also the app's helpers for file dialogs and folders: `start_folder` (where a dialog opens: the
current path, the last folder used, a recent one, the data folder, home; never the process's
working directory, which is wherever the app was launched from) and `show_folder` (opens the
file manager, or says where the folder is when there is none).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QToolButton,
    QWidget,
)

_last_used: list[str] = []  # the folder of the last file dialog (this session)


def data_folder() -> Path:
    """The app's data folder (where the demo is written)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("TransferStudio", appauthor=False))


def remember_folder(path: str) -> None:
    """Note the folder a dialog returned (a file's folder for a file) for the next dialog."""
    if not path:
        return
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    _last_used[:] = [str(folder)]


def start_folder(current: str = "", recent: list[str] | None = None) -> str:
    """Where a file dialog opens: an absolute existing `current` (or its nearest existing parent),
    else the last folder used, a recent one, the data folder, or home. Never the working directory."""
    candidates: list[Path] = []
    if current and Path(current).expanduser().is_absolute():
        p = Path(current).expanduser()
        candidates += [p, *p.parents][:-1] if p != Path(p.anchor) else [p]  # not the bare root
    candidates += [Path(f) for f in _last_used + list(recent or []) if f and Path(f).is_absolute()]
    candidates += [data_folder(), Path.home()]
    for c in candidates:
        if c.is_dir():
            return str(c)
    return str(Path.home())


def show_folder(parent: QWidget | None, folder: str | Path) -> bool:
    """Open `folder` in the file manager; without one, say where it is (with its path copied). True if opened."""
    path = str(Path(folder).expanduser())
    if QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
        return True
    clipboard = QGuiApplication.clipboard()
    if clipboard is not None:
        clipboard.setText(path)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Information)
    box.setWindowTitle("Folder")
    box.setText(f"No file manager could be opened. The folder is:\n\n{path}\n\n(The path is on the clipboard.)")
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    box.open()  # not modal-blocking: a test or a script can read it
    if parent is not None:
        parent.setProperty("last_folder_message", box.text())
    return False


def dropped_folder(event: QDragEnterEvent | QDropEvent) -> str | None:
    """The local folder carried by a drag (the first URL), or None when it holds no folder."""
    mime = event.mimeData()
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and Path(url.toLocalFile()).is_dir():
            return url.toLocalFile()
    return None


class FolderPicker(QWidget):
    """Line edit + Browse + Recent; accepts a folder dropped from a file manager."""

    changed = Signal(str)

    def __init__(
        self,
        placeholder: str = "",
        tooltip: str = "",
        recent: Callable[[], list[str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._recent = recent
        self._last_emitted = ""
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.edit.setAcceptDrops(False)  # the picker itself takes the drop
        self.browse_button = QPushButton("Browse…", self)
        self.recent_button = QToolButton(self)
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.recent_menu = QMenu(self.recent_button)
        self.recent_button.setMenu(self.recent_menu)
        self.recent_menu.aboutToShow.connect(self._on_recent_menu)
        tip = tooltip or placeholder
        for w in (self.edit, self.browse_button):
            w.setToolTip(f"{tip} Drop a folder here, type its path, or browse.")
        self.recent_button.setToolTip("Pick one of the folders used lately.")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse_button)
        layout.addWidget(self.recent_button)
        self.setAcceptDrops(True)
        self.edit.editingFinished.connect(self._on_edited)
        self.browse_button.clicked.connect(self._on_browse)

    # ------------------------------------------------------------------ API
    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str) -> None:
        """Show `path` without emitting `changed` (used when the state changes elsewhere)."""
        self.edit.setText(path)
        self._last_emitted = path

    def choose(self, path: str) -> None:
        """Set `path` as if the user picked it (emits `changed`)."""
        self.edit.setText(path)
        self._emit()

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_folder(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        folder = dropped_folder(event)
        if folder:
            event.acceptProposedAction()
            self.choose(folder)
        else:
            event.ignore()

    # ------------------------------------------------------------------ slots
    def _emit(self) -> None:
        text = self.path()
        if text != self._last_emitted:
            self._last_emitted = text
            self.changed.emit(text)

    def _on_edited(self) -> None:
        self._emit()

    def _on_browse(self) -> None:
        start = start_folder(self.path(), self._recent() if self._recent else [])
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        if folder:
            remember_folder(folder)
            self.choose(folder)

    def _on_recent_menu(self) -> None:
        self.recent_menu.clear()
        folders = self._recent() if self._recent else []
        if not folders:
            action = self.recent_menu.addAction("(no recent folders)")
            action.setEnabled(False)
            return
        for folder in folders:
            action = self.recent_menu.addAction(folder)
            action.triggered.connect(lambda _=False, f=folder: self.choose(f))
