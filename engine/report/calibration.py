"""Calibration: expected calibration error, the reliability diagram's bins, and temperature scaling.

Temperature scaling (Guo et al. 2017) divides the logits by one number T fitted on held-out
labelled data (the source validation split: never the target's labels) by minimising the
negative log-likelihood. It leaves every prediction as it was (argmax is unchanged) and only
makes the confidences honest, so accuracy before and after is the same by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 15


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / temperature
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


@dataclass
class Reliability:
    """Per confidence bin: its edges, the mean confidence, the accuracy and the count."""

    edges: np.ndarray  # [bins + 1]
    confidence: np.ndarray  # [bins], NaN where empty
    accuracy: np.ndarray
    count: np.ndarray
    ece: float


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    """Equal-width confidence bins; ECE = sum_b (n_b / n) |accuracy_b - confidence_b|."""
    conf = probs.max(1)
    right = (probs.argmax(1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=conf, minlength=bins) / count
        acc = np.bincount(which, weights=right, minlength=bins) / count
    n = max(len(labels), 1)
    ece = float(np.nansum(count / n * np.abs(acc - mean_conf)))
    return Reliability(edges, mean_conf, acc, count, ece)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, 1e-12, None)).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.05, 20] that minimises the NLL of `logits / T` (bounded search on log T)."""
    from scipy.optimize import minimize_scalar

    if len(labels) == 0:
        return 1.0
    res = minimize_scalar(
        lambda t: nll(logits, labels, float(np.exp(t))), bounds=(np.log(0.05), np.log(20.0)), method="bounded"
    )
    return float(np.exp(res.x))
