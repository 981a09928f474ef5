"""The compression report (teacher vs student, INT8 of each) and the INT8 export's own check."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.deploy import compression
from engine.deploy.compression import REPORT_NAME, int8_check, onnx_accuracy
from engine.deploy.export_job import ExportConfig, export_run


@pytest.fixture(scope="module")
def pair(demo_run: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    runs = tmp_path_factory.mktemp("compress_runs")
    teacher = demo_run(runs, backbone="small_cnn", epochs=4)
    distill = {"method": "distill", "method_options": {"teacher": str(teacher)}, "ema_decay": 0}
    student = demo_run(runs, backbone="tiny_cnn", epochs=4, **distill)
    return teacher, student


def test_report_compares_teacher_and_student_with_int8(pair: tuple[Path, Path], tmp_path: Path) -> None:
    teacher, student = pair
    out = tmp_path / "report.json"
    code = main(["compress", str(student), "--teacher", str(teacher), "--int8", "--repeats", "5", "--json", str(out)])
    assert code == 0
    report = json.loads((student / "exports" / REPORT_NAME).read_text())
    assert json.loads(out.read_text())["rows"] == report["rows"]
    rows = {r["model"]: r for r in report["rows"]}
    assert set(rows) == {"teacher", "student", "teacher INT8", "student INT8"}
    t, s = rows["teacher"], rows["student"]
    # tiny_cnn has under a quarter of small_cnn's weights, and it shows in the file and the latency
    assert s["params"] * 4 <= t["params"] and report["ratios"]["params"] >= 4
    assert s["size_bytes"] * 3 < t["size_bytes"]
    assert report["ratios"]["speedup_b1_t1"] > 1.2, report["ratios"]
    for r in rows.values():
        assert set(r["latency_ms"]) == {"b1_t1", "b1_all", "b32_t1", "b32_all"}
        assert all(v > 0 for v in r["latency_ms"].values())
        assert 0 <= r["val_acc"] <= 1 and 0 <= r["target_acc"] <= 1
    # accuracy is the real accuracy of the ONNX file on the run's held-out images
    held = compression.heldout_images(student, 32)
    assert s["val_acc"] == pytest.approx(onnx_accuracy(s["path"], *held["val"], held["classes"]))
    assert t["val_acc"] == pytest.approx(onnx_accuracy(t["path"], *held["val"], held["classes"]))
    assert abs(rows["student INT8"]["val_acc"] - s["val_acc"]) <= 0.1
    assert report["n_val"] == len(held["val"][1]) and report["n_target"] > 0


def test_int8_export_reports_accuracy_and_warns_when_slower(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher, _ = pair
    report = export_run(ExportConfig(run_dir=teacher, int8=True))
    check = report.int8
    assert check is not None and report.int8_path is not None
    assert check.n > 0 and 0 <= check.acc_int8 <= 1 and check.agreement > 0.8
    assert abs(check.acc_int8 - check.acc_fp32) <= 0.1
    # a CPU where INT8 is slower (no VNNI): the check says so
    lat = {"b1_t1": 1.0, "b1_all": 1.0, "b32_t1": 10.0, "b32_all": 5.0}
    slower = {k: 2 * v for k, v in lat.items()}
    calls = iter([lat, slower])
    monkeypatch.setattr(compression, "latency_ms", lambda *a, **k: next(calls))
    x = np.random.default_rng(0).random((4, 3, 32, 32), dtype=np.float32)
    res = int8_check(report.path, report.int8_path, x, np.zeros(4, int), [str(i) for i in range(10)])
    assert "slower" in res["warning"] and "VNNI" in res["warning"] and res["speedup"]["b1_t1"] == 0.5
