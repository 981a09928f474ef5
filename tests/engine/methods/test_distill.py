"""The distill method: teachers from a run or an ONNX file, refusals, caching, and learning."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.core.events import Collector, Log
from engine.core.runs import load_run_model
from engine.data.demo import DemoPaths
from engine.data.prepare import PreparedData
from engine.deploy.export import export_onnx
from engine.methods import Batch, MethodContext, get_method
from engine.methods.base import method_config
from engine.methods.distill import Distill, fingerprint
from engine.methods.teachers import OnnxTeacher, RunTeacher, load_teacher
from engine.models.classifier import build_model
from engine.training.trainer import run_train

CLASSES = [str(i) for i in range(10)]


@pytest.fixture(scope="module")
def teacher_run(demo_run: Callable[..., Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small_cnn fine-tuned on the tiny demo's source (the teacher of these tests)."""
    return demo_run(tmp_path_factory.mktemp("teacher_runs"), epochs=6, seed=0)


def _export(model: torch.nn.Module, path: Path, size: int = 32, **meta: Any) -> Path:
    return export_onnx(model, torch.rand(2, 3, size, size), path, meta)


def _method(teacher: Path | str, backbone: str = "tiny_cnn", **opts: Any) -> Distill:
    cfg = method_config("distill", {"teacher": str(teacher), **opts})
    model = build_model(backbone, 10)
    method = get_method("distill")(model, cfg, MethodContext(10, model.feature_dim, 10, 5))
    assert isinstance(method, Distill)
    return method


def _data(n: int = 20, size: int = 32, classes: list[str] | None = None) -> PreparedData:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    y = torch.arange(n) % 10
    return PreparedData(classes or CLASSES, size, x, y, x[:4], y[:4], x_target=x[-8:])


def _logs(events: Collector) -> list[str]:
    return [e.message for e in events.events if isinstance(e, Log)]


def test_registered_with_a_config_form_and_a_path_hint() -> None:
    cls = get_method("distill")
    assert cls.uses_target and cls.Config.model_fields["teacher"].json_schema_extra == {"path": "file_or_dir"}
    with pytest.raises(UserError, match="needs a teacher"):
        _method("")


def test_run_teacher_stays_out_of_parameters_and_state_dict(teacher_run: Path) -> None:
    method = _method(teacher_run)
    assert isinstance(method.teacher, RunTeacher)
    assert not any("teacher" in k for k in method.state_dict())
    trained = {id(p) for g in method.param_groups(1e-3) for p in g["params"]}
    assert not trained & {id(p) for p in method.teacher.model.parameters()}
    assert trained == {id(p) for p in method.model.parameters()}
    # a file inside the run directory names the run too (the Train page's file picker)
    assert load_teacher(teacher_run / "checkpoints" / "best.pt").path == teacher_run


def test_onnx_teacher_gives_the_models_logits_with_and_without_metadata(teacher_run: Path, tmp_path: Path) -> None:
    model, info = load_run_model(teacher_run)
    x = torch.rand(6, 3, 32, 32)
    ref = model(x).detach()
    with_meta = OnnxTeacher(_export(model, tmp_path / "t.onnx", classes=info["classes"], mean=[0.5] * 3))
    bare_path = _export(model, tmp_path / "bare.onnx")
    proto = onnx.load(str(bare_path))
    del proto.metadata_props[:]  # a foreign model: no metadata at all, so [0, 1] inputs at its shape
    onnx.save(proto, str(bare_path))
    bare = OnnxTeacher(bare_path)
    assert with_meta.named and not bare.named and bare.scaling == "[0, 1]"
    for teacher in (with_meta, bare):
        teacher.match_classes(CLASSES)
        assert torch.allclose(teacher.logits(x), ref, atol=1e-4)
    assert with_meta.num_params == pytest.approx(sum(p.numel() for p in model.parameters()), rel=0.1)


def test_class_mismatch_is_refused_naming_both_lists(teacher_run: Path, tmp_path: Path) -> None:
    model, _ = load_run_model(teacher_run)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    path = _export(model, tmp_path / "other.onnx", classes=names)
    method = _method(path)
    with pytest.raises(UserError) as err:
        method.prepare(_data(), Collector())
    text = str(err.value)
    assert "zero, one, two" in text and "0, 1, 2" in text and "other.onnx" in text
    # fewer classes is refused when the method is built, with the teacher's names
    few = _export(torch.nn.Sequential(model, torch.nn.Linear(10, 3)), tmp_path / "few.onnx", classes=["a", "b", "c"])
    with pytest.raises(UserError, match="outputs 3 classes \\(a, b, c\\) but the source has 10"):
        _method(few)


def test_same_classes_in_another_order_are_reordered(teacher_run: Path, tmp_path: Path) -> None:
    model, _ = load_run_model(teacher_run)
    x = torch.rand(4, 3, 32, 32)
    ref = model(x).detach()
    order = [3, 0, 9, 1, 8, 2, 7, 4, 6, 5]
    with torch.no_grad():  # output j of the exported model is the original logit order[j]
        model.head.weight.copy_(model.head.weight[order])
        model.head.bias.copy_(model.head.bias[order])
    path = _export(model, tmp_path / "perm.onnx", classes=[CLASSES[i] for i in order])
    teacher = OnnxTeacher(path)
    notes = teacher.match_classes(CLASSES)
    assert notes and torch.allclose(teacher.logits(x), ref, atol=1e-4)


def test_bad_teacher_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        load_teacher(tmp_path / "missing.onnx")
    (tmp_path / "folder").mkdir()
    with pytest.raises(UserError, match="neither a run directory"):
        load_teacher(tmp_path / "folder")
    # an ONNX model that is not a classifier: image in, image out
    node = helper.make_node("Identity", ["image"], ["out"])
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, 8, 8]) for n in ("image", "out")]
    graph = helper.make_graph([node], "g", [io[0]], [io[1]])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(UserError, match=r"identity\.onnx.*rank 4"):
        load_teacher(path)


def test_other_input_size_is_resized_and_a_bigger_student_warned(teacher_run: Path, tmp_path: Path) -> None:
    small_teacher = build_model("tiny_cnn_x0.5", 10).eval()
    path = _export(small_teacher, tmp_path / "t16.onnx", size=16, classes=CLASSES)
    method = _method(path, backbone="small_cnn")
    events = Collector()
    method.prepare(_data(), events)
    logs = " ".join(_logs(events))
    assert "takes 16×16 images" in logs and "resized to 16 px" in logs
    assert "is not smaller than its teacher" in logs
    x = torch.rand(3, 3, 32, 32)
    ref = small_teacher(torch.nn.functional.interpolate(x, size=(16, 16), mode="bilinear", antialias=True))
    assert torch.allclose(method.teacher.logits(x), ref.detach(), atol=1e-4)


def test_teacher_outputs_cached_without_augmentation(teacher_run: Path) -> None:
    method = _method(teacher_run)
    data = _data()
    calls: list[int] = []
    raw = method.teacher._raw
    method.teacher._raw = lambda x: (calls.append(len(x)), raw(x))[1]  # type: ignore[method-assign]
    events = Collector()
    method.prepare(data, events, "none")
    assert sum(calls) == len(data.x_train) + 8 and "computed once for 28 images" in " ".join(_logs(events))
    calls.clear()
    xs = data.x_train[[3, 1, 7]].float() / 255
    cached = method.teacher_logits(xs)
    assert not calls and torch.allclose(cached, method.teacher.logits(xs), atol=1e-5)
    assert fingerprint(data.x_train[:2]) == fingerprint(data.x_train[:2].float() / 255)
    flipped = xs.flip(-1)  # an augmented batch is not in the cache: the teacher sees it
    calls.clear()
    method.teacher_logits(flipped)
    assert calls == [3]


def test_step_metrics_and_losses(teacher_run: Path) -> None:
    for loss in ("kd", "dkd", "dist"):
        method = _method(teacher_run, loss=loss)
        data = _data()
        method.prepare(data, Collector())
        batch = Batch(data.x_train[:8].float() / 255, data.y_train[:8], data.x_target.float() / 255)
        out = method.training_step(batch)
        assert torch.isfinite(out.loss) and out.logits_source.shape == (8, 10)
        assert {"loss/kd", "loss/hard", "agree/source", "agree/target"} <= set(out.metrics)
        out.loss.backward()
        assert method.model.head.weight.grad is not None


def test_distilling_a_run_through_the_trainer_without_a_target(
    teacher_run: Path, tiny_demo: DemoPaths, tmp_path: Path
) -> None:
    """No labels at all (hard_weight 0): the student learns the source from the teacher alone."""
    teacher_acc = json.loads((teacher_run / "run.json").read_text())["best_metrics"]["val/acc"]
    cfg = TrainConfig(
        source=tiny_demo.source,
        method="distill",
        method_options={"teacher": str(teacher_run), "hard_weight": 0.0, "temperature": 2.0},
        backbone="tiny_cnn",
        epochs=8,
        batch_size=16,
        lr=5e-3,
        ema_decay=0,
        runs_dir=tmp_path,
    )
    events = Collector()
    result = run_train(cfg, emit=events)
    assert result.status == "finished"
    assert result.best_metrics["val/acc"] >= min(0.5, teacher_acc - 0.3), (result.best_metrics, teacher_acc)
    assert any("computed once" in m for m in _logs(events))
