"""inspect_onnx: accepts image classifiers in their usual shapes, refuses everything else clearly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from engine.core.errors import UserError
from engine.deploy.onnx_check import IMAGENET_MEAN, IMAGENET_STD, inspect_onnx


def _save(model: onnx.ModelProto, path: Path, metadata: dict[str, str] | None = None) -> Path:
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def classifier(
    path: Path,
    in_shape: list = ("N", 3, 8, 8),
    classes: int = 5,
    layout: str = "NCHW",
    tail: str = "",
    metadata: dict[str, str] | None = None,
) -> Path:
    """A real, runnable pooled-linear classifier: pool -> flatten -> matmul [C, classes]."""
    in_shape = list(in_shape)
    nodes, x = [], "x"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]))
        x = "xt"
    channels = in_shape[1] if layout == "NCHW" else in_shape[3]
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "w"], ["logits"]),
    ]
    batch = in_shape[0]
    out_name, out_shape = "logits", [batch, classes]
    if tail == "unsqueeze_trailing":
        nodes.append(helper.make_node("Unsqueeze", ["logits", "ax"], ["out"]))
        out_name, out_shape = "out", [batch, classes, 1, 1]
    elif tail == "rank3":
        nodes.append(helper.make_node("Unsqueeze", ["logits", "ax1"], ["out"]))
        out_name, out_shape = "out", [batch, 1, classes]
    elif tail == "rank1":
        nodes.append(helper.make_node("ReduceMax", ["logits"], ["out"], axes=[1], keepdims=0))
        out_name, out_shape = "out", [batch]
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((channels, classes)).astype(np.float32), "w"),
        numpy_helper.from_array(np.array([2, 3], np.int64), "ax"),
        numpy_helper.from_array(np.array([1], np.int64), "ax1"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return _save(model, path, metadata)


def test_accepts_nchw_with_defaults_for_foreign_model(tmp_path):
    info = inspect_onnx(classifier(tmp_path / "m.onnx", in_shape=["N", 3, 8, 8], classes=5))
    assert info.layout == "NCHW" and info.channels == 3
    assert info.input_name == "x" and info.output_name == "logits"
    assert info.fixed_batch is None and info.input_shape == ("N", 3, 8, 8)
    assert info.num_classes == 5
    assert info.classes == tuple(f"class_{i}" for i in range(5))
    assert info.mean == IMAGENET_MEAN and info.std == IMAGENET_STD
    assert info.input_size == 8  # from the static input shape
    assert info.normalize_in_model is False and not info.from_transfer_studio
    assert info.opset == 17


def test_dynamic_spatial_size_defaults_to_224(tmp_path):
    info = inspect_onnx(classifier(tmp_path / "m.onnx", in_shape=["N", 3, "H", "W"]))
    assert info.input_size == 224


def test_nhwc_fixed_batch_and_trailing_ones(tmp_path):
    info = inspect_onnx(classifier(tmp_path / "m.onnx", in_shape=[4, 8, 8, 3], layout="NHWC", classes=7))
    assert info.layout == "NHWC" and info.fixed_batch == 4 and info.num_classes == 7
    info = inspect_onnx(classifier(tmp_path / "t.onnx", tail="unsqueeze_trailing", classes=6))
    assert info.output_shape == ("N", 6, 1, 1) and info.num_classes == 6


def test_single_channel_defaults(tmp_path):
    info = inspect_onnx(classifier(tmp_path / "m.onnx", in_shape=["N", 1, 8, 8]))
    assert info.channels == 1 and len(info.mean) == 1 and len(info.std) == 1


def test_metadata_is_read(tmp_path):
    meta = {
        "classes": json.dumps(["cat", "dog", "fox"]),
        "mean": "[0.5, 0.5, 0.5]",
        "std": "[0.25, 0.25, 0.25]",
        "input_size": "8",
        "normalize_in_model": "true",
        "backbone": "small_cnn",
        "method": "dann",
        "run_id": "run-7",
        "producer": "transfer-studio",
    }
    info = inspect_onnx(classifier(tmp_path / "m.onnx", classes=3, metadata=meta))
    assert info.classes == ("cat", "dog", "fox")
    assert info.mean == (0.5, 0.5, 0.5) and info.std == (0.25, 0.25, 0.25)
    assert info.normalize_in_model and info.from_transfer_studio
    assert (info.backbone, info.method, info.run_id) == ("small_cnn", "dann", "run-7")


def test_refuses_wrong_input_rank(tmp_path):
    w = numpy_helper.from_array(np.zeros((784, 10), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        initializer=[w],
    )
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "mlp.onnx")
    with pytest.raises(UserError) as err:
        inspect_onnx(path)
    msg = str(err.value)
    assert "mlp.onnx" in msg and "'x'" in msg and "rank 2" in msg and "[N, 784]" in msg and "[N, 3, H, W]" in msg


@pytest.mark.parametrize("tail,found", [("rank3", "rank 3"), ("rank1", "rank 1")])
def test_refuses_output_not_per_class(tmp_path, tail, found):
    with pytest.raises(UserError, match=found):
        inspect_onnx(classifier(tmp_path / "m.onnx", tail=tail))


def test_refuses_no_channel_axis_and_non_square(tmp_path):
    with pytest.raises(UserError, match="channel"):
        inspect_onnx(classifier(tmp_path / "a.onnx", in_shape=["N", 5, 8, 8]))
    with pytest.raises(UserError, match="square"):
        inspect_onnx(classifier(tmp_path / "b.onnx", in_shape=["N", 3, 8, 6]))


def test_refuses_integer_input_and_two_inputs(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["y"], to=TensorProto.FLOAT)],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 8, 8])],
    )
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "u8.onnx")
    with pytest.raises(UserError, match="UINT8"):
        inspect_onnx(path)
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3]) for n in ("a", "b")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
    )
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "two.onnx")
    with pytest.raises(UserError, match="2 inputs"):
        inspect_onnx(path)


def test_refuses_custom_op_domain(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("FancyPool", ["x"], ["y"], domain="com.example")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    with pytest.raises(UserError, match=r"custom operators.*com\.example.*FancyPool"):
        inspect_onnx(_save(model, tmp_path / "custom.onnx"))


def test_refuses_missing_empty_corrupt_and_truncated_files(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        inspect_onnx(tmp_path / "absent.onnx")
    with pytest.raises(UserError, match="folder"):
        inspect_onnx(tmp_path)
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(UserError, match="too small"):
        inspect_onnx(tmp_path / "empty.onnx")
    (tmp_path / "junk.onnx").write_bytes(np.random.default_rng(1).bytes(4096))
    with pytest.raises(UserError, match=r"junk\.onnx"):
        inspect_onnx(tmp_path / "junk.onnx")
    good = classifier(tmp_path / "good.onnx").read_bytes()
    (tmp_path / "cut.onnx").write_bytes(good[: len(good) // 2])
    with pytest.raises(UserError, match=r"cut\.onnx"):
        inspect_onnx(tmp_path / "cut.onnx")


@pytest.mark.parametrize(
    "meta,match",
    [
        ({"classes": '["a", "b"]'}, "names 2 classes but the output has 5"),
        ({"classes": "not json"}, "not valid JSON"),
        ({"std": "[0.2, 0.0, 0.2]"}, "'std'"),
        ({"mean": "[0.5, 0.5]"}, "'mean'"),
        ({"input_size": "big"}, "'input_size'"),
        ({"input_size": "16"}, "fixed at 8"),
    ],
)
def test_refuses_bad_metadata(tmp_path, meta, match):
    with pytest.raises(UserError, match=match):
        inspect_onnx(classifier(tmp_path / "m.onnx", metadata=meta))
