"""Each label-free score against a value worked out by hand on a few numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.advisor.scores import (
    class_share_tv,
    dev_risk,
    domain_classifier_ratio,
    ensemble_agreement,
    per_image_loss,
    prediction_entropy,
    snd,
    source_val_accuracy,
)
from engine.methods.importance_weighting import density_ratio


def test_source_val_accuracy_counts_argmax_hits() -> None:
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    assert source_val_accuracy(logits, np.array([0, 1, 1, 1])) == pytest.approx(0.75)


def test_prediction_entropy_by_hand() -> None:
    # softmax([0, 0]) = (1/2, 1/2): ln 2; softmax([ln 3, 0]) = (3/4, 1/4)
    h2 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert prediction_entropy(np.array([[0.0, 0.0], [math.log(3), 0.0]])) == pytest.approx((math.log(2) + h2) / 2)


def test_dev_risk_by_hand() -> None:
    # L = w·ℓ = (0.5, 2, 7.5), mean 10/3; mean w = 4/3; Var(w) = 13/12; Cov(L, w) = 23/6
    # η = −(23/6)/(13/12) = −46/13; DEV = 10/3 + η·4/3 − η = 10/3 − 46/39 = 28/13
    assert dev_risk(np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.5])) == pytest.approx(28 / 13)


def test_class_share_tv_by_hand() -> None:
    # predictions 0, 0, 0, 1 -> shares (3/4, 1/4, 0); source counts 10, 10, 20 -> (1/4, 1/4, 1/2)
    # TV = (|3/4 - 1/4| + 0 + |0 - 1/2|) / 2 = 1/2
    logits = np.array([[1.0, 0.0, 0.0]] * 3 + [[0.0, 1.0, 0.0]])
    assert class_share_tv(logits, np.array([10, 10, 20])) == pytest.approx(0.5)
    assert class_share_tv(np.eye(3), np.ones(3)) == pytest.approx(0.0)
    assert math.isnan(class_share_tv(np.zeros((0, 3)), np.ones(3)))


def test_ensemble_agreement_by_hand() -> None:
    # three candidates, three target images, two classes (softmax rows)
    a = np.array([[0.9, 0.1], [0.9, 0.1], [0.2, 0.8]])  # predicts 0, 0, 1
    b = np.array([[0.6, 0.4], [0.3, 0.7], [0.4, 0.6]])  # predicts 0, 1, 1
    c = np.array([[0.2, 0.8], [0.45, 0.55], [0.3, 0.7]])  # predicts 1, 1, 1
    # mean softmax: (0.567, 0.433), (0.55, 0.45), (0.3, 0.7) -> the ensemble predicts 0, 0, 1
    assert ensemble_agreement([a, b, c]) == pytest.approx([1.0, 2 / 3, 1 / 3])
    # the ensemble of b and c alone: (0.4, 0.6), (0.375, 0.625), (0.35, 0.65) -> 1, 1, 1
    assert ensemble_agreement([a, b, c], members=[1, 2]) == pytest.approx([1 / 3, 2 / 3, 1.0])
    with pytest.raises(ValueError, match="differ in shape"):
        ensemble_agreement([a, b[:2]])


def test_dev_risk_with_equal_weights_is_the_mean_loss() -> None:
    assert dev_risk(np.array([1.0, 2.0, 6.0]), np.ones(3)) == pytest.approx(3.0)


def test_dev_control_variate_cuts_variance_of_the_weighted_mean() -> None:
    """On draws where the loss follows the weight, DEV varies far less than mean(w·ℓ)."""
    rng = np.random.default_rng(0)
    plain, dev = [], []
    for _ in range(200):
        w = rng.lognormal(0.0, 0.8, size=50)
        w = w / w.mean() * rng.uniform(0.7, 1.3)  # the sample mean of w strays from 1, as it does
        loss = 1.0 + 0.1 * rng.normal(size=50)
        plain.append(float((w * loss).mean()))
        dev.append(dev_risk(loss, w))
    assert np.std(dev) < 0.3 * np.std(plain)
    assert np.mean(dev) == pytest.approx(1.0, abs=0.05)


def test_snd_two_identical_predictions_by_hand() -> None:
    # cosine 1 -> 1/τ off the diagonal, −1/τ on it; τ = 1: row softmax (e^-1, e^1)/(e^-1 + e^1)
    a = math.exp(-1) / (math.exp(-1) + math.exp(1))
    expected = -(a * math.log(a) + (1 - a) * math.log(1 - a))
    assert snd(np.zeros((2, 3)), temperature=1.0, eps=0.0) == pytest.approx(expected)


def test_snd_three_confident_predictions_by_hand() -> None:
    # predictions ≈ one-hot e0, e0, e1: cosines A·B = 1, A·C = B·C = 0; τ = 1
    logits = np.array([[40.0, 0.0], [40.0, 0.0], [0.0, 40.0]])

    def row_entropy(v: list[float]) -> float:
        e = [math.exp(x) for x in v]
        p = [x / sum(e) for x in e]
        return -sum(q * math.log(q) for q in p)

    expected = (row_entropy([-1, 1, 0]) + row_entropy([1, -1, 0]) + row_entropy([0, 0, -1])) / 3
    assert snd(logits, temperature=1.0, eps=0.0) == pytest.approx(expected, rel=1e-9)


def test_snd_grows_with_the_size_of_each_neighbourhood() -> None:
    """Confident predictions in 2 classes of 20 images have denser neighbourhoods (about ln 19
    nats of row entropy) than in 8 classes of 5 (about ln 4), whatever the image order."""
    rng = np.random.default_rng(1)
    two = np.repeat(np.eye(2) * 8, 20, axis=0)
    eight = np.repeat(np.eye(8) * 8, 5, axis=0)
    assert snd(two) == pytest.approx(math.log(19), abs=0.01)
    assert snd(eight) == pytest.approx(math.log(4), abs=0.01)
    assert snd(two[rng.permutation(40)]) == pytest.approx(snd(two))


def test_density_ratio_by_hand() -> None:
    # odds p/(1-p): 1, 4, 1/4; clipped to [1/3, 3]: 1, 3, 1/3; mean 13/9
    w = density_ratio(torch.tensor([0.5, 0.8, 0.2], dtype=torch.float64), 1.0, clip=3.0)
    assert w.tolist() == pytest.approx([9 / 13, 27 / 13, 3 / 13])
    assert float(w.mean()) == pytest.approx(1.0)


def test_density_ratio_removes_the_domain_prior() -> None:
    # twice as many source images: a classifier at p = 1/3 sees equal densities
    w = density_ratio(torch.tensor([1 / 3, 1 / 3]), prior_ratio=2.0, clip=10.0)
    assert w.tolist() == pytest.approx([1.0, 1.0])


def test_domain_classifier_ratio_weights_target_like_images_up() -> None:
    rng = np.random.default_rng(2)
    source = rng.normal(0.0, 1.0, size=(300, 2))
    target = rng.normal(1.5, 1.0, size=(300, 2))
    query = np.array([[-1.5, -1.5], [0.0, 0.0], [1.5, 1.5]])
    w = domain_classifier_ratio(source, target, query)
    assert w[0] < w[1] < w[2]
    # N(0, I) vs N(1.5, I): the true ratio is exp(1.5·(x1 + x2) − 2.25); at the origin exp(−2.25)
    assert w[1] == pytest.approx(np.exp(-2.25), rel=0.5)
    assert w[2] == pytest.approx(np.exp(2.25), rel=0.5)


def test_per_image_loss_is_cross_entropy() -> None:
    loss = per_image_loss(np.array([[0.0, 0.0], [math.log(3), 0.0]]), np.array([0, 0]))
    assert loss.tolist() == pytest.approx([math.log(2), -math.log(0.75)])


def test_cv_proxy_a_distance_near_0_for_one_domain_and_2_for_two() -> None:
    from engine.advisor.shift import cv_proxy_a_distance

    rng = np.random.default_rng(3)
    same = rng.normal(size=(200, 8))
    assert cv_proxy_a_distance(same[:100], same[100:]) < 0.4
    assert cv_proxy_a_distance(same[:100], same[100:] + 3.0) > 1.9
