"""Point 4: ONNX files from elsewhere are checked before onnxruntime opens them: external data that
leaves the model's folder, custom-op domains the runtime lacks and absurd declared dimensions are
refused in one line naming the model and the reason. Each hostile file is built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from reliability_helpers import onnx_classifier

from engine.core.errors import UserError
from engine.deploy.onnx_check import inspect_onnx


@pytest.fixture
def no_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if onnxruntime is asked to open any model."""
    import onnxruntime

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("onnxruntime opened a hostile model")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)


def _with_external_weights(path: Path, location: str) -> Path:
    """The classifier with its weight tensor pointing at external data `location`."""
    model = onnx_classifier(path)
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", location
    onnx.save(model, str(path))
    return path


def _refused(path: Path, *needles: str) -> str:
    from engine.deploy.predict import OnnxClassifier

    with pytest.raises(UserError) as info:
        inspect_onnx(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(path.name), msg
    for needle in needles:
        assert needle in msg, msg
    with pytest.raises(UserError):  # the predict path refuses too, before any session
        OnnxClassifier(path)
    return msg


@pytest.mark.parametrize("escape", ["../secret.bin", "sub/../../secret.bin", "ABSOLUTE"])
def test_external_data_outside_the_folder(tmp_path: Path, no_runtime: None, escape: str) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(9, np.float32).tobytes())
    (tmp_path / "models").mkdir()
    location = str(secret) if escape == "ABSOLUTE" else escape
    path = _with_external_weights(tmp_path / "models" / "m.onnx", location)
    _refused(path, "outside the model's folder", repr(location), "'w'")


def test_external_data_through_a_symlink_out_of_the_folder(tmp_path: Path, no_runtime: None) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(9, np.float32).tobytes())
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "w.bin").symlink_to(secret)
    _refused(_with_external_weights(tmp_path / "models" / "m.onnx", "w.bin"), "outside the model's folder")


def test_external_data_beside_the_model_is_fine(tmp_path: Path) -> None:
    """Control: the same mechanism with the data in the model's own folder loads and runs."""
    from engine.deploy.predict import OnnxClassifier

    w = np.random.default_rng(0).standard_normal((3, 3)).astype(np.float32)
    (tmp_path / "w.bin").write_bytes(w.tobytes())
    path = _with_external_weights(tmp_path / "m.onnx", "w.bin")
    inspect_onnx(path)
    assert OnnxClassifier(path).predict_proba(np.zeros((1, 3, 8, 8), np.float32)).shape == (1, 3)


def test_custom_op_domain_the_runtime_lacks(tmp_path: Path, no_runtime: None) -> None:
    path = tmp_path / "custom.onnx"
    onnx_classifier(path, domain="com.example.evil")
    _refused(path, "custom operators", "com.example.evil", "EvilPool")


@pytest.mark.parametrize(
    ("shape", "needle"),
    [
        (("N", 3, 1_000_000, 1_000_000), "over 8192 pixels a side"),
        ((10**9, 3, 8, 8), "batch of 1000000000"),
        (("N", 3, 8, 1 << 40), "declares a dimension of"),
    ],
)
def test_absurd_declared_input_dimensions(tmp_path: Path, no_runtime: None, shape: tuple, needle: str) -> None:
    path = tmp_path / "big.onnx"
    onnx_classifier(path, in_shape=shape)
    _refused(path, "refused", needle)


def test_absurd_initializer_shape(tmp_path: Path, no_runtime: None) -> None:
    """A tensor claiming 2^31 x 2^31 elements (with no data behind it) would be a memory bomb."""
    path = tmp_path / "bomb.onnx"
    model = onnx_classifier(path)
    bomb = numpy_helper.from_array(np.zeros(1, np.float32), "bomb")
    del bomb.dims[:]
    bomb.dims.extend([1 << 31, 1 << 31])
    model.graph.initializer.append(bomb)
    model.graph.node.append(helper.make_node("Identity", ["bomb"], ["unused"]))
    onnx.save(model, str(path))
    _refused(path, "tensor 'bomb'", "no real model")


def test_absurd_class_count(tmp_path: Path, no_runtime: None) -> None:
    path = tmp_path / "classes.onnx"
    model = onnx_classifier(path)
    model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 10**8
    del model.metadata_props[:]
    onnx.save(model, str(path))
    _refused(path, "100000000 classes")
