"""Adversarial training methods: the inner attack, a few training steps, and live robust metrics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.core.events import Collector, EpochEnd, Progress
from engine.methods import Batch, MethodContext, get_method
from engine.methods.adversarial import pgd_perturb
from engine.methods.base import method_config
from engine.models.classifier import build_model

ROBUST = ["fast_at", "pgd_at", "trades", "dann_at"]


def _batch(n: int = 16) -> Batch:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 32, 32, generator=g)
    y = torch.arange(n) % 4
    x[y == 1, 0] *= 0.3  # a learnable colour cue per class
    x[y == 2, 1] *= 0.3
    x[y == 3, 2] *= 0.3
    return Batch(x, y, torch.rand(n, 3, 32, 32, generator=g), step=0, progress=0.5)


@pytest.mark.parametrize("norm,eps", [("linf", 8 / 255), ("l2", 0.5)])
def test_inner_attack_stays_in_budget_raises_the_loss_and_restores_the_model(norm: str, eps: float) -> None:
    torch.manual_seed(0)
    model = build_model("small_cnn", 4).train()
    b = _batch()
    x_adv = pgd_perturb(model, b.x_source, b.y_source, eps=eps, norm=norm, steps=5, step_size=2.5 * eps / 5)
    delta = (x_adv - b.x_source).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-6).all() and x_adv.min() >= 0 and x_adv.max() <= 1
    assert model.training and all(p.requires_grad for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), b.y_source) > F.cross_entropy(model(b.x_source), b.y_source)


@pytest.mark.parametrize("name", ROBUST)
def test_robust_method_trains_with_finite_moving_losses(name: str) -> None:
    torch.manual_seed(0)
    cls = get_method(name)
    cfg = method_config(name, {"attack_steps": 1} if name != "fast_at" else {})
    model = build_model("small_cnn", 4, bottleneck_dim=getattr(cfg, "bottleneck_dim", 0))
    method = cls(model, cfg, MethodContext(4, model.feature_dim, 10, 5))
    opt = torch.optim.AdamW(method.parameters(), lr=3e-3)
    method.train()
    losses = []
    for step in range(6):
        b = _batch()
        b.step, b.progress = step, step / 6
        out = method.training_step(b)
        assert torch.isfinite(out.loss) and out.logits_source.shape == (16, 4)
        assert 0.0 <= out.metrics["adv_acc"] <= 1.0
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    assert losses[-1] != losses[0]
    assert cls.kind == "robustness"


def test_pgd_training_reports_clean_and_adversarial_accuracy_live(train_config) -> None:
    from engine.training.trainer import run_train

    train_config.method = "pgd_at"
    train_config.method_options = {"attack_steps": 2, "eval_steps": 2}
    train_config.epochs = 1
    events = Collector()
    run_train(train_config, events)
    step = events.of(Progress)[-1].metrics
    assert {"adv_acc", "loss/adv"} <= set(step)
    epoch = events.of(EpochEnd)[-1].metrics
    assert {"train/acc", "val/acc", "val/adv_acc"} <= set(epoch)
