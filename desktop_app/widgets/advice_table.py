"""The advisor's candidate table: one row per candidate run, its label-free scores, a bar of the
value it was ranked by, and (with a labelled target test) the true target accuracy as a check."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtWidgets import QProgressBar, QTableWidget, QWidget

from desktop_app.widgets.table_utils import SortItem, fill_table, fmt_percent, make_table
from engine.advisor.advice import Entry

HEADERS = [
    "Rung",
    "Rank",
    "Candidate",
    "Epochs",
    "Source val acc",
    "DEV (lower better)",
    "SND (higher better)",
    "Target entropy",
    "Class skew",
    "Agreement",
    "Score",
    "Target acc (check)",
    "Status",
]
SCORE_COLUMN, CHECK_COLUMN = HEADERS.index("Score"), HEADERS.index("Target acc (check)")
TIPS = {
    "Source val acc": "Accuracy on held-out source images: blind to the shift, but catches a model that forgot the task.",
    "DEV (lower better)": "Deep Embedded Validation (You et al. 2019): source validation loss weighted by how target-like each image is.",
    "SND (higher better)": "Soft Neighbourhood Density (Saito et al. 2021): how densely the target predictions cluster.",
    "Target entropy": "Mean entropy of the target predictions: lower is more confident.",
    "Class skew": "How far the shares of target images the candidate puts in each class stray from the source's "
    "class shares (total variation, 0 to 1). Near 1: most target images in a few classes. A check; with "
    "--tie-z it orders candidates whose source accuracies tie.",
    "Agreement": "Share of target images on which the candidate predicts what the ensemble of its rung's "
    "low-skew candidates predicts (EnsV, Hu et al. 2024): a model that goes its own way on the target is "
    "suspect even when it fits the source well.",
    "Score": "The value the candidate was ranked by within its rung: its agreement by default (candidates "
    "too skewed to vote come after the voters), or the score chosen with --rank-by.",
    "Target acc (check)": "True accuracy on the labelled target test folder: shown as a check only, never used to choose.",
}


def _num(value: float | None, digits: int = 3) -> SortItem:
    if value is None or not math.isfinite(value):
        return SortItem("–", math.inf)
    return SortItem(f"{value:.{digits}f}", value)


def _pct(value: float | None) -> SortItem:
    if value is None or not math.isfinite(value):
        return SortItem("–", -math.inf)
    return SortItem(fmt_percent(value), value)


class AdviceTable(QWidget):
    """A table of `Entry` rows (latest rung first, best first) with a score bar per row."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtWidgets import QVBoxLayout

        self.table: QTableWidget = make_table(HEADERS, self)
        for col, name in enumerate(HEADERS):
            item = self.table.horizontalHeaderItem(col)
            if item is not None and name in TIPS:
                item.setToolTip(TIPS[name])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.entries: list[Entry] = []

    def set_entries(self, entries: Sequence[Entry], show_check: bool) -> None:
        self.entries = sorted(entries, key=lambda e: (-e.rung, e.rank or 99, e.candidate))
        rows = []
        for e in self.entries:
            s = e.scores
            status = e.status + (f": {e.reason}" if e.reason else "")
            rows.append(
                [
                    SortItem(str(e.rung + 1), e.rung),
                    SortItem(str(e.rank) if e.rank else "–", e.rank or 99),
                    SortItem(e.label),
                    SortItem(str(e.epochs), e.epochs),
                    _pct(s.get("val_acc")),
                    _num(s.get("dev")),
                    _num(s.get("snd")),
                    _num(s.get("entropy")),
                    _num(s.get("class_tv"), 2),
                    _pct(s.get("agreement")),
                    _num(e.combined, 2),
                    _pct(s.get("target_acc")),
                    SortItem(status),
                ]
            )
        fill_table(self.table, rows)
        for r, e in enumerate(self.entries):
            self.table.setCellWidget(r, SCORE_COLUMN, self._bar(e.combined))
        self.table.setColumnHidden(CHECK_COLUMN, not show_check)

    def _bar(self, value: float | None) -> QProgressBar:
        bar = QProgressBar()
        bar.setRange(0, 100)
        finite = value is not None and math.isfinite(value)
        bar.setValue(round(100 * max(0.0, min(1.0, value if finite and value is not None else 0.0))))
        bar.setFormat(f"{value:.2f}" if finite and value is not None else "–")
        bar.setToolTip(TIPS["Score"])
        return bar

    def bar_values(self) -> list[int]:
        out = []
        for r in range(self.table.rowCount()):
            w = self.table.cellWidget(r, SCORE_COLUMN)
            out.append(w.value() if isinstance(w, QProgressBar) else -1)
        return out

    def row_count(self) -> int:
        return self.table.rowCount()
