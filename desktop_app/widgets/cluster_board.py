"""The clusters of a clustering, as a list of groups and a thumbnail grid of the chosen one.

Left: one row per cluster ("name (size)"), several can be selected (to merge). Right: the
images of the current cluster, most typical first, several can be selected (to move or drop).
Thumbnails are decoded by Qt and cached by path; a cluster shows its first MAX_SHOWN images.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QWidget

from desktop_app.cluster_edits import ClusterEdits
from desktop_app.widgets.form_utils import pane

THUMB = 64
MAX_SHOWN = 400
PATH_ROLE = Qt.ItemDataRole.UserRole


class ClusterBoard(QWidget):
    """Shows a ClusterEdits; `selection_changed` fires when clusters or images are (de)selected."""

    selection_changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edits: ClusterEdits | None = None
        self._icons: dict[str, QIcon] = {}
        self.groups = QListWidget()
        self.groups.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.groups.setToolTip("Clusters, largest first. Select several (Ctrl/Shift+click) to merge them.")
        self.groups.setMaximumWidth(260)
        self.images = QListWidget()
        self.images.setViewMode(QListWidget.ViewMode.IconMode)
        self.images.setIconSize(QSize(THUMB, THUMB))
        self.images.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.images.setMovement(QListWidget.Movement.Static)
        self.images.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.images.setToolTip("The chosen cluster's images, most typical (nearest its centre) first.")
        self.caption = QLabel()
        pane(self.groups, (pane(self.caption, (self.images, 1)), 1), horizontal=True, into=self)
        self.groups.currentRowChanged.connect(self._show_images)
        self.groups.itemSelectionChanged.connect(self.selection_changed)
        self.images.itemSelectionChanged.connect(self.selection_changed)

    # ------------------------------------------------------------------ API
    def set_edits(self, edits: ClusterEdits | None, current: int = 0) -> None:
        self.edits = edits
        self.refresh(current)

    def refresh(self, current: int | None = None) -> None:
        """Redraw from the edits, keeping (or setting) the current cluster."""
        row = self.groups.currentRow() if current is None else current
        self.groups.blockSignals(True)
        self.groups.clear()
        for g in self.edits.groups if self.edits else []:
            self.groups.addItem(f"{g.name} ({len(g.members)})")
        self.groups.blockSignals(False)
        if self.groups.count():
            row = min(max(row, 0), self.groups.count() - 1)
            self.groups.setCurrentRow(row)
        self._show_images(self.groups.currentRow())
        self.selection_changed.emit()

    def current_index(self) -> int:
        return self.groups.currentRow()

    def selected_groups(self) -> list[int]:
        rows = sorted(self.groups.row(i) for i in self.groups.selectedItems())
        return rows or ([self.groups.currentRow()] if self.groups.currentRow() >= 0 else [])

    def selected_images(self) -> list[str]:
        return [str(i.data(PATH_ROLE)) for i in self.images.selectedItems()]

    # ------------------------------------------------------------------ drawing
    def _icon(self, path: str) -> QIcon:
        icon = self._icons.get(path)
        if icon is None:
            pix = QPixmap(path)
            if not pix.isNull():
                pix = pix.scaled(
                    THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            icon = QIcon(pix)
            self._icons[path] = icon
        return icon

    def _show_images(self, row: int) -> None:
        self.images.clear()
        if self.edits is None or not 0 <= row < len(self.edits.groups):
            self.caption.setText("")
            return
        group = self.edits.groups[row]
        shown = group.members[:MAX_SHOWN]
        for path in shown:
            item = QListWidgetItem(self._icon(path), "")
            item.setData(PATH_ROLE, path)
            item.setToolTip(Path(path).name)
            self.images.addItem(item)
        more = f"; the first {MAX_SHOWN} shown" if len(group.members) > MAX_SHOWN else ""
        self.caption.setText(f"{group.name}: {len(group.members)} images, most typical first{more}")
