"""The explain job and command on a real run and its ONNX export: files, shapes, scores, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.core.errors import UserError
from engine.jobs.explain import JOB, ExplainConfig


def test_command_writes_overlays_maps_and_scores(explain_run: Path, tiny_demo, tmp_path: Path, capsys) -> None:
    folder = tiny_demo.source / "3"
    out, report_json = tmp_path / "maps", tmp_path / "explain.json"
    code = main(
        [
            "explain",
            str(explain_run),
            str(folder),
            "--method",
            "gradcam++",
            "--out",
            str(out),
            "--limit",
            "3",
            "--json",
            str(report_json),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "gradcam++ on 3 image(s)" in printed and "mean deletion AUC" in printed
    report = json.loads(report_json.read_text())
    assert report["model_kind"] == "run" and report["layer"] == "backbone.block4"
    assert len(report["images"]) == 3
    for image in report["images"]:
        assert image["label"] == "3"  # the parent folder names a class
        (m,) = image["maps"]
        assert m["class"] == image["predicted"]  # no --class: the predicted class
        saliency = np.load(m["npy"])
        assert saliency.shape == (32, 32) and saliency.dtype == np.float32
        assert saliency.min() >= 0 and saliency.max() == pytest.approx(1.0)
        assert Path(m["npy"]).name == Path(image["path"]).stem + ".npy"
        with Image.open(m["overlay"]) as png:
            assert png.size == (3 * 192 + 8, 192 + 18)  # three 192 px panels side by side under a caption
        s = m["scores"]
        assert all(0 <= s[k] <= 1 for k in ("deletion", "insertion", "random_deletion", "random_insertion"))


def test_onnx_methods_and_two_classes(explain_run: Path, tiny_demo, tmp_path: Path) -> None:
    from engine.jobs.export import JOB as EXPORT
    from engine.jobs.export import ExportConfig

    onnx = tmp_path / "m.onnx"
    assert EXPORT.run(ExportConfig(run_dir=explain_run, out=onnx, cam=True)).passed
    for method in ("occlusion", "cam"):
        config = ExplainConfig(
            model=onnx,
            images=tiny_demo.target_test / "5",
            method=method,
            classes=["5", "2"],
            out=tmp_path / method,
            limit=2,
            faithfulness=False,
        )
        report = JOB.run(config)
        assert report.model_kind == "onnx" and len(report.images) == 2
        first = report.images[0]
        assert [m.name for m in first.maps] == ["5", "2"]
        assert Path(first.maps[0].npy).name.endswith("0000.npy") and first.maps[1].npy.endswith(".2.npy")
        a, b = np.load(first.maps[0].npy), np.load(first.maps[1].npy)
        assert a.shape == b.shape == (32, 32) and not np.allclose(a, b)
        assert first.queries == (1 if method == "cam" else 1 + 15 * 15)


def test_bad_input(explain_run: Path, tiny_demo, tmp_path: Path, capsys) -> None:
    odd = tmp_path / "odd" / "wide.png"
    odd.parent.mkdir()
    Image.new("RGB", (50, 40), (90, 120, 200)).save(odd)
    report = JOB.run(ExplainConfig(model=explain_run, images=odd, out=tmp_path / "o", faithfulness=False))
    assert report.images[0].original_size == [50, 40]
    assert np.load(report.images[0].maps[0].npy).shape == (32, 32)
    assert "not 32x32: resized" in report.notes[0]

    code = main(["explain", str(explain_run), str(odd), "--class", "dog", "--out", str(tmp_path / "o")])
    assert code == 2 and "class 'dog': the model has no such class" in capsys.readouterr().err

    bare = tmp_path / "bare"
    shutil.copytree(explain_run, bare)
    shutil.rmtree(bare / "checkpoints")
    with pytest.raises(UserError, match="has no checkpoint yet"):
        JOB.run(ExplainConfig(model=bare, images=odd, out=tmp_path / "o"))
    with pytest.raises(UserError, match=r"not a run folder or an \.onnx file"):
        JOB.run(ExplainConfig(model=tmp_path / "nothing", images=odd, out=tmp_path / "o"))
