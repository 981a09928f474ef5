"""Helpers for the hostile-input tests: a switchable full disk, a tiny run, tiny ONNX models."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from engine.core import fsutil

CLASSES = ["a", "b", "c"]
SIDE = 8


class FullDisk:
    """Replaces fsutil's low-level write: while armed, a write larger than `free` bytes fails with
    ENOSPC after writing what fits, as on a nearly full disk (small files such as run.json still fit)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = False
        self.free = 0
        self.refused = 0
        real = fsutil._write_fd

        def write(fd: int, data: bytes) -> None:
            if self.armed and len(data) > self.free:
                self.refused += 1
                os.write(fd, bytes(data)[: self.free])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real(fd, data)

        monkeypatch.setattr(fsutil, "_write_fd", write)

    def arm(self, free: int = 0) -> None:
        self.armed, self.free = True, free

    def disarm(self) -> None:
        self.armed = False


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted atomic write could have left."""
    return sorted(p.name for p in folder.rglob("*.tmp"))


def write_images(folder: Path, classes: Sequence[str] = CLASSES, per_class: int = 4, side: int = SIDE) -> Path:
    rng = np.random.default_rng(0)
    for c in classes:
        (folder / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
            Image.fromarray(arr).save(folder / c / f"{i}.png")
    return folder


def onnx_classifier(
    path: Path,
    in_shape: Sequence[int | str] = ("N", 3, SIDE, SIDE),
    classes: Sequence[str] = CLASSES,
    domain: str = "",
) -> onnx.ModelProto:
    """A runnable pooled-linear classifier: GlobalAveragePool -> Flatten -> MatMul; saved to `path`."""
    op = "GlobalAveragePool" if not domain else "EvilPool"
    nodes = [
        helper.make_node(op, ["x"], ["p"], domain=domain),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "w"], ["logits"]),
    ]
    w = np.random.default_rng(0).standard_normal((3, len(classes))).astype(np.float32)
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [in_shape[0], len(classes)])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "classes", __import__("json").dumps(list(classes))
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return model
