"""The Predict page's folder view: one row per file with its thumbnail, and, when the folder has
class sub-folders named like the model's classes, the accuracy and the confusion matrix.

Thumbnails load off the UI thread (the image grid's ThumbnailModel) for the rows in view only, so
a table of 10,000 files fills at once and scrolls freely.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QTableWidgetItem, QWidget

from desktop_app.widgets.confusion_matrix import ConfusionMatrixView
from desktop_app.widgets.form_utils import label, pane, splitter
from desktop_app.widgets.image_grid import ThumbnailModel
from desktop_app.widgets.table_utils import SortItem, cell_text, fill_table, fmt_percent, make_table, mark_error
from engine.deploy.prediction import FolderScore, Prediction

THUMB = 40
_AHEAD = 30  # rows below the view whose thumbnails are asked for too


class PredictionTable(QWidget):
    """`set_predictions(predictions, root, score)`; `table` holds the rows (File, Prediction, Probability,
    Other classes, True class, Error)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = make_table(
            ["File", "Prediction", "Probability", "Other classes", "True class", "Error"], multi=True, sort_column=0
        )
        self.table.setToolTip("One row per file; files that could not be read are red, with the reason.")
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 4)
        self.thumbs = ThumbnailModel(size=THUMB, cache_size=3000, parent=self)
        self.thumbs.thumbnail_ready.connect(self._on_thumbnail)
        self.score_label = label()
        self.matrix = ConfusionMatrixView()
        self.matrix.setToolTip("Rows: the class folder an image is in; columns: the model's prediction.")
        self.score_panel = pane(self.score_label, (self.matrix, 1))
        self.score_panel.setVisible(False)
        self.score: FolderScore | None = None
        self._items: dict[str, QTableWidgetItem] = {}
        pane(splitter(Qt.Orientation.Horizontal, self.table, self.score_panel, sizes=(720, 480)), into=self)
        self.table.verticalScrollBar().valueChanged.connect(lambda _: self.request_thumbnails())

    def set_predictions(self, predictions: list[Prediction], root: str, score: FolderScore | None) -> None:
        """Fill the rows (file names relative to `root` when given) and the score panel."""
        base = Path(root) if root else None
        truth = score.labels if score else {}
        rows = []
        self._items.clear()
        for pred in predictions:
            path = Path(pred.path)
            name = str(path.relative_to(base)) if base and path.is_relative_to(base) else pred.path
            file_item = SortItem(name)
            file_item.setToolTip(pred.path)
            self._items[pred.path] = file_item
            top = pred.top
            best = top[0][0] if top else ""
            others = ", ".join(f"{c} {fmt_percent(p)}" for c, p in top[1:])
            if pred.tasks:  # a multitask model: every task's prediction, its other classes after
                best = ", ".join(f"{t}: {v[0][0]}" for t, v in pred.tasks.items() if v)
                others = "; ".join(
                    f"{t}: " + ", ".join(f"{c} {fmt_percent(p)}" for c, p in v[1:]) for t, v in pred.tasks.items()
                )
            rows.append(
                [
                    file_item,
                    SortItem(best),
                    SortItem(fmt_percent(top[0][1]) if top else "", top[0][1] if top else None),
                    SortItem(others),
                    SortItem(truth.get(pred.path, "")),
                    SortItem(pred.error or ""),
                ]
            )
        fill_table(self.table, rows)
        self.table.resizeColumnToContents(0)  # the file names (and thumbnails) first
        self.table.setColumnHidden(4, not truth)
        for r in range(self.table.rowCount()):
            if cell_text(self.table, r, 5):
                mark_error(self.table, r)
        self.thumbs.set_paths([p.path for p in predictions])
        self._show_score(score)
        self.request_thumbnails()

    def _show_score(self, score: FolderScore | None) -> None:
        self.score = score
        self.score_panel.setVisible(score is not None)
        if score is None:
            self.matrix.clear_matrix()
            return
        self.score_label.setText(
            f"<b>Accuracy against the class folders: {fmt_percent(score.accuracy)}</b> "
            f"({score.correct} of {score.counted} images in folders named like the model's classes)"
        )
        self.matrix.set_matrix(score.confusion, score.classes)

    def request_thumbnails(self) -> None:
        """Ask for the thumbnails of the rows in view (and a few below)."""
        n = self.table.rowCount()
        if n == 0:
            return
        first = max(0, self.table.rowAt(0))
        last = self.table.rowAt(self.table.viewport().height() - 1)
        last = n - 1 if last < 0 else min(n - 1, last + _AHEAD)
        for row in range(first, last + 1):
            item = self.table.item(row, 0)
            if item is not None and item.icon().isNull():
                pixmap = self.thumbs.thumbnail(item.toolTip())
                if pixmap is not None:
                    item.setIcon(QIcon(pixmap))

    def _on_thumbnail(self, path: str) -> None:
        item = self._items.get(path)
        pixmap = self.thumbs.thumbnail(path)
        if item is not None and pixmap is not None:
            item.setIcon(QIcon(pixmap))

    def shutdown(self) -> None:
        self.thumbs.shutdown()
