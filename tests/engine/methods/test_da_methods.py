"""Every domain-adaptation method trains a few steps on tiny synthetic data."""

from __future__ import annotations

import math

import pytest
import torch

from engine.core.errors import UserError
from engine.methods import Batch, MethodContext, get_method
from engine.methods.base import method_config
from engine.models import build_model

pytestmark = pytest.mark.usefixtures("one_thread")

DA_METHODS = ["dann", "cdan", "dan", "coral", "mcc", "self_training"]
STEPS = 4


def _data(n: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    xs = torch.rand(n, 3, 16, 16, generator=g) * 0.5
    xs[:, 0] += y.view(-1, 1, 1) * 0.2  # class shows in the red channel
    xt = (torch.rand(n, 3, 16, 16, generator=g) * 0.5 + 0.3).clamp(0, 1)  # brighter target
    return xs, y, xt


def _method(name: str, **options):
    options.setdefault("disc_hidden", 64) if name in ("dann", "cdan") else None
    torch.manual_seed(0)
    model = build_model("small_cnn", 3, weights="random")
    cfg = method_config(name, options)
    ctx = MethodContext(num_classes=3, feature_dim=model.feature_dim, total_steps=STEPS, steps_per_epoch=STEPS)
    return get_method(name)(model, cfg, ctx)


@pytest.mark.parametrize("name", DA_METHODS)
def test_method_trains_with_finite_moving_losses(name: str) -> None:
    options = {"warmup": 0.0, "threshold": 0.3} if name == "self_training" else {}
    method = _method(name, **options)
    assert method.uses_target and method.kind == "domain adaptation"
    opt = torch.optim.AdamW(method.param_groups(1e-2))
    xs, y, xt = _data()
    method.train()
    losses, metrics = [], {}
    for step in range(STEPS):
        res = method.training_step(Batch(xs, y, xt, step=step, progress=(step + 1) / STEPS))
        opt.zero_grad()
        res.loss.backward()
        opt.step()
        losses.append(float(res.loss.detach()))
        metrics = res.metrics
        assert res.logits_source.shape == (16, 3)
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] != losses[0]
    assert {"loss/cls", "loss/transfer", "lambda"} <= set(metrics)
    assert all(math.isfinite(v) for v in metrics.values())
    if name in ("dann", "cdan"):
        assert 0.0 <= metrics["domain_acc"] <= 1.0


def test_dann_discriminator_is_an_extra_module_trained_at_full_rate() -> None:
    method = _method("dann", disc_hidden=32)
    assert method.discriminator in method.extra_modules()
    groups = {g["name"]: g for g in method.param_groups(1e-3)}
    disc = {id(p) for p in method.discriminator.parameters()}
    assert disc <= {id(p) for p in groups["new"]["params"]}
    # a randomly initialised backbone has nothing to preserve: it learns at the full rate
    assert method.model.pretrained is False
    assert groups["new"]["lr"] == 1e-3 and groups["backbone"]["lr"] == pytest.approx(1e-3)
    method.model.pretrained = True  # as build_model marks a backbone whose weights it loaded
    groups = {g["name"]: g for g in method.param_groups(1e-3)}
    assert groups["new"]["lr"] == 1e-3 and groups["backbone"]["lr"] == pytest.approx(1e-4)


def test_dann_lambda_follows_run_progress_and_lr_annealing_option() -> None:
    method = _method("dann", disc_hidden=32)
    xs, y, xt = _data(8)
    res = method.training_step(Batch(xs[:8], y[:8], xt[:8], step=5, progress=0.5))
    assert res.metrics["lambda"] == pytest.approx(0.98661, abs=1e-4)
    assert method.grl.coeff == pytest.approx(0.98661, abs=1e-4)
    assert method.lr_multiplier(0.5) is None
    annealed = _method("dann", anneal_lr=True)
    assert annealed.lr_multiplier(1.0) == pytest.approx(11**-0.75)


def test_dann_reversal_pushes_features_against_discriminator() -> None:
    method = _method("dann", disc_hidden=32, ramp_up=False, disc_dropout=0.0)
    xs, y, xt = _data(8)
    method.train()
    res = method.training_step(Batch(xs[:8], y[:8], xt[:8], progress=1.0))
    assert res.metrics["lambda"] == 1.0
    res.loss.backward()
    assert all(p.grad is not None for p in method.discriminator.parameters())
    assert method.model.backbone.block1[0].weight.grad is not None


def test_per_domain_batchnorm_option() -> None:
    method = _method("coral", bn_mode="per_domain")
    xs, y, xt = _data(8)
    res = method.training_step(Batch(xs[:8], y[:8], xt[:8], progress=0.5))
    assert math.isfinite(float(res.loss.detach()))


def test_cdan_conditioning_full_and_randomized() -> None:
    full = _method("cdan")
    dim = full.model.feature_dim  # 256: small_cnn's flatten head
    assert full.conditioning.out_dim == dim * 3
    rand = _method("cdan", randomized="always", random_dim=64)
    assert rand.conditioning.out_dim == 64
    f, logits = torch.randn(4, dim), torch.randn(4, 3)
    assert full.condition(f, logits).shape == (4, dim * 3)
    assert rand.condition(f, logits).shape == (4, 64)
    xs, y, xt = _data(8)
    res = rand.training_step(Batch(xs[:8], y[:8], xt[:8], progress=0.3))
    assert math.isfinite(float(res.loss.detach()))


def test_self_training_warmup_ignores_pseudo_labels() -> None:
    method = _method("self_training", warmup=0.5)
    xs, y, xt = _data(8)
    res = method.training_step(Batch(xs[:8], y[:8], xt[:8], progress=0.2))
    assert res.metrics["lambda"] == 0.0
    assert float(res.loss.detach()) == pytest.approx(res.metrics["loss/cls"], rel=1e-6)


def test_missing_target_is_a_user_error() -> None:
    method = _method("mcc")
    xs, y, _ = _data(8)
    with pytest.raises(UserError, match="target"):
        method.training_step(Batch(xs[:8], y[:8], None))


def test_configs_reject_bad_values_by_name() -> None:
    with pytest.raises(UserError, match="threshold"):
        method_config("self_training", {"threshold": 1.5})
    with pytest.raises(UserError, match="kernel_multipliers"):
        method_config("dan", {"kernel_multipliers": [1.0, -2.0]})
    for name in DA_METHODS:
        cfg = get_method(name).Config
        assert all(f.description for f in cfg.model_fields.values()), name


def test_discriminator_width_auto_rule() -> None:
    dann = _method("dann", disc_hidden=0)
    assert dann.discriminator.net[0].out_features == 512  # 2 x 256 features (small_cnn's flatten head)
    cdan = _method("cdan", disc_hidden=0)
    assert cdan.discriminator.net[0].in_features == 768 and cdan.discriminator.net[0].out_features == 1024  # capped
    assert _method("dann", disc_hidden=48).discriminator.net[0].out_features == 48
