"""`transfer-studio gan ...` through engine.cli.main: train, resume, transfer with FreezeD and
DiffAugment, sample per class, score to JSON, export with parity, and bad input exits 2."""

from __future__ import annotations

import json

from engine.cli import main

TINY = ["--z-dim", "8", "--g-width", "8", "--d-width", "8", "--batch-size", "8", "--device", "cpu", "--quiet"]


def test_gan_cli_end_to_end(tmp_path, tiny_demo, capsys):
    runs = tmp_path / "runs"
    args = ["gan", "train", "--data", str(tiny_demo.source), "--steps", "2", "--sample-every", "2", "--kid-every", "0"]
    assert main([*args, "--conditional", "--runs-dir", str(runs), "--name", "src", *TINY]) == 0
    assert "finished, 2 steps" in capsys.readouterr().out
    src = runs / "src"
    # transfer to the labelled target test folder (same classes) with FreezeD and DiffAugment
    rc = main(
        ["gan", "train", "--data", str(tiny_demo.target_test), "--from", str(src), "--freeze-d", "1", "--conditional",
         "--diffaugment", "color,cutout", "--steps", "2", "--sample-every", "1", "--runs-dir", str(runs),
         "--name", "tgt", "--json", str(tmp_path / "train.json"), *TINY]
    )  # fmt: skip
    assert rc == 0
    report = json.loads((tmp_path / "train.json").read_text())
    assert report["status"] == "finished" and len(report["kid_history"]) == 2
    assert main(["gan", "train", "--resume", str(runs / "tgt"), "--quiet"]) == 0  # already done: returns at once

    out = tmp_path / "samples"
    assert main(["gan", "sample", str(runs / "tgt"), "--n", "2", "--out", str(out), "--per-class"]) == 0
    assert sum(1 for _ in out.rglob("*.png")) == 20 and (out / "9").is_dir()

    js = tmp_path / "scores.json"
    assert main(["gan", "score", str(runs / "tgt"), "--real", str(tiny_demo.target_test), "--n-fake", "40",
                 "--json", str(js)]) == 0  # fmt: skip
    scores = json.loads(js.read_text())
    assert {"kid", "kid_std", "fid", "precision", "recall", "density", "coverage", "note"} <= scores.keys()
    assert "KID" in capsys.readouterr().out

    onnx_path = tmp_path / "G.onnx"
    assert main(["gan", "export", str(runs / "tgt"), "--out", str(onnx_path)]) == 0
    text = capsys.readouterr().out
    assert "(passed)" in text and onnx_path.is_file()
    assert main(["gan", "sample", str(onnx_path), "--n", "1", "--per-class", "--out", str(tmp_path / "onnx")]) == 0

    tr = tmp_path / "translated"
    rc = main(["gan", "translate", "--source", str(tiny_demo.source), "--target", str(tiny_demo.target_train),
               "--out", str(tr), "--steps", "1", "--batch-size", "4", "--runs-dir", str(runs), "--quiet"])  # fmt: skip
    assert rc == 0 and sum(1 for _ in tr.rglob("*.png")) == 120
    text = capsys.readouterr().out
    assert "cycle loss, semantic consistency off" in text
    tr_run = text.split("run: ")[1].split("  (")[0]
    assert main(["gan", "translate", "--resume", tr_run, "--quiet"]) == 0  # finished: its translations stay
    assert "(finished, 1 steps" in capsys.readouterr().out and sum(1 for _ in tr.rglob("*.png")) == 120
    assert main(["gan", "translate", "--resume", str(src), "--quiet"]) == 2
    assert "not a translation run" in capsys.readouterr().err

    # bad input: clear messages, exit code 2
    assert main(["gan", "train", "--data", str(tmp_path / "nope"), "--runs-dir", str(runs)]) == 2
    assert "folder not found" in capsys.readouterr().err
    assert main(["gan", "train", "--data", str(tiny_demo.target_test), "--from", str(src), "--runs-dir", str(runs),
                 "--image-size", "64", "--conditional"]) == 2  # fmt: skip
    assert "32 px, but this run is 64 px" in capsys.readouterr().err
    assert main(["gan", "train", "--data", str(tiny_demo.source), "--diffaugment", "zoom"]) == 2
    assert "zoom" in capsys.readouterr().err
    assert main(["gan", "score", str(tiny_demo.source), "--real", str(tiny_demo.source)]) == 2
    assert "not a GAN run" in capsys.readouterr().err
