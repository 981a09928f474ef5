"""Results of robustness evaluations: accuracy-vs-eps curves overlaid (one per attack run), the
chosen run's table per eps and its examples (clean | adversarial | amplified perturbation), large.

Fed with RobustnessReport dicts (`report.model_dump(mode="json")`); plain JSON, no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from desktop_app.widgets.form_utils import hbox, pane, splitter
from desktop_app.widgets.gallery import GalleryItem, ImageDialog
from desktop_app.widgets.plot_style import COLOURS
from desktop_app.widgets.table_utils import SortItem, fill_table, fmt_number, fmt_percent, make_table

COLUMNS = [
    "eps",
    "Accuracy",
    "Success rate",
    "L2 mean",
    "L2 median",
    "Linf mean",
    "Linf median",
    "Queries",
    "Transfer rate",
]
COLUMN_TIPS = [
    "The budget: the largest allowed change (Linf: per pixel; L2: over the whole image), pixels in [0, 1].",
    "Share of the attacked images still classified correctly under attack at this budget.",
    "Share of the correctly classified images the attack fooled.",
    "Mean L2 size of the successful perturbations.",
    "Median L2 size of the successful perturbations.",
    "Mean largest per-pixel change of the successful perturbations.",
    "Median largest per-pixel change of the successful perturbations.",
    "Mean model queries per image (query attacks only).",
    "Share of the surrogate's successes that also fool the target (transfer attack only).",
]
SYMBOLS = ("o", "s", "t", "d", "+", "x")


def curve_name(report: dict[str, Any]) -> str:
    """'pgd linf', 'square linf targeted', 'transfer linf (from pgd)'."""
    name = f"{report.get('attack', '?')} {report.get('norm', '')}".strip()
    if report.get("targeted"):
        name += " targeted"
    base = (report.get("options") or {}).get("base")
    if report.get("attack") == "transfer" and base:
        name += f" (from {base})"
    return name


class Preview(QLabel):
    """The chosen example picture scaled to fit (aspect kept); a click opens it at full size."""

    clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.setMinimumSize(160, 200)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._pixmap = QPixmap()

    def set_path(self, path: str) -> None:
        self._pixmap = QPixmap(path) if path else QPixmap()
        if path and self._pixmap.isNull():
            self.setText("This file cannot be shown as an image.")
        self._fit()

    def source_pixmap(self) -> QPixmap:
        return self._pixmap

    def _fit(self) -> None:
        if self._pixmap.isNull():
            self.setPixmap(QPixmap())
            return
        self.setPixmap(
            self._pixmap.scaled(
                self.width(),
                self.height(),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._fit()

    def mousePressEvent(self, event: Any) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not self._pixmap.isNull():
            self.clicked.emit()
        super().mousePressEvent(event)


MIN_EXAMPLES_WIDTH = 320


class ExamplesView(QWidget):
    """One entry per eps (the engine's gallery PNG: clean | adversarial | amplified perturbation, with
    predictions); the chosen one is shown as large as fits, and a click shows it at full size."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[GalleryItem] = []
        self.dialog: ImageDialog | None = None
        self.label = QLabel("Examples: run an attack.")
        self.label.setWordWrap(True)
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.list.setToolTip("One entry per budget; choose one to see its examples below.")
        self.preview = Preview()
        self.preview.setToolTip(
            "Rows: clean image | adversarial image (red when fooled) | perturbation amplified "
            "to be visible, with the true class and the prediction. Click to see it at full size."
        )
        pane(self.label, self.list, (self.preview, 1), into=self)
        self.list.currentRowChanged.connect(self._on_row)
        self.preview.clicked.connect(lambda: self.open_item(self.list.currentRow()))

    def set_items(self, items: list[GalleryItem]) -> None:
        self._items = list(items)
        self.list.blockSignals(True)
        self.list.clear()
        for item in self._items:
            entry = QListWidgetItem(item.caption)
            entry.setToolTip(item.tooltip or item.path)
            self.list.addItem(entry)
        self.list.blockSignals(False)
        if self._items:
            self.list.setCurrentRow(len(self._items) - 1)  # the largest budget: the most visible change
        else:
            self.preview.set_path("")

    def items(self) -> list[GalleryItem]:
        return list(self._items)

    def count(self) -> int:
        return len(self._items)

    def current_path(self) -> str:
        row = self.list.currentRow()
        return self._items[row].path if 0 <= row < len(self._items) else ""

    def open_item(self, index: int) -> ImageDialog | None:
        """Show example `index` at full size in a (non-blocking) dialog."""
        if not 0 <= index < len(self._items):
            return None
        if self.dialog is not None:
            self.dialog.close()
        self.dialog = ImageDialog(self._items[index], self, full_size=True)
        self.dialog.open()
        return self.dialog

    def _on_row(self, row: int) -> None:
        self.preview.set_path(self._items[row].path if 0 <= row < len(self._items) else "")


class AttackResults(QWidget):
    """`add_report(dict)` adds a curve and shows the report; `clear()`; `selected_report()`."""

    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.reports: list[dict[str, Any]] = []
        self._curves: list[pg.PlotDataItem] = []
        fg = self.palette().color(QPalette.ColorRole.Text)
        self.plot = pg.PlotWidget(background=self.palette().color(QPalette.ColorRole.Base))
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        self.plot.setLabel("bottom", "eps (pixel scale [0, 1])", color=fg.name())
        self.plot.setLabel("left", "accuracy under attack", color=fg.name())
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setPen(fg)
            self.plot.getAxis(side).setTextPen(fg)
            self.plot.getAxis(side).enableAutoSIPrefix(False)  # eps 0.01 stays 0.01, not 10 (x0.001)
        self.plot.setYRange(-0.02, 1.02, padding=0)
        self.plot.getPlotItem().getViewBox().setLimits(yMin=-0.05, yMax=1.1)
        self.plot.addLegend(offset=(-10, 10), labelTextColor=fg)
        self.plot.setMinimumSize(320, 220)
        self.plot.setToolTip("Accuracy against the attack budget; one curve per attack run, overlaid to compare.")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip(
            "Remove every curve, the table and the galleries (the saved reports stay on disk)."
        )
        self.report_combo = QComboBox()
        self.report_combo.setMinimumContentsLength(22)
        self.report_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.report_combo.setToolTip("Which attack run the table and the galleries show.")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.table = make_table(COLUMNS)
        for i, tip in enumerate(COLUMN_TIPS):
            header = self.table.horizontalHeaderItem(i)  # make_table set one per column
            if header is not None:
                header.setToolTip(tip)
        self.table.setToolTip("Figures per budget for the attack run chosen above. Norms are over successful attacks.")
        self.table.setMinimumWidth(360)
        self.gallery = ExamplesView()
        self._build_layout()
        self.clear_button.clicked.connect(self.clear)
        self.report_combo.currentIndexChanged.connect(self._on_report_chosen)

    def _build_layout(self) -> None:
        lower = pane(hbox("Show:", (self.report_combo, 1), self.clear_button), self.summary, (self.table, 1))
        left = splitter(Qt.Orientation.Vertical, self.plot, lower, stretch=(3, 2))
        # the examples get as much room as the curve: they are what a person looks at to believe the numbers
        self.gallery.setMinimumWidth(MIN_EXAMPLES_WIDTH)
        pane(splitter(Qt.Orientation.Horizontal, left, self.gallery, stretch=(1, 1), sizes=(520, 480)), into=self)

    # ------------------------------------------------------------------ API
    def add_report(self, report: dict[str, Any]) -> str:
        """Overlay the report's accuracy curve (legend: its attack and norm) and show it; returns the name."""
        name = curve_name(report)
        taken = set(self.curve_names())
        if name in taken:
            n = 2
            while f"{name} #{n}" in taken:
                n += 1
            name = f"{name} #{n}"
        results = report.get("results", [])
        i = len(self.reports)
        colour = COLOURS[i % len(COLOURS)]
        curve = self.plot.plot(
            [r["eps"] for r in results],
            [r["accuracy"] for r in results],
            pen=pg.mkPen(colour, width=2),
            symbol=SYMBOLS[i % len(SYMBOLS)],
            symbolSize=8,
            symbolBrush=colour,
            symbolPen=None,
            name=name,
        )
        self._curves.append(curve)
        self.reports.append(report)
        self.report_combo.addItem(name)
        self.report_combo.setItemData(
            self.report_combo.count() - 1, report.get("folder", ""), Qt.ItemDataRole.ToolTipRole
        )
        self.report_combo.setCurrentIndex(self.report_combo.count() - 1)  # shows it
        self.plot.getPlotItem().enableAutoRange(axis="x")
        return name

    def clear(self) -> None:
        self.plot.getPlotItem().clear()
        legend = self.plot.getPlotItem().legend
        if legend is not None:
            legend.clear()
        self._curves, self.reports = [], []
        self.report_combo.blockSignals(True)
        self.report_combo.clear()
        self.report_combo.blockSignals(False)
        fill_table(self.table, [])
        self.gallery.set_items([])
        self.gallery.label.setText("Examples: run an attack.")
        self.summary.setText("")
        self.cleared.emit()

    def curve_names(self) -> list[str]:
        return [item.name() for item in self.plot.getPlotItem().listDataItems()]

    def curve_data(self, index: int) -> tuple[list[float], list[float]]:
        """(eps, accuracy) of curve `index` as drawn."""
        xs, ys = self._curves[index].getData()
        return [float(x) for x in xs], [float(y) for y in ys]

    def selected_report(self) -> dict[str, Any] | None:
        i = self.report_combo.currentIndex()
        return self.reports[i] if 0 <= i < len(self.reports) else None

    def shutdown(self) -> None:
        if self.gallery.dialog is not None:
            self.gallery.dialog.close()

    # ------------------------------------------------------------------ internals
    def _on_report_chosen(self, index: int) -> None:
        if 0 <= index < len(self.reports):
            self._show(self.reports[index])

    def _show(self, report: dict[str, Any]) -> None:
        results = report.get("results", [])
        rows = []
        for r in results:
            rows.append(
                [
                    SortItem(f"{r['eps']:.4g}", r["eps"]),
                    SortItem(fmt_percent(r.get("accuracy")), r.get("accuracy")),
                    SortItem(fmt_percent(r.get("success_rate")), r.get("success_rate")),
                    SortItem(fmt_number(r.get("l2_mean")), r.get("l2_mean")),
                    SortItem(fmt_number(r.get("l2_median")), r.get("l2_median")),
                    SortItem(fmt_number(r.get("linf_mean"), 4), r.get("linf_mean")),
                    SortItem(fmt_number(r.get("linf_median"), 4), r.get("linf_median")),
                    SortItem(fmt_number(r.get("queries_mean"), 0), r.get("queries_mean")),
                    SortItem(fmt_percent(r.get("transfer_rate")), r.get("transfer_rate")),
                ]
            )
        fill_table(self.table, rows)
        folder = Path(str(report.get("folder", "")))
        items = []
        for r in results:
            if not r.get("gallery"):
                continue
            caption = f"eps {r['eps']:.4g}: accuracy {fmt_percent(r.get('accuracy'))}"
            items.append(
                GalleryItem(
                    str(folder / r["gallery"]),
                    caption,
                    f"{caption}\nclean | adversarial | perturbation (amplified), with predictions",
                )
            )
        self.gallery.set_items(items)
        self.gallery.label.setText(
            "Examples per eps: clean | adversarial | amplified perturbation (click to enlarge)."
            if items
            else "No examples: nothing was attacked."
        )
        stopped = " Stopped early: the figures cover the images finished." if report.get("stopped") else ""
        surrogate = (
            f" Surrogate agrees with the target on {fmt_percent(report['surrogate_agreement'])} of clean images."
            if report.get("surrogate_agreement") is not None
            else ""
        )
        self.summary.setText(
            f"{curve_name(report)} ({report.get('attack_kind', '')}) on {Path(str(report.get('model', ''))).name}: "
            f"{report.get('n_images', 0)} images, clean accuracy {fmt_percent(report.get('clean_accuracy'))}, "
            f"{report.get('elapsed_s', 0):.1f} s on {report.get('device', '?')}.{surrogate}{stopped}"
        )
        self.summary.setToolTip(f"Report saved in {folder}")
