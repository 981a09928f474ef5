"""Task losses and the three weightings on tiny tensors, checked against their formulas."""

from __future__ import annotations

import math

import torch
from torch import nn

from engine.multitask.losses import (
    UncertaintyWeights,
    pcgrad_project,
    pcgrad_surrogate,
    task_accuracy,
    task_loss,
)


def test_task_loss_ignores_missing_labels() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0], [5.0, -5.0]], requires_grad=True)
    y = torch.tensor([0, -1, 1])
    expected = nn.functional.cross_entropy(logits[[0, 2]], torch.tensor([0, 1]))
    assert torch.allclose(task_loss(logits, y), expected)
    assert task_accuracy(logits, y) == 0.5
    none = task_loss(logits, torch.tensor([-1, -1, -1]))
    assert float(none.detach()) == 0.0 and none.requires_grad  # in the graph, no NaN
    none.backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) == 0.0
    assert math.isnan(task_accuracy(logits, torch.tensor([-1, -1, -1])))


def test_uncertainty_weighting_formula_and_optimum() -> None:
    w = UncertaintyWeights(2)
    with torch.no_grad():
        w.log_vars.copy_(torch.tensor([0.5, -1.0]))
    losses = torch.tensor([2.0, 0.3])
    expected = math.exp(-0.5) * 2.0 + 0.25 + math.exp(1.0) * 0.3 - 0.5
    assert math.isclose(float(w(losses).detach()), expected, rel_tol=1e-6)
    # minimising over s for fixed losses lands on s* = log(2 L): the larger loss gets the smaller weight
    opt = torch.optim.SGD(w.parameters(), lr=0.1)
    for _ in range(2000):
        opt.zero_grad()
        w(losses).backward()
        opt.step()
    assert torch.allclose(w.log_vars.detach(), torch.log(2 * losses), atol=1e-3)
    assert w.weights()[0] < w.weights()[1]


def test_pcgrad_projects_only_conflicting_pairs() -> None:
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])  # conflicting: dot = -1
    got = pcgrad_project([g1, g2])
    # g1 -> g1 - (-1/2) g2 = [0.5, 0.5]; g2 -> g2 - (-1/1) g1 = [0, 1]
    assert torch.allclose(got, torch.tensor([0.5, 1.5]))
    assert float(torch.dot(torch.tensor([0.5, 0.5]), g2)) == 0.0  # the projection is orthogonal to g2
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 1.0])  # agreeing: plain sum
    assert torch.allclose(pcgrad_project([a, b]), a + b)


def test_pcgrad_surrogate_gives_the_projected_gradient() -> None:
    torch.manual_seed(0)
    shared = nn.Linear(3, 2)
    head1, head2 = nn.Linear(2, 1), nn.Linear(2, 1)
    x = torch.randn(5, 3)
    f = shared(x)
    l1 = head1(f).pow(2).mean()
    l2 = (head2(f) - 3).pow(2).mean()
    params = list(shared.parameters())
    g = [torch.cat([t.flatten() for t in torch.autograd.grad(loss, params, retain_graph=True)]) for loss in (l1, l2)]
    loss, conflicts = pcgrad_surrogate([l1, l2], params, torch.Generator().manual_seed(0))
    assert math.isclose(float(loss), float(l1 + l2), rel_tol=1e-6)  # the reported loss is the plain sum
    loss.backward()
    got = torch.cat([p.grad.flatten() for p in params])
    want = pcgrad_project(g, torch.Generator().manual_seed(0))
    assert torch.allclose(got, want, atol=1e-5)
    assert conflicts == (1.0 if float(torch.dot(g[0], g[1])) < 0 else 0.0)
    # each head still gets its own task's gradient only
    h1 = torch.autograd.grad(head1(shared(x)).pow(2).mean(), head1.weight)[0]
    assert torch.allclose(head1.weight.grad, h1, atol=1e-5)
