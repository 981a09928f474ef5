"""The compression report widget: one row per model, ratios above, warnings below."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from desktop_app.widgets.compression_report import CompressionReportView
from desktop_app.widgets.table_utils import column_texts


def _report() -> dict[str, Any]:
    def row(name: str, params: int, size: int, val: float, target: float, ms: float) -> dict[str, Any]:
        lat = {"b1_t1": ms, "b1_all": ms / 2, "b32_t1": ms * 20, "b32_all": ms * 5}
        return {
            "model": name,
            "params": params,
            "size_bytes": size,
            "val_acc": val,
            "target_acc": target,
            "latency_ms": lat,
        }

    return {
        "rows": [
            row("teacher", 288_746, 1_160_000, 0.99, 0.56, 0.9),
            row("student", 61_338, 250_000, 0.97, 0.55, 0.2),
            row("student INT8", 61_338, 90_000, 0.96, 0.54, 0.3),
        ],
        "ratios": {
            "params": 4.7,
            "size": 4.64,
            "speedup_b1_t1": 4.5,
            "val_acc_delta": -0.02,
            "target_acc_delta": -0.01,
        },
        "warnings": ["student INT8 is slower than fp32 at batch 1 on one thread"],
    }


def test_table_summary_and_warnings(qtbot: Any, tmp_path: Path) -> None:
    view = CompressionReportView()
    qtbot.addWidget(view)
    assert view.empty.isVisibleTo(view) and not view.table.isVisibleTo(view)
    path = tmp_path / "compression_report.json"
    path.write_text(json.dumps(_report()))
    assert view.load(path)
    assert view.table.rowCount() == 3 and not view.empty.isVisibleTo(view)
    assert column_texts(view.table, 0) == ["teacher", "student", "student INT8"]
    assert column_texts(view.table, 1) == ["288.7k", "61.3k", "61.3k"]
    assert column_texts(view.table, 3) == ["99.0%", "97.0%", "96.0%"]
    assert column_texts(view.table, 5) == ["0.900", "0.200", "0.300"]
    text = view.summary.text()
    assert "4.7× fewer weights" in text and "4.5× faster" in text and "-1.0 points on target" in text
    assert "slower" in view.warnings.text() and view.warnings.isVisibleTo(view)


def test_missing_or_broken_report_shows_the_empty_state(qtbot: Any, tmp_path: Path) -> None:
    view = CompressionReportView()
    qtbot.addWidget(view)
    view.set_report(_report())
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert not view.load(bad) and view.table.rowCount() == 0
    assert not view.load(tmp_path / "missing.json")
    assert view.empty.isVisibleTo(view) and view.summary.text() == ""
