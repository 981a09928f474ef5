"""The "Why?" toggle: heat maps of what the model looked at, for the predicted class and for the
true (or another) class side by side, computed by the engine's explain job in the background.

Used on the enlarged image of Evaluate's misclassified gallery (a run: Grad-CAM by default) and
on the Predict page (an ONNX file: occlusion, RISE, or exact CAM when the export carries it).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QPushButton, QWidget

from desktop_app.jobs import JobRunner
from desktop_app.widgets.form_utils import hbox, label, pane
from engine.jobs import explain as explain_job
from engine.jobs.explain import ExplainConfig, ExplainReport

RUN_METHODS = ("gradcam", "gradcam++", "occlusion", "rise", "cam")
ONNX_METHODS = ("occlusion", "rise", "cam")
METHOD_TIPS = {
    "gradcam": "Grad-CAM: gradients at the backbone's last convolutional stage (fast, coarse).",
    "gradcam++": "Grad-CAM++: like Grad-CAM, weighting each position by higher-order gradients.",
    "occlusion": "Occlusion: the drop in probability when a grey square hides each place (model answers only).",
    "rise": "RISE: the probability under 1000 random masks that keep each place (model answers only).",
    "cam": "Exact CAM: the class activation map of a backbone ending in pooling + one linear layer.",
}
SHOWN = 420  # width of each image | heat map | blend strip


class WhyPanel(QWidget):
    """`set_subject(...)` names the model, image and classes; the checkable "Why?" button shows the maps.
    Signal `explained(ExplainReport)` when the maps are shown."""

    explained = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._model = self._image = ""
        self._classes: list[str] = []
        self._labels: list[str] = []
        self._checkpoint = "best"
        self._out = Path(tempfile.mkdtemp(prefix="ts-why-"))
        self._calls = 0
        self.runner = JobRunner(self, finished=self._on_finished, failed=self._on_failed)
        self.toggle = QPushButton("Why?")
        self.toggle.setCheckable(True)
        self.toggle.setToolTip("Show what the model looked at: a heat map for the predicted and for the true class.")
        self.method = QComboBox()
        self.status = label()
        self.pictures = [QLabel(alignment=Qt.AlignmentFlag.AlignCenter) for _ in range(2)]
        self.captions = [QLabel(alignment=Qt.AlignmentFlag.AlignCenter) for _ in range(2)]
        self.maps = QWidget()
        grid = QGridLayout(self.maps)
        grid.setContentsMargins(0, 0, 0, 0)
        for k in range(2):
            grid.addWidget(self.captions[k], 0, k)
            grid.addWidget(self.pictures[k], 1, k)
        self.maps.setVisible(False)
        pane(hbox(self.toggle, "Method:", self.method, (self.status, 1)), self.maps, into=self)
        self.set_methods(RUN_METHODS)
        self.toggle.toggled.connect(self._on_toggled)
        self.method.currentTextChanged.connect(lambda _: self.toggle.isChecked() and self.explain())

    # ------------------------------------------------------------------ public API
    def set_methods(self, methods: tuple[str, ...], default: str | None = None) -> None:
        self.method.blockSignals(True)
        self.method.clear()
        for name in methods:
            self.method.addItem(name)
            self.method.setItemData(self.method.count() - 1, METHOD_TIPS[name], Qt.ItemDataRole.ToolTipRole)
        if default in methods:
            self.method.setCurrentText(default)
        self.method.blockSignals(False)

    def set_subject(
        self,
        model: str,
        image: str,
        predicted: str,
        other: str | None,
        other_label: str = "true",
        checkpoint: str = "best",
        method: str | None = None,
    ) -> None:
        """The model (run folder or .onnx), the image, and the classes to explain; hides old maps.
        `method` picks the method; else the one chosen before, if the model allows it."""
        self._model, self._image, self._checkpoint = model, image, checkpoint
        pairs = [(predicted, "predicted")] + ([(other, other_label)] if other and other != predicted else [])
        self._classes = [c for c, _ in pairs]
        self._labels = [label for _, label in pairs]
        onnx = Path(model).suffix.lower() == ".onnx"
        keep = self.method.currentText() if self.method.count() else None
        methods = ONNX_METHODS if onnx else RUN_METHODS
        self.set_methods(methods, method or (keep if keep in methods else ("occlusion" if onnx else "gradcam")))
        self.maps.setVisible(False)
        if self.toggle.isChecked():
            self.explain()

    def explain(self) -> bool:
        """Start the explain job for the current subject and method (False if there is none or one runs)."""
        if not self._model or not self._image or self.runner.running:
            return False
        self._calls += 1
        config = ExplainConfig(
            model=Path(self._model),
            images=Path(self._image),
            method=self.method.currentText(),
            classes=self._classes,
            out=self._out / str(self._calls),
            checkpoint=self._checkpoint,
            faithfulness=False,
            limit=1,
        )
        self.status.setText(f"Computing {config.method} maps...")
        self.runner.run_job(explain_job.JOB, config)
        return True

    def shutdown(self) -> None:
        self.runner.stop_and_wait()
        shutil.rmtree(self._out, ignore_errors=True)

    # ------------------------------------------------------------------ slots
    def _on_toggled(self, on: bool) -> None:
        if on:
            self.explain()
        else:
            self.maps.setVisible(False)
            self.status.setText("")

    def _on_finished(self, report: ExplainReport) -> None:
        if not report.images:
            self.status.setText("; ".join(report.skipped) or "No map: the image could not be read.")
            return
        image = report.images[0]
        for k in range(2):
            visible = k < len(image.maps)
            self.pictures[k].setVisible(visible)
            self.captions[k].setVisible(visible)
            if visible:
                m = image.maps[k]
                pix = QPixmap(m.overlay)
                self.pictures[k].setPixmap(pix.scaledToWidth(SHOWN, Qt.TransformationMode.SmoothTransformation))
                self.captions[k].setText(f"{self._labels[k]}: {m.name} (p = {m.probability:.2f})")
        self.maps.setVisible(self.toggle.isChecked())
        self.status.setText(
            f"{report.method}: {image.seconds * 1000:.0f} ms, {image.queries} model queries. "
            "Left to right: image, heat map (red: looked at), blend."
        )
        self.explained.emit(report)

    def _on_failed(self, message: str, _details: str) -> None:
        self.toggle.setChecked(False)
        self.status.setText(message)
