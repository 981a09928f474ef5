"""A multitask run end to end: trained from the CLI on the demo table, the scarce task learnt,
evaluated per task, exported to one ONNX file (one output per task) that matches PyTorch task by
task, predicted per task, and one task attacked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from engine.cli import main
from engine.core.errors import UserError
from engine.core.runs import load_run_model
from engine.deploy.onnx_check import inspect_onnx
from engine.deploy.predict import OnnxClassifier
from engine.multitask.demo import MultitaskDemoPaths
from engine.multitask.model import MultitaskClassifier


@pytest.fixture(scope="module")
def mt_run(mt_demo: MultitaskDemoPaths, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("mtruns")
    argv = ["train", "--labels", str(mt_demo.labels), "--epochs", "15", "--batch-size", "32", "--lr", "0.003"]
    assert main([*argv, "--runs-dir", str(runs), "--device", "cpu", "--quiet", "--select", "last"]) == 0
    (run,) = list(runs.iterdir())
    return run


def test_cli_run_learns_both_tasks_and_logs_them(mt_run: Path) -> None:
    model, info = load_run_model(mt_run, "last")
    assert isinstance(model, MultitaskClassifier)
    assert info["tasks"] == {"digit": [str(d) for d in range(10)], "parity": ["even", "odd"]}
    assert json.loads((mt_run / "run.json").read_text())["tasks"]["parity"] == ["even", "odd"]
    rows = [json.loads(line) for line in (mt_run / "metrics.jsonl").read_text().splitlines()]
    assert {"val/digit/acc", "val/parity/acc", "val/acc"} <= set(rows[-1])


def test_evaluate_reports_every_task(mt_run: Path, mt_demo: MultitaskDemoPaths, tmp_path: Path) -> None:
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(mt_run), "--data", str(mt_demo.test_labels.parent), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    tasks = report["tasks"]
    assert set(tasks) == {"digit", "parity"} and tasks["parity"]["n"] == 50
    assert report["accuracy"] == tasks["digit"]["accuracy"]
    assert tasks["digit"]["accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert tasks["parity"]["accuracy"] > 0.7  # learnt from 12 labels next to the digits
    assert np.array(tasks["parity"]["confusion_matrix"]).sum() == 50
    # the same figures from task folders
    out2 = tmp_path / "eval2.json"
    assert (
        main(["evaluate", str(mt_run), "--data", str(mt_demo.test_labels.parent / "tasks"), "--json", str(out2)]) == 0
    )
    again = json.loads(out2.read_text())["tasks"]
    assert again["parity"]["accuracy"] == pytest.approx(tasks["parity"]["accuracy"])


def test_export_has_one_output_per_task_and_predict_matches_torch(
    mt_run: Path, mt_demo: MultitaskDemoPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(mt_run)]) == 0
    path = mt_run / "exports" / "model.onnx"
    proto = onnx.load(str(path))
    assert [o.name for o in proto.graph.output] == ["digit", "parity"]
    info = inspect_onnx(path)
    assert info.tasks == ("digit", "parity") and info.task_classes["parity"] == ("even", "odd")
    assert info.classes == tuple(str(d) for d in range(10))  # the first task, for single-output readers
    report = json.loads((path.parent / "export_report.json").read_text())
    assert report["task_parity"]["parity"]["passed"] and report["task_parity"]["digit"]["max_abs_diff"] < 1e-3

    model, _ = load_run_model(mt_run, "best")
    clf = OnnxClassifier(path)
    files = sorted((mt_demo.test_labels.parent / "images").iterdir())[:6]
    preds = clf.predict_paths(files, top_k=2)
    x = torch.from_numpy(np.stack([clf.preprocess(Image.open(f).convert("RGB")) for f in files]))
    with torch.inference_mode():
        ref = {t: torch.softmax(v, 1) for t, v in model.forward_all(x).items()}
    for i, p in enumerate(preds):
        assert set(p.tasks) == {"digit", "parity"} and len(p.tasks["digit"]) == 2
        for task, top in p.tasks.items():
            names = clf.info.task_classes[task]
            best = int(ref[task][i].argmax())
            assert top[0][0] == names[best]
            assert top[0][1] == pytest.approx(float(ref[task][i, best]), abs=1e-4)
        assert p.top == p.tasks["digit"]
    capsys.readouterr()
    assert main(["predict", str(path), str(files[0]), "--top-k", "1"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[0]
    assert "digit: " in line and "parity: " in line


def test_robustness_attacks_the_chosen_task(mt_run: Path, mt_demo: MultitaskDemoPaths, tmp_path: Path) -> None:
    out = tmp_path / "attack.json"
    data = mt_demo.test_labels.parent / "tasks" / "parity"
    argv = ["attack", str(mt_run), "--data", str(data), "--attack", "fgsm", "--eps", "0,0.1", "--task", "parity"]
    assert main([*argv, "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["classes"] == ["even", "odd"]
    clean, attacked = report["results"][0]["accuracy"], report["results"][1]["accuracy"]
    assert clean > 0.6 and attacked < clean
    with pytest.raises(UserError, match="has tasks digit, parity"):
        from engine.attacks.robustness import run_attack
        from engine.jobs.attack import AttackJobConfig

        run_attack(AttackJobConfig(model=mt_run, data=data, attack="fgsm", task="colour", eps=[0.0]))
