"""How large is the shift? Measured before any adaptation, on the source-only candidate:

- the proxy A-distance of its features (Ben-David et al. 2010; 0: a linear classifier cannot tell
  source from target, 2: it always can), cross-validated, on source training and target images;
- class balance: the source's largest/smallest class ratio, and how far the source-only model's
  predicted target class shares stray from the source's (total variation; a label shift, or a
  model that sends most target images to a few classes);
- image statistics: the mean brightness and contrast of each domain.

The verdict (small / moderate / large) reads the proxy A-distance: under `SMALL_PAD` the
source-only model's features hardly tell the domains apart, and adaptation has little to fix.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from engine.data.prepare import PreparedData

SMALL_PAD, LARGE_PAD = 0.5, 1.5


class ShiftReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    proxy_a_distance: float
    size: str  # small | moderate | large
    source_imbalance: float  # largest class / smallest class, in the source
    predicted_target_tv: float  # total variation between source class shares and predicted target shares
    source_brightness: float
    target_brightness: float
    source_contrast: float
    target_contrast: float
    message: str


def cv_proxy_a_distance(f_source: Any, f_target: Any, seed: int = 0, folds: int = 5, limit: int = 1000) -> float:
    """PAD = 2(1 − 2ε) with ε the 5-fold cross-validated error of a standardised logistic domain
    classifier on balanced samples (at most `limit` a domain): steadier on a few hundred images
    than one held-out half (engine.analysis.embedding.proxy_a_distance), which the advisor needs
    to call a shift small."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fs, ft = np.asarray(f_source, np.float64), np.asarray(f_target, np.float64)
    n = min(len(fs), len(ft), limit)
    folds = min(folds, n)
    if folds < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    x = np.concatenate([fs[rng.permutation(len(fs))[:n]], ft[rng.permutation(len(ft))[:n]]])
    y = np.r_[np.zeros(n), np.ones(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    # Worse than chance means nothing to detect (the same images in both domains make the folds
    # anti-learn), not a shift: ε is capped at 1/2 rather than flipped.
    err = min(1.0 - float(cross_val_score(clf, x, y, cv=cv).mean()), 0.5)
    return 2.0 * (1.0 - 2.0 * err)


def verdict(pad: float, small: float = SMALL_PAD) -> str:
    return "small" if pad < small else "moderate" if pad < LARGE_PAD else "large"


def _look(domain: str, x_uint8: Any) -> dict[str, float]:
    """Mean brightness and contrast (standard deviation, unbiased) of the first 2000 of a domain's
    images, as report fields; summed a batch at a time (2000 float images at 224 px are 1.2 GB)."""
    from engine.data.disk_images import iter_batches

    total, squares, n = 0.0, 0.0, 0
    for batch in iter_batches(x_uint8, 256, limit=2000):
        x = batch.double() / 255.0
        total, squares, n = total + float(x.sum()), squares + float((x * x).sum()), n + x.numel()
    if n == 0:
        return {f"{domain}_brightness": float("nan"), f"{domain}_contrast": float("nan")}
    mean = total / n
    var = max(0.0, squares - n * mean * mean) / max(1, n - 1)
    return {f"{domain}_brightness": mean, f"{domain}_contrast": var**0.5}


def describe(r: ShiftReport) -> str:
    """The report in words: the size of the shift, then what else stands out."""
    notes = [f"proxy A-distance {r.proxy_a_distance:.2f} (0: alike, 2: fully separable): a {r.size} shift"]
    if r.predicted_target_tv > 0.25:
        notes.append(
            f"the source-only model puts target images in classes {r.predicted_target_tv:.0%} unlike the source's shares"
        )
    sb, tb, sc, tc = r.source_brightness, r.target_brightness, r.source_contrast, r.target_contrast
    if abs(sb - tb) > 0.15 or abs(sc - tc) > 0.1:
        notes.append(f"brightness {sb:.2f} -> {tb:.2f}, contrast {sc:.2f} -> {tc:.2f}")
    if math.isfinite(r.source_imbalance) and r.source_imbalance > 3:
        notes.append(f"the source classes are imbalanced ({r.source_imbalance:.1f}:1)")
    return "; ".join(notes) + "."


def measure_shift(
    run_dir: str, data: PreparedData, device: Any, seed: int = 0, small: float = SMALL_PAD
) -> ShiftReport:
    """The shift seen by the source-only run `run_dir` (its best checkpoint)."""
    import torch

    from engine.advisor.scores import class_share_tv
    from engine.analysis.evaluate import predict_logits
    from engine.core.runs import load_run_model

    assert data.x_target is not None
    model, _ = load_run_model(run_dir, "best")
    model.to(device)
    g = torch.Generator().manual_seed(seed)
    from engine.data.disk_images import take

    # a view of 1000 images (nothing read from disk yet): predict_logits reads it a batch at a time
    x_source = take(data.x_train, torch.randperm(len(data.x_train), generator=g)[:1000])
    f_source = predict_logits(model, x_source, device, features=True)
    f_target = predict_logits(model, data.x_target, device, features=True)
    pad = cv_proxy_a_distance(f_source.numpy(), f_target.numpy(), seed)
    k = len(data.classes)
    counts = torch.bincount(torch.cat([data.y_train, data.y_val]), minlength=k).double()
    with torch.inference_mode():
        t_logits = model.head(f_target.to(device)).cpu()
    imbalance = float(counts.max() / counts.min()) if float(counts.min()) > 0 else float("inf")
    report = ShiftReport(
        proxy_a_distance=pad,
        size=verdict(pad, small),
        source_imbalance=imbalance,
        predicted_target_tv=class_share_tv(t_logits, counts),
        **_look("source", data.x_train),
        **_look("target", data.x_target),
        message="",
    )
    report.message = describe(report)
    return report
