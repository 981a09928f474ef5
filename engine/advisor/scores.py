"""Label-free scores of a trained candidate: which model is best on the target, without its labels.

Each takes plain arrays (logits, features, labels of the SOURCE only) and returns one number:

- `source_val_accuracy`: accuracy on held-out source images; blind to the shift, but a model
  that forgot the task is caught by it;
- `dev_risk`: Deep Embedded Validation (You, Wang, Long & Jordan, ICML 2019): the source
  validation loss weighted by the density ratio p_t/p_s of each image (estimated by a domain
  classifier on the features, `domain_classifier_ratio`), with the control variate that cuts its
  variance. Lower is better;
- `snd`: Soft Neighbourhood Density (Saito, Kim, Teterwak, Sclaroff, Darrell & Saenko, ICCV
  2021): the entropy of each target image's softmax-weighted similarity to the other target
  images' predictions; high when target predictions form dense clusters. Higher is better;
- `prediction_entropy`: the mean entropy of the target predictions (Morerio et al. 2018's
  "minimum entropy" criterion). Lower is better.

Two diagnostics are recorded beside them (`DIAGNOSTICS`), never a score of their own: the mean
source validation loss (`val_loss`: unlike accuracy it does not saturate near 100 %) and how far
the predicted target class shares stray from the source's (`class_share_tv`: a candidate that
puts most target images in a few classes), which can order source-accuracy ties (`tie_z`, off
by default: ranking.py).

Each is checked against a value computed by hand in tests/engine/advisor/.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

Direction = Literal["max", "min"]
# Which way is better, per score name: the ranking reads this.
DIRECTIONS: dict[str, Direction] = {
    "val_acc": "max",
    "dev": "min",
    "snd": "max",
    "entropy": "min",
    "class_tv": "min",  # a ranking of its own (rank_by), not one of the combined score's
}
SND_TEMPERATURE = 0.05  # the paper's τ
# recorded per candidate and shown; class_tv can order source-accuracy ties (rank_candidates' tie_z)
DIAGNOSTICS: tuple[str, ...] = ("val_loss", "class_tv")


def _t(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).double()


def source_val_accuracy(logits: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> float:
    lg, y = _t(logits), torch.as_tensor(np.asarray(labels)).long()
    if len(y) == 0:
        return float("nan")
    return float((lg.argmax(1) == y).double().mean())


def prediction_entropy(logits: np.ndarray | torch.Tensor) -> float:
    """Mean Shannon entropy (nats) of softmax(logits) over the target images."""
    lg = _t(logits)
    if len(lg) == 0:
        return float("nan")
    logp = torch.log_softmax(lg, 1)
    return float(-(logp.exp() * logp).sum(1).mean())


def snd(logits: np.ndarray | torch.Tensor, temperature: float = SND_TEMPERATURE, eps: float = 1e-5) -> float:
    """Soft Neighbourhood Density of the target predictions, as the authors' code computes it:
    L2-normalised softmax vectors, their cosine similarities / τ with each image's similarity to
    itself replaced by −1/τ, a row softmax, and the mean row entropy −Σ p log(p + eps)."""
    lg = _t(logits)
    n = len(lg)
    if n < 2:
        return float("nan")
    p = torch.nn.functional.normalize(torch.softmax(lg, 1), dim=1)
    sim = p @ p.T / temperature
    sim.fill_diagonal_(-1.0 / temperature)
    q = torch.softmax(sim, 1)
    return float(-(q * torch.log(q + eps)).sum(1).mean())


def dev_risk(losses: np.ndarray | torch.Tensor, weights: np.ndarray | torch.Tensor) -> float:
    """Deep Embedded Validation risk from per-image source validation losses and density ratios.

    With L = w·ℓ, the control-variate estimate is mean(L) + η·mean(w) − η, η = −Cov(L, w)/Var(w)
    (sample covariance and variance, ddof = 1, as in the authors' code): E[w] = 1 under the
    source, so the correction has expectation 0 and removes the part of L's variance that the
    weights explain. Equal weights (no shift detected) give the plain mean loss.
    """
    loss, w = _t(losses).flatten(), _t(weights).flatten()
    if len(loss) != len(w):
        raise ValueError(f"dev_risk: {len(loss)} losses but {len(w)} weights")
    if len(loss) < 2:
        return float("nan")
    weighted = w * loss
    var_w = float(w.var(unbiased=True))
    if var_w <= 1e-12:
        return float(weighted.mean())
    cov = float(((weighted - weighted.mean()) * (w - w.mean())).sum() / (len(w) - 1))
    eta = -cov / var_w
    return float(weighted.mean() + eta * w.mean() - eta)


def domain_classifier_ratio(
    f_source_train: np.ndarray,
    f_target: np.ndarray,
    f_query: np.ndarray,
    max_weight: float = 100.0,
    seed: int = 0,
) -> np.ndarray:
    """Density ratios p_t/p_s at `f_query` (source validation features), as DEV's authors estimate
    them: a standardised logistic regression tells source-train (0) from target (1) features, and
    w = P(t|x)/P(s|x) · n_s/n_t. Not normalised (DEV's control variate relies on E_s[w] = 1, and
    corrects for a sample mean away from it); capped at `max_weight` against division by ~0."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fs, ft = np.asarray(f_source_train, np.float64), np.asarray(f_target, np.float64)
    x = np.concatenate([fs, ft])
    y = np.r_[np.zeros(len(fs)), np.ones(len(ft))]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))
    clf.fit(x, y)
    p = np.clip(clf.predict_proba(np.asarray(f_query, np.float64))[:, 1], 1e-12, 1 - 1e-12)
    w = p / (1 - p) * (len(fs) / max(len(ft), 1))
    return np.minimum(w, max_weight)


def per_image_loss(logits: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> np.ndarray:
    """Cross-entropy of each image (nats), the ℓ that DEV weights."""
    lg, y = _t(logits), torch.as_tensor(np.asarray(labels)).long()
    return torch.nn.functional.cross_entropy(lg, y, reduction="none").numpy()


def class_share_tv(logits: np.ndarray | torch.Tensor, prior: np.ndarray | torch.Tensor) -> float:
    """Total variation (0 to 1) between the class shares of the predictions `logits` and the
    class shares `prior` (counts or frequencies, one per class)."""
    lg = _t(logits)
    pr = _t(prior).flatten()
    if len(lg) == 0 or float(pr.sum()) <= 0:
        return float("nan")
    shares = torch.bincount(lg.argmax(1), minlength=len(pr)).double() / len(lg)
    return 0.5 * float((pr / pr.sum() - shares).abs().sum())


def ensemble_agreement(probs: Sequence[np.ndarray | torch.Tensor], members: Sequence[int] | None = None) -> list[float]:
    """Each candidate's agreement (0 to 1) with the ensemble of `members` (indices into `probs`;
    default all): the share of target images whose predicted class is the ensemble's, the
    ensemble predicting the class of its mean softmax (EnsV: Hu, Luo, Liang & Foo, "Towards
    reliable model selection for unsupervised domain adaptation", 2024). `probs` are the
    candidates' softmaxes [n_target, classes] over the same target images, in the same order."""
    if not probs:
        return []
    ps = [_t(p) for p in probs]
    n = {tuple(p.shape) for p in ps}
    if len(n) != 1:
        raise ValueError(f"ensemble_agreement: the candidates' target softmaxes differ in shape: {sorted(n)}")
    chosen = list(range(len(ps))) if members is None else list(members)
    if not chosen or len(ps[0]) == 0:
        return [float("nan")] * len(ps)
    ensemble = torch.stack([ps[i] for i in chosen]).mean(0).argmax(1)
    return [float((p.argmax(1) == ensemble).double().mean()) for p in ps]
