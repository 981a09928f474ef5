"""Point 5: CSVs a spreadsheet opens safely: commas, quotes and line breaks are quoted; cells that
start with = + - @ are neutralised; a class folder named =HYPERLINK("x") is a valid class."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import onnx_classifier

from engine.core.csvfile import csv_text, safe_cell, write_csv_rows
from engine.data.folders import scan_domain
from engine.data.health import check_folders
from engine.deploy.predict import OnnxClassifier, list_images, write_csv

EVIL_CLASS = '=HYPERLINK("x")'


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("-0.5", "-0.5"),  # a plain number stays a number
        ("cat", "cat"),
        (0.25, 0.25),
        (None, ""),
    ],
)
def test_safe_cell(value: object, written: object) -> None:
    assert safe_cell(value) == written


def test_quoting_keeps_every_value_in_its_cell() -> None:
    rows = [["a,b.png", 'say "hi".png', "two\nlines.png", "=cmd"]]
    text = csv_text(["w", "x", "y", "z"], rows)
    back = list(csv.reader(io.StringIO(text)))
    assert back == [["w", "x", "y", "z"], ["a,b.png", 'say "hi".png', "two\nlines.png", "'=cmd"]]


def test_formula_class_folder_is_a_valid_class_and_is_neutralised_in_predictions(tmp_path: Path) -> None:
    data = tmp_path / "data"
    classes = [EVIL_CLASS, "+plus", "plain, with comma"]
    rng = np.random.default_rng(0)
    for c in classes:
        (data / c).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(data / c / f"{i}.png")
    odd = data / classes[2] / 'a "quoted", name\nwith newline.png'
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(odd)

    domain = scan_domain(data)
    assert sorted(domain.classes) == sorted(classes)
    assert not check_folders(data).has_errors

    model = tmp_path / "m.onnx"
    onnx_classifier(model, classes=sorted(classes))
    preds = OnnxClassifier(model).predict_paths(list_images(data), top_k=3)
    out = write_csv(preds, tmp_path / "p.csv", 3)
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert len(rows) == 16
    for row in rows:
        for key in ("path", "prediction", "top1_class", "top2_class", "top3_class"):
            assert not row[key].startswith(("=", "+", "-", "@")), row
    assert all("'" + EVIL_CLASS in (r["top1_class"], r["top2_class"], r["top3_class"]) for r in rows)
    assert str(odd) in {r["path"] for r in rows}  # commas, quotes, newline: one cell, one row


def test_write_csv_rows_is_atomic_and_utf8(tmp_path: Path) -> None:
    path = write_csv_rows(tmp_path / "r.csv", ["name"], [["caf\u00e9"], ["bad\udcff.png"]])
    assert path.read_text(encoding="utf-8").splitlines() == ["name", "caf\u00e9", "bad\ufffd.png"]
