"""Per-class image counts as grouped bars, one colour per domain (pyqtgraph BarGraphItem)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QWidget

from desktop_app.widgets.live_plot import COLOURS

_MAX_LABELS = 40  # above this many bars, counts are left to the tooltip


class ClassCountsChart(pg.PlotWidget):
    """`set_counts({domain: {class: count}})` draws one group of bars per class."""

    def __init__(self, parent: QWidget | None = None) -> None:
        pal = parent.palette() if parent is not None else QPalette()
        self._bg = pal.color(QPalette.ColorRole.Base)
        self._fg = pal.color(QPalette.ColorRole.Text)
        super().__init__(parent, background=self._bg)
        item = self.getPlotItem()
        item.setMenuEnabled(False)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        item.showGrid(y=True, alpha=0.2)
        item.setLabel("left", "images", color=self._fg.name())
        for axis in ("left", "bottom"):
            item.getAxis(axis).setTextPen(self._fg)
            item.getAxis(axis).setPen(self._fg)
        legend_bg = QColor(self._bg)
        legend_bg.setAlpha(210)
        self._legend = item.addLegend(offset=(-8, 8), brush=legend_bg, labelTextColor=self._fg)
        self.bars: dict[str, pg.BarGraphItem] = {}
        self._texts: list[pg.TextItem] = []
        self.setToolTip(
            "Readable images per class in each labelled domain. Short bars mean few examples to learn from."
        )

    def set_counts(self, counts: dict[str, dict[str, int]]) -> None:
        """Replace the chart: `counts` maps a domain name to its per-class counts (in class order)."""
        item = self.getPlotItem()
        for bar in self.bars.values():
            item.removeItem(bar)
            self._legend.removeItem(bar)
        for text in self._texts:
            item.removeItem(text)
        self.bars.clear()
        self._texts.clear()
        domains = [d for d, c in counts.items() if c]
        classes: list[str] = []
        for d in domains:
            classes += [c for c in counts[d] if c not in classes]
        if not classes:
            item.getAxis("bottom").setTicks([[]])
            return
        self._legend.setColumnCount(len(domains))
        width = 0.8 / len(domains)
        label_bars = len(classes) * len(domains) <= _MAX_LABELS
        top = max(max(c.values()) for c in (counts[d] for d in domains))
        for k, domain in enumerate(domains):
            colour = QColor(COLOURS[k % len(COLOURS)])
            xs = [i - 0.4 + width * (k + 0.5) for i in range(len(classes))]
            heights = [counts[domain].get(c, 0) for c in classes]
            bar = pg.BarGraphItem(
                x=xs, height=heights, width=width * 0.92, brush=colour, pen=pg.mkPen(colour.darker(130)), name=domain
            )
            item.addItem(bar)  # named items join the legend by themselves
            self.bars[domain] = bar
            if label_bars:
                for x, h in zip(xs, heights, strict=False):
                    text = pg.TextItem(str(h), color=self._fg, anchor=(0.5, 1.0))
                    text.setPos(x, h)
                    item.addItem(text)
                    self._texts.append(text)
        item.getAxis("bottom").setTicks([[(i, c) for i, c in enumerate(classes)]])
        item.setXRange(-0.6, len(classes) - 0.4, padding=0)
        item.setYRange(0, top * 1.45 + 1, padding=0)  # headroom for the labels and, above them, the legend

    def heights(self, domain: str) -> list[float]:
        """The drawn bar heights of a domain (for tests)."""
        bar = self.bars.get(domain)
        return [] if bar is None else [float(h) for h in bar.opts["height"]]
