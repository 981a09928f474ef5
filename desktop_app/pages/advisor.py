"""Advisor page: which transfer method, with which weight, for this source and target, without
target labels. One click measures the shift, trains the candidates (each a normal run on the
Runs page) within the time budget, and fills the table live as each finishes; Stop keeps what
finished and Resume continues; "Train the recommended" trains the pick in full.

The work is the engine's advise job (engine.jobs.advise); the table reads the advice's state
file (advice.json) each time a candidate finishes, so it shows exactly what a resume would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.jobs import JobRunner
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.advice_table import AdviceTable
from desktop_app.widgets.form_utils import LABELLED_HINT, button, folder_edit, form, hbox, headline, label, spin
from engine.advisor.advice import load_state
from engine.advisor.candidates import DEFAULT_METHODS, SENSITIVE, SOURCE_ONLY
from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.core.events import Event, Finished, Log
from engine.jobs import advise, train
from engine.jobs.advise import AdviseConfig, AdviseReport
from engine.jobs.train import TrainReport, TrainRequest

METHOD_CHOICES = [SOURCE_ONLY, "adabn", *SENSITIVE]


class AdvisorPage(JobPage):
    """Folders, methods and budget; Advise; the table fills live; Train the recommended.
    Signals: `table_updated(int)` (rows now shown), `trained(TrainReport)`."""

    title = "Advisor"
    icon = "SP_MessageBoxQuestion"
    job = advise.JOB
    run_text, run_tip = "Advise", "Measure the shift, train the candidates within the budget and rank them."
    stop_tip = "Stop the advice: finished candidates are kept, Resume continues."
    running_text, failed_text, log_to_status = "Advising...", "The advice failed.", True
    table_updated = Signal(int)
    trained = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.advice_dir = ""
        self.edits: dict[str, QLineEdit] = {}
        self.browse: dict[str, QPushButton] = {}
        for role, tip in (
            ("source", "Labelled source folder (one sub-folder per class)."),
            ("target", "Target folder: unlabelled images are enough."),
            ("target_test", "Optional labelled target folder: its accuracy is shown as a check, never used to choose."),
        ):
            hint = "Unlabelled images (or class sub-folders)" if role == "target" else LABELLED_HINT
            self.edits[role], self.browse[role] = folder_edit(tip, hint)
            self.browse[role].clicked.connect(lambda _=False, r=role: self._on_browse(r))
        self.methods = QListWidget()
        self.methods.setToolTip("Methods to try; source-only fine-tuning is always tried (it measures the shift).")
        for name in METHOD_CHOICES:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in DEFAULT_METHODS else Qt.CheckState.Unchecked)
            self.methods.addItem(item)
        self.methods.setMaximumHeight(140)
        self.budget = QDoubleSpinBox()
        self.budget.setRange(0.1, 100_000)
        self.budget.setValue(30.0)
        self.budget.setSuffix(" min")
        self.budget.setToolTip("Time for the whole advice; too small for one candidate is refused.")
        self.grid_points = spin(1, 3, 2, "Values of each method's most sensitive setting to try.")
        self.min_epochs = spin(1, 1000, 2, "Epochs of every candidate's first run.")
        self.max_epochs = spin(1, 10_000, 8, "Longest run successive halving may give the best ones.")
        self.full_epochs = spin(1, 10_000, 10, "Epochs of 'Train the recommended'.")
        self.resume_button = button(
            "Resume", "Continue the stopped advice where it stopped.", self.resume, enabled=False
        )
        self.train_button = button(
            "Train the recommended",
            "Train the recommended candidate in full (a new run).",
            self.train_recommended,
            enabled=False,
        )
        self.shift_label = label("Shift: –")
        self.answer = headline("Recommendation: –", scale=1.0)
        self.table = AdviceTable()
        self.train_runner = JobRunner(self, finished=self._on_trained, failed=self._on_train_failed)
        self._build_layout()
        state.folders_changed.connect(self._apply_folders)
        self._apply_folders()

    def _build_layout(self) -> None:
        folders = [
            (text, hbox(self.edits[role], self.browse[role]))
            for role, text in (("source", "Source:"), ("target", "Target:"), ("target_test", "Target test:"))
        ]
        plan_parts = ("Budget", self.budget, "grid", self.grid_points, "epochs from", self.min_epochs)
        plan = hbox(*plan_parts, "to", self.max_epochs, "full run", self.full_epochs, None)
        layout = QVBoxLayout(self)
        layout.addLayout(form(*folders, ("Methods:", self.methods), ("Plan:", plan)))
        layout.addLayout(self.action_row(self.resume_button, self.train_button))
        layout.addWidget(self.shift_label)
        layout.addWidget(self.answer)
        layout.addWidget(self.table, 1)

    # ------------------------------------------------------------------ inputs
    def _apply_folders(self) -> None:
        for role in ("source", "target", "target_test"):
            value = str(getattr(self.state, role, "") or "")
            if value and not self.edits[role].text().strip():
                self.edits[role].setText(value)

    def _on_browse(self, role: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Choose the {role.replace('_', ' ')} folder")
        if folder:
            self.edits[role].setText(folder)

    def set_methods(self, names: list[str]) -> None:
        for i in range(self.methods.count()):
            item = self.methods.item(i)
            item.setCheckState(Qt.CheckState.Checked if item.text() in names else Qt.CheckState.Unchecked)

    def chosen_methods(self) -> list[str]:
        items = [self.methods.item(i) for i in range(self.methods.count())]
        return [it.text() for it in items if it.checkState() == Qt.CheckState.Checked]

    def set_inputs_enabled(self, enabled: bool) -> None:
        widgets: list[QWidget] = [*self.edits.values(), *self.browse.values(), self.methods, self.budget]
        widgets += [self.grid_points, self.min_epochs, self.max_epochs, self.full_epochs]
        for w in widgets:
            w.setEnabled(enabled)
        self.resume_button.setEnabled(enabled and self._resumable())
        self.train_button.setEnabled(enabled and self._recommended_config() is not None)

    def make_config(self) -> BaseModel | None:
        source, target = self.edits["source"].text().strip(), self.edits["target"].text().strip()
        test = self.edits["target_test"].text().strip()
        problem = ""
        if not source or not Path(source).is_dir():
            problem = f"Choose the labelled source folder{f' ({source}: no such folder)' if source else ''}."
        elif not target or not Path(target).is_dir():
            problem = f"Choose the target folder{f' ({target}: no such folder)' if target else ''}; unlabelled images are fine."
        elif test and not Path(test).is_dir():
            problem = f"{test}: no such folder. Clear the target test field or choose a labelled folder."
        elif self.min_epochs.value() > self.max_epochs.value():
            problem = "The shortest run has more epochs than the longest: lower 'epochs from' or raise 'to'."
        if problem:
            errors.show_error(self, problem)
            return None
        self.advice_dir = ""
        return AdviseConfig(
            source=Path(source),
            target=Path(target),
            target_test=Path(test) if test else None,
            methods=self.chosen_methods() or [SOURCE_ONLY],
            grid_points=self.grid_points.value(),
            budget_minutes=self.budget.value(),
            min_epochs=self.min_epochs.value(),
            max_epochs=self.max_epochs.value(),
            full_epochs=self.full_epochs.value(),
            runs_dir=self.state.runs_dir,
        )

    # ------------------------------------------------------------------ live table
    def on_event(self, event: Event) -> None:
        if isinstance(event, Log) and event.message.startswith("Advice folder: "):
            self.advice_dir = event.message.removeprefix("Advice folder: ")
        if isinstance(event, Finished) and event.job == "advise-candidate":
            self.advice_dir = event.run_dir
            self.refresh_table()
            self.state.runs_updated.emit()

    def refresh_table(self) -> None:
        if not self.advice_dir:
            return
        try:
            state = load_state(self.advice_dir)
        except UserError:
            return
        check = bool(state.config.get("target_test"))
        self.table.set_entries(state.entries, check)
        if state.shift is not None:
            self.shift_label.setText(f"Shift: {state.shift.message}")
        self.table_updated.emit(self.table.row_count())

    def show_report(self, report: AdviseReport) -> None:
        self.advice_dir = report.advice_dir
        self.table.set_entries(report.candidates, any("target_acc" in e.scores for e in report.candidates))
        self.table_updated.emit(self.table.row_count())
        self.shift_label.setText(f"Shift: {report.shift.message}" if report.shift else "Shift: –")
        self.answer.setText(report.message + "".join(f"\nWarning: {w}" for w in report.warnings))
        self.status.setText(
            "Stopped: Resume continues." if report.stopped else f"Done in {report.elapsed_s / 60:.1f} min."
        )
        self.resume_button.setEnabled(report.stopped)
        self.train_button.setEnabled(report.recommended_config is not None and not report.stopped)
        self.state.runs_updated.emit()

    def _resumable(self) -> bool:
        return isinstance(self.report, AdviseReport) and self.report.stopped

    def _recommended_config(self) -> dict[str, Any] | None:
        if isinstance(self.report, AdviseReport) and not self.report.stopped:
            return self.report.recommended_config
        return None

    # ------------------------------------------------------------------ resume and train
    def resume(self) -> bool:
        if self.runner.running or not self.advice_dir:
            return False
        self.start_config(AdviseConfig(resume=Path(self.advice_dir)))
        return True

    def train_recommended(self) -> bool:
        config = self._recommended_config()
        if config is None or self.train_runner.running:
            return False
        self.train_button.setEnabled(False)
        self.status.setText(f"Training the recommended ({config['method']}, {config['epochs']} epochs)...")
        self.train_runner.run_job(train.JOB, TrainRequest(config=TrainConfig.model_validate(config)))
        return True

    def _on_trained(self, report: TrainReport) -> None:
        self.status.setText(f"The recommended run {report.status}: {Path(report.run_dir).name}.")
        self.train_button.setEnabled(True)
        self.state.set_run(report.run_dir)
        self.state.runs_updated.emit()
        self.trained.emit(report)

    def _on_train_failed(self, message: str, details: str) -> None:
        self.train_button.setEnabled(True)
        self.status.setText("Training the recommended failed.")
        errors.show_error(self, message, details)

    def busy(self) -> bool:
        return super().busy() or self.train_runner.running

    def shutdown(self) -> None:
        super().shutdown()
        self.train_runner.stop_and_wait()
