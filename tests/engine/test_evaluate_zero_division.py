"""Per-class precision of a class the model never predicts is 0 (as scikit-learn's
zero_division=0), with a note, not NaN; the CLI prints the note."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from engine.analysis import evaluate
from engine.analysis.evaluate import NEVER_PREDICTED, NO_IMAGES, confusion_matrix, per_class
from engine.cli import main


def test_never_predicted_class_has_precision_zero_and_a_note() -> None:
    true = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 0, 1, 0])  # class 2 never predicted
    rows = per_class(confusion_matrix(pred, true, 4), ["a", "b", "c", "d"])  # class 3: no images either
    assert all(not math.isnan(r["precision"]) and not math.isnan(r["recall"]) for r in rows)
    p, r, _, support = precision_recall_fscore_support(true, pred, labels=[0, 1, 2, 3], zero_division=0)
    assert [row["precision"] for row in rows] == pytest.approx(p.tolist())
    assert [row["recall"] for row in rows] == pytest.approx(r.tolist())
    assert [row["support"] for row in rows] == support.tolist()
    assert rows[2]["note"] == NEVER_PREDICTED and rows[2]["predicted"] == 0
    assert rows[3]["note"] == f"{NEVER_PREDICTED}; {NO_IMAGES}"
    assert rows[0]["note"] == rows[1]["note"] == ""


def test_cli_prints_zero_and_says_the_class_was_never_predicted(
    monkeypatch: pytest.MonkeyPatch, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    cm = confusion_matrix(np.array([0, 0, 0]), np.array([0, 1, 1]), 2)
    report = {
        "run_dir": str(tmp_path),
        "data": str(tmp_path),
        "checkpoint": "best",
        "misclassified": [],
        "skipped": [],
        "n": 3,
        "accuracy": 1 / 3,
        "classes": ["cat", "dog"],
        "per_class": per_class(cm, ["cat", "dog"]),
        "confusion_matrix": cm.tolist(),
    }
    monkeypatch.setattr(evaluate, "evaluate_run", lambda *args, **kwargs: report)  # the job reads its rows
    assert main(["evaluate", str(tmp_path), "--data", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    dog = next(line for line in out.splitlines() if line.startswith("dog"))
    assert "0.000" in dog and "never predicted" in dog and "nan" not in out
