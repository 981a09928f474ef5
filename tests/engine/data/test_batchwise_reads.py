"""Paths that used to read a whole split at once now read one batch at a time, with the same numbers.

`SpyImages` is a DiskImages over a raw uint8 file that records the size of every read and refuses
`materialize()`: a path that indexes the whole set at once shows as a read larger than a batch.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from read_spy import SpyImages, spy_file
from torch import nn

from engine.data.disk_images import batch_bounds, concat_batches, iter_batches
from engine.models.bn_stats import batchnorm_layers, recompute_bn_stats
from engine.models.classifier import build_model
from engine.training.devices import to_device_float

CPU = torch.device("cpu")
SIZE = 16


def _images(n: int, seed: int, low: int = 0, high: int = 256) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, (n, 3, SIZE, SIZE), generator=g, dtype=torch.uint8)


def _on_disk(tmp_path: Path, x: torch.Tensor, name: str = "images.u8") -> SpyImages:
    """The images in a raw cache-format file, addressed in a shuffled row order (as a split is)."""
    return spy_file(tmp_path / name, x, np.random.default_rng(len(x)).permutation(len(x)))


def test_batch_bounds_cut_as_tensor_split_and_concat_batches_as_cat_then_slice(tmp_path: Path) -> None:
    for n, bs in ((300, 256), (512, 256), (7, 3), (1, 256), (2049, 256)):
        want = [len(c) for c in torch.tensor_split(torch.zeros(n), -(-n // bs))]
        assert [b - a for a, b in batch_bounds(n, bs, equal=True)] == want
        assert [b - a for a, b in batch_bounds(n, bs)] == [len(c) for c in torch.zeros(n).split(bs)]
    assert batch_bounds(0, 256) == []
    a, b = _images(300, 1), _images(230, 2)
    disk_b = _on_disk(tmp_path, b)
    whole = torch.cat([a, b])
    got = list(concat_batches([a, disk_b], 256))
    assert [len(g) for g in got] == [256, 256, 18]
    assert torch.equal(torch.cat(got), whole)
    assert max(disk_b.log) <= 256
    assert torch.equal(torch.cat(list(iter_batches(disk_b, 64, limit=100))), b[:100])


def _reference_bn(model: nn.Module, x: torch.Tensor, batch_size: int, max_images: int) -> None:
    """The all-at-once re-estimation as it was: the first `max_images` images, tensor_split."""
    layers = batchnorm_layers(model)
    x = x[:max_images]
    model.eval()
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None
        bn.train()
    with torch.no_grad():
        for chunk in torch.tensor_split(x, -(-len(x) // batch_size)):
            model(to_device_float(chunk, CPU))
    for bn in layers:
        bn.momentum = 0.1
    model.eval()


@pytest.mark.parametrize(("n", "batch_size", "max_images"), [(300, 64, 250), (90, 256, 2048), (130, 32, 130)])
def test_precise_bn_streams_batches_with_the_all_at_once_statistics(
    tmp_path: Path, n: int, batch_size: int, max_images: int
) -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", 3)
    x = _images(n, seed=n, low=40, high=220)
    ref = build_model("small_cnn", 3)
    ref.load_state_dict(model.state_dict())
    _reference_bn(ref, x, batch_size, max_images)
    disk = _on_disk(tmp_path, x)
    for images in (x, disk):
        recompute_bn_stats(model, images, CPU, batch_size=batch_size, max_images=max_images)
        for bn, want in zip(batchnorm_layers(model), batchnorm_layers(ref), strict=True):
            torch.testing.assert_close(bn.running_mean, want.running_mean, rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(bn.running_var, want.running_var, rtol=1e-6, atol=1e-6)
            torch.testing.assert_close(bn.num_batches_tracked, want.num_batches_tracked)
    # one batch read at a time, only the first `max_images`, never the whole split
    assert disk.log and max(disk.log) <= batch_size and sum(disk.log) == min(n, max_images)


class _LinearTeacher:
    """A teacher whose logits are a fixed linear map of the pixels (batch-independent, exact)."""

    def __init__(self, classes: list[str]) -> None:
        from engine.methods.teachers import Teacher

        class Fixed(Teacher):
            kind = "test"

            def __init__(self) -> None:
                super().__init__(Path("teacher.onnx"), classes, SIZE, 10_000_000, True)
                g = torch.Generator().manual_seed(3)
                self.w = torch.randn(3 * SIZE * SIZE, len(classes), generator=g, dtype=torch.float64)
                self.calls: list[int] = []

            def _raw(self, x: torch.Tensor) -> torch.Tensor:
                self.calls.append(len(x))
                return x.reshape(len(x), -1).double() @ self.w

        self.teacher = Fixed()


def _distill(classes: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    from engine.methods import distill
    from engine.methods.base import MethodContext

    teacher = _LinearTeacher(classes).teacher
    monkeypatch.setattr(distill, "load_teacher", lambda path: teacher)  # no run to load
    model = build_model("tiny_cnn", len(classes))
    cfg = distill.DistillConfig(teacher=Path("teacher.onnx"))
    return distill.Distill(model, cfg, MethodContext(len(classes), model.feature_dim, 10, 5))


def test_distill_teacher_pass_reads_a_batch_at_a_time_with_the_same_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.methods.distill import fingerprint

    classes = ["a", "b", "c"]
    x_train, x_target = _images(300, 5), _images(230, 6)
    disk_train, disk_target = _on_disk(tmp_path, x_train, "train.u8"), _on_disk(tmp_path, x_target, "target.u8")
    method = _distill(classes, monkeypatch)
    data = SimpleNamespace(x_train=disk_train, x_target=disk_target, classes=classes, size=SIZE)
    logs: list[Any] = []
    method.prepare(data, logs.append, "none")
    assert max(disk_train.log + disk_target.log) <= 256 and max(method.teacher.calls) <= 256
    # as before: the splits end to end, in batches of 256, through the teacher
    whole = torch.cat([x_train, x_target])
    want = torch.cat([method.teacher.logits(whole[i : i + 256].float().div(255)) for i in range(0, 530, 256)])
    assert torch.equal(method._cached, want)
    assert method._cache == {k: i for i, k in enumerate(fingerprint(whole))}
    assert any("computed once for 530 images" in getattr(e, "message", "") for e in logs)
    # a training batch of known images gets the cached outputs
    idx = torch.tensor([3, 299, 310, 529])
    batch = whole[idx].float().div(255)
    torch.testing.assert_close(method.teacher_logits(batch), want[idx])


class _FakeOnnx:
    """Stands in for OnnxClassifier: a fixed linear map of [0, 1] pixels; records batch sizes."""

    calls: ClassVar[list[int]] = []

    def __init__(self, path: Any) -> None:
        self.info = SimpleNamespace(metadata={"classes": "x"})
        self.classes = ["c0", "c1", "c2", "c3"]
        self.w = np.random.default_rng(1 if "int8" in str(path) else 0).standard_normal((3 * SIZE * SIZE, 4))

    def logits(self, x: np.ndarray) -> np.ndarray:
        assert x.dtype == np.float32 and float(x.max()) <= 1.0
        type(self).calls.append(len(x))
        return x.reshape(len(x), -1).astype(np.float64) @ self.w


def test_compression_accuracy_and_int8_check_read_a_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.deploy import compression, predict

    monkeypatch.setattr(predict, "OnnxClassifier", _FakeOnnx)
    monkeypatch.setattr(compression, "latency_ms", lambda *a, **k: dict.fromkeys(compression.LATENCY_KEYS, 1.0))
    x = _images(600, 9)
    y = np.random.default_rng(2).integers(0, 4, 600)
    classes = ["c0", "c1", "c2", "c3"]
    as_float = x.float().div(255).numpy()  # what the report used to build for the whole set
    disk = _on_disk(tmp_path, x)
    acc = compression.onnx_accuracy("m.onnx", disk, y, classes)
    assert max(disk.log) <= compression.BATCH and max(_FakeOnnx.calls) <= compression.BATCH
    want = float(np.mean((as_float.reshape(600, -1).astype(np.float64) @ _FakeOnnx("m.onnx").w).argmax(1) == y))
    assert acc == want == compression.onnx_accuracy("m.onnx", as_float, y, classes)
    assert compression.onnx_accuracy("m.onnx", x, y, classes) == acc  # an in-memory uint8 tensor
    check = compression.int8_check("m.onnx", "m.int8.onnx", disk, y, classes)
    ref = compression.int8_check("m.onnx", "m.int8.onnx", as_float, y, classes)
    assert check == ref and check["acc_fp32"] == acc and check["n"] == 600
    assert 0.0 < check["agreement"] < 1.0  # two different fake models
    assert max(disk.log) <= compression.BATCH


def test_cluster_features_read_a_batch_at_a_time(tmp_path: Path) -> None:
    from engine.analysis.cluster_features import _batched, _pixels

    x = _images(300, 11)
    disk = _on_disk(tmp_path, x)
    assert np.array_equal(_pixels(disk), x.reshape(300, -1).float().div(255).numpy())
    mean_colour = _batched(lambda b: b.mean((2, 3)))
    assert np.array_equal(mean_colour(disk), mean_colour(x))
    assert max(disk.log) <= 256


def test_shift_brightness_and_contrast_are_summed_a_batch_at_a_time(tmp_path: Path) -> None:
    from engine.advisor.shift import _look

    x = _images(2100, 13, low=30, high=200)
    disk = _on_disk(tmp_path, x)
    got = _look("source", disk)
    whole = x[:2000].double() / 255.0  # what it used to convert at once (as float32)
    assert got["source_brightness"] == pytest.approx(float(whole.mean()), abs=1e-9)
    assert got["source_contrast"] == pytest.approx(float(whole.std()), abs=1e-9)
    assert got == pytest.approx(_look("source", x), abs=1e-12)
    assert max(disk.log) <= 256 and sum(disk.log) == 2000
