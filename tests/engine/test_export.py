"""ONNX export: parity with PyTorch, dynamic batch, one file, metadata, report, failure, INT8."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from engine.core.errors import UserError
from engine.deploy.export import ExportError, export_and_verify, export_onnx, verify_parity
from engine.deploy.onnx_check import inspect_onnx
from engine.deploy.quantize import quantize_int8

CLASSES = ["ant", "bee", "cat", "dog"]
META = {
    "classes": json.dumps(CLASSES),
    "mean": json.dumps([0.5, 0.4, 0.3]),
    "std": json.dumps([0.2, 0.25, 0.3]),
    "input_size": "16",
    "backbone": "tiny_cnn",
    "method": "supervised",
    "run_id": "run-42",
}


class TinyCNN(nn.Module):
    """Normalises inside (as the app's models do), conv-bn-relu x2, pool, linear."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1))
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body((x - self.mean) / self.std))


def _model() -> TinyCNN:
    torch.manual_seed(0)
    model = TinyCNN()
    with torch.no_grad():  # non-trivial BatchNorm statistics so eval mode matters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
        model.head.weight.mul_(4.0)
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One real export shared by the module (each export costs seconds).

    It exports from a batch of ONE, which must still give a dynamic batch axis (the exporter
    specialises a batch of 1), then checks parity again on a real batch of 6.
    """
    out = tmp_path_factory.mktemp("export") / "model.onnx"
    model = _model().train()
    torch.manual_seed(1)
    first = export_and_verify(model, torch.rand(1, 3, 16, 16), out, META)
    assert first.passed and first.n == 1 and first.batch_sizes_checked == [1]
    assert model.training  # the original mode is restored after export and parity
    report = verify_parity(model, out, torch.rand(6, 3, 16, 16))
    assert model.training
    return model, out, report


@pytest.fixture
def fake_export(exported, monkeypatch):
    """Replace the (slow) exporter by a copy of the module's exported file."""
    import engine.deploy.export as export_mod

    def copy(model, example, out_path, metadata, extra_outputs=()):
        shutil.copyfile(exported[1], out_path)
        return out_path

    monkeypatch.setattr(export_mod, "export_onnx", copy)
    return export_mod


def test_parity_report_and_single_file(exported):
    _, out, report = exported
    assert report.passed and report.n == 6
    assert report.max_abs_diff < 1e-4 and report.top1_agreement == 1.0
    assert report.batch_sizes_checked == [1, 6]
    assert sorted(p.name for p in out.parent.iterdir()) == ["export_report.json", "model.onnx"]
    proto = onnx.load(str(out), load_external_data=False)
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)


def test_runs_at_batch_1_and_8_with_named_io(exported):
    model, out, _ = exported
    model.eval()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    assert isinstance(session.get_inputs()[0].shape[0], str)  # a symbolic, dynamic batch
    for n in (1, 8):
        x = torch.rand(n, 3, 16, 16)
        got = session.run(None, {"image": x.numpy()})[0]
        with torch.inference_mode():
            want = model(x).numpy()
        assert got.shape == (n, 4)
        assert np.max(np.abs(got - want)) < 1e-4


def test_metadata_round_trip(exported):
    _, out, _ = exported
    info = inspect_onnx(out)
    assert info.classes == tuple(CLASSES)
    assert info.mean == (0.5, 0.4, 0.3) and info.std == (0.2, 0.25, 0.3)
    assert info.input_size == 16 and info.normalize_in_model is True
    assert (info.backbone, info.method, info.run_id) == ("tiny_cnn", "supervised", "run-42")
    assert info.metadata["producer"] == "transfer-studio" and info.from_transfer_studio
    assert info.fixed_batch is None and info.layout == "NCHW" and info.num_classes == 4


def test_export_report_contents(exported):
    _, out, report = exported
    data = json.loads((out.parent / "export_report.json").read_text())
    assert data["onnx_file"] == "model.onnx"
    assert data["size_bytes"] == out.stat().st_size and len(data["sha256"]) == 64
    assert data["parity"]["passed"] is True and data["parity"]["n"] == 1
    assert set(data["parity"]) == set(report.model_dump())
    assert data["metadata"]["classes"] == META["classes"] and data["metadata"]["normalize_in_model"] == "true"
    assert data["input_name"] == "image" and data["output_name"] == "logits"
    assert isinstance(data["opset"], int) and set(data["versions"]) == {"torch", "onnx", "onnxruntime"}


def test_parity_failure_raises_and_removes_file(tmp_path, fake_export):
    out = tmp_path / "m.onnx"
    with pytest.raises(ExportError) as err:
        fake_export.export_and_verify(_model(), torch.rand(4, 3, 16, 16), out, META, atol=-1.0)
    assert isinstance(err.value, UserError)
    msg = str(err.value)
    assert "top-1 agreement 100.00%" in msg and "max |logit difference|" in msg and "allowed -1" in msg
    assert not out.exists()
    report = json.loads((tmp_path / "export_report.json").read_text())
    assert report["parity"]["passed"] is False and report["parity"]["max_abs_diff"] < 1e-4


def test_corrupted_runtime_output_fails_top1(tmp_path, fake_export, monkeypatch):
    real = fake_export._ort_session

    class Flipped:  # reverses the class order, as a broken export would
        def __init__(self, session):
            self._s = session

        def get_inputs(self):
            return self._s.get_inputs()

        def run(self, names, feed):
            return [self._s.run(names, feed)[0][:, ::-1].copy()]

    monkeypatch.setattr(fake_export, "_ort_session", lambda p: Flipped(real(p)))
    with pytest.raises(ExportError, match=r"top-1 agreement (?!100)"):
        fake_export.export_and_verify(
            _model(), torch.rand(8, 3, 16, 16), tmp_path / "m.onnx", META, report_path=tmp_path / "r.json"
        )
    parity = json.loads((tmp_path / "r.json").read_text())["parity"]
    assert parity["top1_agreement"] < 1.0 and parity["batch_sizes_checked"] == [1, 8]


def test_class_count_mismatch_refused(tmp_path):
    with pytest.raises(ExportError, match="names 2 classes but the model outputs 4"):
        export_onnx(_model(), torch.rand(2, 3, 16, 16), tmp_path / "m.onnx", {"classes": ["a", "b"]})
    assert not (tmp_path / "m.onnx").exists()


def test_int8_quantization_runs_keeps_metadata_and_agrees(exported, tmp_path):
    model, out, _ = exported
    model.eval()
    rng = np.random.default_rng(3)
    calib = [rng.random((8, 3, 16, 16), dtype=np.float32) for _ in range(4)]
    q = quantize_int8(out, calib, tmp_path / "model_int8.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_int8.onnx"]  # temp files cleaned up
    info = inspect_onnx(q)
    assert info.classes == tuple(CLASSES) and info.normalize_in_model and info.run_id == "run-42"
    assert info.metadata["quantization"].startswith("int8")
    proto = onnx.load(str(q))
    assert any(n.op_type == "QuantizeLinear" for n in proto.graph.node)
    x = rng.random((32, 3, 16, 16), dtype=np.float32)
    got = ort.InferenceSession(str(q), providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    assert got.shape == (32, 4)
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.9


def test_quantize_refuses_bad_calibration(exported, tmp_path):
    _, out, _ = exported
    with pytest.raises(UserError, match="empty"):
        quantize_int8(out, [], tmp_path / "q.onnx")
    with pytest.raises(UserError, match="axis 2 must be 16"):
        quantize_int8(out, [np.zeros((2, 3, 8, 8), np.float32)], tmp_path / "q.onnx")
