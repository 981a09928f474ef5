"""A 2-D scatter of source and target features (an EmbeddingResult's arrays), coloured by domain
or by class, with a legend. Plain numpy in, no torch: the embedding is computed by a job.

One ScatterPlotItem per legend entry (domain or class); in class mode source points are filled
and target points hollow, so both the class and the domain stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from desktop_app.widgets.plot_style import COLOURS

ColourBy = Literal["domain", "class"]
DOMAIN_COLOURS = ("#1f77b4", "#ff7f0e")  # source blue, target orange (as in the engine's PNG)
DOMAIN_NAMES = ("source", "target")
CLASS_COLOURS = (
    *COLOURS,  # the plots' ten, then their light partners (matplotlib's tab20)
    "#aec7e8",
    "#ffbb78",
    "#98df8a",
    "#ff9896",
    "#c5b0d5",
    "#c49c94",
    "#f7b6d2",
    "#c7c7c7",
    "#dbdb8d",
    "#9edae5",
)
UNKNOWN_COLOUR = "#b0b0b0"
POINT_SIZE = 7


class EmbeddingPlot(QWidget):
    """`set_data(points, domain, labels, classes)` or `set_result(obj)`; `set_colour_by('domain'|'class')`."""

    def __init__(self, title: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._points = np.zeros((0, 2))
        self._domain = np.zeros(0, np.int64)
        self._labels = np.zeros(0, np.int64)
        self._classes: list[str] = []
        self._colour_by: ColourBy = "domain"
        self._items: list[pg.ScatterPlotItem] = []
        fg = self.palette().color(QPalette.ColorRole.Text)
        self._fg = fg
        self.plot = pg.PlotWidget(background=self.palette().color(QPalette.ColorRole.Base))
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setAspectLocked(False)
        for side in ("left", "bottom"):
            axis = self.plot.getAxis(side)
            axis.setPen(fg)
            axis.setTextPen(fg)
            axis.enableAutoSIPrefix(False)
        self.legend = self.plot.addLegend(offset=(-8, 8), labelTextColor=fg, brush=pg.mkBrush(self._legend_brush()))
        self.title = QLabel(title)
        self.title.setWordWrap(True)
        self.title.setMinimumHeight(2 * self.title.fontMetrics().lineSpacing())  # side-by-side plots stay aligned
        self.title.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom)
        self.hint = QLabel()
        self.hint.setStyleSheet("color: gray;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.hint)
        self.plot.setMinimumSize(260, 220)

    # ------------------------------------------------------------------ API
    def set_result(self, result: Any) -> None:
        """Show an EmbeddingResult (or anything with points, domain, labels, classes, method)."""
        self.set_data(
            result.points,
            result.domain,
            result.labels,
            list(getattr(result, "classes", []) or []),
            str(getattr(result, "method", "pca")),
        )

    def set_data(
        self,
        points: np.ndarray,
        domain: np.ndarray,
        labels: np.ndarray | None = None,
        classes: Sequence[str] = (),
        method: str = "pca",
    ) -> None:
        """points [N, 2]; domain [N] (0 source, 1 target); labels [N] class index or -1."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        dom = np.asarray(domain, dtype=np.int64).reshape(-1)
        lab = np.full(len(pts), -1, np.int64) if labels is None else np.asarray(labels, dtype=np.int64).reshape(-1)
        if not (len(pts) == len(dom) == len(lab)):
            raise ValueError(f"points ({len(pts)}), domain ({len(dom)}) and labels ({len(lab)}) differ in length")
        self._points, self._domain, self._labels, self._classes = pts, dom, lab, list(classes)
        axis = "PC" if method == "pca" else "t-SNE "
        self.plot.setLabel("bottom", f"{axis}1", color=self._fg.name())
        self.plot.setLabel("left", f"{axis}2", color=self._fg.name())
        self._draw()
        self.plot.getPlotItem().enableAutoRange()

    def clear(self) -> None:
        self.set_data(np.zeros((0, 2)), np.zeros(0), np.zeros(0))

    def set_colour_by(self, mode: ColourBy) -> None:
        if mode not in ("domain", "class"):
            raise ValueError(f"colour by {mode!r}: use 'domain' or 'class'")
        if mode != self._colour_by:
            self._colour_by = mode
            self._draw()

    def colour_by(self) -> ColourBy:
        return self._colour_by

    def point_count(self) -> int:
        """Points drawn (tests compare it with the embedding's size)."""
        return int(sum(len(item.data) for item in self._items))

    def legend_names(self) -> list[str]:
        return [label.text for _, label in self.legend.items]

    # ------------------------------------------------------------------ drawing
    def _legend_brush(self) -> QColor:
        colour = QColor(self.palette().color(QPalette.ColorRole.Base))
        colour.setAlpha(200)
        return colour

    def _add(self, mask: np.ndarray, name: str | None, colour: str, hollow: bool = False) -> None:
        """One scatter of the masked points; `name` None keeps it out of the legend."""
        pts = self._points[mask]
        c = QColor(colour)
        if hollow:
            pen, brush = pg.mkPen(colour, width=1.4), pg.mkBrush(0, 0, 0, 0)
        else:
            pen, brush = pg.mkPen(None), pg.mkBrush(c.red(), c.green(), c.blue(), 190)
        item = pg.ScatterPlotItem(pts[:, 0], pts[:, 1], size=POINT_SIZE, pen=pen, brush=brush, name=name)
        self.plot.addItem(item)
        self._items.append(item)

    def _add_split(self, mask: np.ndarray, name: str, colour: str) -> None:
        """Source points filled (in the legend), target points hollow (in the legend only if alone)."""
        source, target = mask & (self._domain == 0), mask & (self._domain == 1)
        if source.any():
            self._add(source, name, colour)
        if target.any():
            self._add(target, None if source.any() else name, colour, hollow=True)

    def _draw(self) -> None:
        for item in self._items:
            self.plot.removeItem(item)
        self._items = []
        self.legend.clear()
        if len(self._points) == 0:
            self.hint.setText("")
            return
        self.legend.setColumnCount(1)
        if self._colour_by == "domain":
            for d in (0, 1):
                mask = self._domain == d
                if mask.any():
                    self._add(mask, f"{DOMAIN_NAMES[d]} ({int(mask.sum())})", DOMAIN_COLOURS[d])
            self.hint.setText("Each dot is one image's features. Overlapping colours: the domains look alike.")
            return
        known = self._labels >= 0
        if (~known).any():
            self._add_split(~known, "no label", UNKNOWN_COLOUR)
        for k in sorted(set(self._labels[known].tolist())):
            name = self._classes[k] if k < len(self._classes) else str(k)
            self._add_split(self._labels == k, name, CLASS_COLOURS[k % len(CLASS_COLOURS)])
        self.legend.setColumnCount(2 if len(self.legend.items) > 6 else 1)
        self.hint.setText(
            "Filled: source, hollow: target. Same-class clusters shared by both domains mean a good adaptation."
        )
