"""Train page: the settings panel on the left, the run on the right (progress, ETA, live plots, log).

The settings (method from the engine's registry with its own form, backbone and weights, the
common TrainConfig fields) live in `TrainSettings`. The run is `engine.training.trainer.run_train` in a
JobRunner worker; its events feed the live plots (redrawn once per drained batch, <= 20 Hz), the
progress bar with ETA and the log. Start is enabled once the app reports the engine loaded
(`engine_ready`) and every setting is valid.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.form_utils import button, error_label, hbox, log_view, pane, splitter
from desktop_app.widgets.live_plot import LivePlots
from desktop_app.widgets.pause_button import PauseButton
from desktop_app.widgets.train_settings import TrainSettings
from engine.core.errors import UserError
from engine.core.events import EpochEnd, Event, Finished, Log, Progress, Started
from engine.jobs import train
from engine.jobs.train import TrainReport, TrainRequest

NOT_PLOTTED = {"epoch_time", "lr"}  # epoch-level keys the step curves already show, or not worth a curve


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "estimating…"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class TrainPage(JobPage):
    title = "Train"
    icon = "SP_MediaPlay"
    run_started = Signal(str)  # run directory
    job = train.JOB
    run_text, run_tip = "Start", "Start training with these settings (Ctrl+R)."
    stop_tip = "Stop after the current step and save a checkpoint; the run can be resumed (Ctrl+. or Esc)."
    running_text = "Preparing data…"

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.run_dir = ""
        self.stopped_run = ""  # the run this page stopped last, which "Continue" resumes
        self._fresh_plots = False
        self.total_steps = 0
        self.last_progress: Progress | None = None
        self.settings_panel = TrainSettings(state)
        self.settings_panel.changed.connect(self._update_start)
        self._build()
        self._update_start()

    def method(self) -> str:
        return self.settings_panel.method()

    def set_method(self, name: str) -> None:
        self.settings_panel.set_method(name)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.start_button = self.run_button
        self.pause_button = PauseButton(self.runner)  # the ETA line says "Paused.", the log says more
        self.pause_button.paused_changed.connect(self._on_paused_changed)
        self.start_reason = error_label()
        self.continue_button = button(
            "Continue",
            "Resume the run stopped here from its last checkpoint (Start begins a new run).",
            lambda: self.resume(self.stopped_run),
        )
        self.continue_button.setVisible(False)
        buttons = hbox(self.start_button, self.continue_button, self.pause_button, self.stop_button)
        left = pane((self.settings_panel, 1), buttons, self.start_reason)

        self.progress.setFormat("%v / %m steps")
        self.progress.setMaximumWidth(16_777_215)
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.progress.setToolTip("Optimiser steps done out of those planned.")
        self.eta_label = self.status
        self.eta_label.setText("Not started.")
        self.eta_label.setWordWrap(False)
        self.eta_label.setMinimumWidth(260)
        self.plots = LivePlots()
        self.log = log_view("Messages from the training run.", 5000)
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        right_split = splitter(Qt.Orientation.Vertical, self.plots, self.log, stretch=(4, 1), sizes=(640, 160))
        right = pane(hbox((self.progress, 1), self.eta_label), (right_split, 1))
        left.setMinimumWidth(400)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter(Qt.Orientation.Horizontal, left, right, stretch=(0, 1), sizes=(440, 1000)))

    # ------------------------------------------------------------------ API
    def engine_ready(self, info: dict[str, Any] | None = None) -> None:
        """Torch has loaded: fill the registries' lists and build the plots (the UI is idle now)."""
        self.plots.prepare()
        self.settings_panel.engine_ready()
        self._update_start()

    def reload_methods(self) -> None:
        self.settings_panel.reload_methods()

    def can_start(self) -> tuple[bool, str]:
        """Whether Start may run now, and why not."""
        if self.runner.running:  # a run, or its end not yet handled
            return False, ""
        problem = self.settings_panel.problem()
        return not problem, problem

    def make_config(self) -> TrainRequest | None:
        """A new run with the settings shown; None (with the reason shown) when it cannot start."""
        ok, reason = self.can_start()
        if not ok:
            if reason:
                self.start_reason.setText(reason)
            return None
        try:
            config = self.settings_panel.build_config()
        except UserError as err:
            errors.show_error(self, str(err))
            return None
        self.settings_panel.save()
        self.stopped_run = ""
        self._begin(f"Starting {config.method} on {config.backbone}…")
        return TrainRequest(config=config)

    def resume(self, run_dir: str) -> bool:
        """Continue a stopped run from its last checkpoint (the Runs page calls this)."""
        if self.runner.running:
            errors.show_error(self, "A training run is in progress. Stop it before resuming another run.")
            return False
        if not self.settings_panel.ready:
            errors.show_error(self, "PyTorch is still loading; try again in a moment.")
            return False
        from engine.core.runs import open_run

        try:
            run = open_run(run_dir)
            config = run.config()
        except UserError as err:
            errors.show_error(self, str(err))
            return False
        self.settings_panel.show_config(config)
        self.stopped_run = ""
        self._begin(f"Resuming {run.path.name}…")
        self._fresh_plots = False
        self.plots.clear()  # the four plots stay in place (shown since the engine loaded): no re-layout now
        self.plots.load_history(run.path, skip=NOT_PLOTTED)  # per-step curves too, not only epoch points
        self.start_config(TrainRequest(resume=run.path))
        return True

    def stop(self) -> None:
        if self.runner.running:
            super().stop()
            self.stop_button.setEnabled(False)
            self._log("Stopping after the current step; a checkpoint is saved so the run can be resumed.")

    def on_shown(self) -> None:
        """Nothing to refresh: the settings panel follows the state by itself."""

    def shutdown(self) -> None:
        self.runner.stop_and_wait(120_000)

    # ------------------------------------------------------------------ helpers
    def _begin(self, message: str) -> None:
        # A new run's plots replace the last run's only once it has started: a start refused for
        # bad input leaves the last curves on screen.
        self._fresh_plots = True
        self.log.clear()
        self.run_dir = ""
        self.total_steps = 0
        self.last_progress = None
        self.progress.setRange(0, 0)  # busy until the run knows its steps
        self.eta_label.setText("Preparing data…")
        self.start_reason.setText("")
        self._log(message)

    def _log(self, message: str, level: str = "info") -> None:
        stamp = time.strftime("%H:%M:%S")
        if level == "info":
            self.log.appendPlainText(f"{stamp}  {message}")
        else:
            colour = "#d32f2f" if level == "error" else "#ef6c00"
            text = message.replace("&", "&amp;").replace("<", "&lt;").replace("\n", "<br>")
            self.log.appendHtml(f"<span style='color:{colour}'>{stamp}  {level.upper()}: {text}</span>")

    def _update_start(self, *_: Any) -> None:
        ok, reason = self.can_start()
        running = self.runner.running
        self.start_button.setEnabled(ok)
        self.start_reason.setText("" if ok or running else reason)
        self.pause_button.setEnabled(running)
        self.continue_button.setVisible(bool(self.stopped_run) and not running)
        self.continue_button.setEnabled(not running and self.settings_panel.ready)
        self.stop_button.setEnabled(running and not (self.runner.control and self.runner.control.stop_requested))

    # ------------------------------------------------------------------ slots
    def _on_paused_changed(self, paused: bool, message: str) -> None:
        if paused:
            self.eta_label.setText("Paused.")
        self._log(message)

    def _on_running_changed(self, running: bool) -> None:
        super()._on_running_changed(running)
        self.settings_panel.set_editable(not running)
        self._update_start()

    def on_events(self, batch: list[Event]) -> None:
        steps: dict[str, tuple[list[float], list[float]]] = {}
        save_steps = False
        for event in batch:
            if isinstance(event, Progress):
                self.last_progress = event
                for key, value in event.metrics.items():
                    xs, ys = steps.setdefault(key, ([], []))
                    xs.append(event.step)
                    ys.append(value)
            elif isinstance(event, EpochEnd):
                for key, value in event.metrics.items():
                    if key not in NOT_PLOTTED:
                        self.plots.add(key, event.step, value, epoch=True)
                save_steps = True
                shown = ", ".join(f"{k} {v:.4f}" for k, v in event.metrics.items() if k.endswith(("acc", "loss")))
                self._log(f"epoch {event.epoch}: {shown}")
            elif isinstance(event, Started):
                self._on_started(event)
            elif isinstance(event, Log):
                self._log(event.message, event.level)
            elif isinstance(event, Finished):
                self._log("Run stopped; Continue resumes it." if event.stopped else "Run finished.")
        for key, (xs, ys) in steps.items():
            self.plots.extend(key, xs, ys)
        self.plots.refresh()
        if save_steps or any(isinstance(e, Finished) for e in batch):
            self.plots.save_history(self.run_dir)  # metrics.jsonl keeps epochs only: a resume shows the steps too
        self._show_progress()

    def _on_started(self, event: Started) -> None:
        if self._fresh_plots:
            self.plots.clear()
            self._fresh_plots = False
        self.run_dir = event.run_dir
        self.total_steps = event.total_steps
        self.plots.set_x_limit(event.total_steps)
        self.progress.setRange(0, max(1, event.total_steps))
        self.progress.setValue(0)
        self._log(f"Run {Path(event.run_dir).name} on {event.device}: {event.total_steps} steps.")
        self.run_started.emit(event.run_dir)
        self.state.runs_updated.emit()

    def _show_progress(self) -> None:
        p = self.last_progress
        if p is None:
            return
        if self.progress.maximum() != max(1, p.total_steps):
            self.progress.setRange(0, max(1, p.total_steps))
        self.progress.setValue(p.step)
        if self.runner.paused:
            self.eta_label.setText("Paused.")
        else:
            self.eta_label.setText(f"epoch {p.epoch} · ETA {format_eta(p.eta_s)}")

    def show_report(self, result: TrainReport) -> None:
        if result.status != "finished" and self.last_progress is not None:
            self.progress.setValue(self.last_progress.step)  # a stopped run shows how far it got
        accs = ", ".join(f"{k} {v:.3f}" for k, v in result.best_metrics.items() if k.endswith("acc"))
        self.eta_label.setText(f"{result.status.capitalize()}." + (f" Best: {accs}" if accs else ""))
        self.eta_label.setToolTip(result.run_dir)
        self.stopped_run = result.run_dir if result.status == "stopped" else ""
        self._update_start()
        self.state.set_run(result.run_dir)
        self.state.runs_updated.emit()

    def on_failed(self, message: str) -> None:
        self._log(message, "error")
        self.state.runs_updated.emit()
