"""The Export page's compression section: a run against its teacher (engine.jobs.compress).

For a distilled run the teacher is the one it learned from; for any other run the user picks one.
"Compare with teacher" runs the compress job in a worker; the report (also written as
exports/compression_report.json) is shown in a `CompressionReportView`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QCheckBox, QLabel, QWidget

from desktop_app import errors
from desktop_app.jobs import JobRunner
from desktop_app.widgets.compression_report import CompressionReportView
from desktop_app.widgets.form_utils import button, hbox, line_edit, pane, tipped
from engine.core.errors import UserError
from engine.core.runs import Run

REPORT_NAME = "compression_report.json"


def teacher_of(run_dir: str) -> str:
    """The teacher a distill run was trained from ("" for other runs or unreadable configs)."""
    try:
        config = Run(Path(run_dir)).config()
    except (OSError, ValueError, UserError):  # an unreadable config simply has no teacher to offer
        return ""
    return str(config.method_options.get("teacher", "")) if config.method == "distill" else ""


class CompressionPanel(QWidget):
    """Teacher field, INT8 option, "Compare with teacher" and the report of the chosen run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_dir = ""
        self.teacher = line_edit(
            "teacher run folder or .onnx file",
            "The model the run is compared with; a distilled run's own teacher by default.",
        )
        self.int8 = tipped(
            QCheckBox("with INT8 copies"), "Also quantize teacher and student to INT8 and measure those."
        )
        self.compare = button(
            "Compare with teacher",
            "Accuracy, parameters, ONNX size and latency of the run beside its teacher.",
            self.start,
        )
        self.status = QLabel("")
        self.view = CompressionReportView()
        self.runner = JobRunner(
            self,
            finished=self._on_finished,
            failed=self._on_failed,
            running_changed=lambda running: self.compare.setEnabled(not running),
        )
        pane(hbox("Teacher:", self.teacher, self.int8, self.compare), self.status, self.view, into=self)

    def set_run(self, run_dir: str) -> None:
        """Show `run_dir`'s saved report (if any) and offer its teacher."""
        self.run_dir = run_dir
        self.teacher.setText(teacher_of(run_dir) if run_dir else "")
        self.status.setText("")
        if not run_dir or not self.view.load(Path(run_dir) / "exports" / REPORT_NAME):
            self.view.set_report(None)

    def start(self) -> bool:
        from engine.deploy.compression import CompressConfig
        from engine.jobs.compress import JOB

        teacher = self.teacher.text().strip()
        if not self.run_dir or not teacher:
            errors.show_error(self, "Choose a run, and its teacher (a run folder or an .onnx file), to compare them.")
            return False
        self.status.setText("Exporting and measuring both models…")
        self.runner.run_job(
            JOB, CompressConfig(run_dir=Path(self.run_dir), teacher=Path(teacher), int8=self.int8.isChecked())
        )
        return True

    def busy(self) -> bool:
        return self.runner.running

    def shutdown(self) -> None:
        self.runner.stop_and_wait()

    def _on_finished(self, report: object) -> None:
        from engine.jobs.compress import CompressReport

        if isinstance(report, CompressReport):
            self.view.set_report(report.model_dump(mode="json"))
            self.status.setText(f"Report written to {report.path}")

    def _on_failed(self, message: str, details: str) -> None:
        self.status.setText("The comparison failed.")
        errors.show_error(self, message, details)
