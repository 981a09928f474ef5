"""Robustness page: attack a run (every attack) or an ONNX file (query and transfer attacks) over a
grid of budgets; overlay accuracy-vs-eps curves, read the table and the example galleries.

The attack list and each attack's settings form come from the engine's registry, which needs
torch, so they are filled when the app reports the engine loaded (`engine_ready`). The attack is
the engine's attack job (engine.jobs.attack), run by the JobPage base.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QFormLayout,
    QRadioButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.attack_results import AttackResults
from desktop_app.widgets.attack_settings import AttackSettings
from desktop_app.widgets.form_utils import button, folder_edit, form, hbox, line_edit, spin, splitter, tipped
from desktop_app.widgets.run_chooser import RunChooser
from engine.core.errors import UserError
from engine.core.events import Event, Progress
from engine.core.runs import Run
from engine.jobs import attack
from engine.jobs.attack import RobustnessReport


class RobustnessPage(JobPage):
    """Choose model, images, attack and budgets; Run; compare curves. Signal `attacked(dict)`."""

    title = "Robustness"
    icon = "SP_MessageBoxWarning"
    attacked = Signal(object)  # the RobustnessReport
    job = attack.JOB
    run_tip = "Attack the model at every budget of the grid (runs in the background)."
    stop_tip, failed_text = "Stop the attack; the report covers the images finished so far.", "The attack failed."
    running_text = "Starting the attack…"
    uses_run, log_to_status = True, True

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self._data_edited = self._onnx_edited = False
        self._build_widgets()
        self._build_layout()
        self._connect()
        self._apply_defaults()
        if "torch" in sys.modules:  # the engine is already loaded (a page created late, tests)
            self.engine_ready()
        self._update_enabled()
        self._update_run_button()

    # ------------------------------------------------------------------ construction
    def _build_widgets(self) -> None:
        self.run_radio = tipped(
            QRadioButton("Training run"),
            "Attack a run's PyTorch model: every attack is available, white-box ones included.",
        )
        self.onnx_radio = tipped(
            QRadioButton("ONNX file"),
            "Attack an exported .onnx classifier: query attacks (square, hopskipjump) and "
            "transfer attacks crafted on a surrogate run.",
        )
        self.model_group = QButtonGroup(self)
        self.model_group.addButton(self.run_radio)
        self.model_group.addButton(self.onnx_radio)
        self.run_radio.setChecked(True)
        self.checkpoint.setToolTip(
            "Which checkpoint of the run (and of the surrogate) to attack: the best or the latest epoch."
        )
        self.onnx_edit = line_edit(
            "model.onnx", "The .onnx image classifier to attack (defaults to the model exported last)."
        )
        self.onnx_browse = button("Browse...", "Choose an .onnx file.", self._on_browse_onnx)
        self.data_edit, self.data_browse = folder_edit(
            "Labelled images to attack (class sub-folders named like the model's classes). "
            "Defaults to the target test folder, else the run's source folder."
        )
        self.attack_settings = AttackSettings(self)
        self.attack_combo, self.norm_combo = self.attack_settings.attack_combo, self.attack_settings.norm_combo
        self.eps_edit, self.eps_error = self.attack_settings.eps_edit, self.attack_settings.eps_error
        self.limit = spin(
            0,
            1_000_000,
            100,
            "Attack at most this many images (a seeded random subset); 'all' attacks the whole folder.",
            "all",
        )
        self.batch = spin(
            1,
            4096,
            64,
            "Images attacked together, and per call to the model for query attacks (lower it if memory runs out).",
        )
        self.surrogate = RunChooser(self.state)
        for chooser in (self.run_chooser, self.surrogate):
            chooser.combo.setMinimumContentsLength(16)
        self.surrogate.setToolTip("Transfer attack: the run whose model crafts the adversarial images (same classes).")
        self.progress.setMaximumWidth(16_777_215)
        self.progress.setVisible(True)
        self.progress.setToolTip("Batches attacked, over every budget.")
        self.status.setText("Waiting for PyTorch to load…")
        self.results = AttackResults()

    def _build_layout(self) -> None:
        eps_cell = QVBoxLayout()
        eps_cell.setSpacing(2)
        eps_cell.addWidget(self.attack_settings.eps_edit)
        eps_cell.addWidget(self.attack_settings.eps_error)
        self.form_layout = form(
            ("Model:", hbox(self.run_radio, self.onnx_radio, None)),
            ("Run:", self.run_chooser),
            ("Checkpoint:", self.checkpoint),
            ("ONNX file:", hbox(self.onnx_edit, self.onnx_browse)),
            ("Images:", hbox(self.data_edit, self.data_browse)),
            ("Attack:", self.attack_settings.attack_combo),
            ("", self.attack_settings.kind_label),
            ("", self.attack_settings.onnx_note),
            ("Surrogate run:", self.surrogate),
            ("Norm:", self.attack_settings.norm_combo),
            ("eps grid:", eps_cell),
            ("Limit (images):", self.limit),
            ("Batch size:", self.batch),
        )
        self.form_layout.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        actions = hbox(self.run_button, self.stop_button, (self.progress, 1))
        settings = QWidget()
        col = QVBoxLayout(settings)
        col.addLayout(self.form_layout)
        col.addWidget(self.attack_settings.options_box)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(settings)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addLayout(actions)
        left_layout.addWidget(self.status)
        left.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter(Qt.Orientation.Horizontal, left, self.results, stretch=(0, 1), sizes=(480, 1000)))

    def _connect(self) -> None:
        self.run_radio.toggled.connect(self._on_model_kind_changed)
        self.onnx_edit.textEdited.connect(lambda t: setattr(self, "_onnx_edited", bool(t.strip())))
        self.data_browse.clicked.connect(self._on_browse_data)
        self.data_edit.textEdited.connect(lambda t: setattr(self, "_data_edited", bool(t.strip())))
        self.run_chooser.changed.connect(lambda _: self._apply_defaults())
        self.attack_settings.attack_changed.connect(self._on_attack_changed)
        self.attack_settings.changed.connect(self._update_run_button)
        self.state.model_changed.connect(lambda _: self._apply_defaults())
        self.state.folders_changed.connect(self._apply_defaults)
        self.state.runs_updated.connect(self.surrogate.refresh)

    # ------------------------------------------------------------------ engine loaded
    def engine_ready(self, info: dict[str, Any] | None = None) -> None:
        """Fill the attack list from the engine's registry (torch is loaded now)."""
        self.attack_settings.set_model_kind(self.model_kind())
        self.attack_settings.load_registry()
        self.status.setText("Choose a model, images and an attack, then Run.")
        self._update_enabled()

    # ------------------------------------------------------------------ public API
    def on_shown(self) -> None:
        super().on_shown()
        if not self.runner.running:
            self.surrogate.refresh()
        self._apply_defaults()

    def shutdown(self) -> None:
        super().shutdown()
        self.results.shutdown()

    def model_kind(self) -> str:
        return "run" if self.run_radio.isChecked() else "onnx"

    def set_model_kind(self, kind: str) -> None:
        (self.run_radio if kind == "run" else self.onnx_radio).setChecked(True)

    def set_onnx(self, path: str) -> None:
        self.onnx_edit.setText(path)
        self._onnx_edited = bool(path)

    def set_data(self, folder: str) -> None:
        """Use `folder` as the labelled images (counts as the user's choice)."""
        self.data_edit.setText(folder)
        self._data_edited = bool(folder)

    def attacks(self) -> list[str]:
        """The attack names offered now (filtered by the model kind)."""
        return self.attack_settings.attacks()

    def attack(self) -> str:
        return self.attack_settings.attack()

    def set_attack(self, name: str) -> bool:
        return self.attack_settings.set_attack(name)

    def set_norm(self, norm: str) -> None:
        self.attack_settings.set_norm(norm)

    def eps_values(self) -> tuple[list[float], str]:
        return self.attack_settings.eps_values()

    def job_options(self) -> dict[str, Any]:
        """The AttackJobConfig fields the page's settings describe."""
        kind = self.model_kind()
        options: dict[str, Any] = {
            "model": self.chosen_run() if kind == "run" else self.onnx_edit.text().strip(),
            "data": self.data_edit.text().strip(),
            "attack": self.attack(),
            "norm": self.attack_settings.norm(),
            "eps": self.eps_values()[0],
            "attack_options": self.attack_settings.options(self.batch.value()),
            "limit": self.limit.value() or None,
            "batch_size": self.batch.value(),
            "checkpoint": self.checkpoint_choice(),
        }
        if self.attack_settings.kind() == "transfer":
            options["surrogate"] = self.surrogate.run_dir() or None
        return options

    def run_attack(self) -> bool:
        """Start the attack; False (with an error dialog) when something the job needs is missing."""
        if self.busy() or not self.run_button.isEnabled():
            return False
        return self.start()

    def make_config(self) -> BaseModel | None:
        options = self.job_options()
        problem = ""
        if not options["model"]:
            problem = (
                "Choose a run to attack (train one on the Train page, or Browse... for a run folder)."
                if self.model_kind() == "run"
                else "Choose an .onnx file to attack (export one on the Export page)."
            )
        elif not options["data"]:
            problem = "Choose a labelled folder to attack (one sub-folder of images per class)."
        elif not Path(options["data"]).is_dir():
            problem = (
                f"{options['data']}: no such folder. Choose a labelled folder (one sub-folder of images per class)."
            )
        elif "surrogate" in options and not options["surrogate"]:
            problem = "The transfer attack needs a surrogate run: choose one whose model crafts the adversarial images."
        if not problem:
            try:
                config = self.job.parse(options, "attack settings")
            except UserError as err:
                problem = str(err)
        if problem:
            errors.show_error(self, problem)
            return None
        self.status.setText(f"Starting {options['attack']}…")
        return config

    # ------------------------------------------------------------------ settings
    def _apply_defaults(self) -> None:
        if not self._onnx_edited and self.state.onnx_path:
            self.onnx_edit.setText(self.state.onnx_path)
        if self._data_edited:
            return
        folder = self.state.target_test
        run_dir = self.run_chooser.run_dir()
        if not folder and run_dir and self.model_kind() == "run":
            try:
                cfg = Run(Path(run_dir)).config()
                folder = str(cfg.target_test or cfg.source)
            except Exception:
                folder = ""
        self.data_edit.setText(folder or self.state.source)

    def _on_model_kind_changed(self, *_: Any) -> None:
        self.attack_settings.set_model_kind(self.model_kind())
        self._update_enabled()
        self._apply_defaults()

    def _update_enabled(self) -> None:
        running = self.busy()
        run = self.model_kind() == "run"
        widgets: list[tuple[QWidget, bool]] = [(self.run_chooser, run), (self.checkpoint, run)]
        widgets += [(self.onnx_edit, not run), (self.onnx_browse, not run)]
        widgets += [(w, True) for w in (self.run_radio, self.onnx_radio, self.data_edit, self.data_browse)]
        widgets += [(self.limit, True), (self.batch, True)]
        for widget, wanted in widgets:
            widget.setEnabled(wanted and not running)
        self.attack_settings.set_enabled(not running)
        self.surrogate.setEnabled(not running and self.attack_settings.kind() == "transfer")

    def _on_attack_changed(self, _name: str) -> None:
        transfer = self.attack_settings.kind() == "transfer"
        self.surrogate.setEnabled(transfer and not self.busy())
        self.surrogate.setVisible(transfer)
        label = self.form_layout.labelForField(self.surrogate)
        if label is not None:
            label.setVisible(transfer)
        self._update_run_button()

    def _update_run_button(self) -> None:
        why = self.attack_settings.problem()
        self.run_button.setEnabled(not why and not self.busy())
        self.run_button.setToolTip(why or "Attack the model at every budget of the grid (runs in the background).")

    def _on_browse_onnx(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose an ONNX model", self.onnx_edit.text(), "ONNX models (*.onnx)"
        )
        if path:
            self.set_onnx(path)

    def _on_browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a labelled folder", self.data_edit.text())
        if folder:
            self.set_data(folder)

    # ------------------------------------------------------------------ job
    def on_event(self, event: Event) -> None:
        if isinstance(event, Progress):
            eps = event.metrics.get("eps")
            self.status.setText(
                f"Batch {event.step} of {event.total_steps}" + (f" (eps {eps:.4g})" if eps is not None else "")
            )

    def show_report(self, report: RobustnessReport) -> None:
        name = self.results.add_report(report.model_dump(mode="json"))
        how = "Stopped" if report.stopped else "Done"
        self.status.setText(f"{how}: {name} on {report.n_images} images. Report: {Path(report.folder).name}")
        self.status.setToolTip(f"Report, curve and examples saved in {report.folder}")
        self.attacked.emit(report)

    def _on_running_changed(self, running: bool) -> None:
        super()._on_running_changed(running)
        self._update_enabled()
        self._update_run_button()
