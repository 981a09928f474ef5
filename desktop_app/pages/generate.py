"""Generate page: train a GAN on a folder, or transfer a GAN run to a few target images
(FreezeD depth, DiffAugment, conditional), watching it live; then save samples and export.

Live, from the gan_train job's events (delivered in batches, at most 20 a second, by the
JobPage base): G and D losses per step, D(real)/D(fake), KID at each check, and the grid of
samples from fixed noise that the job rewrites in the run folder every `sample_every` steps
(read once per batch that carries a check, never per step). Collapse warnings from the job
appear in the warning line. Sampling and export run in a second worker, so they never block.
"Translate source" runs gan_translate in the page's own runner (`mode`): Pause, Stop, the
progress bar and the plots serve it as they serve training, "Resume translation" continues a
stopped one, and the grid shows sources above their translations at each check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.jobs import JobRunner
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.form_utils import button, folder_edit, form, hbox, label, line_edit, pane, spin, tipped
from desktop_app.widgets.live_plot import LivePlots
from desktop_app.widgets.pause_button import PauseButton
from engine.core.events import EpochEnd, Event, Finished, Log, Progress, Started
from engine.gan.config import GanTrainConfig, GanTrainReport
from engine.gan.policy import PARTS
from engine.jobs import gan_export, gan_sample, gan_train

STEP_KEYS = {"g_loss": "loss/G", "d_loss": "loss/D", "d_real": "D(real)", "d_fake": "D(fake)"}
TRANSLATE_KEYS = {"g_loss": "loss/G", "d_loss": "loss/D", "cycle": "loss/cycle", "nce": "loss/PatchNCE"}


def gan_runs(runs_dir: Path) -> list[Path]:
    """GAN run folders under `runs_dir`, newest first (torch-free: reads run.json only)."""
    from engine.core.runs import list_runs

    return [r.path for r in list_runs(runs_dir) if r.info().get("kind") == "gan"]


class GeneratePage(JobPage):
    """Pick data (and a GAN run to transfer from), train, watch, sample, export.

    Signals: `trained(GanTrainReport)`, `sampled(report)`, `exported(report)`."""

    title = "Generate"
    icon = "SP_MediaPlay"
    job = gan_train.JOB
    run_text, run_tip = "Train GAN", "Train (or transfer) the GAN in the background."
    stop_tip, running_text, failed_text = (
        "Stop; the run keeps its checkpoint.",
        "Training the GAN...",
        "GAN training failed.",
    )
    trained = Signal(object)
    sampled = Signal(object)
    exported = Signal(object)
    translated = Signal(object)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.run_dir = ""
        self.data_edit, self.data_browse = folder_edit("Training images (class sub-folders when conditional).")
        self.source = tipped(QComboBox(), "A GAN run to transfer from (fine-tune), or none to train from scratch.")
        self.freeze_d = spin(0, 4, 0, "FreezeD: keep the discriminator's first N blocks as the source run learnt them.")
        diff_tip = "DiffAugment: the same random transform family on real and generated images."
        self.augment = {name: tipped(QCheckBox(name), diff_tip) for name in PARTS}
        self.conditional = QCheckBox("Conditional (one class per sub-folder)")
        self.image_size = QComboBox()
        self.image_size.addItems(["32", "64"])
        self.steps = spin(1, 1_000_000, 2000, "Generator steps.")
        self.batch = spin(2, 1024, 32, "Images per step (at most the number of images).")
        self.sample_every = spin(
            1, 100_000, 100, "Steps between sample grids and KID checks (and between translation pairs)."
        )
        self.grid = QLabel("Samples from fixed noise appear here while training.")
        self.grid.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid.setMinimumSize(280, 280)
        self.warning = label()
        self.warning.setStyleSheet("color: #c0392b;")
        self.plots = LivePlots(columns=1)
        self.tools = JobRunner(
            self,
            finished=self._on_tool_finished,
            failed=lambda message, details: errors.show_error(self, message, details),
            running_changed=lambda _: self._update_enabled(),
        )
        self.n_samples = spin(1, 100_000, 64, "Images to write (per class with 'per class').")
        self.per_class = QCheckBox("per class")
        self.sample_out = line_edit("new folder for the samples")
        self.sample_button = button("Save samples", clicked=self.save_samples)
        self.export_out = line_edit("G.onnx")
        self.export_button = button("Export ONNX", clicked=self.export)
        self.tools_status = QLabel()
        self.translate_out = line_edit("new folder for the translated source")
        self.translate_steps = spin(1, 1_000_000, 1000, "Steps of the translator.")
        self.translate_loss = tipped(QComboBox(), "How the translation keeps the content of the source images.")
        self.translate_loss.addItem("cycle (CycleGAN)", "cycle")
        self.translate_loss.addItem("contrastive (CUT)", "cut")
        self.translate_button = button(
            "Translate source",
            "Learn the target's style from the Data page's source and target folders (unpaired) and write the "
            "labelled source in that style. The grid shows sources above their translations, live; Stop keeps "
            "a checkpoint that Resume translation continues.",
            self.translate,
        )
        self.resume_translate_button = button(
            "Resume translation", "Continue the stopped translation from its checkpoint.", self.resume_translation,
            enabled=False,
        )  # fmt: skip
        self.pause_button = PauseButton(self.runner, self.status)
        self.mode = "train"  # what the runner runs: "train" (gan_train) or "translate" (gan_translate)
        self.translate_run = ""
        self.translate_grids = 0  # live grids shown while translating
        self._build_layout()
        self.data_browse.clicked.connect(self._browse_data)
        self.source.currentIndexChanged.connect(lambda _: self._update_enabled())
        self.data_edit.setText(state.source)
        self.refresh_sources()
        self._update_enabled()

    def _build_layout(self) -> None:
        settings = form(
            ("Images:", hbox(self.data_edit, self.data_browse)),
            ("Transfer from:", self.source),
            ("FreezeD blocks:", self.freeze_d),
            ("DiffAugment:", hbox(*self.augment.values(), None)),
            ("", self.conditional),
            ("Image size:", self.image_size),
            ("Steps:", self.steps),
            ("Batch size:", self.batch),
            ("Grid every:", self.sample_every),
        )
        tools = QGroupBox("Use the generator")
        form(
            ("Samples:", hbox(self.n_samples, self.per_class, self.sample_out, self.sample_button)),
            ("Export:", hbox(self.export_out, self.export_button)),
            ("Translate:", hbox(self.translate_steps, self.translate_loss, self.translate_out)),
            ("", hbox(self.translate_button, self.resume_translate_button, None)),
            parent=tools,
        ).addRow(self.tools_status)
        column = pane(settings, (self.grid, 1), self.warning, tools)
        scroll = QScrollArea()  # settings, samples and tools scroll on a short (768 px) screen
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(column)
        layout = QVBoxLayout(self)
        row = self.action_row()
        row.insertWidget(1, self.pause_button)  # Run, Pause, Stop as on the Train page
        layout.addLayout(row)
        layout.addLayout(hbox((scroll, 2), (self.plots, 3)), 1)

    # ------------------------------------------------------------------ settings
    def refresh_sources(self) -> None:
        wanted = self.source.currentData()
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItem("None: train from scratch", "")
        for path in gan_runs(self.state.runs_dir):
            self.source.addItem(path.name, str(path))
        self.source.setCurrentIndex(max(0, self.source.findData(wanted)))
        self.source.blockSignals(False)
        self._update_enabled()

    def set_source(self, run_dir: str) -> None:
        if self.source.findData(run_dir) < 0:
            self.source.addItem(Path(run_dir).name, run_dir)
        self.source.setCurrentIndex(self.source.findData(run_dir))

    def on_shown(self) -> None:
        super().on_shown()
        if not self.runner.running:
            self.refresh_sources()

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of training images", self.data_edit.text())
        if folder:
            self.data_edit.setText(folder)

    def policy(self) -> str:
        return ",".join(name for name, box in self.augment.items() if box.isChecked())

    def make_config(self) -> BaseModel | None:
        data = self.data_edit.text().strip()
        if not data:
            errors.show_error(self, "Choose a folder of training images first.")
            return None
        source = self.source.currentData()
        return GanTrainConfig(
            data=Path(data), from_run=Path(source) if source else None, freeze_d=self.freeze_d.value() if source else 0,
            diffaugment=self.policy(), conditional=self.conditional.isChecked(),
            image_size=int(self.image_size.currentText()), steps=self.steps.value(), batch_size=self.batch.value(),
            sample_every=self.sample_every.value(), runs_dir=self.state.runs_dir,
        )  # fmt: skip

    def set_inputs_enabled(self, enabled: bool) -> None:
        widgets: list[QWidget] = [self.data_edit, self.data_browse, self.source, self.conditional, self.image_size]
        translate = (self.translate_steps, self.translate_loss, self.translate_out)
        for w in (*widgets, self.steps, self.batch, self.sample_every, *self.augment.values(), *translate):
            w.setEnabled(enabled)
        self._update_enabled()

    def _update_enabled(self) -> None:
        idle = not self.runner.running
        self.freeze_d.setEnabled(idle and bool(self.source.currentData()))
        has_run = bool(self.run_dir) and idle and not self.tools.running
        for w in (self.sample_button, self.export_button):
            w.setEnabled(has_run)
        self.translate_button.setEnabled(idle)
        self.resume_translate_button.setEnabled(idle and self._translation_resumable())

    # ------------------------------------------------------------------ live
    def on_events(self, events: list[Event]) -> None:
        if self.mode == "translate":
            self._on_translate_events(events)
            return
        grid = False
        for event in events:
            if isinstance(event, Started):
                self.run_dir = event.run_dir
                self.warning.clear()
                self.plots.clear()
                self.plots.set_x_limit(event.total_steps)
                grid = True
            elif isinstance(event, Progress):
                for key, name in STEP_KEYS.items():
                    if key in event.metrics:
                        self.plots.add(name, event.step, event.metrics[key])
            elif isinstance(event, EpochEnd):
                if "kid" in event.metrics:
                    self.plots.add("kid", event.step, event.metrics["kid"], epoch=True)
                grid = True
            elif isinstance(event, Log) and event.level == "warning":
                self.warning.setText(event.message)
            elif isinstance(event, Finished):
                grid = True
        self.plots.refresh()
        if grid:
            self.show_grid()

    def show_grid(self, run_dir: str = "") -> bool:
        """Show the run's latest sample grid (or that of `run_dir`); False when there is none yet."""
        run_dir = run_dir or self.run_dir
        path = Path(run_dir) / "samples" / "latest.png" if run_dir else None
        if path is None or not path.is_file():
            return False
        pixmap = QPixmap(str(path))
        if pixmap.isNull():
            return False
        side = max(280, min(self.grid.width(), self.grid.height()))
        self.grid.setPixmap(pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio))
        return True

    def show_report(self, report: Any) -> None:
        if not isinstance(report, GanTrainReport):
            self._on_translated(report)
            return
        self.run_dir = str(report.run_dir)
        kid = f", KID {report.metrics['kid']:.4f}" if "kid" in report.metrics else ""
        self.status.setText(f"{report.status.capitalize()}: {report.steps_done} steps{kid}. Run: {report.run_dir.name}")
        if report.warnings:
            self.warning.setText(report.warnings[-1])
        self.show_grid()
        self.state.runs_updated.emit()
        self.refresh_sources()
        self.trained.emit(report)

    def on_failed(self, message: str) -> None:
        self.mode = "train"  # a failed translation can still be resumed from its last checkpoint
        self._update_enabled()

    # ------------------------------------------------------------------ sample, export
    def save_samples(self) -> None:
        out = self.sample_out.text().strip()
        if not out:
            errors.show_error(self, "Type a new folder for the samples first.")
            return
        config = gan_sample.GanSampleConfig(
            run_dir=Path(self.run_dir), n=self.n_samples.value(), out=Path(out), per_class=self.per_class.isChecked()
        )
        self.tools_status.setText("Writing samples...")
        self.tools.run_job(gan_sample.JOB, config)

    def export(self) -> None:
        out = self.export_out.text().strip()
        if not out:
            errors.show_error(self, "Type the ONNX file to write first (e.g. G.onnx).")
            return
        self.tools_status.setText("Exporting...")
        self.tools.run_job(gan_export.JOB, gan_export.GanExportConfig(run_dir=Path(self.run_dir), out=Path(out)))

    def _on_tool_finished(self, report: Any) -> None:
        if isinstance(report, gan_sample.GanSampleReport):
            self.tools_status.setText(f"Wrote {report.written} images to {report.out}.")
            self.sampled.emit(report)
        elif isinstance(report, gan_export.GanExportReport):
            verdict = "parity passed" if report.passed else "PARITY FAILED"
            self.tools_status.setText(f"Exported {report.out} ({verdict}, max diff {report.max_abs_diff:.1e}).")
            self.exported.emit(report)

    # ------------------------------------------------------------------ translate
    def translate(self) -> None:
        """A new translation run, in the page's runner: Stop and the progress bar work as for training."""
        from engine.jobs.gan_translate import TranslateConfig, TranslateRequest

        out = self.translate_out.text().strip()
        if not (self.state.source and self.state.target):
            errors.show_error(self, "Choose the source and target folders on the Data page first.")
            return
        if not out:
            errors.show_error(self, "Type a new folder for the translated source first.")
            return
        config = TranslateConfig(
            source=Path(self.state.source), target=Path(self.state.target), out=Path(out),
            steps=self.translate_steps.value(), loss=self.translate_loss.currentData(),
            sample_every=self.sample_every.value(), runs_dir=self.state.runs_dir,
        )  # fmt: skip
        self._start_translation(TranslateRequest(config=config), "Translating...")

    def resume_translation(self, run_dir: str = "") -> bool:
        """Continue the stopped translation (or the translation run `run_dir`, from the Runs page)."""
        from engine.jobs.gan_translate import TranslateRequest

        run_dir = run_dir or self.translate_run
        if self.runner.running or not run_dir:
            return False
        self.translate_run = run_dir
        self._start_translation(TranslateRequest(resume=Path(run_dir)), f"Resuming {Path(run_dir).name}...")
        return True

    def _start_translation(self, request: BaseModel, text: str) -> None:
        from engine.jobs.gan_translate import JOB

        self.mode = "translate"
        self.translate_grids = 0
        self.start_config(request, JOB)
        self.status.setText(text)
        self.tools_status.setText(text)

    def _translation_resumable(self) -> bool:
        from engine.core.runs import Run

        info = Run(Path(self.translate_run)).info() if self.translate_run else {}
        return info.get("status") in ("stopped", "running", "failed")  # "running": a killed process's

    def _on_translate_events(self, events: list[Event]) -> None:
        grid = False
        for event in events:
            if isinstance(event, Started):
                self.translate_run = event.run_dir
                self.plots.clear()
                self.plots.set_x_limit(event.total_steps)
            elif isinstance(event, Progress):
                for key, value in event.metrics.items():
                    self.plots.add(TRANSLATE_KEYS.get(key, key), event.step, value)
            elif isinstance(event, Log) and event.level == "warning":
                self.warning.setText(event.message)
            grid = grid or isinstance(event, (Started, EpochEnd, Finished))
        progress = [e for e in events if isinstance(e, Progress)]
        if progress:
            doing = "Paused at" if self.runner.paused else "Translating:"
            self.tools_status.setText(f"{doing} step {progress[-1].step} of {progress[-1].total_steps}")
        self.plots.refresh()
        if grid and self.translate_run and self.show_grid(self.translate_run):
            self.translate_grids += 1

    def _on_translated(self, report: Any) -> None:
        self.mode = "train"
        self.translate_run = str(report.run_dir)
        if report.status == "stopped":
            text = f"Translation stopped at step {report.steps_done}; Resume translation continues it."
        else:
            text = f"Translated {report.written} source images into {report.out}."
        self.tools_status.setText(text)
        self.status.setText(text)
        self.show_grid(self.translate_run)
        self._update_enabled()
        self.state.runs_updated.emit()
        self.translated.emit(report)

    def shutdown(self) -> None:
        super().shutdown()
        self.tools.stop_and_wait()
