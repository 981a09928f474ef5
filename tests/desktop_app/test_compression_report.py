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


def test_export_page_compares_a_distilled_run_with_its_teacher(qtbot, app_state, tmp_path, monkeypatch):
    """The Export page offers a distilled run's own teacher, runs the compress job on a click and
    shows its report; choosing another run shows that run's saved report (or none)."""
    from desktop_app.pages.export import ExportPage
    from engine.core.config import TrainConfig
    from engine.core.runs import create_run
    from engine.jobs import compress
    from engine.jobs.compress import CompressReport

    teacher = tmp_path / "teacher"
    teacher.mkdir()
    runs = tmp_path / "runs"
    student = create_run(
        TrainConfig(
            source=tmp_path, method="distill", method_options={"teacher": str(teacher)}, runs_dir=runs, name="s"
        )
    ).path
    plain = create_run(TrainConfig(source=tmp_path, runs_dir=runs, name="plain")).path
    asked = []

    def fake_run(config, emit, control):  # the real job exports and times both models (engine tests)
        asked.append(config)
        report = {**_report(), "student_run": str(config.run_dir), "teacher": str(config.teacher), "n_val": 10}
        report.update(n_target=0, target_folder="", threads_all=2, repeats=3, created="now", path="r.json")
        for r in report["rows"]:
            r.update(path="m.onnx", input_size=32)
        return CompressReport.model_validate(report)

    import dataclasses

    monkeypatch.setattr(compress, "JOB", dataclasses.replace(compress.JOB, fn=fake_run))
    page = ExportPage(app_state)
    qtbot.addWidget(page)
    page.set_run(str(student))
    panel = page.compression
    assert panel.teacher.text() == str(teacher)  # the distilled run's own teacher
    assert panel.view.empty.isVisible() or not panel.view.table.isVisible()
    panel.compare.click()
    qtbot.waitUntil(lambda: not panel.busy(), timeout=10_000)
    assert asked and asked[0].run_dir == student and asked[0].teacher == teacher
    assert column_texts(panel.view.table, 0) == ["teacher", "student", "student INT8"]
    page.set_run(str(plain))  # another run: no teacher, no stale report
    assert panel.teacher.text() == "" and panel.view.report is None
