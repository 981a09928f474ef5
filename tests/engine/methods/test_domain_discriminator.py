"""Gradient reversal, the λ schedule, the discriminator and CDAN's conditioning maps."""

from __future__ import annotations

import math

import torch

from engine.models.domain_discriminator import (
    DomainDiscriminator,
    GradientReversal,
    MultiLinearMap,
    RandomizedMultiLinearMap,
    conditioning_map,
    dann_lambda,
    dann_lr_factor,
    domain_adversarial_loss,
    grad_reverse,
)


def test_reversal_is_identity_forward_and_flips_scaled_gradient() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    y = grad_reverse(x, 0.7)
    assert torch.equal(y, x)
    w = torch.randn(4, 3)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -0.7 * w)


def test_layer_coefficient_is_set_not_advanced_by_calls() -> None:
    grl = GradientReversal()
    grl.set_coeff(0.25)
    x = torch.ones(2, 2, requires_grad=True)
    (grl(x).sum() + grl(x).sum()).backward()  # called twice in one step
    assert grl.coeff == 0.25
    assert torch.allclose(x.grad, torch.full((2, 2), -0.5))


def test_lambda_schedule_values() -> None:
    assert dann_lambda(0.0) == 0.0
    assert math.isclose(dann_lambda(0.5), 2 / (1 + math.exp(-5)) - 1, rel_tol=1e-12)
    assert abs(dann_lambda(0.5) - 0.9866) < 1e-4
    assert abs(dann_lambda(1.0) - 0.99991) < 1e-5
    assert dann_lambda(2.0) == dann_lambda(1.0)  # clamped
    assert abs(dann_lambda(1.0, max_value=0.5) - 0.49995) < 1e-5


def test_lr_annealing_factor() -> None:
    assert dann_lr_factor(0.0) == 1.0
    assert math.isclose(dann_lr_factor(1.0), 11**-0.75)


def test_discriminator_shape_and_loss() -> None:
    d = DomainDiscriminator(16, hidden=32)
    out = d(torch.randn(10, 16))
    assert out.shape == (10,)
    loss, acc = domain_adversarial_loss(torch.full((4,), 20.0), torch.full((4,), -20.0))
    assert float(loss) < 1e-6 and acc == 1.0
    loss, acc = domain_adversarial_loss(torch.full((4,), -200.0), torch.full((4,), 200.0))
    assert math.isfinite(float(loss)) and acc == 0.0


def test_multilinear_map_shape_and_value() -> None:
    f, g = torch.randn(5, 8), torch.softmax(torch.randn(5, 3), 1)
    m = MultiLinearMap(8, 3)
    out = m(f, g)
    assert out.shape == (5, 24) and m.out_dim == 24
    assert torch.allclose(out[2].view(3, 8), torch.outer(g[2], f[2]))


def test_randomized_map_shape_and_auto_choice() -> None:
    f, g = torch.randn(5, 8), torch.softmax(torch.randn(5, 3), 1)
    r = RandomizedMultiLinearMap(8, 3, out_dim=64)
    assert r(f, g).shape == (5, 64)
    assert isinstance(conditioning_map(8, 3), MultiLinearMap)
    assert isinstance(conditioning_map(512, 31), RandomizedMultiLinearMap)
    assert conditioning_map(512, 31).out_dim == 1024
    assert isinstance(conditioning_map(8, 3, randomized=True, random_dim=32), RandomizedMultiLinearMap)
