"""Each distillation loss against a value worked out by hand on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from engine.methods.kd_losses import agreement, dist_loss, dkd, hinton_kd


def _softmax(v: list[float]) -> list[float]:
    e = [math.exp(a) for a in v]
    return [a / sum(e) for a in e]


def _kl(p: list[float], q: list[float]) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=True) if a > 0)


def test_hinton_kd_matches_hand_value() -> None:
    s, t = [1.0, 0.0], [0.0, 2.0]
    temp = 2.0
    # softmax(s/2) = softmax([0.5, 0]); softmax(t/2) = softmax([0, 1])
    p_s, p_t = _softmax([0.5, 0.0]), _softmax([0.0, 1.0])
    expected = _kl(p_t, p_s) * temp**2
    got = hinton_kd(torch.tensor([s]), torch.tensor([t]), temp)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    # written out: p_s = (0.6225, 0.3775), p_t = (0.2689, 0.7311);
    # 4·(0.2689·ln(0.2689/0.6225) + 0.7311·ln(0.7311/0.3775)) = 4·(−0.2257 + 0.4831) = 1.0296
    assert float(got) == pytest.approx(1.0296, abs=1e-3)


def test_hinton_kd_is_zero_for_identical_logits_and_averages_the_batch() -> None:
    x = torch.randn(5, 4)
    assert float(hinton_kd(x, x.clone(), 3.0)) == pytest.approx(0.0, abs=1e-6)
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 2.0]])
    pair = hinton_kd(torch.cat([a, a]), torch.cat([b, a]), 2.0)
    assert float(pair) == pytest.approx(float(hinton_kd(a, b, 2.0)) / 2, rel=1e-5)


def test_dkd_matches_hand_value() -> None:
    s, t, y, temp = [2.0, 1.0, 0.0], [1.0, 0.0, 3.0], 0, 1.0
    p_s, p_t = _softmax(s), _softmax(t)
    tckd = _kl([p_t[0], 1 - p_t[0]], [p_s[0], 1 - p_s[0]])
    nckd = _kl(_softmax(t[1:]), _softmax(s[1:]))  # the non-target classes, renormalised
    alpha, beta = 1.0, 8.0
    got = dkd(torch.tensor([s]), torch.tensor([t]), torch.tensor([y]), alpha, beta, temp)
    assert float(got) == pytest.approx(alpha * tckd + beta * nckd, rel=1e-4)
    # and Hinton KD decomposes exactly as TCKD + (1 - p_t of the true class)·NCKD (the paper's eq. 7)
    kd = float(hinton_kd(torch.tensor([s]), torch.tensor([t]), temp))
    assert kd == pytest.approx(tckd + (1 - p_t[0]) * nckd, rel=1e-4)


def test_dkd_temperature_scaling() -> None:
    s, t, y = torch.tensor([[2.0, 1.0, 0.0]]), torch.tensor([[1.0, 0.0, 3.0]]), torch.tensor([0])
    one = dkd(s / 4, t / 4, y, 1.0, 8.0, 1.0)
    four = dkd(s, t, y, 1.0, 8.0, 4.0)
    assert float(four) == pytest.approx(16 * float(one), rel=1e-4)


def test_dist_matches_hand_value() -> None:
    s = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
    t = torch.tensor([[2.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    ys = [_softmax(r) for r in s.tolist()]
    yt = [_softmax(r) for r in t.tolist()]

    def pearson(a: list[float], b: list[float]) -> float:
        ma, mb = sum(a) / len(a), sum(b) / len(b)
        num = sum((x - ma) * (z - mb) for x, z in zip(a, b, strict=True))
        den = math.sqrt(sum((x - ma) ** 2 for x in a)) * math.sqrt(sum((z - mb) ** 2 for z in b))
        return num / den

    inter = 1 - sum(pearson(ys[i], yt[i]) for i in range(2)) / 2
    cols_s = [[ys[i][c] for i in range(2)] for c in range(3)]
    cols_t = [[yt[i][c] for i in range(2)] for c in range(3)]
    intra = 1 - sum(pearson(cols_s[c], cols_t[c]) for c in range(3)) / 3
    got = dist_loss(s, t, beta=1.0, gamma=2.0, temperature=1.0)
    assert float(got) == pytest.approx(inter + 2.0 * intra, abs=1e-5)


def test_dist_ignores_the_teachers_scale_but_not_its_ranking() -> None:
    torch.manual_seed(0)
    t = torch.randn(8, 5)
    # a student whose probabilities are an exact affine copy per row has zero inter-class loss
    same = dist_loss(t, t, beta=1.0, gamma=0.0)
    assert float(same) == pytest.approx(0.0, abs=1e-5)
    assert float(dist_loss(-t, t)) > 1.0


def test_losses_have_gradients_and_agreement_counts() -> None:
    s = torch.randn(4, 3, requires_grad=True)
    t = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    for loss in (hinton_kd(s, t), dkd(s, t, y), dist_loss(s, t)):
        (g,) = torch.autograd.grad(loss, s)
        assert torch.isfinite(g).all() and g.abs().sum() > 0
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert agreement(a, b) == pytest.approx(2 / 3)
