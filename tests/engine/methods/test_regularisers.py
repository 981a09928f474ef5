"""MCC and target-entropy regularisers combined with dann, cdan, coral, dan (and mcc, self_training)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.core.errors import UserError
from engine.methods import Batch, MethodContext, get_method
from engine.methods.adaptation import AdaptationConfig
from engine.methods.base import method_config
from engine.methods.regularisers import target_regularisers
from engine.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

COMBINABLE = ["dann", "cdan", "coral", "dan", "mcc", "self_training"]


def _hand_mcc(logits: np.ndarray, t: float) -> float:
    """MCC (Jin et al. 2020, eqs. 1-6) written out with numpy, independent of da_losses."""
    z = logits / t
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    h = -(p * np.log(p)).sum(1)
    w = 1 + np.exp(-h)
    w = len(w) * w / w.sum()
    c = np.zeros((p.shape[1], p.shape[1]))
    for i in range(len(p)):
        c += w[i] * np.outer(p[i], p[i])
    c /= c.sum(1, keepdims=True)
    return float((c.sum() - np.trace(c)) / p.shape[1])


def _hand_entropy(logits: np.ndarray) -> float:
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return float(-(p * np.log(p)).sum(1).mean())


LOGITS = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [1.0, 1.0, -2.0]])


def test_combination_matches_a_hand_computation() -> None:
    cfg = AdaptationConfig(mcc_weight=0.7, entropy_weight=0.3)
    total, metrics = target_regularisers(cfg, torch.tensor(LOGITS, dtype=torch.float32), lam=0.5)
    mcc, ent = _hand_mcc(LOGITS, 2.5), _hand_entropy(LOGITS)
    assert metrics["loss/mcc"] == pytest.approx(mcc, rel=1e-5)
    assert metrics["loss/entropy"] == pytest.approx(ent, rel=1e-5)
    assert total is not None and float(total) == pytest.approx(0.5 * (0.7 * mcc + 0.3 * ent), rel=1e-5)
    # one weight alone, and both off
    only_ent, m = target_regularisers(AdaptationConfig(entropy_weight=2.0), torch.tensor(LOGITS), lam=1.0)
    assert only_ent is not None and float(only_ent) == pytest.approx(2 * ent, rel=1e-5) and "loss/mcc" not in m
    assert target_regularisers(AdaptationConfig(), torch.tensor(LOGITS), lam=1.0) == (None, {})


def _data(n: int = 12) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    xs = torch.rand(n, 3, 16, 16, generator=g) * 0.5
    xs[:, 0] += y.view(-1, 1, 1) * 0.2
    xt = (torch.rand(n, 3, 16, 16, generator=g) * 0.5 + 0.3).clamp(0, 1)
    return xs, y, xt


def _method(name: str, **options):
    if name in ("dann", "cdan"):
        options.setdefault("disc_hidden", 32)
    if name == "self_training":
        options.update(warmup=0.0, threshold=0.3)
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, weights="random")
    cfg = method_config(name, options)
    ctx = MethodContext(num_classes=3, feature_dim=model.feature_dim, total_steps=4, steps_per_epoch=4)
    return get_method(name)(model, cfg, ctx)


def _step(method, seed: int = 1):
    xs, y, xt = _data()
    method.train()
    torch.manual_seed(seed)  # same dropout masks for every variant
    return method.training_step(Batch(xs, y, xt, step=2, progress=0.3))


@pytest.mark.parametrize("name", COMBINABLE)
def test_weight_zero_is_the_plain_method_and_weights_add_exactly(name: str) -> None:
    plain = _step(_method(name))
    zero = _step(_method(name, mcc_weight=0.0, entropy_weight=0.0))
    assert float(zero.loss.detach()) == float(plain.loss.detach())  # bit for bit
    assert zero.metrics == plain.metrics and "loss/mcc" not in plain.metrics
    combo = _step(_method(name, mcc_weight=1.5, entropy_weight=0.2))
    lam = combo.metrics["lambda"]
    expected = lam * (1.5 * combo.metrics["loss/mcc"] + 0.2 * combo.metrics["loss/entropy"])
    assert float(combo.loss.detach()) - float(plain.loss.detach()) == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert expected > 0 and math.isfinite(float(combo.loss.detach()))


@pytest.mark.parametrize("name", ["dann", "cdan", "coral", "dan"])
def test_mcc_gradient_reaches_the_backbone(name: str) -> None:
    method = _method(name, mcc_weight=1.0, ramp_up=False)
    _step(method).loss.backward()
    g_combo = method.model.backbone.block1[0].weight.grad.clone()
    plain = _method(name, ramp_up=False)
    _step(plain).loss.backward()
    assert not torch.allclose(g_combo, plain.model.backbone.block1[0].weight.grad)


def test_entropy_regulariser_makes_target_predictions_confident() -> None:
    """Trained 12 steps with a strong entropy weight, CORAL's target predictions are surer."""

    def train(**options) -> float:
        method = _method("coral", ramp_up=False, **options)
        opt = torch.optim.AdamW(method.param_groups(3e-3))
        xs, y, xt = _data()
        for step in range(12):
            method.train()
            res = method.training_step(Batch(xs, y, xt, step=step, progress=0.5))
            opt.zero_grad()
            res.loss.backward()
            opt.step()
        method.eval()
        with torch.no_grad():
            logp = torch.log_softmax(method.model(xt), 1)
        return float(-(logp.exp() * logp).sum(1).mean())

    assert train(entropy_weight=3.0) < 0.7 * train()


def test_negative_or_huge_weights_are_refused_naming_the_field() -> None:
    with pytest.raises(UserError, match="mcc_weight"):
        method_config("dann", {"mcc_weight": -1})
    with pytest.raises(UserError, match="entropy_weight"):
        method_config("coral", {"entropy_weight": 1000})
