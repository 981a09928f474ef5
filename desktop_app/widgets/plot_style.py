"""How the app's plots read: percent accuracies, whole-number x ticks, legends off the data, stable colours.

Shared by the live training plots and the Runs page's comparison plot. pyqtgraph's automatic SI
prefix is off (it showed accuracies 0.80-0.95 as "800-950 (x0.001)").
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QColor

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
# fixed colours for the metrics every run has, so a metric keeps its colour across runs and resumes
METRIC_COLOURS = {
    "loss": COLOURS[0],
    "loss/cls": COLOURS[1],
    "loss/transfer": COLOURS[2],
    "train/acc": COLOURS[0],
    "val/acc": COLOURS[1],
    "target/acc": COLOURS[2],
    "lr": COLOURS[0],
    "lambda": COLOURS[4],
    "domain_acc": COLOURS[3],
}


def metric_colour(key: str) -> str:
    """The colour of a metric: fixed for the common ones, else from a hash of its name (stable)."""
    return METRIC_COLOURS.get(key) or COLOURS[zlib.crc32(key.encode()) % len(COLOURS)]


def is_accuracy(key: str) -> bool:
    return key.rsplit("/", 1)[-1] in ("acc", "accuracy") or key.endswith("_acc")


def display_values(key: str, ys: Any) -> np.ndarray:
    """Values as shown: accuracies (0..1) in percent."""
    arr = np.asarray(ys, dtype=np.float64)
    return arr * 100.0 if is_accuracy(key) else arr


class IntegerAxis(pg.AxisItem):
    """Ticks at whole numbers only (steps, epochs): never 2.5 epochs."""

    def tickSpacing(self, minVal: float, maxVal: float, size: float) -> list[tuple[float, float]]:
        spacing = super().tickSpacing(minVal, maxVal, size)
        return [(max(1.0, float(np.ceil(major))), offset) for major, offset in spacing[:1]]

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [f"{v:.0f}" for v in values]


def style_plot(plot: pg.PlotWidget, x_label: str, text: QColor) -> pg.LegendItem:
    """Whole-number x ticks, no SI prefix, and a legend below the data; returns the legend."""
    item = plot.getPlotItem()
    axis = IntegerAxis("bottom")
    item.setAxisItems({"bottom": axis})
    for side in ("left", "bottom"):
        item.getAxis(side).enableAutoSIPrefix(False)
        item.getAxis(side).setTextPen(text)
    item.setLabel("bottom", x_label, color=text.name())
    legend = pg.LegendItem(labelTextColor=text, colCount=4)
    item.layout.addItem(legend, 5, 1)  # under the bottom axis label: outside the data
    item.legend = legend  # plot(name=...) adds its entry here
    return legend


def metric_axis_label(key: str) -> str:
    return f"{key} (%)" if is_accuracy(key) else key
