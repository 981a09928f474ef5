"""Self-training: confidence-thresholded pseudo-labels on the unlabelled target.

Lee, "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method", ICML-W 2013,
with the fixed confidence threshold of FixMatch (Sohn et al., NeurIPS 2020) and the
class-balance caveats of Zou et al., "Unsupervised Domain Adaptation for Semantic
Segmentation via Class-Balanced Self-Training", ECCV 2018. Target samples whose predicted
class has probability ≥ threshold are trained on as if labelled, after a warm-up on the source.
"""

from __future__ import annotations

from pydantic import Field

from engine.core.config import share
from engine.methods.adaptation import AdaptationConfig, AdaptationMethod
from engine.methods.base import Batch, StepResult
from engine.methods.da_losses import pseudo_label_loss
from engine.methods.regularisers import with_regularisers


class SelfTrainingConfig(AdaptationConfig):
    threshold: float = Field(
        0.9, gt=0, le=1, description="Minimum predicted probability for a target image to get a pseudo-label."
    )
    warmup: float = share(
        0.2, "Share of the run trained on the source alone before pseudo-labels count.", below_one=True
    )
    ramp_up: bool = Field(False, description="Also grow the pseudo-label weight with λ(p) after the warm-up.")


class SelfTraining(AdaptationMethod[SelfTrainingConfig], name="self_training", label="Self-training (pseudo-labels)"):
    """Train on confident target predictions (probability ≥ 0.9) as if they were labels, after a source warm-up."""

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        _, _, logits_s, logits_t = self.forward_both(batch)
        cls = self.classification_loss(logits_s, batch.y_source)
        warm = cfg.warmup
        on = batch.progress >= warm
        lam = self.ramp((batch.progress - warm) / max(1.0 - warm, 1e-8)) if on else 0.0
        transfer, used, conf = pseudo_label_loss(logits_t, cfg.threshold, self.ctx.label_smoothing)
        loss = cls + lam * cfg.transfer_weight * transfer
        metrics = {
            "loss/cls": float(cls.detach()),
            "loss/transfer": float(transfer.detach()),
            "lambda": lam,
            "pseudo_label_rate": used,
            "target_confidence": conf,
        }
        loss = with_regularisers(loss, metrics, cfg, logits_t, lam)
        return StepResult(loss, logits_s, metrics)
