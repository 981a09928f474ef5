"""MMD, CORAL, entropy, MCC and pseudo-label losses on synthetic features."""

from __future__ import annotations

import torch

from engine.methods.da_losses import coral, entropy, mcc_loss, mk_mmd, pseudo_label_loss


def test_mmd_near_zero_for_same_distribution_and_large_for_shift() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(128, 16, generator=g), torch.randn(128, 16, generator=g)
    same = float(mk_mmd(a, b))
    shifted = float(mk_mmd(a, b + 1.5))
    assert abs(same) < 0.01
    assert shifted > 0.2 and shifted > 20 * abs(same)


def test_mmd_has_gradient_towards_alignment() -> None:
    a = torch.randn(64, 4)
    b = (torch.randn(64, 4) + 2).requires_grad_(True)
    mk_mmd(a, b).backward()
    assert float(b.grad.mean()) > 0  # moving b towards a (down) lowers the MMD


def test_coral_zero_for_identical_covariance_positive_otherwise() -> None:
    x = torch.randn(50, 6)
    assert float(coral(x, x + 3.0)) < 1e-10  # a shift keeps the covariance
    assert float(coral(x, 3.0 * x)) > 0.01


def test_entropy_bounds_and_no_nan_on_extreme_logits() -> None:
    assert torch.allclose(entropy(torch.zeros(2, 4)), torch.full((2,), torch.log(torch.tensor(4.0))))
    h = entropy(torch.tensor([[1e4, -1e4, 0.0]]))
    assert torch.isfinite(h).all() and float(h) < 1e-6


def test_mcc_low_for_confident_distinct_high_for_confused() -> None:
    confident = torch.eye(4).repeat(8, 1) * 20
    confused = torch.zeros(32, 4)
    assert float(mcc_loss(confident)) < 0.05
    assert float(mcc_loss(confused)) > 0.7
    assert torch.isfinite(mcc_loss(torch.full((8, 3), 1e4)))


def test_pseudo_labels_only_above_threshold() -> None:
    logits = torch.tensor([[10.0, 0.0], [0.1, 0.0]], requires_grad=True)
    loss, used, conf = pseudo_label_loss(logits, 0.9)
    assert used == 0.5 and 0.5 < conf < 1
    loss.backward()
    assert logits.grad[1].abs().sum() == 0 and logits.grad[0].abs().sum() > 0
