"""A zero-shot run end to end on the demo digits with 3, 6 and 7 held out: the CLI trains it,
its classes are the table's, evaluate reports seen/unseen/H, the ONNX export scores every class
(parity with PyTorch) and predict names unseen classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.cli import main
from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.core.runs import load_run_model
from engine.data.demo import make_demo
from engine.data.zero_shot_demo import ZeroShotSplit, split_zero_shot
from engine.training.trainer import run_train

TABLE = Path(__file__).resolve().parents[3] / "resources" / "attributes" / "demo_digits.csv"
UNSEEN = ["3", "6", "7"]


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> ZeroShotSplit:
    """40 images a digit: 28 to train on for each seen digit, 12 of each (all 40 unseen) to test."""
    demo = make_demo(tmp_path_factory.mktemp("zsdemo") / "demo", per_class=40, seed=3)
    return split_zero_shot(demo.source, tmp_path_factory.mktemp("zs"), UNSEEN, test_share=0.3)


@pytest.fixture(scope="module")
def eszsl_run(split: ZeroShotSplit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    args = ["train", "--source", str(split.seen), "--method", "zero_shot", "--set", f"attributes={TABLE}"]
    args += ["--epochs", "4", "--batch-size", "32", "--lr", "0.003", "--runs-dir", str(runs), "--name", "z", "--quiet"]
    assert main(args) == 0
    return runs / "z"


def test_the_run_scores_every_class_of_the_table(eszsl_run: Path, split: ZeroShotSplit):
    model, info = load_run_model(eszsl_run)
    assert info["classes"] == [str(d) for d in range(10)]
    assert info["seen_classes"] == [c for c in info["classes"] if c not in UNSEEN]
    assert info["calibration"] != 0.0  # chosen on the validation images
    logits = model(torch.rand(4, 3, 32, 32))
    assert logits.shape == (4, 10)


def test_evaluate_reports_seen_unseen_and_h(eszsl_run: Path, split: ZeroShotSplit, tmp_path: Path, capsys):
    out = tmp_path / "e.json"
    assert main(["evaluate", str(eszsl_run), "--data", str(split.test), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "seen acc" in text and "unseen acc" in text and "calibrated (gamma" in text
    zs = json.loads(out.read_text())["zero_shot"]
    assert zs["unseen_classes"] == UNSEEN
    c, u = zs["calibrated"], zs["uncalibrated"]
    assert c["seen_acc"] > 0.3  # 7 seen of 10 classes: chance is 0.1
    assert c["h"] == pytest.approx(2 * c["seen_acc"] * c["unseen_acc"] / (c["seen_acc"] + c["unseen_acc"]), abs=1e-6)
    assert c["unseen_acc"] >= u["unseen_acc"]  # calibration moves weight to the unseen classes


def test_export_scores_every_class_with_parity_and_predict_names_unseen(
    eszsl_run: Path, split: ZeroShotSplit, tmp_path
):
    import onnxruntime as ort

    from engine.jobs.export import JOB as EXPORT
    from engine.jobs.export import ExportConfig
    from engine.jobs.predict import JOB as PREDICT
    from engine.jobs.predict import PredictConfig

    onnx_path = tmp_path / "zs.onnx"
    report = EXPORT.run(ExportConfig(run_dir=eszsl_run, out=onnx_path))
    assert report.passed and report.max_abs_diff < 1e-3
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["classes"]) == [str(d) for d in range(10)]
    assert json.loads(meta["seen_classes"]) == [c for c in json.loads(meta["classes"]) if c not in UNSEEN]
    model, _ = load_run_model(eszsl_run)
    x = torch.rand(5, 3, 32, 32)
    onnx_out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert onnx_out.shape == (5, 10)
    np.testing.assert_allclose(onnx_out, model(x).detach().numpy(), atol=1e-4)
    pred = PREDICT.run(PredictConfig(model=onnx_path, inputs=[split.test], top_k=10))
    assert pred.errors == 0 and len(pred.predictions) > 0
    named = {name for p in pred.predictions for name, _ in p.top[:1]}
    assert named & set(UNSEEN)  # some images are put in a class with no training image


def test_dap_trains_and_bad_tables_are_refused(split: ZeroShotSplit, tmp_path: Path):
    cfg = TrainConfig(
        source=split.seen,
        method="zero_shot",
        method_options={"attributes": str(TABLE), "zsl": "dap", "calibration": 0.0, "attribute_weight": 1.0},
        epochs=4,
        batch_size=32,
        lr=3e-3,
        runs_dir=tmp_path / "runs",
    )
    result = run_train(cfg)
    assert result.status == "finished" and result.best_metrics["val/acc"] > 0.3
    model, info = load_run_model(result.run_dir)
    assert info["calibration"] == 0.0 and model.num_classes == 10

    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(TABLE.read_text().splitlines()[:5]) + "\n")  # classes 0-3 only
    with pytest.raises(UserError, match=r"no row for the classes 4, 5, 8, 9"):
        run_train(cfg.model_copy(update={"method_options": {"attributes": str(partial)}}))
    with pytest.raises(UserError, match="needs an attribute table"):
        run_train(cfg.model_copy(update={"method_options": {}}))
