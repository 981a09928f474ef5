"""Runs page: every run in the workspace, open / resume / delete, and epoch curves side by side.

Reading runs (list_runs, Run.info, Run.metrics) is cheap JSON reading and happens on the UI thread.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QItemSelectionModel, QSignalBlocker, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.jobs import JobRunner
from desktop_app.pages.base import Page
from desktop_app.state import AppState
from desktop_app.widgets.form_utils import button, hbox, pane, splitter, tipped
from desktop_app.widgets.plot_style import COLOURS, display_values, metric_axis_label, style_plot
from desktop_app.widgets.report_dialog import ReportDialog
from desktop_app.widgets.table_utils import SortItem, cell_data, fill_table, fmt_percent, make_table
from engine.core.runs import Run, delete_run, list_runs

COLUMNS = ["Name", "Status", "Method", "Backbone", "Epochs", "Best val acc", "Best target acc", "Created"]
SKIP_METRICS = {"epoch", "step"}
PREFERRED_METRICS = ["val/acc", "target/acc", "train/loss", "train/acc", "val/loss", "target/entropy", "lr"]
CURVE_COLOURS = COLOURS  # one palette for every plot (widgets/plot_style.py)


def _created(info: dict[str, Any]) -> tuple[str, float]:
    stamp = info.get("created")
    if isinstance(stamp, (int, float)):
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)), float(stamp)
    return "", 0.0


class RunsPage(Page):
    """All runs: table, actions and a comparison plot of the selected runs' epoch metrics."""

    title = "Runs"
    icon = "SP_FileDialogDetailedView"
    resume_requested = Signal(str)  # run directory; the main window routes it to the Train page
    report_written = Signal(object)  # the report job's ReportCardReport, after the browser was asked to open it

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._runs: list[Run] = []
        self.table = make_table(COLUMNS, multi=True, sort_column=COLUMNS.index("Created"), descending=True)
        self.table.setToolTip("Select one run to open or resume it; select several to compare their curves.")
        self.open_button = button(
            "Open", "Make the selected run the current one (Evaluate, Export and Robustness use it).", self._on_open
        )
        self.resume_button = button(
            "Resume",
            "Continue training the selected run from its last checkpoint (on the Train page).",
            self._on_resume,
        )
        self.delete_button = button(
            "Delete...",
            "Delete the selected runs' folders with their checkpoints and exports (asks first).",
            self._on_delete,
        )
        self.folder_button = button(
            "Show folder", "Open the selected run's folder in the file manager.", self._on_show_folder
        )
        self.report_button = button(
            "Report...",
            "Write the selected run's report card (one HTML file: data, training, accuracy, calibration, "
            "robustness, export, explanations) and open it in the browser.",
            self._on_report,
        )
        self.report_dialog: ReportDialog | None = None
        self.report_runner = JobRunner(
            self, events=self._on_report_events, finished=self._on_report_written, failed=self._on_report_failed
        )
        self.report_status = QLabel("")
        self.refresh_button = button("Refresh", "Read the runs folder again.", self.refresh)
        self.metric_combo = tipped(QComboBox(), "Which per-epoch figure to compare across the selected runs.")
        self.metric_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.metric_combo.setMinimumContentsLength(14)
        self.summary = QLabel()
        fg = self.palette().color(QPalette.ColorRole.Text)
        self.plot = pg.PlotWidget(background=self.palette().color(QPalette.ColorRole.Base))
        self.plot.showGrid(x=True, y=True, alpha=0.3)
        style_plot(self.plot, "epoch", fg)  # whole-number epochs, no SI prefix, legend below the data
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setPen(fg)
            self.plot.getAxis(side).setTextPen(fg)
        self._fg = fg
        self.plot.setMinimumHeight(200)
        self._build_layout()
        self.table.itemSelectionChanged.connect(self._on_selection_changed)
        self.table.doubleClicked.connect(self._on_open)
        self.metric_combo.currentTextChanged.connect(self._on_metric_changed)
        state.runs_updated.connect(self.refresh)
        state.run_changed.connect(self._on_run_changed)
        self.refresh()

    def _build_layout(self) -> None:
        selection_buttons = (self.open_button, self.resume_button, self.delete_button, self.folder_button)
        buttons = hbox(
            *selection_buttons, self.report_button, self.report_status, None, self.summary, self.refresh_button
        )
        top = pane(self.table, buttons)
        bottom = pane(hbox("Compare selected runs:", self.metric_combo, None), (self.plot, 1))
        layout = QVBoxLayout(self)
        layout.addWidget(splitter(Qt.Orientation.Vertical, top, bottom))

    # ------------------------------------------------------------------ public API
    def on_shown(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Re-read the runs folder; the selection survives by run path."""
        keep = set(self.selected_paths())
        self._runs = list_runs(self.state.runs_dir)
        rows = []
        for run in self._runs:
            info = run.info()
            best = info.get("best_metrics") or {}
            created, stamp = _created(info)
            name = SortItem(run.path.name)
            name.setData(Qt.ItemDataRole.UserRole, str(run.path))
            name.setToolTip(str(run.path))
            epochs = f"{info.get('epoch', 0)}/{info.get('epochs', '?')}"
            rows.append(
                [
                    name,
                    SortItem(str(info.get("status", "?"))),
                    SortItem(str(info.get("method", ""))),
                    SortItem(str(info.get("backbone", ""))),
                    SortItem(epochs, info.get("epoch", 0)),
                    SortItem(fmt_percent(best.get("val/acc")), best.get("val/acc")),
                    SortItem(fmt_percent(best.get("target/acc")), best.get("target/acc")),
                    SortItem(created, stamp),
                ]
            )
        with QSignalBlocker(self.table):
            fill_table(self.table, rows)
            self.table.clearSelection()
            for r in range(self.table.rowCount()):
                if cell_data(self.table, r, 0) in keep:
                    self._add_row_to_selection(r)
        self.summary.setText(f"{len(self._runs)} run(s) in {self.state.runs_dir}")
        self._on_selection_changed()

    def selected_paths(self) -> list[str]:
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [cell_data(self.table, r, 0) for r in rows]

    def select_paths(self, paths: list[str]) -> None:
        """Select the rows of these run folders (others are deselected)."""
        wanted = {str(p) for p in paths}
        self.table.clearSelection()
        for r in range(self.table.rowCount()):
            if cell_data(self.table, r, 0) in wanted:
                self._add_row_to_selection(r)

    def curve_names(self) -> list[str]:
        """Names of the curves now drawn (one per selected run that has the metric)."""
        return [item.name() for item in self.plot.getPlotItem().listDataItems()]

    # ------------------------------------------------------------------ slots
    def _add_row_to_selection(self, row: int) -> None:
        model = self.table.selectionModel()
        index = self.table.model().index(row, 0)
        model.select(index, QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)

    def _selected_runs(self) -> list[Run]:
        return [Run(Path(p)) for p in self.selected_paths()]

    def _on_selection_changed(self) -> None:
        runs = self._selected_runs()
        one = len(runs) == 1
        status = runs[0].info().get("status", "") if one else ""
        self.open_button.setEnabled(one)
        self.folder_button.setEnabled(one)
        self.report_button.setEnabled(one and not self.report_runner.running)
        self.resume_button.setEnabled(one and status != "finished")
        self.delete_button.setEnabled(bool(runs))
        self._update_metric_choices(runs)
        self._draw(runs)

    def _update_metric_choices(self, runs: list[Run]) -> None:
        keys: set[str] = set()
        for run in runs:
            for row in run.metrics():
                keys.update(k for k, v in row.items() if k not in SKIP_METRICS and isinstance(v, (int, float)))
        ordered = [k for k in PREFERRED_METRICS if k in keys] + sorted(keys - set(PREFERRED_METRICS))
        current = self.metric_combo.currentText()
        with QSignalBlocker(self.metric_combo):
            self.metric_combo.clear()
            self.metric_combo.addItems(ordered)
            if current in ordered:
                self.metric_combo.setCurrentText(current)

    def _on_metric_changed(self, _name: str) -> None:
        self._draw(self._selected_runs())

    def _draw(self, runs: list[Run]) -> None:
        plot = self.plot.getPlotItem()
        plot.clear()
        if plot.legend is not None:
            plot.legend.clear()
        key = self.metric_combo.currentText()
        self.plot.setLabel("left", metric_axis_label(key), color=self._fg.name())
        if not key:
            return
        for i, run in enumerate(runs):
            points = [
                (r["epoch"], r[key]) for r in run.metrics() if isinstance(r.get(key), (int, float)) and "epoch" in r
            ]
            if not points:
                continue
            xs, ys = zip(*points, strict=False)
            colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
            plot.plot(
                list(xs),
                list(display_values(key, ys)),  # accuracies in percent
                pen=pg.mkPen(colour, width=2),
                symbol="o",
                symbolSize=6,
                symbolBrush=colour,
                symbolPen=None,
                name=run.path.name,
            )

    def _on_open(self) -> None:
        paths = self.selected_paths()
        if len(paths) == 1:
            self.state.set_run(paths[0])

    def _on_resume(self) -> None:
        paths = self.selected_paths()
        if len(paths) == 1:
            self.resume_requested.emit(paths[0])

    def _on_show_folder(self) -> None:
        paths = self.selected_paths()
        if len(paths) == 1:
            QDesktopServices.openUrl(QUrl.fromLocalFile(paths[0]))

    def _on_delete(self) -> None:
        runs = self._selected_runs()
        if not runs:
            return
        names = "\n".join(f"  {r.path.name}" for r in runs[:10]) + ("\n  ..." if len(runs) > 10 else "")
        running = [r.path.name for r in runs if r.info().get("status") == "running"]
        warning = f"\n\n{', '.join(running)} is marked running: stop its training first." if running else ""
        if not errors.ask(
            self,
            "Delete runs",
            f"Delete {len(runs)} run(s) with their checkpoints and exports?\n{names}{warning}\n\nThis cannot be undone.",
        ):
            return
        for run in runs:
            try:
                delete_run(run)
            except Exception as err:
                errors.show_error(self, f"Could not delete {run.path}: {err}")
                continue
            if self.state.run_dir and Path(self.state.run_dir) == run.path:
                self.state.set_run("")
            if self.state.onnx_path and Path(self.state.onnx_path).is_relative_to(run.path):
                self.state.set_model("")
        self.state.runs_updated.emit()  # refreshes this page and every other run list

    def _on_report(self) -> None:
        paths = self.selected_paths()
        if len(paths) != 1 or self.report_runner.running:
            return
        try:
            self.report_dialog = ReportDialog(paths[0], self)
        except Exception as err:  # e.g. a pretraining run: no classifier to report on
            errors.show_error(self, str(err))
            return
        dialog = self.report_dialog
        dialog.accepted.connect(lambda: self.write_report(dialog))
        dialog.open()

    def write_report(self, dialog: ReportDialog) -> None:
        """Start the report job with the dialog's settings and model card."""
        from engine.jobs import report

        try:
            config = dialog.config()
        except ValueError as err:
            errors.show_error(self, str(err))
            return
        self.report_button.setEnabled(False)
        self.report_status.setText("Writing the report card...")
        self.report_runner.run_job(report.JOB, config)

    def _on_report_events(self, events: list[Any]) -> None:
        from engine.core.events import Log

        for event in events:
            if isinstance(event, Log) and event.message.startswith("Report:"):
                self.report_status.setText(event.message)

    def _on_report_written(self, result: Any) -> None:
        self.report_status.setText(f"Report written: {Path(result.path).name}")
        self._on_selection_changed()
        QDesktopServices.openUrl(QUrl.fromLocalFile(result.path))
        self.report_written.emit(result)

    def _on_report_failed(self, message: str, details: str) -> None:
        self.report_status.setText("Report failed.")
        self._on_selection_changed()
        errors.show_error(self, message, details)

    def busy(self) -> bool:
        return self.report_runner.running

    def shutdown(self) -> None:
        self.report_runner.stop_and_wait()

    def _on_run_changed(self, _run_dir: str) -> None:
        self.refresh()
