"""The report card: every section present, the numbers the evaluate job gives, nothing external,
calibration that does what it says, and a running run reported from its last checkpoint."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main
from engine.jobs.evaluate import JOB as EVALUATE
from engine.jobs.evaluate import EvaluateConfig
from engine.jobs.report import SECTIONS
from engine.report.calibration import fit_temperature, reliability, softmax
from engine.report.collect import source_val_folder


@pytest.fixture(scope="module")
def card(explain_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    run = Path(shutil.copytree(explain_run, tmp_path_factory.mktemp("card") / "run"))
    info = json.loads((run / "run.json").read_text())
    info.pop("exported", None)  # other tests export the shared run; this one starts with no export
    (run / "run.json").write_text(json.dumps(info))
    out = run.parent / "card.html"
    report_json = run.parent / "card.json"
    code = main(["report", str(run), "--out", str(out), "--robustness", "--json", str(report_json)])
    assert code == 0
    return out, json.loads(report_json.read_text()), run


def test_every_section_is_present(card) -> None:
    out, report, _ = card
    page = out.read_text(encoding="utf-8")
    for key, title in SECTIONS:
        assert f"<section id='{key}'><h2>{title}</h2>" in page
    assert report["sections"] == [key for key, _ in SECTIONS]
    assert "pgd" in page and report["robustness"][0]["attack"] == "pgd"  # --robustness ran a sweep
    assert report["export"]["report"]["passed"] and report["export"]["report"]["int8"] is not None
    run_info = json.loads((card[2] / "run.json").read_text())
    assert not run_info.get("exported")  # the report's own ONNX copy does not become the run's model
    assert len(report["explanations"]) == 2 * min(4, len(report["target_eval"]["misclassified"]))
    assert "was more faithful on this model" in report["more_faithful"]
    assert report["model_card"].startswith("Intended use") and "Limitations" in report["model_card"]
    assert report["proxy_a_distance"] is not None and report["health"]["source"]["num_images"] > 0


def test_numbers_equal_the_evaluate_jobs(card, tiny_demo, tmp_path: Path) -> None:
    out, report, run = card
    page = out.read_text(encoding="utf-8")
    target = EVALUATE.run(EvaluateConfig(run_dir=run, data=tiny_demo.target_test, device="cpu"))
    assert report["target_eval"]["accuracy"] == target.accuracy
    assert report["target_eval"]["confusion_matrix"] == target.confusion_matrix
    assert f"<span class='big'>{target.accuracy:.2%}</span> on {target.n} images" in page
    val = EVALUATE.run(EvaluateConfig(run_dir=run, data=source_val_folder(run, 32, tmp_path / "val"), device="cpu"))
    assert report["source_eval"]["accuracy"] == val.accuracy and report["source_eval"]["n"] == val.n
    assert f"<span class='big'>{val.accuracy:.2%}</span> on {val.n} images" in page
    # the split is training's own: the trainer logged the same validation accuracy for its (only) epoch
    (epoch,) = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epoch["val/acc"] == pytest.approx(val.accuracy, abs=1e-6)
    calib = {c["domain"]: c for c in report["calibration"]}
    assert calib["source validation"]["accuracy"] == pytest.approx(val.accuracy)
    assert calib["target"]["accuracy"] == pytest.approx(target.accuracy)
    assert f"T = {report['temperature']:.3f}" in page


def test_nothing_external(card) -> None:
    page = card[0].read_text(encoding="utf-8")
    assert not re.search(r"https?://|<script|<link|@import|url\(|<iframe|<object|<embed", page, re.IGNORECASE)
    sources = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert sources and all(s.startswith("data:image/png;base64,") or s.startswith("#") for s in sources)
    assert len([s for s in sources if s.startswith("data:")]) >= 8  # charts, matrices, curve, overlays


def test_running_run_uses_its_last_checkpoint(explain_run: Path, tmp_path: Path, capsys) -> None:
    run = Path(shutil.copytree(explain_run, tmp_path / "run"))
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "running"}))
    (run / "checkpoints" / "best.pt").unlink()
    card_path = tmp_path / "card.html"
    assert main(["report", str(run), "--out", str(card_path), "--no-export"]) == 0
    printed = capsys.readouterr().out
    assert "note: The run is still training" in printed and "last.pt" in printed
    assert "still training" in card_path.read_text(encoding="utf-8")


def test_calibration_maths() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 1.5, (4000, 5))
    p = softmax(logits)  # labels drawn from these probabilities: calibrated by construction
    labels = (rng.random((4000, 1)) > p.cumsum(1)).sum(1)
    honest = reliability(softmax(logits), labels)
    overconfident = reliability(softmax(logits * 4), labels)
    assert honest.ece < 0.03 < overconfident.ece
    t = fit_temperature(logits * 4, labels)
    assert t == pytest.approx(4.0, rel=0.15)  # recovers the scale that was applied
    assert reliability(softmax(logits * 4, t), labels).ece < 0.03
    assert int(overconfident.count.sum()) == 4000
