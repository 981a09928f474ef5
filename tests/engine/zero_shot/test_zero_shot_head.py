"""The zero-shot head: ESZSL against its closed form, DAP's scores, calibrated stacking, GZSL
figures, and a planted attribute signal recovered for classes never trained on."""

from __future__ import annotations

import math

import pytest
import torch

from engine.analysis.zero_shot_eval import gzsl_figures, harmonic_mean, zero_shot_scores
from engine.models.zero_shot_head import ZeroShotHead, dap_fit, eszsl_solve, install_head, stacking_gamma


def test_eszsl_matches_the_papers_closed_form():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 5, generator=g, dtype=torch.float64)
    x = x - x.mean(0)  # centred, so the bias is zero and V is the paper's
    s = torch.rand(4, 3, generator=g, dtype=torch.float64)  # 4 seen classes, 3 attributes
    labels = torch.arange(12) % 4
    gamma, lam = 0.5, 0.2
    weight, bias = eszsl_solve(x.float(), labels, s.float(), gamma, lam)
    # the paper: X is d x m, Y is m x z in {-1, 1}, S is a x z
    xp, sp = x.T, s.T
    y = -torch.ones(12, 4, dtype=torch.float64)
    y[torch.arange(12), labels] = 1
    g_eff = gamma * float((xp @ xp.T).diagonal().mean())
    l_eff = lam * float((sp @ sp.T).diagonal().mean())
    v = (
        torch.linalg.inv(xp @ xp.T + g_eff * torch.eye(5))
        @ xp
        @ y
        @ sp.T
        @ torch.linalg.inv(sp @ sp.T + l_eff * torch.eye(3))
    )
    assert torch.allclose(weight.T.double(), v, atol=1e-5)
    assert torch.allclose(bias, torch.zeros(3), atol=1e-5)


def test_eszsl_centring_is_the_bias():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(20, 4, generator=g) + 3.0
    s = torch.rand(3, 2, generator=g)
    labels = torch.arange(20) % 3
    w, b = eszsl_solve(x, labels, s, 0.1, 0.1)
    w0, b0 = eszsl_solve(x - x.mean(0), labels, s, 0.1, 0.1)
    assert torch.allclose(w, w0, atol=1e-5)
    assert torch.allclose(x @ w.T + b, (x - x.mean(0)) @ w0.T + b0, atol=1e-4)


def test_dap_scores_are_attribute_log_posteriors_over_priors():
    sig = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    head = ZeroShotHead(2, sig, "dap")
    head.set_seen([0, 1])
    with torch.no_grad():
        head.proj.weight.copy_(torch.eye(2))
        head.proj.bias.zero_()
    f = torch.tensor([[2.0, -1.0]])
    p = torch.sigmoid(f[0])
    prior = torch.tensor([0.5, 0.5])  # each attribute in one of the two seen classes
    expect = []
    for row in sig:
        post = sum(math.log(p[m] if row[m] else 1 - p[m]) for m in range(2))
        pri = sum(math.log(prior[m] if row[m] else 1 - prior[m]) for m in range(2))
        expect.append(post - pri)
    assert torch.allclose(head(f)[0], torch.tensor(expect), atol=1e-5)
    # both attributes on: the unseen class [1, 1] wins
    assert int(head(torch.tensor([[3.0, 3.0]])).argmax()) == 2


def test_calibration_lowers_only_seen_scores():
    head = ZeroShotHead(3, torch.eye(3), "eszsl")
    head.set_seen([0, 2])
    f = torch.randn(4, 3)
    raw = head(f)
    head.calibration.fill_(1.5)
    assert torch.allclose(head(f), raw - 1.5 * torch.tensor([1.0, 0.0, 1.0]))


def test_stacking_gamma_costs_at_most_the_tolerance_and_helps_unseen():
    # 10 seen validation images of class 0, all right; their seen-unseen margins are 1..10
    margins = torch.arange(1, 11).float()
    scores = torch.stack([margins, torch.zeros(10)], 1)  # class 0 seen, class 1 unseen
    labels = torch.zeros(10, dtype=torch.long)
    seen = torch.tensor([1.0, 0.0])
    g0 = stacking_gamma(scores, labels, seen, 0.0)
    assert g0 < 1 and ((scores - g0 * seen).argmax(1) == 0).all()
    g2 = stacking_gamma(scores, labels, seen, 0.2)  # may lose 2 of 10
    assert g2 == pytest.approx(2.5)
    assert int(((scores - g2 * seen).argmax(1) == 0).sum()) == 8
    assert stacking_gamma(scores, labels, torch.ones(2), 0.2) == 0.0  # no unseen class: nothing to do


def test_gzsl_figures_are_per_class_means_and_their_harmonic_mean():
    scores = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [1.0, 0, 0], [0, 0, 1.0], [0, 0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    seen = torch.tensor([1.0, 1.0, 0.0])
    f = gzsl_figures(scores, labels, seen)
    assert f.seen_acc == pytest.approx(0.75) and f.unseen_acc == 1.0  # (1 + 0.5) / 2 and 2 / 2
    assert f.h == pytest.approx(harmonic_mean(0.75, 1.0)) == pytest.approx(6 / 7)
    zs = zero_shot_scores(scores - 0.5 * seen, labels, ["a", "b", "c"], ["a", "b"], 0.5)
    assert zs.unseen_classes == ["c"] and zs.uncalibrated.seen_acc == pytest.approx(0.75)


def _planted(n_per: int, signatures: torch.Tensor, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Features = a fixed linear map of the class's attributes + noise: a planted attribute signal."""
    mix = torch.randn(signatures.shape[1], 16, generator=torch.Generator().manual_seed(99))
    labels = torch.arange(len(signatures)).repeat_interleave(n_per)
    x = signatures[labels] @ mix + 0.3 * torch.randn(len(labels), 16, generator=g)
    return x, labels


@pytest.mark.parametrize("mode", ["eszsl", "dap"])
def test_a_planted_attribute_signal_recognises_unseen_classes(mode):
    g = torch.Generator().manual_seed(0)
    sig = (torch.rand(10, 8, generator=g) > 0.5).float()
    sig[7:] = torch.tensor([[1, 0, 1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1, 0, 1], [1, 1, 0, 0, 1, 1, 0, 0]]).float()
    seen = list(range(7))
    x, y = _planted(30, sig, g)
    on_seen = y < 7
    head = ZeroShotHead(16, sig, mode)
    head.set_seen(seen)
    if mode == "eszsl":
        w, b = eszsl_solve(x[on_seen], y[on_seen], sig[:7], 1.0, 0.1)
        with torch.no_grad():
            head.proj.weight.copy_(w)
            head.proj.bias.copy_(b)
    else:  # DAP: logistic attribute classifiers on the seen images
        w, b = dap_fit(x[on_seen], sig[y[on_seen]])
        with torch.no_grad():
            head.proj.weight.copy_(w)
            head.proj.bias.copy_(b)
        probs = torch.sigmoid(head.proj(x[on_seen]))
        assert ((probs > 0.5).float() == sig[y[on_seen]]).float().mean() > 0.95  # the attributes are learnt
    xt, yt = _planted(30, sig, torch.Generator().manual_seed(5))
    unseen = yt >= 7
    scores = head(xt).detach()
    zsl = (scores[unseen][:, 7:].argmax(1) + 7 == yt[unseen]).float().mean()
    assert zsl > 0.9  # chance is 1/3
    gamma = stacking_gamma(head(x[on_seen]).detach(), y[on_seen], head.seen, 0.05)
    head.calibration.fill_(gamma)
    calibrated = gzsl_figures(head(xt).detach(), yt, head.seen)
    head.calibration.zero_()
    plain = gzsl_figures(head(xt).detach(), yt, head.seen)
    assert calibrated.h >= plain.h and calibrated.h > 0.6


def test_install_head_rebuilds_the_head_from_a_state_dict():
    from engine.models.classifier import build_model

    model = build_model("tiny_cnn", 3)
    sig = torch.rand(5, 4)
    head = ZeroShotHead(model.feature_dim, sig, "dap")
    head.set_seen([0, 1, 2])
    head.calibration.fill_(0.7)
    model.add_module("head", head)
    state = model.state_dict()
    fresh = build_model("tiny_cnn", 5)
    rebuilt = install_head(fresh, state)
    assert rebuilt is not None and rebuilt.mode == "dap" and fresh.num_classes == 5
    fresh.load_state_dict(state)
    x = torch.rand(2, 3, 32, 32)
    model.eval()
    fresh.eval()
    assert torch.allclose(model(x), fresh(x)) and float(rebuilt.calibration) == pytest.approx(0.7)
    assert install_head(build_model("tiny_cnn", 3), build_model("tiny_cnn", 3).state_dict()) is None
