"""Backbone and weights chooser: the engine's backbone registry, and where the weights come from.

Weights are 'auto', 'pretrained', 'random' or a file. When pretrained weights are asked for but
are not on disk, the engine's own message (which file, which folder, what to do) shows inline and
the choice counts as invalid while offline. Online, a "Download weights" button fetches them now
with a progress bar (engine.models.weights.download_weights in a JobRunner), instead of leaving the
download to the start of training. The registry needs torch, so `populate()` is called once the
engine has loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QProgressBar,
    QToolButton,
    QWidget,
)

from desktop_app.jobs import JobRunner
from desktop_app.widgets.folder_picker import remember_folder, start_folder
from desktop_app.widgets.form_utils import button, label, line_edit, pane, tipped
from engine.core.events import Progress


def download_job(emit: Any, control: Any, backbone: str) -> str:
    """JobRunner job: download a backbone's pretrained weights (imports torch: worker thread only)."""
    from engine.models.backbones import BACKBONES
    from engine.models.weights import download_weights

    spec = BACKBONES.find(backbone)
    assert spec is not None
    return str(download_weights(spec, lambda done, total: emit(Progress(0, done, total)), control))


WEIGHT_CHOICES = (
    ("auto", "Auto", "Pretrained weights when the backbone has them, else random."),
    ("pretrained", "Pretrained (ImageNet)", "ImageNet weights from the torch hub cache (downloaded when online)."),
    ("random", "Random", "Start from random weights (no download; needs more data and epochs)."),
    ("file", "From a file…", "Your own weights: a .pth, .pt or .safetensors state dict."),
)


class BackbonePicker(QWidget):
    """Combo boxes for the backbone and the weights, with the weights' status underneath."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.backbone_combo = tipped(QComboBox(), "Network architecture from the engine's backbone registry.")
        self.backbone_combo.addItem("loading PyTorch…")
        self.backbone_combo.setEnabled(False)
        self.summary = label()
        self.weights_combo = tipped(QComboBox(), "Where the backbone's starting weights come from.")
        for key, text, tip in WEIGHT_CHOICES:
            self.weights_combo.addItem(text, key)
            self.weights_combo.setItemData(self.weights_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.file_edit = line_edit(
            "weights file (.pth, .pt, .safetensors)",
            "A state dict saved with torch.save(model.state_dict()) or a .safetensors file.",
        )
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Browse for a weights file.")
        browse.clicked.connect(self._on_browse)
        self.run_browse = QToolButton()
        self.run_browse.setText("Run…")
        self.run_browse.setToolTip(
            "Use the backbone of a pretraining run (transfer-studio pretrain, or the Cluster page)."
        )
        self.run_browse.clicked.connect(self._on_browse_run)
        self.file_row = pane(self.file_edit, browse, self.run_browse, horizontal=True)
        self.file_row.setVisible(False)
        self.message = label(tip="Whether the chosen weights can be used.")
        self.download_button = button(
            "Download weights", "Fetch the pretrained weights into the torch hub cache now.", self.download
        )
        self.download_bar = QProgressBar()
        self.download_bar.setVisible(False)
        download_row = pane(self.download_button, (self.download_bar, 1), horizontal=True)
        self.runner = JobRunner(
            self, events=self._on_download_events, finished=self._on_download_done, failed=self._on_download_failed
        )
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Backbone", self.backbone_combo)
        form.addRow("", self.summary)
        form.addRow("Weights", self.weights_combo)
        form.addRow("", self.file_row)
        form.addRow(self.message)
        form.addRow(download_row)
        self.download_button.setVisible(False)
        self._ready = False
        self._ok = False
        self.backbone_combo.currentIndexChanged.connect(self._on_changed)
        self.weights_combo.currentIndexChanged.connect(self._on_changed)
        self.file_edit.textChanged.connect(self._on_changed)

    # ------------------------------------------------------------------ API
    def populate(self) -> None:
        """Fill the backbone list from the engine's registry (imports torch: call once it has loaded)."""
        from engine.models.backbones import BACKBONES

        current = self.backbone()
        self.backbone_combo.blockSignals(True)
        self.backbone_combo.clear()
        for spec in BACKBONES.values():
            self.backbone_combo.addItem(spec.name, spec.name)
            self.backbone_combo.setItemData(self.backbone_combo.count() - 1, spec.summary, Qt.ItemDataRole.ToolTipRole)
        self.backbone_combo.setEnabled(True)
        self.backbone_combo.blockSignals(False)
        self._ready = True
        if current:
            self.set_choice(current, self.weights())
        self._on_changed()

    def backbone(self) -> str:
        return self.backbone_combo.currentData() or ""

    def weights(self) -> str:
        key = self.weights_combo.currentData()
        return self.file_edit.text().strip() if key == "file" else key

    def set_choice(self, backbone: str, weights: str) -> None:
        i = self.backbone_combo.findData(backbone)
        if i >= 0:
            self.backbone_combo.setCurrentIndex(i)
        j = self.weights_combo.findData(weights)
        if j < 0:
            j = self.weights_combo.findData("file")
            self.file_edit.setText(weights)
        self.weights_combo.setCurrentIndex(j)
        self._on_changed()

    def is_valid(self) -> bool:
        return self._ok

    def status(self) -> tuple[bool, str]:
        """(usable, message) for the current choice, using the engine's missing-weights message."""
        if not self._ready:
            return False, "Loading PyTorch…"
        from engine.models.backbones import BACKBONES
        from engine.models.weights import cached_weights_path, missing_message, offline, pretrained_available

        spec = BACKBONES.find(self.backbone())
        if spec is None:
            return False, "Choose a backbone."
        key = self.weights_combo.currentData()
        if key == "random":
            return True, "Weights start at random."
        if key == "file":
            path = self.file_edit.text().strip()
            if not path:
                return False, "Choose a weights file (.pth, .pt or .safetensors)."
            if Path(path).expanduser().is_dir():
                from engine.ssl.run_io import is_pretrain_run

                if is_pretrain_run(path):
                    return True, f"Backbone pretrained by the run {Path(path).name}."
                return False, f"{path}: not a pretraining run. Pick a run made by 'transfer-studio pretrain'."
            if not Path(path).expanduser().is_file():
                return False, f"{path}: weights file not found. Pick an existing .pth, .pt or .safetensors file."
            return True, f"Weights from {path}."
        if not spec.has_pretrained:
            if key == "auto":
                return True, f"'{spec.name}' has no pretrained weights: it starts from random weights."
            return (
                False,
                f"backbone '{spec.name}' has no pretrained weights; choose random initialisation or a weights file.",
            )
        if pretrained_available(spec):
            return True, f"Pretrained weights found: {cached_weights_path(spec)}"
        if offline():
            return False, missing_message(spec)
        dest = cached_weights_path(spec)
        return True, (
            f"Pretrained weights for '{spec.name}' are not on this computer yet. Press Download weights to "
            f"fetch them now into {dest.parent if dest else 'the torch hub cache'}, or they are downloaded "
            "when training starts."
        )

    def needs_download(self) -> bool:
        """Pretrained weights are wanted, missing, and may be downloaded."""
        if not self._ready or self.weights_combo.currentData() not in ("auto", "pretrained"):
            return False
        from engine.models.backbones import BACKBONES
        from engine.models.weights import offline, pretrained_available

        spec = BACKBONES.find(self.backbone())
        return bool(spec and spec.has_pretrained and not pretrained_available(spec) and not offline())

    def download(self) -> bool:
        if self.runner.running or not self.needs_download():
            return False
        self.download_button.setEnabled(False)
        self.download_bar.setRange(0, 0)
        self.download_bar.setVisible(True)
        self.runner.start(download_job, self.backbone())
        return True

    def _on_download_events(self, batch: list) -> None:
        last = next((e for e in reversed(batch) if isinstance(e, Progress)), None)
        if last is not None and last.total_steps > 0:
            self.download_bar.setRange(0, last.total_steps)
            self.download_bar.setValue(last.step)
            self.download_bar.setFormat(f"{last.step / 1e6:.1f} / {last.total_steps / 1e6:.1f} MB")

    def _on_download_done(self, path: Any) -> None:
        self.download_bar.setVisible(False)
        self.download_button.setEnabled(True)
        self._on_changed()

    def _on_download_failed(self, message: str, details: str) -> None:
        self.download_bar.setVisible(False)
        self.download_button.setEnabled(True)
        self._on_changed()
        self.message.setStyleSheet("color: #d32f2f;")
        self.message.setText(f"Download failed: {message}")

    # ------------------------------------------------------------------ slots
    def _on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Weights file",
            start_folder(self.file_edit.text().strip()),
            "Weights (*.pth *.pt *.safetensors);;All files (*)",
        )
        if path:
            remember_folder(path)
            self.file_edit.setText(path)

    def _on_browse_run(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Pretraining run", self.file_edit.text() or str(Path.home()))
        if folder:
            self.file_edit.setText(folder)

    def _on_changed(self, *_: object) -> None:
        self.file_row.setVisible(self.weights_combo.currentData() == "file")
        if self._ready:
            from engine.models.backbones import BACKBONES

            spec = BACKBONES.find(self.backbone())
            self.summary.setText(f"{spec.summary} Input {spec.input_size}×{spec.input_size} px." if spec else "")
        ok, message = self.status()
        self._ok = ok
        colour = "palette(text)" if ok else "#d32f2f"
        self.message.setStyleSheet(f"color: {colour};")
        self.message.setText(message)
        self.download_button.setVisible(self.needs_download())
        self.changed.emit()
