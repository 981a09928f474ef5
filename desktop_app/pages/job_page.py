"""JobPage: the base of every page that runs an engine job (engine.jobs).

It owns what every such page had copied: the JobRunner, the Run and Stop buttons, the progress
bar and status line, the run chooser and checkpoint combo (for pages that load a run's model),
the busy state, the failure dialog and the shutdown on window close. A page supplies only
`make_config` (its settings as the job's config, or None after telling the user what is
missing), `show_report` (the job's typed report) and the widgets in between. In the spirit of
napari's QtLayerControls: one base owns the plumbing, subclasses own the content.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QWidget

from desktop_app import errors
from desktop_app.jobs import JobRunner
from desktop_app.pages.base import Page
from desktop_app.state import AppState
from desktop_app.widgets.form_utils import button, label
from desktop_app.widgets.run_chooser import RunChooser, checkpoint_combo
from engine.core.events import Event, Log, Progress, Stage, Started
from engine.data.stage_progress import describe
from engine.jobs.job import Job


class JobPage(Page):
    """A page that runs one engine job. Class settings: `job`, `run_text`/`run_tip` (the Run
    button), `stop_tip`, `can_stop` (False hides Stop, for a job too short to stop half-way),
    `running_text` (status while it runs), `failed_text`, `uses_run` (make a run chooser and a
    checkpoint combo) and `log_to_status` (show the job's Log lines)."""

    job: ClassVar[Job[Any, Any]]
    run_text: ClassVar[str] = "Run"
    run_tip: ClassVar[str] = "Start (runs in the background)."
    stop_tip: ClassVar[str] = "Stop the job."
    can_stop: ClassVar[bool] = True
    running_text: ClassVar[str] = "Running..."
    failed_text: ClassVar[str] = "Failed."
    uses_run: ClassVar[bool] = False
    log_to_status: ClassVar[bool] = False
    finished = Signal(object)  # the job's report, once shown

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.report: BaseModel | None = None
        self._stopping = False
        self.runner = JobRunner(
            self,
            events=self._on_events,
            finished=self._on_finished,
            failed=self._on_failed,
            running_changed=self._on_running_changed,
        )
        self.run_button = button(self.run_text, self.run_tip, self.start)
        self.stop_button = button("Stop", self.stop_tip, self.stop, enabled=False)
        if not self.can_stop:  # hidden before the page lays it out (a parentless widget shown is a window)
            self.stop_button.hide()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setMaximumWidth(240)
        self._step_format: str | None = None  # the page's bar format, kept while a stage shows its own
        self.progress.setVisible(False)
        self.status = label()
        self.run_chooser = RunChooser(state, self)
        self.checkpoint = checkpoint_combo(self)
        if self.uses_run:
            state.run_changed.connect(self._on_state_run_changed)
            state.runs_updated.connect(self._on_runs_updated)
        else:  # made anyway so every page has the same attributes; never shown
            self.run_chooser.hide()
            self.checkpoint.hide()

    # ------------------------------------------------------------------ what a page supplies
    def make_config(self) -> BaseModel | None:
        """The job's config from the page's widgets; None (after `errors.show_error`) when something is missing."""
        raise NotImplementedError

    def show_report(self, report: Any) -> None:
        """Show the job's report (an instance of `job.report`)."""
        raise NotImplementedError

    def set_inputs_enabled(self, enabled: bool) -> None:
        """Enable or disable the page's own settings widgets (off while the job runs)."""

    def on_events(self, events: list[Event]) -> None:
        """A batch of events (at most 20 batches a second); by default each goes to `on_event`."""
        for event in events:
            self.on_event(event)

    def on_event(self, event: Event) -> None:
        """One event of the running job, after the base has updated progress and status."""

    def on_failed(self, message: str) -> None:
        """The job failed (not stopped); the base then shows the error dialog."""

    # ------------------------------------------------------------------ the base's API
    def action_row(self, *extra: QWidget) -> QHBoxLayout:
        """Run, Stop, the progress bar, `extra` widgets and the status line, side by side."""
        row = QHBoxLayout()
        for w in (self.run_button, self.stop_button, self.progress, *extra):
            row.addWidget(w)
        row.addWidget(self.status, 1)
        return row

    def chosen_run(self) -> str:
        """The run directory chosen in the run chooser ("" when none)."""
        return self.run_chooser.run_dir() if self.uses_run else ""

    def set_run(self, run_dir: str) -> None:
        self.run_chooser.set_run_dir(run_dir)

    def set_checkpoint(self, which: str) -> None:
        self.checkpoint.setCurrentIndex(max(0, self.checkpoint.findData(which)))

    def checkpoint_choice(self) -> str:
        return str(self.checkpoint.currentData() or "best")

    def start(self) -> bool:
        """Run the job with the page's config; False when it is running already or the config is refused."""
        if self.runner.running:
            return False
        config = self.make_config()
        if config is None:
            return False
        self.start_config(config)
        return True

    def start_config(self, config: BaseModel, job: Job[Any, Any] | None = None) -> None:
        """Run the page's job (or another `job`, for pages with more than one) with `config`."""
        self._stopping = False
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.status.setText(self.running_text)
        self.status.setToolTip("")
        self.runner.run_job(job or self.job, config)

    def stop(self) -> None:
        """Ask the running job to stop (the main window's Stop action calls this too)."""
        if self.runner.running:
            self._stopping = True
            self.status.setText("Stopping...")
            self.runner.stop()

    def busy(self) -> bool:
        return self.runner.running

    def shutdown(self) -> None:
        self.runner.stop_and_wait()

    def on_shown(self) -> None:
        self._on_runs_updated()

    # ------------------------------------------------------------------ runner slots
    def _on_events(self, events: list[Event]) -> None:
        stages = [e for e in events if isinstance(e, Stage)]
        if stages:  # scanning / decoding before the first step: counts and an ETA, never a frozen bar
            last_stage = stages[-1]
            if self._step_format is None:  # the page's own format counts steps; a stage counts its unit
                self._step_format = self.progress.format()
            self.progress.setFormat(f"%v / %m {last_stage.unit}" if last_stage.total > 0 else "")
            self.progress.setRange(0, max(0, last_stage.total))  # 0: a busy bar while the total is unknown
            self.progress.setValue(min(last_stage.done, max(0, last_stage.total)))
            self.status.setText(describe(last_stage))
        counted = [e for e in events if isinstance(e, (Started, Progress)) and e.total_steps]
        if counted:  # the last one is enough: a batch may hold hundreds of steps
            last = counted[-1]
            if self._step_format is not None:
                self.progress.setFormat(self._step_format)
                self._step_format = None
            if self.progress.maximum() != max(1, last.total_steps):
                self.progress.setRange(0, max(1, last.total_steps))
            self.progress.setValue(last.step if isinstance(last, Progress) else 0)
        if self.log_to_status:
            logs = [e for e in events if isinstance(e, Log)]
            if logs:
                self.status.setText(logs[-1].message)
        self.on_events(events)

    def _on_finished(self, report: BaseModel) -> None:
        if self.progress.maximum() == 0:  # no step count came: a finished busy bar
            self.progress.setRange(0, 1)
        self.progress.setValue(self.progress.maximum())
        self.report = report
        self.show_report(report)
        self.finished.emit(report)

    def _on_failed(self, message: str, details: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        if self._stopping:
            self.status.setText("Stopped.")
            return
        self.report = None
        self.status.setText(self.failed_text)
        self.on_failed(message)
        errors.show_error(self, message, details)

    def _on_running_changed(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.run_chooser.setEnabled(not running)
        self.checkpoint.setEnabled(not running)
        self.set_inputs_enabled(not running)

    def _on_state_run_changed(self, run_dir: str) -> None:
        if run_dir and not self.runner.running:
            self.set_run(run_dir)

    def _on_runs_updated(self) -> None:
        if self.uses_run and not self.runner.running:
            self.run_chooser.refresh()
