"""Evaluate page: measure a run on a labelled folder; accuracy, confusion matrix, per-class table
and a gallery of the misclassified images.

The measurement is the engine's evaluate job (engine.jobs.evaluate), run by the JobPage base.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.confusion_matrix import ConfusionMatrixView
from desktop_app.widgets.form_utils import button, folder_edit, form, hbox, headline, pane, splitter, tipped
from desktop_app.widgets.gallery import Gallery, GalleryItem
from desktop_app.widgets.table_utils import SortItem, fill_table, fmt_percent, make_table
from desktop_app.widgets.why_panel import WhyPanel
from engine.core.runs import Run
from engine.jobs import evaluate
from engine.jobs.evaluate import EvaluateConfig, EvaluateReport, Misclassified, TaskReport


def checkpoint_name(path: str) -> str:
    """'best' or 'last' from the checkpoint file the evaluation used (best when unknown)."""
    stem = Path(path).stem
    return stem if stem in ("best", "last") else "best"


def most_confident_mistakes(report: TaskReport) -> list[Misclassified]:
    return sorted(report.misclassified, key=lambda m: -m.confidence)


def misclassified_items(report: TaskReport) -> list[GalleryItem]:
    """Gallery entries for the report's misclassified images, most confident mistakes first."""
    mistakes = most_confident_mistakes(report)
    captions = [f"true {m.true} / predicted {m.predicted} ({m.confidence:.2f})" for m in mistakes]
    return [GalleryItem(m.path, c, f"{m.path}\n{c}") for m, c in zip(mistakes, captions, strict=True)]


class EvaluatePage(JobPage):
    """Choose run, folder and checkpoint; Evaluate; read the results. Signal `evaluated(EvaluateReport)`."""

    title = "Evaluate"
    icon = "SP_DialogApplyButton"
    job = evaluate.JOB
    run_text, run_tip = "Evaluate", "Measure the run's model on the folder (runs in the background)."
    stop_tip, running_text, failed_text = "Stop the evaluation.", "Evaluating...", "Evaluation failed."
    uses_run, log_to_status = True, True
    evaluated = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._data_edited = False
        self.evaluate_button = self.run_button
        self.data_edit, self.data_browse = folder_edit(
            "Labelled images to measure on (class sub-folders named like the run's classes). "
            "Defaults to the target test folder."
        )
        self.accuracy_label = headline("Accuracy: –", scale=1.6)
        self.accuracy_label.setWordWrap(False)
        self.task_combo = tipped(  # a multitask run: whose figures are shown
            QComboBox(), "A multitask run is measured on every task; choose the task to show."
        )
        self.task_label = QLabel("Task:")
        for w in (self.task_combo, self.task_label):
            w.setVisible(False)
        self.zero_shot_label = QLabel("")  # a zero-shot run: seen and unseen accuracy and H
        self.zero_shot_label.setVisible(False)
        self.zero_shot_label.setToolTip(
            "Generalised zero-shot: every class competes. Seen and unseen accuracy are per-class means; "
            "H is their harmonic mean, high only when both are."
        )
        self.matrix = ConfusionMatrixView()
        self.table = make_table(["Class", "Precision", "Recall", "Support"], sort_column=0)
        self.table.setMinimumWidth(330)
        self.table.setToolTip(
            "Precision: share of the images predicted as the class that are right. "
            "Recall: share of the class's images found. Support: images of the class."
        )
        self.gallery_label = QLabel("Misclassified images")
        self.show_all_button = button(
            "Show all mistakes",
            "Undo the filter set by clicking a cell of the confusion matrix.",
            lambda: self.filter_cell(-1, -1),
        )
        self.show_all_button.setVisible(False)
        self.save_button = button(
            "Save report...",
            "Save the whole result (accuracy, per-class scores, matrix, mistakes) as JSON.",
            self._on_save,
            enabled=False,
        )
        self.cell_filter: tuple[str, str] | None = None  # (true, predicted) shown in the gallery
        self.gallery = Gallery()
        self.gallery.setToolTip("Misclassified images, most confident mistakes first. Click one to enlarge it.")
        self.why: WhyPanel | None = None  # the "Why?" toggle on the enlarged mistake
        self._report: EvaluateReport | None = None
        self._shown_mistakes: list[Misclassified] = []
        self._build_layout()
        self.gallery.item_activated.connect(self._add_why)
        self.run_chooser.changed.connect(lambda _: self._apply_default_data())
        self.data_edit.textEdited.connect(lambda text: setattr(self, "_data_edited", bool(text.strip())))
        self.data_browse.clicked.connect(self._on_browse_data)
        self.matrix.cell_clicked.connect(self.filter_cell)
        self.task_combo.currentTextChanged.connect(lambda _: self.show_task())
        state.folders_changed.connect(self._apply_default_data)
        self._apply_default_data()

    def _build_layout(self) -> None:
        settings = form(
            ("Run:", self.run_chooser),
            ("Images:", hbox(self.data_edit, self.data_browse)),
            ("Checkpoint:", self.checkpoint),
        )
        top = splitter(Qt.Orientation.Horizontal, self.matrix, self.table)
        bottom = pane(hbox((self.gallery_label, 1), self.show_all_button), self.gallery)
        layout = QVBoxLayout(self)
        layout.addLayout(settings)
        layout.addLayout(self.action_row(self.save_button))
        layout.addLayout(hbox((self.accuracy_label, 1), self.task_label, self.task_combo))
        layout.addWidget(self.zero_shot_label)
        layout.addWidget(splitter(Qt.Orientation.Vertical, top, bottom), 1)

    # ------------------------------------------------------------------ public API
    def on_shown(self) -> None:
        super().on_shown()
        self._apply_default_data()

    def shutdown(self) -> None:
        super().shutdown()
        self.gallery.shutdown()
        if self.why is not None:
            self.why.shutdown()

    def set_data(self, folder: str) -> None:
        """Use `folder` as the labelled images (counts as the user's choice: defaults no longer replace it)."""
        self.data_edit.setText(folder)
        self._data_edited = bool(folder)

    def evaluate(self) -> bool:
        """Start the evaluation; False (with an error dialog) when run or folder is missing."""
        return self.start()

    def make_config(self) -> BaseModel | None:
        run_dir, data = self.chosen_run(), self.data_edit.text().strip()
        problem = ""
        if not run_dir:
            problem = "Choose a run to evaluate (train one on the Train page, or Browse... for a run folder)."
        elif not data:
            problem = "Choose a labelled folder to evaluate on (one sub-folder of images per class)."
        elif not Path(data).is_dir():
            problem = f"{data}: no such folder. Choose a labelled folder (one sub-folder of images per class)."
        if problem:
            errors.show_error(self, problem)
            return None
        return EvaluateConfig(run_dir=Path(run_dir), data=Path(data), checkpoint=self.checkpoint_choice())

    def set_inputs_enabled(self, enabled: bool) -> None:
        for widget in (self.data_edit, self.data_browse):
            widget.setEnabled(enabled)

    # ------------------------------------------------------------------ results
    def show_report(self, report: EvaluateReport) -> None:
        """Fill accuracy, matrix, table and gallery from the evaluate job's report."""
        self._report = report
        zs = report.zero_shot
        if zs is not None:
            c, u = zs.calibrated, zs.uncalibrated
            self.zero_shot_label.setText(
                f"Zero-shot (unseen: {', '.join(zs.unseen_classes)}): seen {fmt_percent(c.seen_acc)} · "
                f"unseen {fmt_percent(c.unseen_acc)} · H {fmt_percent(c.h)}   "
                f"(without calibration: seen {fmt_percent(u.seen_acc)} · unseen {fmt_percent(u.unseen_acc)} · "
                f"H {fmt_percent(u.h)})"
            )
        self.zero_shot_label.setVisible(zs is not None)
        with QSignalBlocker(self.task_combo):
            self.task_combo.clear()
            self.task_combo.addItems(list(report.tasks))
        for w in (self.task_combo, self.task_label):
            w.setVisible(bool(report.tasks))
        self.save_button.setEnabled(True)
        self.show_task()
        text = f"Done: {report.n} images."
        if report.skipped:
            text += f" {len(report.skipped)} unreadable file(s) skipped."
            self.status.setToolTip("\n".join(f"{s.path}: {s.reason}" for s in report.skipped[:30]))
        self.status.setText(text)
        self.evaluated.emit(report)

    def figures(self) -> TaskReport | None:
        """The figures shown: the report's, or the chosen task's for a multitask run."""
        report = self.report
        if not isinstance(report, EvaluateReport):
            return None
        return report.tasks.get(self.task_combo.currentText(), report) if report.tasks else report

    def show_task(self, task: str = "") -> None:
        """Show the figures of `task` (a multitask run; the chosen one when empty)."""
        if task:
            self.task_combo.setCurrentText(task)
        r = self.figures()
        if r is None:
            return
        checkpoint = Path(self._report.checkpoint).stem if self._report else self.checkpoint_choice()
        task_text = f", task {self.task_combo.currentText()}" if self.task_combo.isVisible() else ""
        self.accuracy_label.setText(
            f"Accuracy: {fmt_percent(r.accuracy)}  on {r.n} images ({checkpoint or 'best'} checkpoint{task_text})"
        )
        self.matrix.set_matrix(r.confusion_matrix, r.classes)
        rows = [
            [
                SortItem(row.name, index),  # sorts in the model's class order
                SortItem(fmt_percent(row.precision), row.precision),
                SortItem(fmt_percent(row.recall), row.recall),
                SortItem(str(row.support), row.support),
            ]
            for index, row in enumerate(r.per_class)
        ]
        fill_table(self.table, rows)
        self.cell_filter = None
        self._fill_gallery(r)

    def filter_cell(self, true_index: int, predicted_index: int) -> None:
        """Show only the images of one matrix cell in the gallery (a negative index: all mistakes)."""
        report = self.figures()
        if report is None:
            return
        classes = report.classes
        inside = 0 <= true_index < len(classes) and 0 <= predicted_index < len(classes)
        self.cell_filter = (classes[true_index], classes[predicted_index]) if inside else None
        self._fill_gallery(report)

    def _fill_gallery(self, report: TaskReport) -> None:
        mistakes = report.misclassified
        if self.cell_filter is not None:
            true, predicted = self.cell_filter
            mistakes = [m for m in mistakes if m.true == true and m.predicted == predicted]
        subset = report.model_copy(update={"misclassified": mistakes})
        self._shown_mistakes = most_confident_mistakes(subset)  # in the gallery's order ("Why?" reads it)
        items = misclassified_items(subset)
        self.gallery.set_items(items)
        shown = (
            "" if len(items) <= self.gallery.max_items else f" (showing the {self.gallery.max_items} most confident)"
        )
        if self.cell_filter is None:
            text = f"Misclassified: {len(report.misclassified)} of {report.n} images{shown}."
            text += " Click one to enlarge it, or a cell of the matrix to see only its images."
        elif self.cell_filter[0] == self.cell_filter[1]:
            text = f"True {self.cell_filter[0]}, predicted {self.cell_filter[1]}: right, so no mistakes to show."
        else:
            text = f"True {self.cell_filter[0]}, predicted {self.cell_filter[1]}: {len(items)} image(s){shown}."
        self.gallery_label.setText(text)
        self.show_all_button.setVisible(self.cell_filter is not None)

    def save_report(self, path: str) -> bool:
        """Write the last report as JSON (the CLI's `evaluate --json` format), atomically."""
        from engine.core.fsutil import atomic_write_json

        if not isinstance(self.report, EvaluateReport):
            return False
        try:
            atomic_write_json(Path(path), self.report.model_dump(mode="json", by_alias=True))
        except OSError as err:
            errors.show_error(self, f"{path}: could not write the report ({err.strerror or err}).")
            return False
        self.status.setText(f"Saved the report to {path}")
        return True

    def _on_save(self) -> None:
        if not isinstance(self.report, EvaluateReport):
            return
        default = Path(self.report.run_dir) / f"evaluate_{Path(self.report.data).name}.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save the evaluation report", str(default), "JSON (*.json)")
        if path:
            self.save_report(path if path.lower().endswith(".json") else path + ".json")

    # ------------------------------------------------------------------ slots
    def _add_why(self, index: int) -> None:
        """Put a "Why?" toggle under the enlarged mistake: maps for its predicted and its true class."""
        dialog, report = self.gallery.dialog, self._report
        if dialog is None or report is None:
            return
        if not 0 <= index < len(self._shown_mistakes):
            return
        mistake = self._shown_mistakes[index]
        if self.why is not None:
            self.why.shutdown()
        self.why = WhyPanel(dialog)
        self.why.set_subject(
            report.run_dir, mistake.path, mistake.predicted, mistake.true, checkpoint=checkpoint_name(report.checkpoint)
        )
        layout = dialog.layout()
        if isinstance(layout, QVBoxLayout):  # ImageDialog's: picture, caption, path, buttons
            layout.insertWidget(layout.count() - 1, self.why)
            self.why.show()  # added to a dialog already on screen

    def _apply_default_data(self) -> None:
        if self._data_edited:
            return
        folder = self.state.target_test
        if not folder and self.chosen_run():
            folder = str(Run(Path(self.chosen_run())).info().get("target_test", ""))
        self.data_edit.setText(folder)

    def _on_browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a labelled folder", self.data_edit.text())
        if folder:
            self.set_data(folder)
