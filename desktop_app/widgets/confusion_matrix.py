"""Confusion-matrix heat map: true class down, predicted class across, counts in the cells.

Cells are coloured by the share of the true class (row-normalised), so a small class's errors
are as visible as a big one's; the colour bar reads 0-100 %. Counts are written in the cells
while the matrix is small enough to read them (MAX_TEXT_CLASSES).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import QWidget

MAX_TEXT_CLASSES = 20  # above this, cell counts would be unreadable; hover tooltips still work
MAX_TICK_CLASSES = 60  # above this, only every k-th class name is written on the axes
COLOUR_MAP = "viridis"


def _short(name: str, limit: int = 14) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


class ConfusionMatrixView(pg.GraphicsLayoutWidget):
    """Shows one confusion matrix; `set_matrix(cm, classes)` replaces it, `clear_matrix()` empties it.
    A click on a cell emits `cell_clicked(true_index, predicted_index)`."""

    cell_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        palette = self.palette()
        fg = palette.color(QPalette.ColorRole.Text)
        self.setBackground(palette.color(QPalette.ColorRole.Base))
        self.setMinimumSize(280, 240)
        self._matrix = np.zeros((0, 0), dtype=np.int64)
        self._classes: list[str] = []
        self._texts: list[pg.TextItem] = []
        self.plot: pg.PlotItem = self.addPlot(row=0, col=0)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)  # row 0 (first true class) at the top, as in a printed matrix
        self.plot.setAspectLocked(True)
        self.plot.setLabel("bottom", "Predicted class", color=fg.name())
        self.plot.setLabel("left", "True class", color=fg.name())
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setPen(fg)
            self.plot.getAxis(side).setTextPen(fg)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.colour_bar = pg.ColorBarItem(
            values=(0, 100),
            colorMap=COLOUR_MAP,
            interactive=False,
            width=14,
            colorMapMenu=False,
        )
        self.colour_bar.setImageItem(self.image)
        axis = self.colour_bar.getAxis("right")
        axis.setLabel("% of the true class", color=fg.name())
        axis.setTextPen(fg)
        axis.setPen(fg)
        self.addItem(self.colour_bar, row=0, col=1)
        self._placeholder = pg.TextItem("No results yet", color=fg, anchor=(0.5, 0.5))
        self.plot.addItem(self._placeholder)
        self.clear_matrix()
        self.scene().sigMouseClicked.connect(self._on_click)
        self.setToolTip(
            "Rows: the true class. Columns: the predicted class. Colour: share of the row; numbers: image counts."
        )

    # ------------------------------------------------------------------ public API
    def matrix(self) -> np.ndarray:
        """The counts shown (rows = true class, columns = predicted class)."""
        return self._matrix.copy()

    def classes(self) -> list[str]:
        return list(self._classes)

    def cell_texts(self) -> list[str]:
        """The numbers written in the cells, row by row (empty when the matrix is too big for text)."""
        return [t.textItem.toPlainText() for t in self._texts]

    def clear_matrix(self) -> None:
        self.set_matrix(np.zeros((0, 0), dtype=np.int64), [])

    def set_matrix(self, matrix: Sequence[Sequence[int]] | np.ndarray, classes: Sequence[str]) -> None:
        """Show `matrix` (square, one row and column per class in `classes`)."""
        cm = (
            np.asarray(matrix, dtype=np.int64).reshape(len(classes), len(classes))
            if len(classes)
            else np.zeros((0, 0), np.int64)
        )
        self._matrix, self._classes = cm, [str(c) for c in classes]
        for item in self._texts:
            self.plot.removeItem(item)
        self._texts = []
        n = len(self._classes)
        self._placeholder.setVisible(n == 0)
        if n == 0:
            self.image.clear()
            self._set_ticks([])
            self._placeholder.setPos(0.5, 0.5)
            self.plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            return
        rows = cm.sum(axis=1, keepdims=True)
        share = np.divide(100.0 * cm, rows, out=np.zeros(cm.shape, dtype=np.float64), where=rows > 0)
        self.image.setImage(share, autoLevels=False, levels=(0, 100))
        self.image.setRect(0, 0, n, n)
        self._set_ticks(self._classes)
        self.plot.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)
        if n <= MAX_TEXT_CLASSES:
            self._write_counts(cm, share)

    def cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(true, predicted) indices of the cell under a scene position, None outside the matrix."""
        n = len(self._classes)
        point = self.plot.getViewBox().mapSceneToView(scene_pos)
        i, j = int(np.floor(point.y())), int(np.floor(point.x()))
        return (i, j) if 0 <= i < n and 0 <= j < n else None

    def cell_centre(self, i: int, j: int) -> QPointF:
        """Where cell (i, j) is in the widget's viewport coordinates (to click it)."""
        scene = self.plot.getViewBox().mapViewToScene(QPointF(j + 0.5, i + 0.5))
        return QPointF(self.mapFromScene(scene))

    def _on_click(self, event: MouseClickEvent) -> None:
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.cell_clicked.emit(*cell)

    # ------------------------------------------------------------------ drawing
    def _set_ticks(self, classes: list[str]) -> None:
        step = max(1, int(np.ceil(len(classes) / MAX_TICK_CLASSES)))
        ticks = [(i + 0.5, _short(c)) for i, c in enumerate(classes) if i % step == 0]
        for side in ("bottom", "left"):
            self.plot.getAxis(side).setTicks([ticks, []])

    def _write_counts(self, cm: np.ndarray, share: np.ndarray) -> None:
        n = len(cm)
        font = QFont()
        font.setPointSizeF(max(6.0, 11.0 - 0.25 * n))
        for i in range(n):
            for j in range(n):
                # viridis is dark below ~60 %: white text there, black text on the bright end
                colour = "k" if share[i, j] >= 60 else "w"
                text = pg.TextItem(str(int(cm[i, j])), color=colour, anchor=(0.5, 0.5))
                text.setFont(font)
                text.setPos(j + 0.5, i + 0.5)
                text.setToolTip(
                    f"true {self._classes[i]}, predicted {self._classes[j]}: {int(cm[i, j])} (click to show them)"
                )
                self.plot.addItem(text)
                self._texts.append(text)
        self.plot.getViewBox().setCursor(Qt.CursorShape.ArrowCursor)
