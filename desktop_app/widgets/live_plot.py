"""Live training plots: one pyqtgraph PlotWidget per metric group, curves fed from growing buffers.

Points are appended to numpy buffers as events arrive; `refresh()` pushes only the changed
curves to pyqtgraph with `setData`, and the page calls it once per drained batch of events
(at most ~20 times a second). Peak downsampling and clip-to-view keep 100k-point curves cheap.
Step-level points are thin lines; epoch-level points (validation, target) are thick with markers.

Keeping the event loop free while a run starts matters as much as drawing fast, so: the axes are
managed here rather than by auto-range (x spans the run's planned steps, y grows with headroom
only when data leaves it; re-laying out an axis costs ~10 ms of Python, far more than a curve),
the plot widgets are built once (`prepare`) and reused, and at most two new curves (each with
its legend entry) are created per refresh, the rest on the next turn of the event loop.

The grid is the costliest thing on screen: pyqtgraph draws it with the axes, at three tick
levels, in a translucent pen, and repaints it with every new point. Four plots took 34 ms to
repaint that way on a 2-core CPU; with grid lines at the labelled ticks only, in an opaque
colour between background and text, they take 4 ms.

What a person reads: accuracies in percent, whole-number ticks (steps, epochs), no SI prefix
(pyqtgraph turned 0.80-0.95 into "800-950 (x0.001)"), legends below the data rather than over
it, and one colour per metric, the same in every run and after a resume. The per-step history
is saved, thinned, next to the run (`save_history`) and read back on resume (`load_history`),
since metrics.jsonl keeps only the epoch records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from desktop_app.widgets.plot_style import COLOURS as COLOURS  # re-exported: bar_chart and others use it
from desktop_app.widgets.plot_style import display_values, is_accuracy, metric_colour, style_plot

GROUPS = ("Loss", "Accuracy", "Learning rate", "Method metrics")
GRID_SHADE = 0.22  # grid and axis colour: this share of the text colour over the background
NEW_CURVES_PER_REFRESH = 2
AXIS_CHANGES_PER_REFRESH = 2  # an axis re-layout costs ~10 ms of Python: spread them over turns of the loop
Ident = tuple[str, bool]  # (metric key, epoch-level)
HISTORY_FILE = "step_history.json"  # in the run directory, written by the window
HISTORY_POINTS = 2000  # per metric: enough for a smooth curve, small enough to rewrite every epoch


def metric_group(key: str) -> str:
    """The plot a metric belongs to: every loss together, the three accuracies, lr, method extras."""
    last = key.rsplit("/", 1)[-1]
    if key == "lr" or last == "lr":
        return "Learning rate"
    if key.startswith("loss") or last == "loss" or last.startswith("loss"):
        return "Loss"
    if key in ("train/acc", "val/acc", "target/acc", "acc"):
        return "Accuracy"
    parts = key.split("/")
    if len(parts) == 3 and parts[0] in ("train", "val", "task") and last == "acc":  # a task's accuracy (multitask)
        return "Accuracy"
    return "Method metrics"


class _Series:
    """A growable (x, y) buffer with running bounds; doubling keeps appends amortised O(1)."""

    def __init__(self, capacity: int = 256) -> None:
        self.x = np.empty(capacity, dtype=np.float64)
        self.y = np.empty(capacity, dtype=np.float64)
        self.n = 0
        self.x_max = -np.inf
        self.y_min = np.inf
        self.y_max = -np.inf

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        need = self.n + len(xs)
        if need > len(self.x):
            cap = max(need, 2 * len(self.x))
            self.x = np.resize(self.x, cap)
            self.y = np.resize(self.y, cap)
        self.x[self.n : need] = xs
        self.y[self.n : need] = ys
        self.n = need
        if len(xs):
            self.x_max = max(self.x_max, float(np.max(xs)))
            finite = ys[np.isfinite(ys)]  # a NaN loss must not blow up the axis
            if len(finite):
                self.y_min = min(self.y_min, float(finite.min()))
                self.y_max = max(self.y_max, float(finite.max()))

    def view(self) -> tuple[np.ndarray, np.ndarray]:
        return self.x[: self.n], self.y[: self.n]


def blend(under: QColor, over: QColor, share: float) -> QColor:
    """The opaque colour of `over` laid on `under` with opacity `share` (0..1)."""
    pairs = ((under.red(), over.red()), (under.green(), over.green()), (under.blue(), over.blue()))
    mix = [round(a + (b - a) * share) for a, b in pairs]
    return QColor(*mix)


class LivePlots(QWidget):
    """A grid of plots that appear as their first metric arrives (Loss, Accuracy, lr, method)."""

    def __init__(self, parent: QWidget | None = None, columns: int = 2) -> None:
        super().__init__(parent)
        self.columns = columns
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(6)
        self._plots: dict[str, pg.PlotWidget] = {}
        self._series: dict[Ident, _Series] = {}
        self._items: dict[Ident, pg.PlotDataItem] = {}
        self._dirty: set[Ident] = set()
        self._x_limit = 0.0  # planned steps of the run (0: unknown, x grows with the data)
        self._ranges: dict[str, tuple[float, float, float, float]] = {}  # group -> x0, x1, y0, y1 shown
        self._manual: set[str] = set()  # groups the user zoomed or panned: left alone
        self._shown: set[str] = set()  # groups on screen
        self._refit: set[str] = set()  # groups whose axes may need widening
        self._later = QTimer(self)  # finishes a refresh that left curves to create
        self._later.setSingleShot(True)
        self._later.setInterval(0)
        self._later.timeout.connect(self.refresh)
        self._placeholder = QLabel(
            "Plots of every loss, the accuracies, the learning rate and the method's own metrics appear here once training starts."
        )
        self._placeholder.setWordWrap(True)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setEnabled(False)
        self._grid.addWidget(self._placeholder, 0, 0)

    # ------------------------------------------------------------------ data in
    def add(self, key: str, x: float, y: float, *, epoch: bool = False) -> None:
        """Append one point; nothing is drawn until `refresh()`."""
        self.extend(key, np.array([x], dtype=np.float64), np.array([y], dtype=np.float64), epoch=epoch)

    def extend(
        self, key: str, xs: Iterable[float] | np.ndarray, ys: Iterable[float] | np.ndarray, *, epoch: bool = False
    ) -> None:
        """Append many points to the curve `key` (step-level, or epoch-level with markers)."""
        ident = (key, epoch)
        series = self._series.get(ident)
        if series is None:
            series = self._series[ident] = _Series()
        series.extend(np.asarray(xs, dtype=np.float64), display_values(key, ys))
        self._dirty.add(ident)

    def set_x_limit(self, steps: float) -> None:
        """Fix the x axis to [0, steps] (the run's planned steps); 0 lets it grow with the data."""
        self._x_limit = float(steps)
        self._refit |= self._shown
        self._later.start()

    def show_groups(self, groups: Iterable[str]) -> None:
        """Put these plots on screen now, before their data arrives (re-lays out only when new ones appear)."""
        new = [g for g in groups if g not in self._shown]
        for group in new:
            self._build_plot(group)
            self._shown.add(group)
        if new:
            self._relayout()

    def refresh(self) -> int:
        """Push the changed curves to the screen; returns how many were redrawn."""
        created = 0
        redrawn: set[Ident] = set()
        for ident in sorted(self._dirty, key=lambda i: i in self._items, reverse=True):
            item = self._items.get(ident)
            if item is None:
                if created >= NEW_CURVES_PER_REFRESH:
                    continue
                item = self._items[ident] = self._make_curve(*ident)
                created += 1
            item.setData(*self._series[ident].view())
            redrawn.add(ident)
        self._dirty -= redrawn
        self._refit |= {metric_group(k) for k, _ in redrawn}
        changed = 0
        for group in [g for g in GROUPS if g in self._refit]:
            if changed >= AXIS_CHANGES_PER_REFRESH:
                break
            self._refit.discard(group)
            changed += self._fit(group)
        if self._dirty or self._refit:
            self._later.start()
        return len(redrawn)

    def clear(self) -> None:
        """Drop every curve (a new run starts); the plots on show stay, so the layout does not jump."""
        for (key, _), item in self._items.items():
            self._plots[metric_group(key)].getPlotItem().removeItem(item)  # also leaves the legend
        self._items.clear()
        self._series.clear()
        self._dirty.clear()
        self._ranges.clear()
        self._manual.clear()
        self._refit.clear()
        self._x_limit = 0.0
        self._later.stop()

    def prepare(self, groups: Iterable[str] = GROUPS) -> None:
        """Build and show the plots now (~0.1 s, while the window is idle), so a run's first points do not pay for it."""
        self.show_groups(groups)

    # ------------------------------------------------------------------ history (resume)
    def save_history(self, run_dir: str | Path) -> Path | None:
        """Write the per-step curves, thinned to HISTORY_POINTS each, into the run directory (atomic)."""
        if not run_dir:
            return None
        from engine.core.fsutil import atomic_write_text

        data: dict[str, list[list[float]]] = {}
        for (key, epoch), series in self._series.items():
            if epoch or not series.n:
                continue
            xs, ys = series.view()
            if is_accuracy(key):
                ys = ys / 100.0  # stored in the engine's units
            stride = max(1, int(np.ceil(len(xs) / HISTORY_POINTS)))
            keep = np.r_[np.arange(0, len(xs), stride), len(xs) - 1] if len(xs) else np.arange(0)
            keep = np.unique(keep)
            data[key] = [xs[keep].tolist(), np.where(np.isfinite(ys[keep]), ys[keep], np.nan).tolist()]
        path = Path(run_dir) / HISTORY_FILE
        try:
            atomic_write_text(path, json.dumps({"version": 1, "steps": data}, allow_nan=True))
        except OSError:
            return None  # the run directory went away: the plots on screen are unaffected
        return path

    def load_history(self, run_dir: str | Path, skip: Iterable[str] = ()) -> int:
        """Show a run's saved per-step curves and its epoch records (metrics.jsonl); returns the points added."""
        root = Path(run_dir)
        added = 0
        try:
            saved = json.loads((root / HISTORY_FILE).read_text(encoding="utf-8")).get("steps", {})
        except (OSError, ValueError, AttributeError):
            saved = {}
        for key, pair in saved.items() if isinstance(saved, dict) else []:
            if isinstance(pair, list) and len(pair) == 2 and len(pair[0]) == len(pair[1]):
                self.extend(key, pair[0], pair[1])
                added += len(pair[0])
        skipped = {"epoch", "step", *skip}
        try:
            lines = (root / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            x = float(row.get("step", 0))
            for key, value in row.items():
                if key not in skipped and isinstance(value, (int, float)):
                    self.add(key, x, float(value), epoch=True)
                    added += 1
        self.refresh()
        return added

    # ------------------------------------------------------------------ inspection
    def keys(self, epoch: bool | None = None) -> list[str]:
        return [k for (k, e) in self._series if epoch is None or e == epoch]

    def curve(self, key: str, epoch: bool = False) -> pg.PlotDataItem | None:
        return self._items.get((key, epoch))

    def curve_length(self, key: str, epoch: bool = False) -> int:
        """Points shown on screen for the curve (0 if absent): what a person sees, not the buffer."""
        curve = self.curve(key, epoch)
        if curve is None or curve.xData is None:
            return 0
        return len(curve.xData)

    def plot(self, group: str) -> pg.PlotWidget | None:
        return self._plots.get(group)

    def groups(self) -> list[str]:
        """The plots on show, in display order."""
        return [g for g in GROUPS if g in self._shown]

    # ------------------------------------------------------------------ axes
    def _fit(self, group: str) -> bool:
        """Widen the axes of `group` when data left them (with headroom, so this stays rare); True if changed."""
        if group in self._manual or group not in self._shown:
            return False
        series = [s for (k, _), s in self._series.items() if metric_group(k) == group and s.n]
        old = self._ranges.get(group)
        x_max = max((s.x_max for s in series), default=0.0)
        if self._x_limit > 0:
            x1 = max(self._x_limit, x_max) * 1.02  # the last point must not sit on the frame
        elif old is None or x_max > old[1]:
            x1 = max(10.0, x_max * 1.5)
        else:
            x1 = old[1]
        y_min = min((s.y_min for s in series), default=np.inf)
        y_max = max((s.y_max for s in series), default=-np.inf)
        if group == "Accuracy":
            y0, y1 = -2.0, 102.0
        elif not np.isfinite(y_min):  # nothing finite yet: show 0..1, remember nothing as fitted
            y0, y1 = np.nan, np.nan
        elif old is not None and old[2] <= y_min and y_max <= old[3]:
            y0, y1 = old[2], old[3]
        else:
            span = max(y_max - y_min, abs(y_max) * 0.1, 1e-6)
            # non-negative data close to 0 (losses, lr) keeps 0 in view; anything else gets a margin
            y0 = 0.0 if 0 <= y_min < 0.5 * span else y_min - 0.1 * span
            y1 = y_max + 0.1 * span
        new = (0.0, x1, y0, y1)
        if old is None or new[:2] != old[:2] or not (y0 == old[2] and y1 == old[3]):  # nan != nan: refit
            self._ranges[group] = new
            y_range = (0.0, 1.0) if np.isnan(y0) else (y0, y1)
            self._plots[group].getPlotItem().getViewBox().setRange(xRange=(0.0, x1), yRange=y_range, padding=0)
            return True
        return False

    def _on_range_changed_manually(self, group: str) -> None:
        self._manual.add(group)

    def _on_auto_button(self, group: str) -> None:
        """pyqtgraph's "A" button: hand the axes back to this widget."""
        self._manual.discard(group)
        self._plots[group].getPlotItem().disableAutoRange()
        self._ranges.pop(group, None)
        self._fit(group)  # the user asked for it: now

    # ------------------------------------------------------------------ construction
    def _colours(self) -> tuple[QColor, QColor]:
        pal = self.palette()
        return pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text)

    def _build_plot(self, group: str) -> pg.PlotWidget:
        if group in self._plots:
            return self._plots[group]
        background, text = self._colours()
        plot = pg.PlotWidget(self, background=background)
        item = plot.getPlotItem()
        item.setTitle(group, color=text.name(), size="10pt")
        item.showGrid(x=True, y=True, alpha=1.0)  # opaque: see the module's note on the grid
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        grid = blend(background, text, GRID_SHADE)
        style_plot(plot, "step", text)  # whole-number steps, no SI prefix, legend below the data
        for axis in ("left", "bottom"):
            item.getAxis(axis).setTextPen(text)
            item.getAxis(axis).setPen(grid)  # pyqtgraph draws the grid in the axis pen
            item.getAxis(axis).setStyle(maxTickLevel=0)  # grid lines at the labelled ticks only
        item.setLabel("bottom", "step", color=text.name())  # after setPen, which recolours the label
        if group == "Accuracy":
            item.setLabel("left", "%", color=text.name())
        item.disableAutoRange()
        item.getViewBox().sigRangeChangedManually.connect(lambda *_, g=group: self._on_range_changed_manually(g))
        item.autoBtn.clicked.connect(lambda *_, g=group: self._on_auto_button(g))
        plot.setMinimumHeight(160)
        plot.setToolTip(
            f"{group}: thin lines are per step, thick lines with dots per epoch. Drag to pan, wheel to zoom, right-click for options."
        )
        plot.setVisible(False)
        self._plots[group] = plot
        return plot

    def _relayout(self) -> None:
        shown = self.groups()
        self._grid.removeWidget(self._placeholder)
        for plot in self._plots.values():
            self._grid.removeWidget(plot)
            plot.setVisible(False)
        for i, group in enumerate(shown):
            self._grid.addWidget(self._plots[group], i // self.columns, i % self.columns)
            self._plots[group].setVisible(True)
        self._placeholder.setVisible(not shown)
        if not shown:
            self._grid.addWidget(self._placeholder, 0, 0)

    def _make_curve(self, key: str, epoch: bool) -> pg.PlotDataItem:
        group = metric_group(key)
        if group not in self._shown:
            self.show_groups([group])
        plot = self._plots[group].getPlotItem()
        colour = QColor(metric_colour(key))
        if epoch:
            curve = plot.plot(
                name=key, pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6, symbolBrush=colour, symbolPen=colour
            )
        else:
            curve = plot.plot(name=key, pen=pg.mkPen(colour, width=1))
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        return curve
