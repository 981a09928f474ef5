"""A thumbnail grid that stays smooth with thousands of images.

The view only asks for the rows it paints (uniform item sizes, batched layout). A missing
thumbnail shows a placeholder and queues a job on a small thread pool that decodes and scales
the file with QImageReader (newest requests first, so what is on screen loads first); the UI
thread turns the finished QImage into a pixmap kept in an LRU cache and repaints that one cell.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QImageReader, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QWidget

_MAX_PENDING = 400  # more queued requests than this means the user scrolled far: drop the stale ones


def read_scaled(path: str, side: int, mode: Qt.TransformationMode = Qt.TransformationMode.FastTransformation) -> QImage:
    """Decode `path` to fit `side`×`side` (a null image when unreadable; safe off the UI thread).
    A large image is scaled while it is decoded (cheap: JPEG decodes at a fraction of its size);
    a small one is enlarged afterwards with `mode` (Fast keeps pixels crisp, Smooth blends them)."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid() and (full.width() > side or full.height() > side):
        reader.setScaledSize(full.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio))
        return reader.read()
    image = reader.read()
    if image.isNull() or image.size() == image.size().scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio):
        return image
    return image.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio, mode)


class _Relay(QObject):
    loaded = Signal(int, str, QImage)  # generation, path, image


class _ThumbJob(QRunnable):
    def __init__(self, relay: _Relay, generation: int, path: str, size: int) -> None:
        super().__init__()
        self.relay, self.generation, self.path, self.size = relay, generation, path, size
        self.setAutoDelete(True)

    def run(self) -> None:  # worker thread
        self.relay.loaded.emit(
            self.generation, self.path, read_scaled(self.path, self.size, Qt.TransformationMode.SmoothTransformation)
        )


class ThumbnailModel(QAbstractListModel):
    """Rows are image paths; the decoration is a cached thumbnail, loaded lazily off the UI thread."""

    thumbnail_ready = Signal(str)

    def __init__(self, size: int = 88, cache_size: int = 1500, threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)  # created before the relay, so it is destroyed (and joined) first
        self._pool.setMaxThreadCount(threads)
        self._relay = _Relay(self)
        self._relay.loaded.connect(self._on_loaded)
        self.size = size
        self.cache_size = cache_size
        self._paths: list[str] = []
        self._row_of: dict[str, int] = {}
        self._cache: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()
        self._generation = 0
        self._priority = 0
        self._placeholder = self._make_placeholder()
        self._broken = self._make_broken()
        self.loads = 0  # thumbnails decoded so far (for tests and benchmarks)

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._paths)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._paths):
            return None
        path = self._paths[index.row()]
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self._cache.get(path)
            if pixmap is not None:
                self._cache.move_to_end(path)
                return pixmap
            self._request(path)
            return self._placeholder
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(path).name
        if role == Qt.ItemDataRole.ToolTipRole:
            return path
        return None

    # ------------------------------------------------------------------ API
    def set_paths(self, paths: list[str]) -> None:
        """Show these images (in order); queued loads of the previous list are dropped."""
        self.beginResetModel()
        self._pool.clear()
        self._pending.clear()
        self._generation += 1
        self._paths = [str(p) for p in paths]
        self._row_of = {p: i for i, p in enumerate(self._paths)}
        self.endResetModel()

    def paths(self) -> list[str]:
        return list(self._paths)

    def cached(self, path: str) -> bool:
        return path in self._cache

    def thumbnail(self, path: str) -> QPixmap | None:
        """The cached thumbnail of `path`; None (and a load queued) when it is not ready yet.
        For views that are not this model's (a table's icons); `thumbnail_ready` says when."""
        pixmap = self._cache.get(path)
        if pixmap is None:
            self._request(path)
        return pixmap

    def wait_idle(self, msecs: int = 5000) -> bool:
        """Block until queued loads are decoded (tests, screenshots); slots still need the event loop."""
        return self._pool.waitForDone(msecs)

    def shutdown(self) -> None:
        self._pool.clear()
        self._pool.waitForDone(5000)

    # ------------------------------------------------------------------ internals
    def _request(self, path: str) -> None:
        if path in self._pending:
            return
        if len(self._pending) > _MAX_PENDING:  # far-away rows queued while scrolling: forget them
            self._pool.clear()
            self._pending.clear()
        self._pending.add(path)
        self._priority += 1
        self._pool.start(_ThumbJob(self._relay, self._generation, path, self.size), self._priority)

    def _on_loaded(self, generation: int, path: str, image: QImage) -> None:
        self._pending.discard(path)
        if generation != self._generation:
            return
        self.loads += 1
        pixmap = self._broken if image.isNull() else QPixmap.fromImage(image)
        self._cache[path] = pixmap
        self._cache.move_to_end(path)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        row = self._row_of.get(path)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])
        self.thumbnail_ready.emit(path)

    def _make_placeholder(self) -> QPixmap:
        pixmap = QPixmap(self.size, self.size)
        pixmap.fill(QColor(128, 128, 128, 60))
        return pixmap

    def _make_broken(self) -> QPixmap:
        pixmap = QPixmap(self.size, self.size)
        pixmap.fill(QColor(229, 57, 53, 50))
        from PySide6.QtWidgets import QApplication

        icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        painter = QPainter(pixmap)
        s = self.size // 2
        painter.drawPixmap((self.size - s) // 2, (self.size - s) // 2, icon.pixmap(s, s))
        painter.end()
        return pixmap


class ImageGrid(QListView):
    """Icon-mode list view over a ThumbnailModel, tuned for large lists."""

    def __init__(self, size: int = 88, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumbnails = ThumbnailModel(size=size, parent=self)
        self.setModel(self.thumbnails)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)  # the view never asks every row for its size
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(256)
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 16, size + 26))
        self.setSpacing(4)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.setToolTip("Thumbnails load in the background; hover an image for its path.")

    def set_paths(self, paths: list[str]) -> None:
        self.thumbnails.set_paths(paths)
        self.scrollToTop()
