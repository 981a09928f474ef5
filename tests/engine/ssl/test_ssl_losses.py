"""SSL losses, EMA and the kNN monitor on tiny tensors, against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.ssl.heads import ema_momentum, ema_update
from engine.ssl.knn import knn_accuracy
from engine.ssl.losses import byol_loss, byol_regression, nt_xent

E1, E2 = [1.0, 0.0], [0.0, 1.0]


def test_nt_xent_aligned_views_by_hand() -> None:
    # z = [e1, e2, e1, e2]; each anchor: positive similarity 1, two negatives at 0 (self excluded)
    a = torch.tensor([E1, E2])
    assert nt_xent(a, a.clone(), temperature=1.0).item() == pytest.approx(math.log(1 + 2 / math.e), abs=1e-6)
    assert nt_xent(a, a.clone(), temperature=0.5).item() == pytest.approx(math.log(1 + 2 / math.e**2), abs=1e-6)


def test_nt_xent_swapped_views_by_hand() -> None:
    # the positive is orthogonal (logit 0) and one negative coincides (logit 1): -log(1 / (1 + 1 + e))
    a, b = torch.tensor([E1, E2]), torch.tensor([E2, E1])
    assert nt_xent(a, b, temperature=1.0).item() == pytest.approx(math.log(2 + math.e), abs=1e-6)


def test_nt_xent_ignores_scale_and_is_symmetric() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert nt_xent(3 * a, 0.5 * b).item() == pytest.approx(nt_xent(a, b).item(), abs=1e-5)
    assert nt_xent(a, b).item() == pytest.approx(nt_xent(b, a).item(), abs=1e-5)
    with pytest.raises(ValueError):
        nt_xent(a, b[:4])


def test_byol_regression_by_hand() -> None:
    assert byol_regression(torch.tensor([E1]), torch.tensor([[0.0, 2.0]])).item() == pytest.approx(2.0)
    p, z = torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 0.0]])
    assert byol_regression(p, z).item() == pytest.approx(2 - math.sqrt(2), abs=1e-6)
    # symmetrised: (2 - 2 cos 45°) + (2 - 2 cos 90°)
    total = byol_loss(p, torch.tensor([E1]), torch.tensor([E2]), z)
    assert total.item() == pytest.approx(2 - math.sqrt(2) + 2, abs=1e-6)


def test_byol_target_gets_no_gradient() -> None:
    p = torch.randn(4, 3, requires_grad=True)
    z = torch.randn(4, 3, requires_grad=True)
    byol_regression(p, z).backward()
    assert p.grad is not None and z.grad is None


def test_ema_schedule_and_update() -> None:
    assert ema_momentum(0, 100, 0.99) == pytest.approx(0.99)
    assert ema_momentum(100, 100, 0.99) == pytest.approx(1.0)
    assert ema_momentum(50, 100, 0.99) == pytest.approx(0.995)
    online, target = nn.Linear(2, 1, bias=False), nn.Linear(2, 1, bias=False)
    online.weight.data[:] = torch.tensor([[1.0, 3.0]])
    target.weight.data[:] = torch.tensor([[3.0, 1.0]])
    ema_update(target, online, 0.75)
    assert torch.allclose(target.weight, torch.tensor([[2.5, 1.5]]))


def test_knn_accuracy_finds_planted_groups() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.eye(4) * 5
    labels = torch.arange(4).repeat_interleave(10)
    feats = centres[labels] + 0.3 * torch.randn(40, 4, generator=g)
    assert knn_accuracy(feats, labels, k=5) == 1.0
    shuffled = labels[torch.randperm(40, generator=g)]
    assert knn_accuracy(torch.randn(40, 4, generator=g), shuffled, k=5) < 0.6
