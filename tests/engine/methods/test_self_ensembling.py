"""Self-ensembling (mean teacher on wide augmentations) and the batch augmentation it draws."""

from __future__ import annotations

import math

import pytest
import torch

from engine.core.config import TrainConfig
from engine.data.batch_augment import OPS, BatchAugmentConfig, choose_ops, random_geometry, wide_augment
from engine.methods import Batch, MethodContext, get_method
from engine.methods.base import method_config
from engine.methods.self_ensembling import class_balance_loss
from engine.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

ZERO = {"rotate_deg": 0.0, "zoom_out": 1.0, "contrast": 0.0, "brightness": 0.0, "noise": 0.0}


def _square(n: int = 8, size: int = 32) -> torch.Tensor:
    x = torch.zeros(n, 3, size, size)
    x[:, :, 8:24, 8:24] = 1.0  # a bright square on black, a quarter of the image
    return x


def test_ranges_at_zero_leave_only_the_flip_and_it_is_exact() -> None:
    x = torch.rand(4, 3, 16, 16)
    every_op = wide_augment(x, BatchAugmentConfig(ops_per_image=5, **ZERO))
    assert torch.allclose(every_op, 1.0 - x, atol=1e-5)  # the only op with no range: the negative
    assert torch.allclose(random_geometry(x, torch.zeros(4), torch.ones(4)), x, atol=1e-5)
    none = wide_augment(x, BatchAugmentConfig(share=0.0))
    assert torch.equal(none, x)


def test_each_image_gets_exactly_k_operations_chosen_evenly() -> None:
    torch.manual_seed(0)
    on = choose_ops(5000, 2, torch.device("cpu"))
    assert on.shape == (5000, len(OPS)) and bool((on.sum(1) == 2).all())
    share = on.float().mean(0)
    assert torch.allclose(share, torch.full_like(share, 2 / len(OPS)), atol=0.03)


def test_zoom_out_shrinks_the_content_and_keeps_it_in_the_frame() -> None:
    torch.manual_seed(0)
    x = _square()
    out = random_geometry(x, torch.zeros(8), torch.linspace(1.0, 4.0, 8))
    ink = out.mean(dim=(1, 2, 3))
    # a side factor s leaves 1/s² of the bright area: a quarter / s²
    expected = 0.25 / torch.linspace(1.0, 4.0, 8) ** 2
    assert torch.allclose(ink, expected, atol=0.02)
    assert out.min() >= 0 and out.max() <= 1 and out.shape == x.shape


def test_rotation_moves_the_pixels_but_keeps_the_ink() -> None:
    x = torch.zeros(16, 1, 32, 32)
    x[:, :, 4:28, 14:18] = 1.0  # a vertical bar
    out = random_geometry(x, torch.linspace(-30.0, 30.0, 16), torch.ones(16))
    assert not torch.allclose(out[0], x[0], atol=0.1) and not torch.allclose(out[-1], x[-1], atol=0.1)
    assert torch.allclose(out.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)), rtol=0.1)


def test_every_image_draws_its_own_augmentation() -> None:
    torch.manual_seed(0)
    x = _square(16)
    out = wide_augment(x)
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    distance = torch.cdist(out.flatten(1), out.flatten(1))
    assert float(distance[~torch.eye(16, dtype=torch.bool)].min()) > 0.1  # no two images alike


def test_class_balance_loss_is_smallest_for_a_uniform_mean_prediction() -> None:
    uniform = torch.full((6, 3), 1 / 3)
    one_class = torch.tensor([[0.98, 0.01, 0.01]] * 6)
    balanced = torch.eye(3).repeat(2, 1) * 0.97 + 0.01
    assert float(class_balance_loss(balanced)) == pytest.approx(float(class_balance_loss(uniform)), abs=1e-3)
    assert float(class_balance_loss(one_class)) > float(class_balance_loss(uniform)) + 1.0


def _bars(n: int, invert: bool, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes: a bright vertical bar on the left, in the middle or on the right, on black;
    the target domain is the negative (a dark bar on white)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.rand(n, 3, 16, 16, generator=g) * 0.15
    for i, c in enumerate(y.tolist()):
        lo = 2 + 5 * c + int(torch.randint(-1, 2, (1,), generator=g))
        x[i, :, 2:14, lo : lo + 3] = 0.85 + 0.15 * torch.rand(1, generator=g)
    return (1.0 - x if invert else x), y


def _method(name: str, **options: object):
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, weights="random")
    ctx = MethodContext(num_classes=3, feature_dim=model.feature_dim, total_steps=40, steps_per_epoch=10)
    return get_method(name)(model, method_config(name, options), ctx)


def _target_accuracy(name: str, steps: int = 40, **options: object) -> float:
    method = _method(name, **options)
    xs, ys = _bars(48, invert=False, seed=1)
    xt, _ = _bars(48, invert=True, seed=2)
    xt_test, yt_test = _bars(60, invert=True, seed=3)
    opt = torch.optim.AdamW(method.param_groups(3e-3))
    for step in range(steps):
        method.train()
        res = method.training_step(Batch(xs, ys, xt, step=step, progress=step / steps))
        opt.zero_grad()
        res.loss.backward()
        opt.step()
        assert math.isfinite(float(res.loss.detach()))
    model = method.teacher if name == "self_ensembling" else method.model
    model.eval()
    with torch.no_grad():
        return float((model(xt_test).argmax(1) == yt_test).float().mean())


def test_self_ensembling_learns_a_polarity_shift_that_source_training_does_not() -> None:
    """The planted shift: the target is the source's negative. Fine-tuning on the source alone
    reads a dark bar as two bright regions; self-ensembling, which sees negatives of the source
    and follows its teacher on the target, gets the target classes right."""
    plain = _target_accuracy("finetune")
    adapted = _target_accuracy("self_ensembling", confidence=0.8)
    assert adapted >= 0.9, (plain, adapted)
    assert adapted >= plain + 0.3, (plain, adapted)


def test_teacher_is_a_moving_average_with_warm_up_and_gets_no_gradient() -> None:
    method = _method("self_ensembling", teacher_decay=0.99)
    names = {id(p) for g in method.param_groups(1e-3) for p in g["params"]}
    assert any(k.startswith("teacher.") for k in method.state_dict())  # checkpointed, so resume keeps it
    assert not any(id(p) in names for p in method.teacher.parameters())
    student = next(method.model.parameters())
    teacher = next(method.teacher.parameters())
    with torch.no_grad():
        student.add_(1.0)
    before = teacher.detach().clone()
    method.update_teacher(step=0)  # warm-up: decay (1+0)/(10+0) = 0.1
    assert torch.allclose(teacher, 0.1 * before + 0.9 * student.detach(), atol=1e-6)
    before = teacher.detach().clone()
    method.update_teacher(step=10_000)  # long after the warm-up: the configured 0.99
    assert torch.allclose(teacher, 0.99 * before + 0.01 * student.detach(), atol=1e-6)
    xs, ys = _bars(8, invert=False, seed=0)
    xt, _ = _bars(8, invert=True, seed=0)
    method.train()
    res = method.training_step(Batch(xs, ys, xt, step=3, progress=0.5))
    res.loss.backward()
    assert all(p.grad is None for p in method.teacher.parameters())
    assert {"loss/consistency", "loss/class_balance", "confident_rate", "teacher_confidence"} <= set(res.metrics)


def test_training_on_small_cnn_names_the_backbone_self_ensembling_does_better_on(
    train_config: TrainConfig, one_thread: None
) -> None:
    from engine.core.events import Log
    from engine.training.trainer import run_train

    logs: list[str] = []
    config = train_config.model_copy(update={"method": "self_ensembling", "epochs": 1, "device": "cpu"})
    result = run_train(config, lambda e: logs.append(e.message) if isinstance(e, Log) else None)
    assert result.status == "finished"
    assert any("small_cnn_gap" in m and "--backbone small_cnn_gap" in m for m in logs)
    logs.clear()
    gap = config.model_copy(update={"backbone": "small_cnn_gap", "name": "gap"})
    assert run_train(gap, lambda e: logs.append(e.message) if isinstance(e, Log) else None).status == "finished"
    assert not any("small_cnn_gap" in m for m in logs)  # nothing to advise on the advised backbone
