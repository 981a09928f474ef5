"""A grid of image thumbnails with captions; click one to see it large in a dialog.

Thumbnails are decoded off the UI thread (QImageReader in a small thread pool, scaled while
reading) and arrive through a queued signal, so a gallery of thousands of files stays
responsive. Used by the Evaluate page (misclassified images) and reusable by other pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app.widgets.image_grid import read_scaled

THUMB = 96
MAX_ITEMS = 1000
LARGE = 480  # the enlarged image's longer side in the dialog


@dataclass(frozen=True)
class GalleryItem:
    """One picture: its file, a short caption under the thumbnail, and a longer tooltip."""

    path: str
    caption: str = ""
    tooltip: str = ""


class _Batch:
    """The set of thumbnails one `set_items` call asked for; cancelled when the items change."""

    def __init__(self) -> None:
        self.cancelled = False


class _Relay(QObject):
    """Carries decoded thumbnails from the pool threads to the UI thread (one for the process)."""

    loaded = Signal(object, int, QImage)


_relay: _Relay | None = None


def _get_relay() -> _Relay:
    global _relay
    if _relay is None:
        _relay = _Relay()
    return _relay


class _ThumbJob(QRunnable):
    def __init__(self, batch: _Batch, index: int, path: str, side: int) -> None:
        super().__init__()
        self.batch, self.index, self.path, self.side = batch, index, path, side
        self.relay = _get_relay()

    def run(self) -> None:  # pool thread
        if self.batch.cancelled:
            return
        image = read_scaled(self.path, self.side)
        if not self.batch.cancelled:
            self.relay.loaded.emit(self.batch, self.index, image)


class ImageDialog(QDialog):
    """One picture enlarged, with its caption and selectable path: scaled to LARGE, or at full
    size in a scroll area (`full_size`, for adversarial examples whose every pixel matters)."""

    def __init__(self, item: GalleryItem, parent: QWidget | None = None, full_size: bool = False) -> None:
        super().__init__(parent)
        self.setWindowTitle(item.caption if full_size and item.caption else Path(item.path).name)
        layout = QVBoxLayout(self)
        self.picture = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        image = QImage(item.path) if full_size else read_scaled(item.path, LARGE)
        if image.isNull():
            self.picture.setText("This file cannot be shown as an image.")
        else:
            self.picture.setPixmap(QPixmap.fromImage(image))
        self.caption = QLabel(item.caption, alignment=Qt.AlignmentFlag.AlignCenter)
        font = self.caption.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.caption.setFont(font)
        path = QLabel(item.path, alignment=Qt.AlignmentFlag.AlignCenter)
        path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        path.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        shown: QWidget = self.picture
        if full_size:
            shown = QScrollArea()
            shown.setWidget(self.picture)
            shown.setWidgetResizable(True)
            if not image.isNull():
                self.resize(min(image.width() + 60, 900), min(image.height() + 120, 860))
        for widget in (shown, self.caption, path, buttons):
            layout.addWidget(widget)


class Gallery(QListWidget):
    """Thumbnails in a wrapping grid. Signal `item_activated(int)`; `set_items(list[GalleryItem])`."""

    item_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None, thumb: int = THUMB, max_items: int = MAX_ITEMS) -> None:
        super().__init__(parent)
        self.thumb, self.max_items = thumb, max_items
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(thumb, thumb))
        self.setGridSize(QSize(thumb + 84, thumb + 44))  # room for a one-line caption, or two short lines
        self.setMinimumHeight(thumb + 64)
        self.setWordWrap(True)
        self.setUniformItemSizes(True)
        self.setSpacing(4)
        self.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self._items: list[GalleryItem] = []
        self._total = 0
        self._batch = _Batch()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._placeholder = self._blank_icon()
        self.dialog: ImageDialog | None = None
        self._dialog_index = -1
        _get_relay().loaded.connect(self._on_loaded)
        self.itemActivated.connect(self._on_item_activated)
        self.itemClicked.connect(self._on_item_activated)

    # ------------------------------------------------------------------ public API
    def set_items(self, items: Sequence[GalleryItem]) -> None:
        """Show `items` (the first `max_items` of them); thumbnails fill in as they are decoded."""
        self._batch.cancelled = True
        self._pool.clear()
        self._batch = _Batch()
        self.clear()
        self._total = len(items)
        self._items = list(items[: self.max_items])
        for index, entry in enumerate(self._items):
            widget_item = QListWidgetItem(self._placeholder, entry.caption)
            widget_item.setToolTip(entry.tooltip or entry.path)
            widget_item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            self.addItem(widget_item)
            self._pool.start(_ThumbJob(self._batch, index, entry.path, self.thumb))

    def items(self) -> list[GalleryItem]:  # type: ignore[override]  # shadows the unused QListWidget.items(QMimeData)
        return list(self._items)

    @property
    def total(self) -> int:
        """How many items were given (more than shown when over `max_items`)."""
        return self._total

    def loaded_count(self) -> int:
        """Thumbnails decoded so far (tests wait on this)."""
        return sum(1 for i in range(self.count()) if self.item(i).data(Qt.ItemDataRole.UserRole))

    def open_item(self, index: int) -> ImageDialog:
        """Show item `index` enlarged in a (non-blocking) dialog and return it."""
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = ImageDialog(self._items[index], self)
        self._dialog_index = index
        self.dialog.open()
        self.item_activated.emit(index)
        return self.dialog

    def shutdown(self) -> None:
        """Drop pending thumbnails and wait for the ones being decoded."""
        self._batch.cancelled = True
        self._pool.clear()
        self._pool.waitForDone(2000)

    # ------------------------------------------------------------------ slots
    def _on_loaded(self, batch: object, index: int, image: QImage) -> None:
        if batch is not self._batch or index >= self.count():
            return
        item = self.item(index)
        if image.isNull():
            item.setToolTip(f"{item.toolTip()}\n(cannot be shown as an image)")
            item.setData(Qt.ItemDataRole.UserRole, True)
            return
        item.setIcon(QIcon(QPixmap.fromImage(image)))
        item.setData(Qt.ItemDataRole.UserRole, True)

    def _on_item_activated(self, item: QListWidgetItem) -> None:
        index = self.row(item)
        if self.dialog is not None and self.dialog.isVisible() and self._dialog_index == index:
            return  # a double click sends both clicked and activated
        self.open_item(index)

    def _blank_icon(self) -> QIcon:
        pix = QPixmap(self.thumb, self.thumb)
        pix.fill(QColor(230, 230, 230))
        return QIcon(pix)
