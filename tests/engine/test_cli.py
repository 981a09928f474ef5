"""The CLI as a user runs it: demo, check, train, evaluate, export, predict; clean errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from engine.cli import main, parse_value
from engine.data.demo import DemoPaths


def test_full_pipeline(tiny_demo: DemoPaths, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = tmp_path / "runs"
    assert (
        main(
            [
                "check",
                str(tiny_demo.source),
                "--target",
                str(tiny_demo.target_train),
                "--json",
                str(tmp_path / "h.json"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "h.json").read_text())
    assert report and "source" in json.dumps(report)

    args = [
        "train",
        "--source",
        str(tiny_demo.source),
        "--target-test",
        str(tiny_demo.target_test),
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--runs-dir",
        str(runs),
        "--name",
        "cli",
        "--set",
        "freeze_stages=1",
        "--quiet",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "run: " in out and "epoch 1:" in out
    run = runs / "cli"
    assert "freeze_stages = 1" in (run / "config.toml").read_text()

    assert main(["evaluate", str(run), "--data", str(tiny_demo.target_test), "--json", str(tmp_path / "e.json")]) == 0
    ev = json.loads((tmp_path / "e.json").read_text())
    assert len(ev["confusion_matrix"]) == 10 and 0 <= ev["accuracy"] <= 1
    assert sum(map(sum, ev["confusion_matrix"])) == ev["n"]

    assert main(["export", str(run)]) == 0
    model = run / "exports" / "model.onnx"
    rep = json.loads((run / "exports" / "export_report.json").read_text())
    assert model.is_file() and rep["parity"]["top1_agreement"] == 1.0

    (tmp_path / "imgs").mkdir()
    img = next(tiny_demo.target_test.rglob("*.png"))
    (tmp_path / "imgs" / "a.png").write_bytes(img.read_bytes())
    (tmp_path / "imgs" / "notes.png").write_text("not an image")
    assert main(["predict", str(model), str(tmp_path / "imgs"), "--csv", str(tmp_path / "p.csv"), "--top-k", "2"]) == 0
    with open(tmp_path / "p.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    bad = next(r for r in rows if r["path"].endswith("notes.png"))
    assert bad["error"]
    assert main(["runs", str(runs)]) == 0 and "cli" in capsys.readouterr().out


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--source", str(tmp_path / "nowhere"), "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nowhere" in err and "Traceback" not in err
    assert main(["train", "--source", str(tmp_path), "--epochs", "0"]) == 2
    assert "field 'epochs' = 0" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.onnx"), str(tmp_path)]) == 2
    assert main(["train", "--source", "x", "--set", "novalue"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_option_values_are_parsed_as_toml_literals_never_code() -> None:
    assert parse_value("2") == 2 and parse_value("0.5") == 0.5 and parse_value("true") is True
    assert parse_value("[1, 2]") == [1, 2]
    assert parse_value("__import__('os')") == "__import__('os')"


def test_flags_go_over_the_toml_and_unset_flags_keep_it(tmp_path: Path) -> None:
    import argparse

    from pydantic import BaseModel

    from engine.cli.common import run_with_flags, write_json_if_asked
    from engine.core.config import StrictModel
    from engine.jobs.job import Job

    class ToyConfig(StrictModel):
        a: int = 1
        b: int = 2
        c: str = "c"

    class ToyReport(BaseModel):
        seen: dict[str, object]

    job = Job(
        "toy", "echo the config", ToyConfig, ToyReport, lambda cfg, emit, control: ToyReport(seen=cfg.model_dump())
    )
    toml = tmp_path / "toy.toml"
    toml.write_text("a = 10\nb = 20\n")
    args = argparse.Namespace(config=str(toml), a=None, b=5, renamed="x", json=str(tmp_path / "r.json"))
    report = run_with_flags(job, args, lambda event: None, "a", "b", c=args.renamed)
    assert report.seen == {"a": 10, "b": 5, "c": "x"}  # a: not given, so the TOML's; b and c from the flags
    assert write_json_if_asked(args, report) == 0
    assert json.loads((tmp_path / "r.json").read_text()) == {"seen": {"a": 10, "b": 5, "c": "x"}}
    assert write_json_if_asked(argparse.Namespace(json=None), report) == 0
