"""Export page: a run's model -> one ONNX file, checked against PyTorch; shows the parity report.

The export is the engine's export job (engine.jobs.export, which imports torch inside its run),
run by the JobPage base. On success the file becomes the app's current model
(AppState.set_model) for the Predict page.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from pydantic import BaseModel, ValidationError
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.compression_panel import CompressionPanel
from desktop_app.widgets.form_utils import button, form, hbox, label, log_view, tipped
from desktop_app.widgets.table_utils import DASH
from engine.core.events import Event, Log
from engine.jobs import export
from engine.jobs.export import ExportConfig, ExportReport

REPORT_NAME = "export_report.json"  # written by engine.deploy.export beside the model
PASS_STYLE = "color: #1a7f37; font-weight: bold"
FAIL_STYLE = "color: #c62828; font-weight: bold"
PARITY_ROWS = [
    ("path", "File:", "The exported model."),
    (
        "max_abs_diff",
        "Max |logit difference|:",
        "Largest difference between ONNX and PyTorch outputs, and the allowed limit.",
    ),
    ("top1_agreement", "Top-1 agreement:", "Share of images where both give the same top class (must be 100%)."),
    ("n", "Images checked:", "Real source images used for the check."),
    ("batch_sizes_checked", "Batch sizes checked:", "The ONNX file was run at these batch sizes."),
    ("passed", "Result:", "Passed when the outputs agree within the limit."),
    ("int8_path", "INT8 model:", "The quantised copy, when asked for."),
]


def default_out(run_dir: str) -> str:
    return str(Path(run_dir) / "exports" / "model.onnx") if run_dir else ""


def read_parity_report(onnx_path: str, newer_than: float = 0.0) -> ExportReport | None:
    """The parity section of export_report.json beside `onnx_path` (kept even when parity failed),
    if the report was written after `newer_than` (a stale one from an earlier export is ignored)."""
    report = Path(onnx_path).parent / REPORT_NAME
    try:
        if report.stat().st_mtime < newer_than:
            return None
        parity = json.loads(report.read_text(encoding="utf-8"))["parity"]
        return ExportReport.model_validate({"path": onnx_path, **parity})
    except (OSError, ValueError, KeyError, TypeError, ValidationError):
        return None


class ExportPage(JobPage):
    """Run, output file, INT8 option; Export; parity figures. Signal `exported(ExportReport)`."""

    title = "Export"
    icon = "SP_DialogSaveButton"
    job = export.JOB
    run_text, run_tip = "Export", "Export the model to ONNX and check it gives PyTorch's answers on real images."
    running_text, failed_text, can_stop = "Exporting...", "Export failed.", False  # short: it cannot stop half-way
    uses_run = True
    exported = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._started = 0.0
        self.export_button = self.run_button
        self.out_edit = tipped(
            QLineEdit(),
            "Where to write the .onnx file; export_report.json is written beside it. Default: RUN/exports/model.onnx.",
        )
        self.out_browse = button("Browse...", "Choose where to save the ONNX file.", self._on_browse_out)
        self.int8 = tipped(
            QCheckBox("Also write an INT8 model (faster on CPU, slightly less accurate)"),
            "Static INT8 quantisation calibrated on the run's own source images; "
            "written as NAME.int8.onnx beside the float model.",
        )
        self.cam = tipped(
            QCheckBox("Add the CAM output (exact class activation maps for 'Why?')"),
            "A second output 'cam' [N, classes, h, w] for exact CAM explanations of the ONNX file; for backbones "
            "that end in pooling + one linear layer (tiny_cnn, small_cnn_gap, ResNet, MobileNet, EfficientNet).",
        )
        self.log = log_view("Messages from the export.", 500)
        self.parity_labels: dict[str, QLabel] = {}
        self.folder_button = button(
            "Show folder", "Open the folder holding the exported file.", self._on_show_folder, enabled=False
        )
        self.compression = CompressionPanel()
        self._build_layout()
        self.run_chooser.changed.connect(self._on_run_changed)
        self.compression.set_run(self.chosen_run())
        self.out_edit.setText(default_out(self.chosen_run()))

    def _build_layout(self) -> None:
        settings = form(
            ("Run:", self.run_chooser),
            ("Checkpoint:", self.checkpoint),
            ("Output file:", hbox(self.out_edit, self.out_browse)),
            ("", hbox(self.int8, self.cam, None)),
        )
        group = QGroupBox("Parity check: ONNX Runtime against PyTorch on real source images")
        parity = QFormLayout(group)
        for key, text, tip in PARITY_ROWS:
            value = label(DASH, tip)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.parity_labels[key] = value
            parity.addRow(text, value)
        parity.addRow("", hbox(self.folder_button, None))
        layout = QVBoxLayout(self)
        layout.addLayout(settings)
        layout.addLayout(self.action_row())
        layout.addWidget(group)
        compression = QGroupBox("Compression: the run beside its teacher (for distilled models)")
        QVBoxLayout(compression).addWidget(self.compression)
        layout.addWidget(compression)
        layout.addWidget(QLabel("Log:"))
        layout.addWidget(self.log, 1)

    # ------------------------------------------------------------------ public API
    def set_output(self, path: str) -> None:
        self.out_edit.setText(path)

    def export(self) -> bool:
        """Start the export; False (with an error dialog) when no run is chosen."""
        return self.start()

    def make_config(self) -> BaseModel | None:
        run_dir = self.chosen_run()
        if not run_dir:
            errors.show_error(
                self, "Choose a run to export (train one on the Train page, or Browse... for a run folder)."
            )
            return None
        out = self.out_edit.text().strip() or default_out(run_dir)
        if Path(out).suffix.lower() != ".onnx":
            out = str(Path(out).with_suffix(".onnx"))
            self.out_edit.setText(out)
        self.log.clear()
        self.show_parity(None)
        self._started = time.time() - 1.0  # file-system timestamps may be coarse
        return ExportConfig(
            run_dir=Path(run_dir),
            out=Path(out),
            checkpoint=self.checkpoint_choice(),
            int8=self.int8.isChecked(),
            cam=self.cam.isChecked(),
        )

    def set_inputs_enabled(self, enabled: bool) -> None:
        for widget in (self.out_edit, self.out_browse, self.int8, self.cam):
            widget.setEnabled(enabled)

    def show_parity(self, report: ExportReport | None) -> None:
        """Fill the parity labels from an export report (None clears them)."""
        labels = self.parity_labels
        for shown in labels.values():
            shown.setText(DASH)
        labels["passed"].setStyleSheet("")
        self.folder_button.setEnabled(bool(report and report.passed))
        if report is None:
            return
        labels["path"].setText(report.path)
        labels["max_abs_diff"].setText(f"{report.max_abs_diff:.2e} (allowed {report.atol:g})")
        labels["top1_agreement"].setText(f"{100 * report.top1_agreement:.2f}%")
        labels["n"].setText(str(report.n))
        labels["batch_sizes_checked"].setText(", ".join(str(s) for s in report.batch_sizes_checked) or DASH)
        labels["passed"].setText("Passed ✓" if report.passed else "Failed ✗ (the file was removed)")
        labels["passed"].setStyleSheet(PASS_STYLE if report.passed else FAIL_STYLE)
        labels["int8_path"].setText(report.int8_path or DASH)

    def show_report(self, report: ExportReport) -> None:
        self.show_parity(report)
        self.status.setText("Exported; the Predict page now uses this model.")
        self.state.set_model(report.path)
        self.exported.emit(report)

    def on_event(self, event: Event) -> None:
        if isinstance(event, Log):
            self.log.appendPlainText(event.message)

    def on_failed(self, message: str) -> None:
        self.show_parity(read_parity_report(self.out_edit.text().strip(), self._started))
        self.log.appendPlainText(message)

    def busy(self) -> bool:
        return super().busy() or self.compression.busy()

    def shutdown(self) -> None:
        super().shutdown()
        self.compression.shutdown()

    # ------------------------------------------------------------------ slots
    def _on_run_changed(self, run_dir: str) -> None:
        self.out_edit.setText(default_out(run_dir))
        self.show_parity(None)  # the last run's figures do not describe this one
        self.compression.set_run(run_dir)

    def _on_browse_out(self) -> None:
        start = self.out_edit.text() or default_out(self.chosen_run())
        path, _ = QFileDialog.getSaveFileName(self, "Save ONNX model", start, "ONNX models (*.onnx)")
        if path:
            self.out_edit.setText(path if path.lower().endswith(".onnx") else path + ".onnx")

    def _on_show_folder(self) -> None:
        if isinstance(self.report, ExportReport):
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(self.report.path).parent)))
