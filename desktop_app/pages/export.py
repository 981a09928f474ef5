"""Export page: a run's model -> one ONNX file, checked against PyTorch; shows the parity report.

engine.deploy.export_job imports torch, so it is imported inside the JobRunner job only. On success the
file becomes the app's current model (AppState.set_model) for the Predict page.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.jobs import JobRunner
from desktop_app.pages.base import Page
from desktop_app.pages.runs import RunChooser, show_error
from desktop_app.state import AppState
from desktop_app.widgets.table_utils import DASH, is_number
from engine.core.events import Log

REPORT_NAME = "export_report.json"  # written by engine.deploy.export beside the model
PASS_STYLE = "color: #1a7f37; font-weight: bold"
FAIL_STYLE = "color: #c62828; font-weight: bold"


def export_job(emit: Any, control: Any, run_dir: str, out: str, checkpoint: str, int8: bool) -> dict[str, Any]:
    """JobRunner job: export_run (imports torch, so only ever runs in the worker thread)."""
    from engine.deploy.export_job import ExportConfig, export_run

    config = ExportConfig(run_dir=Path(run_dir), out=Path(out) if out else None, checkpoint=checkpoint, int8=int8)
    return export_run(config, emit)


def default_out(run_dir: str) -> str:
    return str(Path(run_dir) / "exports" / "model.onnx") if run_dir else ""


def read_parity_report(onnx_path: str, newer_than: float = 0.0) -> dict[str, Any] | None:
    """The parity section of export_report.json beside `onnx_path` (kept even when parity failed),
    if the report was written after `newer_than` (a stale one from an earlier export is ignored)."""
    report = Path(onnx_path).parent / REPORT_NAME
    try:
        if report.stat().st_mtime < newer_than:
            return None
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    parity = data.get("parity") if isinstance(data, dict) else None
    return {"path": onnx_path, **parity} if isinstance(parity, dict) else None


class ExportPage(Page):
    """Run, output file, INT8 option; Export; parity figures. Signal `exported(dict)`."""

    title = "Export"
    icon = "SP_DialogSaveButton"
    exported = Signal(object)  # the export_run report (dict)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.report: dict[str, Any] | None = None
        self._started = 0.0
        self.runner = JobRunner(self)
        self.run_chooser = RunChooser(state)
        self.checkpoint = QComboBox()
        self.checkpoint.addItem("best", "best")
        self.checkpoint.addItem("last", "last")
        self.checkpoint.setToolTip("best: the checkpoint the run selected as best; last: the latest epoch's weights.")
        self.out_edit = QLineEdit()
        self.out_edit.setToolTip(
            "Where to write the .onnx file; export_report.json is written beside it. Default: RUN/exports/model.onnx."
        )
        self.out_browse = QPushButton("Browse...")
        self.out_browse.setToolTip("Choose where to save the ONNX file.")
        self.int8 = QCheckBox("Also write an INT8 model (faster on CPU, slightly less accurate)")
        self.int8.setToolTip(
            "Static INT8 quantisation calibrated on the run's own source images; "
            "written as NAME.int8.onnx beside the float model."
        )
        self.export_button = QPushButton("Export")
        self.export_button.setToolTip("Export the model to ONNX and check it gives PyTorch's answers on real images.")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(200)
        self.progress.setVisible(False)
        self.status = QLabel()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setToolTip("Messages from the export.")
        self.parity_labels: dict[str, QLabel] = {}
        self.folder_button = QPushButton("Show folder")
        self.folder_button.setToolTip("Open the folder holding the exported file.")
        self.folder_button.setEnabled(False)
        self._build_layout()
        self.run_chooser.changed.connect(self._on_run_chosen)
        self.out_browse.clicked.connect(self._on_browse_out)
        self.export_button.clicked.connect(self.export)
        self.folder_button.clicked.connect(self._on_show_folder)
        self.runner.events.connect(self._on_events)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.running_changed.connect(self._on_running_changed)
        state.run_changed.connect(self._on_state_run_changed)
        state.runs_updated.connect(self._on_runs_updated)
        self.out_edit.setText(default_out(self.run_chooser.run_dir()))

    def _build_layout(self) -> None:
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(self.out_browse)
        form = QFormLayout()
        form.addRow("Run:", self.run_chooser)
        form.addRow("Checkpoint:", self.checkpoint)
        form.addRow("Output file:", out_row)
        form.addRow("", self.int8)
        actions = QHBoxLayout()
        actions.addWidget(self.export_button)
        actions.addWidget(self.progress)
        actions.addWidget(self.status, 1)
        group = QGroupBox("Parity check: ONNX Runtime against PyTorch on real source images")
        parity = QFormLayout(group)
        rows = [
            ("path", "File:", "The exported model."),
            (
                "max_abs_diff",
                "Max |logit difference|:",
                "Largest difference between ONNX and PyTorch outputs, and the allowed limit.",
            ),
            (
                "top1_agreement",
                "Top-1 agreement:",
                "Share of images where both give the same top class (must be 100%).",
            ),
            ("n", "Images checked:", "Real source images used for the check."),
            ("batch_sizes_checked", "Batch sizes checked:", "The ONNX file was run at these batch sizes."),
            ("passed", "Result:", "Passed when the outputs agree within the limit."),
            ("int8_path", "INT8 model:", "The quantised copy, when asked for."),
        ]
        for key, label, tip in rows:
            value = QLabel(DASH)
            value.setToolTip(tip)
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.parity_labels[key] = value
            parity.addRow(label, value)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_button)
        folder_row.addStretch(1)
        parity.addRow("", folder_row)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addWidget(group)
        layout.addWidget(QLabel("Log:"))
        layout.addWidget(self.log, 1)

    # ------------------------------------------------------------------ public API
    def on_shown(self) -> None:
        if not self.runner.running:
            self.run_chooser.refresh()

    def busy(self) -> bool:
        return self.runner.running

    def shutdown(self) -> None:
        self.runner.stop_and_wait()

    def set_run(self, run_dir: str) -> None:
        self.run_chooser.set_run_dir(run_dir)

    def set_output(self, path: str) -> None:
        self.out_edit.setText(path)

    def export(self) -> bool:
        """Start the export; False (with an error dialog) when no run is chosen."""
        if self.runner.running:
            return False
        run_dir = self.run_chooser.run_dir()
        if not run_dir:
            show_error(self, "Choose a run to export (train one on the Train page, or Browse... for a run folder).")
            return False
        out = self.out_edit.text().strip() or default_out(run_dir)
        if Path(out).suffix.lower() != ".onnx":
            out = str(Path(out).with_suffix(".onnx"))
            self.out_edit.setText(out)
        self.log.clear()
        self.show_parity(None)
        self.status.setText("Exporting...")
        self._started = time.time() - 1.0  # file-system timestamps may be coarse
        self.runner.start(export_job, run_dir, out, self.checkpoint.currentData(), self.int8.isChecked())
        return True

    def show_parity(self, report: dict[str, Any] | None) -> None:
        """Fill the parity labels from an export report (None clears them)."""
        report = report or {}
        labels = self.parity_labels
        labels["path"].setText(str(report.get("path", DASH)))
        diff, atol = report.get("max_abs_diff"), report.get("atol")
        labels["max_abs_diff"].setText(
            f"{diff:.2e}" + (f" (allowed {atol:g})" if is_number(atol) else "") if is_number(diff) else DASH
        )
        agree = report.get("top1_agreement")
        labels["top1_agreement"].setText(f"{100 * agree:.2f}%" if is_number(agree) else DASH)
        labels["n"].setText(str(report.get("n", DASH)))
        sizes = report.get("batch_sizes_checked")
        labels["batch_sizes_checked"].setText(", ".join(str(s) for s in sizes) if sizes else DASH)
        passed = report.get("passed")
        result = labels["passed"]
        if passed is None:
            result.setText(DASH)
            result.setStyleSheet("")
        else:
            result.setText("Passed ✓" if passed else "Failed ✗ (the file was removed)")
            result.setStyleSheet(PASS_STYLE if passed else FAIL_STYLE)
        labels["int8_path"].setText(str(report.get("int8_path", DASH)))
        self.folder_button.setEnabled(bool(passed))

    # ------------------------------------------------------------------ slots
    def _on_run_chosen(self, run_dir: str) -> None:
        self.out_edit.setText(default_out(run_dir))

    def _on_state_run_changed(self, run_dir: str) -> None:
        if run_dir and not self.runner.running:
            self.run_chooser.set_run_dir(run_dir)

    def _on_runs_updated(self) -> None:
        if not self.runner.running:
            self.run_chooser.refresh()

    def _on_browse_out(self) -> None:
        start = self.out_edit.text() or default_out(self.run_chooser.run_dir())
        path, _ = QFileDialog.getSaveFileName(self, "Save ONNX model", start, "ONNX models (*.onnx)")
        if path:
            self.out_edit.setText(path if path.lower().endswith(".onnx") else path + ".onnx")

    def _on_show_folder(self) -> None:
        if self.report:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.report["path"]).parent)))

    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, Log):
                self.log.appendPlainText(event.message)

    def _on_finished(self, report: dict[str, Any]) -> None:
        self.report = report
        self.show_parity(report)
        self.status.setText("Exported; the Predict page now uses this model.")
        self.state.set_model(str(report["path"]))
        self.exported.emit(report)

    def _on_failed(self, message: str, details: str) -> None:
        self.report = None
        self.show_parity(read_parity_report(self.out_edit.text().strip(), self._started))
        self.status.setText("Export failed.")
        self.log.appendPlainText(message)
        show_error(self, message, details)

    def _on_running_changed(self, running: bool) -> None:
        self.export_button.setEnabled(not running)
        for widget in (self.run_chooser, self.checkpoint, self.out_edit, self.out_browse, self.int8):
            widget.setEnabled(not running)
        self.progress.setRange(0, 0 if running else 1)
        self.progress.setVisible(running)
