"""Generalised zero-shot evaluation (Xian et al. 2018): seen accuracy, unseen accuracy and H.

Test images come from seen and unseen classes and the model chooses among all classes.
Accuracies are per-class means (top-1 averaged over classes, so a big class does not hide a
small one), as in the GZSL protocol; H is their harmonic mean, high only when both are. The
conventional zero-shot figure (unseen images, choosing among unseen classes only) and the
figures without calibrated stacking are reported beside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # torch is imported where it computes: the evaluate job's report imports this module
    import torch


class GzslFigures(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seen_acc: float
    unseen_acc: float
    h: float


class ZeroShotScores(BaseModel):
    """The evaluate report's zero-shot part (present for a zero-shot run)."""

    model_config = ConfigDict(extra="forbid")
    seen_classes: list[str]
    unseen_classes: list[str]
    calibration: float  # gamma of calibrated stacking in the model
    calibrated: GzslFigures  # as deployed
    uncalibrated: GzslFigures  # gamma = 0
    zsl_unseen_acc: float  # unseen images among the unseen classes only (conventional ZSL)


def harmonic_mean(a: float, b: float) -> float:
    return 0.0 if a + b <= 0 else 2 * a * b / (a + b)


def per_class_mean_accuracy(pred: torch.Tensor, labels: torch.Tensor, classes: list[int]) -> float:
    """Mean over `classes` (those with images) of the share of their images predicted right."""
    accs = [float((pred[labels == c] == c).float().mean()) for c in classes if bool((labels == c).any())]
    return sum(accs) / len(accs) if accs else float("nan")


def gzsl_figures(scores: torch.Tensor, labels: torch.Tensor, seen: torch.Tensor) -> GzslFigures:
    """`scores` [N, Z] over all classes, `labels` [N], `seen` [Z] mask."""
    pred = scores.argmax(1)
    seen_ids = seen.nonzero().flatten().tolist()
    unseen_ids = (seen == 0).nonzero().flatten().tolist()
    s = per_class_mean_accuracy(pred, labels, seen_ids)
    u = per_class_mean_accuracy(pred, labels, unseen_ids)
    h = harmonic_mean(s, u) if s == s and u == u else float("nan")
    return GzslFigures(seen_acc=s, unseen_acc=u, h=h)


def zero_shot_scores(
    logits: torch.Tensor, labels: torch.Tensor, classes: list[str], seen_classes: list[str], calibration: float
) -> ZeroShotScores:
    """All figures from the deployed model's scores (calibrated with `calibration`)."""
    import torch

    seen = torch.tensor([1.0 if c in set(seen_classes) else 0.0 for c in classes])
    raw = logits + calibration * seen
    unseen_mask = seen == 0
    on_unseen = unseen_mask[labels]
    zsl = float("nan")
    if bool(on_unseen.any()):
        restricted = raw[on_unseen].masked_fill(~unseen_mask, float("-inf"))
        zsl = per_class_mean_accuracy(restricted.argmax(1), labels[on_unseen], unseen_mask.nonzero().flatten().tolist())
    return ZeroShotScores(
        seen_classes=[c for c in classes if c in set(seen_classes)],
        unseen_classes=[c for c in classes if c not in set(seen_classes)],
        calibration=calibration,
        calibrated=gzsl_figures(logits, labels, seen),
        uncalibrated=gzsl_figures(raw, labels, seen),
        zsl_unseen_acc=zsl,
    )
