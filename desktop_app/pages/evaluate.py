"""Evaluate page: measure a run on a labelled folder; accuracy, confusion matrix, per-class table
and a gallery of the misclassified images.

The measurement is engine.analysis.evaluate.evaluate_run in a JobRunner; engine.analysis.evaluate imports torch,
so it is imported inside the job, never by this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.jobs import JobRunner
from desktop_app.pages.base import Page
from desktop_app.pages.runs import RunChooser, show_error
from desktop_app.state import AppState
from desktop_app.widgets.confusion_matrix import ConfusionMatrixView
from desktop_app.widgets.gallery import Gallery, GalleryItem
from desktop_app.widgets.table_utils import SortItem, fill_table, fmt_percent, make_table
from engine.core.events import Log
from engine.core.runs import Run


def evaluate_job(emit: Any, control: Any, run_dir: str, data: str, checkpoint: str) -> dict[str, Any]:
    """JobRunner job: evaluate_run on `data` (imports torch, so only ever runs in the worker thread)."""
    from engine.analysis.evaluate import EvaluateConfig, evaluate_run

    return evaluate_run(EvaluateConfig(run_dir=Path(run_dir), data=Path(data), checkpoint=checkpoint), emit, control)


def misclassified_items(report: dict[str, Any]) -> list[GalleryItem]:
    """Gallery entries for the report's misclassified images, most confident mistakes first."""
    wrong = sorted(report.get("misclassified", []), key=lambda m: -float(m.get("confidence", 0.0)))
    items = []
    for m in wrong:
        caption = f"true {m['true']} / predicted {m['predicted']} ({m['confidence']:.2f})"
        items.append(GalleryItem(m["path"], caption, f"{m['path']}\n{caption}"))
    return items


class EvaluatePage(Page):
    """Choose run, folder and checkpoint; Evaluate; read the results. Signal `evaluated(dict)`."""

    title = "Evaluate"
    icon = "SP_DialogApplyButton"
    evaluated = Signal(object)  # the evaluate_run report (dict)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.report: dict[str, Any] | None = None
        self._data_edited = False
        self._stopping = False
        self.runner = JobRunner(self)
        self.run_chooser = RunChooser(state)
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("A labelled folder: one sub-folder of images per class")
        self.data_edit.setToolTip(
            "Labelled images to measure on (class sub-folders named like the run's classes). "
            "Defaults to the target test folder."
        )
        self.data_browse = QPushButton("Browse...")
        self.data_browse.setToolTip("Choose the labelled folder.")
        self.checkpoint = QComboBox()
        self.checkpoint.addItem("best", "best")
        self.checkpoint.addItem("last", "last")
        self.checkpoint.setToolTip("best: the checkpoint the run selected as best; last: the latest epoch's weights.")
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Measure the run's model on the folder (runs in the background).")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the evaluation.")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(200)
        self.progress.setVisible(False)
        self.status = QLabel()
        self.accuracy_label = QLabel("Accuracy: –")
        font = self.accuracy_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        font.setBold(True)
        self.accuracy_label.setFont(font)
        self.matrix = ConfusionMatrixView()
        self.table = make_table(["Class", "Precision", "Recall", "Support"], sort_column=0)
        self.table.setMinimumWidth(330)
        self.table.setToolTip(
            "Precision: share of the images predicted as the class that are right. "
            "Recall: share of the class's images found. Support: images of the class."
        )
        self.gallery_label = QLabel("Misclassified images")
        self.gallery = Gallery()
        self.gallery.setToolTip("Misclassified images, most confident mistakes first. Click one to enlarge it.")
        self._build_layout()
        self.run_chooser.changed.connect(self._on_run_chosen)
        self.data_edit.textEdited.connect(self._on_data_edited)
        self.data_browse.clicked.connect(self._on_browse_data)
        self.evaluate_button.clicked.connect(self.evaluate)
        self.stop_button.clicked.connect(self._on_stop)
        self.runner.events.connect(self._on_events)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.running_changed.connect(self._on_running_changed)
        state.run_changed.connect(self._on_state_run_changed)
        state.folders_changed.connect(self._on_folders_changed)
        state.runs_updated.connect(self._on_runs_updated)
        self._apply_default_data()

    def _build_layout(self) -> None:
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_edit, 1)
        data_row.addWidget(self.data_browse)
        form = QFormLayout()
        form.addRow("Run:", self.run_chooser)
        form.addRow("Images:", data_row)
        form.addRow("Checkpoint:", self.checkpoint)
        actions = QHBoxLayout()
        actions.addWidget(self.evaluate_button)
        actions.addWidget(self.stop_button)
        actions.addWidget(self.progress)
        actions.addWidget(self.status, 1)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.matrix)
        top.addWidget(self.table)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.gallery_label)
        bottom_layout.addWidget(self.gallery)
        results = QSplitter(Qt.Orientation.Vertical)
        results.addWidget(top)
        results.addWidget(bottom)
        results.setStretchFactor(0, 3)
        results.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(actions)
        layout.addWidget(self.accuracy_label)
        layout.addWidget(results, 1)

    # ------------------------------------------------------------------ public API
    def on_shown(self) -> None:
        if not self.runner.running:
            self.run_chooser.refresh()
        self._apply_default_data()

    def busy(self) -> bool:
        return self.runner.running

    def shutdown(self) -> None:
        self.runner.stop_and_wait()
        self.gallery.shutdown()

    def set_run(self, run_dir: str) -> None:
        self.run_chooser.set_run_dir(run_dir)

    def set_data(self, folder: str) -> None:
        """Use `folder` as the labelled images (counts as the user's choice: defaults no longer replace it)."""
        self.data_edit.setText(folder)
        self._data_edited = bool(folder)

    def set_checkpoint(self, which: str) -> None:
        self.checkpoint.setCurrentIndex(max(0, self.checkpoint.findData(which)))

    def evaluate(self) -> bool:
        """Start the evaluation; False (with an error dialog) when run or folder is missing."""
        if self.runner.running:
            return False
        run_dir, data = self.run_chooser.run_dir(), self.data_edit.text().strip()
        if not run_dir:
            show_error(self, "Choose a run to evaluate (train one on the Train page, or Browse... for a run folder).")
            return False
        if not data:
            show_error(self, "Choose a labelled folder to evaluate on (one sub-folder of images per class).")
            return False
        if not Path(data).is_dir():
            show_error(self, f"{data}: no such folder. Choose a labelled folder (one sub-folder of images per class).")
            return False
        self._stopping = False
        self.status.setText("Evaluating...")
        self.runner.start(evaluate_job, run_dir, data, self.checkpoint.currentData())
        return True

    # ------------------------------------------------------------------ results
    def show_report(self, report: dict[str, Any]) -> None:
        """Fill accuracy, matrix, table and gallery from an evaluate_run report."""
        self.report = report
        n, wrong = int(report.get("n", 0)), report.get("misclassified", [])
        checkpoint = Path(str(report.get("checkpoint", ""))).stem or self.checkpoint.currentData()
        self.accuracy_label.setText(
            f"Accuracy: {fmt_percent(report.get('accuracy'))}  on {n} images ({checkpoint} checkpoint)"
        )
        self.matrix.set_matrix(report.get("confusion_matrix", []), report.get("classes", []))
        rows = []
        for index, row in enumerate(report.get("per_class", [])):
            rows.append(
                [
                    SortItem(str(row["class"]), index),  # sorts in the model's class order
                    SortItem(fmt_percent(row.get("precision")), row.get("precision")),
                    SortItem(fmt_percent(row.get("recall")), row.get("recall")),
                    SortItem(str(row.get("support", 0)), row.get("support", 0)),
                ]
            )
        fill_table(self.table, rows)
        items = misclassified_items(report)
        self.gallery.set_items(items)
        shown = (
            "" if len(items) <= self.gallery.max_items else f" (showing the {self.gallery.max_items} most confident)"
        )
        self.gallery_label.setText(f"Misclassified: {len(wrong)} of {n} images{shown}. Click one to enlarge it.")
        skipped = report.get("skipped", [])
        text = f"Done: {n} images."
        if skipped:
            text += f" {len(skipped)} unreadable file(s) skipped."
            self.status.setToolTip("\n".join(f"{s['path']}: {s['reason']}" for s in skipped[:30]))
        self.status.setText(text)

    # ------------------------------------------------------------------ slots
    def _apply_default_data(self) -> None:
        if self._data_edited:
            return
        folder = self.state.target_test
        if not folder and self.run_chooser.run_dir():
            folder = str(Run(Path(self.run_chooser.run_dir())).info().get("target_test", ""))
        self.data_edit.setText(folder)

    def _on_data_edited(self, text: str) -> None:
        self._data_edited = bool(text.strip())

    def _on_browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a labelled folder", self.data_edit.text())
        if folder:
            self.set_data(folder)

    def _on_run_chosen(self, _run_dir: str) -> None:
        self._apply_default_data()

    def _on_state_run_changed(self, run_dir: str) -> None:
        if run_dir and not self.runner.running:
            self.run_chooser.set_run_dir(run_dir)

    def _on_runs_updated(self) -> None:
        if not self.runner.running:
            self.run_chooser.refresh()

    def _on_folders_changed(self) -> None:
        self._apply_default_data()

    def stop(self) -> None:
        """Stop a running evaluation (the main window's Stop action calls this)."""
        if self.runner.running:
            self._stopping = True
            self.status.setText("Stopping...")
            self.runner.stop()

    def _on_stop(self) -> None:
        self.stop()

    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, Log):
                self.status.setText(event.message)

    def _on_finished(self, report: dict[str, Any]) -> None:
        self.show_report(report)
        self.evaluated.emit(report)

    def _on_failed(self, message: str, details: str) -> None:
        if self._stopping:
            self.status.setText("Stopped.")
            return
        self.status.setText("Evaluation failed.")
        show_error(self, message, details)

    def _on_running_changed(self, running: bool) -> None:
        self.evaluate_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for widget in (self.run_chooser, self.data_edit, self.data_browse, self.checkpoint):
            widget.setEnabled(not running)
        self.progress.setRange(0, 0 if running else 1)
        self.progress.setVisible(running)
