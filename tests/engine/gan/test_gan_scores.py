"""Scores: KID against a value computed by hand, FID against the Gaussian closed form, PRDC on
planted cases (one of two modes missing), and the random-CNN features are fixed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.gan.features import RandomCNN, make_extractor
from engine.gan.scores import fid, kid, mmd2_unbiased, prdc


def test_kid_matches_a_hand_computed_value():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = np.array([[2.0, 0.0], [0.0, 0.0]])
    # k(a, b) = (a.b / 2 + 1)^3.  k_xx off-diagonal: x1.x2 = 0 -> 1, x1.x3 = 1 -> 3.375, x2.x3 = 1 -> 3.375
    s_xx = 2 * (1 + 3.375 + 3.375) / (3 * 2)  # = 31/12
    s_yy = 2 * 1 / (2 * 1)  # y1.y2 = 0 -> 1
    # k_xy: x1.y1 = 2 -> 8, x3.y1 = 2 -> 8, the other four products are 0 -> 1
    s_xy = (8 + 8 + 4) / 6
    hand = s_xx + s_yy - 2 * s_xy  # = -37/12: the unbiased estimate can be negative
    assert hand == pytest.approx(-37 / 12)
    assert mmd2_unbiased(x, y) == pytest.approx(hand)
    mean, std = kid(x, y, subsets=1, subset_size=10)
    assert (mean, std) == (pytest.approx(-37 / 12), 0.0)  # subsets covering both sets: the exact value


def test_kid_is_unbiased_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(0)
    same = [mmd2_unbiased(rng.normal(size=(30, 8)), rng.normal(size=(30, 8))) for _ in range(200)]
    assert abs(np.mean(same)) < 0.01  # unbiased: no small-sample offset
    shifted, std = kid(rng.normal(size=(200, 8)), rng.normal(0.5, 1, size=(200, 8)), subsets=20, subset_size=100)
    assert shifted > 3 * std > 0 and shifted > 20 * abs(np.mean(same))


def test_fid_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20_000, 4))
    b = rng.normal(1.0, 2.0, size=(20_000, 4))
    # |mu1 - mu2|^2 + tr(I + 4I - 2 * 2I) = 4 + 4
    assert fid(a, b) == pytest.approx(8.0, abs=0.15)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)


def test_prdc_finds_a_missing_mode():
    rng = np.random.default_rng(0)
    real = np.concatenate([rng.normal(0, 1, (200, 2)), rng.normal(20, 1, (200, 2))])
    fake = rng.normal(0, 1, (200, 2))  # the generator covers only the first mode
    s = prdc(real, fake, k=5)
    assert s["precision"] > 0.9 and 0.4 < s["recall"] < 0.6 and 0.4 < s["coverage"] < 0.6
    assert 0.7 < s["density"] < 1.3
    far = prdc(real, fake + 100, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    same = prdc(real, real, k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0


def test_random_cnn_features_are_fixed_and_leave_the_random_stream_alone():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a, b = RandomCNN(0), RandomCNN(0)
    assert torch.equal(torch.get_rng_state(), before)
    x = torch.rand(3, 3, 32, 32)
    assert torch.equal(a(x), b(x)) and a(x).shape == (3, 64 + 128 + 128 + 4 * 160)
    extract, name = make_extractor(None)
    assert "random CNN" in name and extract(x).shape == (3, 960)
