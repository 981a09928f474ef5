"""ONNX prediction: matches torch, preprocesses like training, reports bad files, runs without torch."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from PIL import Image
from torch import nn

from engine.core.errors import UserError
from engine.data.images import load_for_model
from engine.deploy.export import export_onnx
from engine.deploy.predict import OnnxClassifier, Prediction, csv_header, list_images, softmax, write_csv

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["red", "green", "blue", "grey", "other"]


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Linear(8, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv((x - self.mean) / self.std))
        return self.head(x.mean(dim=(2, 3)))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    model = TinyNet().eval()
    with torch.no_grad():
        model.head.weight.mul_(5.0)
    meta = {"classes": json.dumps(CLASSES), "input_size": "16", "backbone": "tiny", "method": "supervised"}
    path = export_onnx(model, torch.rand(2, 3, 16, 16), tmp_path_factory.mktemp("m") / "model.onnx", meta)
    return model, path


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """Images of several sizes and colours in nested folders, plus junk a user might have there."""
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    (root / "b_sub").mkdir()
    (root / ".hidden_dir").mkdir()
    for name, size in [("a.png", (40, 30)), ("b_sub/c.jpg", (16, 16)), ("b_sub/d.bmp", (23, 57)), ("e.png", (64, 64))]:
        arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).save(root / name)
    (root / "notes.txt").write_text("not an image")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    (root / ".DS_Store").write_bytes(b"junk")
    Image.new("RGB", (8, 8)).save(root / ".hidden_dir" / "x.png")
    return root


def _pool_model(path: Path, in_shape: list, layout: str = "NCHW", metadata: dict[str, str] | None = None) -> Path:
    """A hand-built model whose logits are the per-channel means of exactly what it was fed."""
    nodes, x = [], "x"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]))
        x = "xt"
    nodes += [helper.make_node("GlobalAveragePool", [x], ["p"]), helper.make_node("Flatten", ["p"], ["logits"], axis=1)]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [in_shape[0], 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def test_predict_proba_matches_torch_softmax(exported):
    model, path = exported
    clf = OnnxClassifier(path, threads=1, allow_spinning=False)
    assert clf.classes == CLASSES and clf.input_size == 16
    x = np.random.default_rng(1).random((10, 3, 16, 16), dtype=np.float32)
    with torch.inference_mode():
        want = torch.softmax(model(torch.from_numpy(x)), dim=1).numpy()
    got = clf.predict_proba(x, batch_size=3)  # chunks of 3: 3 + 3 + 3 + 1
    assert got.shape == (10, 5)
    assert np.max(np.abs(got - want)) < 1e-5
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5)


def test_predict_paths_matches_torch_on_files_and_reports_bad_files(exported, image_folder):
    model, path = exported
    clf = OnnxClassifier(path)
    files = list_images(image_folder)
    rel = [f.relative_to(image_folder).as_posix() for f in files]
    assert rel == ["a.png", "b_sub/c.jpg", "b_sub/d.bmp", "broken.png", "e.png", "notes.txt"]
    seen: list[tuple[int, int]] = []
    preds = clf.predict_paths(files, top_k=3, batch_size=2, progress=lambda d, t: seen.append((d, t)))
    assert [p.path for p in preds] == [str(f) for f in files]
    assert seen[-1] == (6, 6) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    by_name = {Path(p.path).name: p for p in preds}
    assert by_name["notes.txt"].error and "not an image" in by_name["notes.txt"].error
    assert by_name["broken.png"].error and by_name["broken.png"].top == []
    for name in ("a.png", "c.jpg", "d.bmp", "e.png"):
        pred = by_name[name]
        assert pred.error is None and len(pred.top) == 3
        probs = [p for _, p in pred.top]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
        x = torch.from_numpy(load_for_model(pred.path, 16))[None]
        with torch.inference_mode():
            want = torch.softmax(model(x), dim=1)[0].numpy()
        best = int(np.argmax(want))
        assert pred.top[0][0] == CLASSES[best]
        assert abs(pred.top[0][1] - float(want[best])) < 1e-5


def test_csv_written(exported, image_folder, tmp_path):
    clf = OnnxClassifier(exported[1])
    preds = clf.predict_paths(list_images(image_folder), top_k=2)
    out = write_csv(preds, tmp_path / "out" / "preds.csv", top_k=2)
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert (
        rows[0]
        == csv_header(2)
        == ["path", "prediction", "probability", "top1_class", "top1_prob", "top2_class", "top2_prob", "error"]
    )
    assert len(rows) == 1 + len(preds)
    body = {Path(r[0]).name: r for r in rows[1:]}
    good = body["a.png"]
    assert good[1] in CLASSES and good[1] == good[3] and 0 < float(good[2]) <= 1 and good[-1] == ""
    assert float(good[4]) >= float(good[6])
    bad = body["notes.txt"]
    assert bad[1:7] == [""] * 6 and "not an image" in bad[-1]
    assert [p.name for p in out.parent.iterdir()] == ["preds.csv"]  # no temp file left


def test_normalises_only_when_model_does_not(tmp_path):
    x = np.random.default_rng(2).random((4, 3, 8, 8), dtype=np.float32)
    plain = OnnxClassifier(_pool_model(tmp_path / "plain.onnx", ["N", 3, 8, 8]))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    want = (x.mean(axis=(2, 3)) - mean) / std  # ImageNet defaults applied for a foreign model
    assert np.allclose(plain.logits(x), want, atol=1e-5)
    inside = OnnxClassifier(
        _pool_model(tmp_path / "inside.onnx", ["N", 3, 8, 8], metadata={"normalize_in_model": "true"})
    )
    assert np.allclose(inside.logits(x), x.mean(axis=(2, 3)), atol=1e-6)
    img = Image.fromarray((x[0].transpose(1, 2, 0) * 255).astype(np.uint8))
    assert plain.preprocess(img).shape == (3, 8, 8)
    assert np.allclose(
        plain.preprocess(img).mean(axis=(1, 2)), (np.asarray(img).mean(axis=(0, 1)) / 255 - mean) / std, atol=1e-4
    )


def test_nhwc_and_fixed_batch_models(tmp_path):
    x = np.random.default_rng(3).random((7, 3, 8, 8), dtype=np.float32)
    meta = {"normalize_in_model": "true"}
    nhwc = OnnxClassifier(_pool_model(tmp_path / "nhwc.onnx", ["N", 8, 8, 3], layout="NHWC", metadata=meta))
    assert nhwc.info.layout == "NHWC"
    assert np.allclose(nhwc.logits(x), x.mean(axis=(2, 3)), atol=1e-6)
    img = Image.new("RGB", (8, 8), (255, 0, 0))
    assert nhwc.preprocess(img).shape == (8, 8, 3)
    fixed = OnnxClassifier(_pool_model(tmp_path / "fixed.onnx", [4, 3, 8, 8], metadata=meta))
    assert fixed.info.fixed_batch == 4
    out = fixed.logits(x)  # 7 images through a batch-4 graph: padded then trimmed
    assert out.shape == (7, 3) and np.allclose(out, x.mean(axis=(2, 3)), atol=1e-6)


def test_softmax_is_stable_and_list_images_edges(tmp_path):
    p = softmax(np.array([[1000.0, 0.0, -1000.0], [1.0, 1.0, 1.0]], np.float32))
    assert np.all(np.isfinite(p)) and np.allclose(p.sum(1), 1) and p[0, 0] > 0.999
    assert np.allclose(p[1], 1 / 3)
    single = tmp_path / "one.png"
    Image.new("RGB", (4, 4)).save(single)
    assert list_images(single) == [single]
    with pytest.raises(UserError, match="no such file or folder"):
        list_images(tmp_path / "missing")
    with pytest.raises(UserError, match="threads"):
        OnnxClassifier(_pool_model(tmp_path / "m.onnx", ["N", 3, 8, 8]), threads=0)


def test_predict_runs_without_torch(exported, image_folder, tmp_path):
    """The predict path (and what it imports) must never pull in torch."""
    script = f"""
import json, sys
from engine.deploy.predict import OnnxClassifier, list_images, write_csv
clf = OnnxClassifier({str(exported[1])!r}, threads=1)
preds = clf.predict_paths(list_images({str(image_folder)!r}), top_k=2)
write_csv(preds, {str(tmp_path / "p.csv")!r}, top_k=2)
print(json.dumps({{"torch": "torch" in sys.modules, "n": len(preds),
                   "errors": sum(p.error is not None for p in preds)}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"torch": False, "n": 6, "errors": 2}
    assert (tmp_path / "p.csv").exists()


def test_prediction_dataclass_defaults():
    pred = Prediction("x.png", [("a", 0.9)])
    assert pred.error is None and pred.top[0] == ("a", 0.9)


def test_a_folder_of_class_folders_is_scored_against_its_labels(exported, tmp_path):
    """Predicting a labelled folder gives accuracy and a confusion matrix that match the rows."""
    from engine.jobs.predict import JOB, PredictConfig

    _, path = exported
    rng = np.random.default_rng(1)
    for cls in ("red", "blue", "notaclass"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(
                tmp_path / "data" / cls / f"{i}.png"
            )
    (tmp_path / "data" / "loose.png").write_bytes((tmp_path / "data" / "red" / "0.png").read_bytes())
    report = JOB.run(PredictConfig(model=path, inputs=[tmp_path / "data"]))
    score = report.score
    assert score is not None and score.counted == 8  # red and blue only: not the unknown class, not the loose file
    expected = [(Path(p.path).parent.name, p.top[0][0]) for p in report.predictions]
    expected = [(t, q) for t, q in expected if t in ("red", "blue")]
    assert score.correct == sum(t == q for t, q in expected)
    assert score.accuracy == pytest.approx(score.correct / 8)
    confusion = np.array(score.confusion)
    assert confusion.sum() == 8 and confusion[CLASSES.index("red")].sum() == 4
    assert confusion[CLASSES.index("green")].sum() == 0
    flat = JOB.run(PredictConfig(model=path, inputs=[tmp_path / "data" / "red"]))
    assert flat.score is None  # a folder without class sub-folders has no labels
