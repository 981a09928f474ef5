"""The compression report (engine.deploy.compression) as a table: teacher, student and their
INT8 copies side by side, a line of ratios above it and any warnings below.

Fed with the report dict (`compression_report.json`); plain JSON, no torch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QWidget

from desktop_app.widgets.form_utils import pane
from desktop_app.widgets.table_utils import DASH, SortItem, fill_table, fmt_number, fmt_percent, is_number, make_table

COLUMNS = [
    "Model",
    "Parameters",
    "ONNX size",
    "Val acc",
    "Target acc",
    "Batch 1, 1 thread",
    "Batch 1, all threads",
    "Batch 32, 1 thread",
    "Batch 32, all threads",
]
COLUMN_TIPS = [
    "Teacher, student, and the INT8 copy of each when made.",
    "Trainable weights of the model.",
    "Size of the .onnx file.",
    "Top-1 accuracy on the run's held-out source validation images.",
    "Top-1 accuracy on the labelled target folder (measuring only).",
    "onnxruntime latency per call, median of repeated runs (milliseconds).",
    "onnxruntime latency per call on all cores (milliseconds).",
    "onnxruntime latency per batch of 32 on one thread (milliseconds).",
    "onnxruntime latency per batch of 32 on all cores (milliseconds).",
]
LATENCY = ("b1_t1", "b1_all", "b32_t1", "b32_all")


def fmt_params(n: Any) -> str:
    if not is_number(n):
        return DASH
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def fmt_bytes(n: Any) -> str:
    if not is_number(n):
        return DASH
    return f"{n / 2**20:.2f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def summary_text(report: dict[str, Any]) -> str:
    """One line: how much smaller and faster the student is, and what it cost in accuracy."""
    r = report.get("ratios") or {}
    if not r:
        return ""
    parts = [
        f"Student: {fmt_number(r.get('params'), 1)}× fewer weights",
        f"{fmt_number(r.get('size'), 1)}× smaller file",
        f"{fmt_number(r.get('speedup_b1_t1'), 1)}× faster at batch 1 on one thread",
    ]
    for key, label in (("val_acc_delta", "validation"), ("target_acc_delta", "target")):
        v = r.get(key)
        if is_number(v):
            parts.append(f"{100 * float(v):+.1f} points on {label}")
    return ", ".join(parts) + "."


class CompressionReportView(QWidget):
    """Table of the report's rows; `set_report(dict | None)` or `load(path)` fills it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.table = make_table(COLUMNS, self)
        for c, tip in enumerate(COLUMN_TIPS):
            item = self.table.horizontalHeaderItem(c)
            if item is not None:
                item.setToolTip(tip)
        self.warnings = QLabel()
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #b36b00;")
        self.empty = QLabel(
            "No compression report yet: choose the teacher and Compare with teacher "
            "(or run `transfer-studio compress RUN --teacher TEACHER`)."
        )
        pane(self.empty, self.summary, self.table, self.warnings, into=self)
        self.report: dict[str, Any] | None = None
        self.set_report(None)

    def load(self, path: str | Path) -> bool:
        """Show the report in `path`; False (and the empty message) when it is missing or unreadable."""
        try:
            report = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.set_report(None)
            return False
        self.set_report(report if isinstance(report, dict) else None)
        return self.report is not None

    def set_report(self, report: dict[str, Any] | None) -> None:
        self.report = report
        rows = (report or {}).get("rows") or []
        self.empty.setVisible(not rows)
        self.table.setVisible(bool(rows))
        cells = []
        for r in rows:
            lat = r.get("latency_ms") or {}
            cells.append(
                [
                    SortItem(str(r.get("model", ""))),
                    SortItem(fmt_params(r.get("params")), r.get("params")),
                    SortItem(fmt_bytes(r.get("size_bytes")), r.get("size_bytes")),
                    SortItem(fmt_percent(r.get("val_acc")), r.get("val_acc")),
                    SortItem(fmt_percent(r.get("target_acc")), r.get("target_acc")),
                    *[SortItem(fmt_number(lat.get(k), 3), lat.get(k)) for k in LATENCY],
                ]
            )
        fill_table(self.table, cells)
        self.summary.setText(summary_text(report or {}))
        warnings = (report or {}).get("warnings") or []
        self.warnings.setText("\n".join(f"⚠ {w}" for w in warnings))
        self.warnings.setVisible(bool(warnings))
