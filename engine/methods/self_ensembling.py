"""Self-ensembling: a mean teacher's confident predictions on wide augmentations of the target.

French, Mackiewicz & Fisher, "Self-ensembling for visual domain adaptation", ICLR 2018 (after
Tarvainen & Valpola's mean teacher, 2017). The student learns the labelled source under wide
augmentation (engine.data.batch_augment: geometry, negatives, contrast, noise); on the target,
it is pulled towards the predictions of a teacher, the exponential moving average of its own
weights, on another random view of the same image, where the teacher is confident (probability
above `confidence`). A class-balance term keeps the student's mean target prediction near
uniform, so the consistency cannot collapse onto a few classes.

Unlike the feature-alignment methods it needs no statistics of the two domains to match: a
target that differs from the source by something inside the augmentation family (polarity,
size, place, contrast) is learned from the source directly, and the consistency then spreads
the teacher's confident target predictions to the rest of the target.
"""

from __future__ import annotations

import copy
from typing import ClassVar

import torch
from pydantic import Field
from torch.nn import functional as F

from engine.core.config import share, weight
from engine.data.batch_augment import BatchAugmentConfig, wide_augment
from engine.methods.adaptation import AdaptationConfig, AdaptationMethod
from engine.methods.base import Batch, MethodContext, StepResult
from engine.methods.regularisers import with_regularisers
from engine.models.classifier import ImageClassifier


class SelfEnsemblingConfig(BatchAugmentConfig, AdaptationConfig):
    transfer_weight: float = weight(3.0, "Weight of the target consistency loss (French et al. use 3).")
    ramp_up: bool = Field(
        False,
        description="Grow the consistency weight with λ(p); off by default, since only confident teacher predictions count.",
    )
    teacher_decay: float = share(
        0.99, "Decay of the teacher's moving average of the student's weights.", below_one=True
    )
    confidence: float = share(0.9, "The teacher's smallest probability for a target image to count.")
    clean_source: bool = Field(
        True,
        description="Also learn the source images as they are, beside their augmented views, so a short run still fits the source.",
    )
    class_balance: float = weight(
        0.005,
        "Weight of the class-balance loss (binary cross-entropy of the mean target prediction against uniform).",
        le=10,
    )


def class_balance_loss(probs: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the batch's mean prediction against the uniform 1/C, summed over classes."""
    mean = probs.mean(0).clamp(1e-6, 1 - 1e-6)
    uniform = torch.full_like(mean, 1.0 / probs.shape[1])
    return F.binary_cross_entropy(mean, uniform, reduction="sum")


class SelfEnsembling(
    AdaptationMethod[SelfEnsemblingConfig], name="self_ensembling", label="Self-ensembling (mean teacher)"
):
    """Mean-teacher consistency on widely augmented target images (French et al. 2018): learns the source under random geometry, negatives, contrast and noise, then follows its own averaged predictions on the target."""

    # Its augmentation shrinks and moves the images; a head that pools over the whole map takes
    # that in its stride, where small_cnn's flatten head has to learn every position (README, zoo):
    # small_cnn_gap is its default, and a run on small_cnn is told why to switch.
    default_backbone: ClassVar[str] = "small_cnn_gap"
    backbone_advice: ClassVar[dict[str, tuple[str, str]]] = {
        "small_cnn": (
            "small_cnn_gap",
            "Self-ensembling did better with small_cnn_gap on the shift zoo (3 seeds): 65.7 % mean target "
            "accuracy against 58.1 with small_cnn, 56.9 against 21.9 on small digits; its global pooling "
            "takes in the shrunk and moved images the augmentation makes.",
        )
    }

    def __init__(self, model: ImageClassifier, config: SelfEnsemblingConfig, ctx: MethodContext) -> None:
        super().__init__(model, config, ctx)
        self.teacher = copy.deepcopy(model)
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update_teacher(self, step: int) -> None:
        """teacher <- d·teacher + (1−d)·student, with d warming up as (1+t)/(10+t) (as the run's
        weight averaging does), so the first steps do not hold the teacher at its initial weights."""
        decay = min(self.config.teacher_decay, (1.0 + step) / (10.0 + step))
        for t, s in zip(self.teacher.parameters(), self.model.parameters(), strict=True):
            t.mul_(decay).add_(s.detach(), alpha=1.0 - decay)
        for tb, sb in zip(self.teacher.buffers(), self.model.buffers(), strict=True):
            tb.copy_(sb)

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        x_t = self.target_of(batch)
        self.update_teacher(batch.step)
        n = batch.x_source.shape[0]
        x_s, y_s = wide_augment(batch.x_source, cfg), batch.y_source
        if cfg.clean_source:
            x_s, y_s = torch.cat([batch.x_source, x_s]), torch.cat([y_s, y_s])
        student_view, teacher_view = wide_augment(x_t, cfg), wide_augment(x_t, cfg)
        lam = self.ramp(batch.progress)
        out = self.forward_both(Batch(x_s, y_s, student_view, batch.step, batch.progress))
        cls = self.classification_loss(out.logits_s, y_s)
        with torch.no_grad():
            self.teacher.train(self.training)
            p_teacher = F.softmax(self.teacher(teacher_view).float(), 1)
        p_student = F.softmax(out.logits_t.float(), 1)
        confidence, _ = p_teacher.max(1)
        mask = (confidence >= cfg.confidence).float()
        consistency = (((p_student - p_teacher) ** 2).sum(1) * mask).mean()
        balance = class_balance_loss(p_student)
        transfer = consistency + cfg.class_balance * balance
        weight = cfg.transfer_weight * lam
        metrics = {
            "loss/cls": float(cls.detach()),
            "loss/transfer": float(transfer.detach()),
            "loss/consistency": float(consistency.detach()),
            "loss/class_balance": float(balance.detach()),
            "confident_rate": float(mask.mean()),
            "teacher_confidence": float(confidence.mean()),
            "lambda": lam,
        }
        loss = with_regularisers(cls + weight * transfer, metrics, cfg, out.logits_t, lam)
        return StepResult(loss, out.logits_s[:n], metrics)
