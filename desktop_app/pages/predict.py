"""Predict page: classify an image or a folder with an ONNX model (onnxruntime, no torch).

Drop an image, a folder or an .onnx file onto the page, or use the buttons. The model file is
checked with inspect_onnx on the UI thread (cheap, read-only); the classifying is the engine's
predict job (engine.jobs.predict, which keeps the onnxruntime session of the last model), run by
the JobPage base. A folder's unreadable files become error rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app import errors
from desktop_app.pages.job_page import JobPage
from desktop_app.state import AppState
from desktop_app.widgets.form_utils import button, hbox, label, pane, spin
from desktop_app.widgets.image_grid import read_scaled
from desktop_app.widgets.prediction_table import PredictionTable
from desktop_app.widgets.table_utils import SortItem, fill_table, fmt_percent, make_table
from desktop_app.widgets.why_panel import WhyPanel
from engine.core.events import Event, Started
from engine.deploy.prediction import Prediction
from engine.jobs import predict as predict_job
from engine.jobs.predict import PredictConfig, PredictReport

if TYPE_CHECKING:  # the onnx package takes a second to import: it loads when a model is first chosen
    from engine.deploy.onnx_check import OnnxModelInfo

PREVIEW = 320
HINT = "Drop an image or a folder of images here (or an .onnx file to use it as the model)."


def task_rows(pred: Prediction) -> list[tuple[str, float]]:
    """The rows of the top-k table: the classes, or for a multitask model 'task: class' for every task."""
    if pred.tasks:
        return [(f"{t}: {c}", p) for t, top in pred.tasks.items() for c, p in top]
    return list(pred.top)


class PredictPage(JobPage):
    """Model, top-k, image/folder input; results as bars (one image) or a table (a folder)."""

    title = "Predict"
    icon = "SP_FileDialogContentsView"
    predicted = Signal(object)  # list[Prediction] of the last finished prediction
    job = predict_job.JOB
    stop_tip = "Stop classifying; the files done so far are kept."
    running_text = "Classifying..."

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(state, parent)
        self.setAcceptDrops(True)
        self.model_info: OnnxModelInfo | None = None
        self.predictions: list[Prediction] = []
        self.csv_path = ""
        self._top_k_used = 3
        self._root = ""
        self._single = False
        self.run_button.setVisible(False)  # the open buttons and drops start the job
        self.progress.setFormat("%v / %m")
        self.model_label = label("No model. Export a run on the Export page, or open an ONNX file.")
        self.open_model_button = button(
            "Open model...", "Choose any ONNX image classifier (it is checked before use).", self._on_open_model
        )
        self.top_k = spin(1, 20, 3, "How many of the most likely classes to show for each image.")
        self.open_image_button = button("Open image...", "Classify one image file.", self._on_open_image)
        self.open_folder_button = button(
            "Open folder...", "Classify every file in a folder (and its sub-folders).", self._on_open_folder
        )
        self.stack = QStackedWidget()
        self.hint = QLabel(HINT, alignment=Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("QLabel { border: 2px dashed #999; border-radius: 8px; color: #666; font-size: 14pt; }")
        self.image_label = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(PREVIEW, PREVIEW)
        self.image_name = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.image_name.setWordWrap(True)
        self.topk_table = make_table(["Class", "Probability"])
        self.topk_table.setToolTip("The most likely classes for this image.")
        self.results = PredictionTable()
        self.folder_table = self.results.table
        self.save_csv_button = button(
            "Save CSV...",
            "Save the table as CSV: path, prediction, probability, top-k pairs, error.",
            self._on_save_csv,
            enabled=False,
        )
        self.why = WhyPanel()  # "Why?": maps for the predicted class and the folder's (or the runner-up) class
        self._build_layout()
        state.model_changed.connect(self._on_model_changed)
        # The chosen model is checked when the page is first shown, not at start-up: the check
        # imports the onnx package (a second), which the window should not wait for.

    def _build_layout(self) -> None:
        model_row = hbox("Model:", (self.model_label, 1), self.open_model_button, "Top-k:", self.top_k)
        input_row = self.action_row()
        input_row.insertWidget(0, self.open_folder_button)
        input_row.insertWidget(0, self.open_image_button)
        single = QWidget()
        single_outer = QVBoxLayout(single)
        preview = pane((self.image_label, 1), self.image_name)
        single_outer.addLayout(hbox((preview, 1), (self.topk_table, 1)), 1)
        single_outer.addWidget(self.why)
        folder = pane((self.results, 1), hbox(None, self.save_csv_button))
        for w in (self.hint, single, folder):
            self.stack.addWidget(w)
        layout = QVBoxLayout(self)
        layout.addLayout(model_row)
        layout.addLayout(input_row)
        layout.addWidget(self.stack, 1)

    # ------------------------------------------------------------------ public API
    def on_shown(self) -> None:
        if self.state.onnx_path and (self.model_info is None or self.model_info.path != self.state.onnx_path):
            self.load_model(self.state.onnx_path, quiet=True)

    def shutdown(self) -> None:
        super().shutdown()
        self.results.shutdown()
        self.why.shutdown()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.on_shown()

    def load_model(self, path: str, quiet: bool = False) -> bool:
        """Check `path` with inspect_onnx and use it; on a refusal show why (unless `quiet`) and keep the old model."""
        if not path:
            self.model_info = None
            self.model_label.setText("No model. Export a run on the Export page, or open an ONNX file.")
            return False
        try:
            from engine.deploy.onnx_check import inspect_onnx

            info = inspect_onnx(path)
        except Exception as err:
            if not quiet:
                errors.show_error(self, str(err))
            else:
                self.status.setText(str(err))
            return False
        self.model_info = info
        classes = ", ".join(info.classes[:8]) + (", ..." if len(info.classes) > 8 else "")
        origin = f"{info.backbone}, " if info.backbone else ""
        run = f" from run {info.run_id}" if info.run_id else ""
        self.model_label.setText(
            f"{Path(path).name}{run}  ({origin}{info.num_classes or '?'} classes: {classes}; "
            f"{info.input_size}×{info.input_size} input)"
        )
        self.model_label.setToolTip(path)
        return True

    def predict(self, paths: Sequence[str]) -> bool:
        """Classify `paths`: one image file shows bars, anything else (folders, several files) a table."""
        paths = [str(p) for p in paths if p]
        if not paths or self.runner.running:
            return False
        if self.model_info is None:
            errors.show_error(
                self,
                "No model to predict with. Export a run on the Export page, or click Open model... "
                "to choose an ONNX file.",
            )
            return False
        missing = [p for p in paths if not Path(p).exists()]
        if missing:
            errors.show_error(self, f"{missing[0]}: no such file or folder; choose an image or a folder of images.")
            return False
        self._root = paths[0] if len(paths) == 1 and Path(paths[0]).is_dir() else ""
        self._single = len(paths) == 1 and Path(paths[0]).is_file()
        self._top_k_used = self.top_k.value()
        self.start_config(PredictConfig(model=Path(self.model_info.path), inputs=paths, top_k=self._top_k_used))
        return True

    def open_paths(self, paths: Sequence[str]) -> None:
        """What a drop does: an .onnx file becomes the model; images and folders are classified."""
        models = [p for p in paths if p.lower().endswith(".onnx") and Path(p).is_file()]
        if models:
            if self.load_model(models[0]):
                self.state.set_model(models[0])
            return
        self.predict(paths)

    def save_csv(self, path: str) -> bool:
        """Write the current predictions to `path` as CSV (atomic; a table's worth takes milliseconds)."""
        if not self.predictions or self.runner.running:
            return False
        try:
            from engine.deploy.predict import write_csv

            self.csv_path = str(write_csv(self.predictions, path, self._top_k_used))
        except OSError as err:
            errors.show_error(self, f"{path}: could not write the CSV file ({err.strerror or err}).")
            return False
        self.status.setText(f"Saved {len(self.predictions)} row(s) to {self.csv_path}")
        return True

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() for u in urls) and not self.runner.running:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # ------------------------------------------------------------------ showing results
    def _show_single(self, pred: Prediction) -> None:
        image = read_scaled(pred.path, PREVIEW)
        if image.isNull():
            self.image_label.setText("(no preview for this file)")
        else:
            self.image_label.setPixmap(QPixmap.fromImage(image))
        self.image_name.setText(Path(pred.path).name)
        self.topk_table.setRowCount(0)
        if pred.error:
            errors.show_error(self, f"{pred.path}: {pred.error}")
            self.status.setText(f"Could not read {Path(pred.path).name}: {pred.error}")
        shown = task_rows(pred)
        rows = [[SortItem(name, p), SortItem("")] for name, p in shown]
        fill_table(self.topk_table, rows)
        for r, (_name, p) in enumerate(shown):
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(1000 * p))
            bar.setFormat(fmt_percent(p))
            bar.setTextVisible(True)
            self.topk_table.setCellWidget(r, 1, bar)
        self.topk_table.setColumnWidth(0, 140)
        self.stack.setCurrentIndex(1)
        self._set_why(pred)

    def _set_why(self, pred: Prediction) -> None:
        """Point the "Why?" toggle at this image: its predicted class against its folder's class when the
        folder is named after one, else against the runner-up."""
        self.why.setEnabled(bool(pred.top) and self.model_info is not None)
        if not pred.top or self.model_info is None:
            return
        predicted = pred.top[0][0]
        folder = Path(pred.path).parent.name
        other: str | None = pred.top[1][0] if len(pred.top) > 1 else None
        label = "runner-up"
        if folder in self.model_info.classes and folder != predicted:
            other, label = folder, "true (folder)"
        method = "cam" if self.model_info.cam_output and not self.why.toggle.isChecked() else None
        self.why.set_subject(self.model_info.path, pred.path, predicted, other, label, method=method)

    def _show_table(self, report: PredictReport) -> None:
        self.results.set_predictions(report.predictions, self._root, report.score)
        self.save_csv_button.setEnabled(bool(report.predictions))
        self.stack.setCurrentIndex(2)

    # ------------------------------------------------------------------ slots
    def _on_model_changed(self, path: str) -> None:
        if self.isVisible() and (self.model_info is None or self.model_info.path != path):
            self.load_model(path)

    def _on_open_model(self) -> None:
        start = str(Path(self.state.onnx_path).parent) if self.state.onnx_path else str(self.state.workspace)
        path, _ = QFileDialog.getOpenFileName(self, "Open an ONNX model", start, "ONNX models (*.onnx);;All files (*)")
        if path and self.load_model(path):
            self.state.set_model(path)

    def _on_open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Classify an image", "", "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"
        )
        if path:
            self.predict([path])

    def _on_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Classify a folder of images")
        if folder:
            self.predict([folder])

    def _on_save_csv(self) -> None:
        default = (
            (Path(self._root).parent / f"{Path(self._root).name}_predictions.csv")
            if self._root
            else Path("predictions.csv")
        )
        path, _ = QFileDialog.getSaveFileName(self, "Save predictions as CSV", str(default), "CSV files (*.csv)")
        if path:
            self.save_csv(path if path.lower().endswith(".csv") else path + ".csv")

    def show_report(self, report: PredictReport) -> None:
        preds = report.predictions
        self.predictions = preds
        self.progress.setRange(0, max(1, report.total))
        self.progress.setValue(len(preds))
        if self._single and len(preds) == 1:
            self._show_single(preds[0])
            if not preds[0].error:
                self.status.setText(
                    f"{Path(preds[0].path).name}: {preds[0].top[0][0]} ({fmt_percent(preds[0].top[0][1])})"
                )
        else:
            self._show_table(report)
            text = f"{len(preds)} file(s) classified" + (
                f", {report.errors} could not be read" if report.errors else ""
            )
            if report.score is not None:
                text += f"; {fmt_percent(report.score.accuracy)} right against the class folders"
            if report.stopped:
                text += f"; stopped before the other {report.total - len(preds)}"
            self.status.setText(text + ".")
        self.save_csv_button.setEnabled(bool(preds) and self.stack.currentIndex() == 2)
        self.predicted.emit(preds)

    def on_event(self, event: Event) -> None:
        if isinstance(event, Started):
            self.status.setText(f"Classifying {event.total_steps} file(s)...")

    def set_inputs_enabled(self, enabled: bool) -> None:
        for w in (self.open_model_button, self.open_image_button, self.open_folder_button, self.top_k):
            w.setEnabled(enabled)
        self.save_csv_button.setEnabled(enabled and bool(self.predictions) and self.stack.currentIndex() == 2)
