"""Fine-tuning: a new head for the task, optional frozen stages and a smaller learning rate
for the pretrained layers (discriminative learning rates). The baseline of every comparison:
trained on the source alone, it is the "source-only" model of domain adaptation papers.
"""

from __future__ import annotations

from pydantic import Field

from engine.methods.base import Batch, Method, MethodConfig, StepResult


class FinetuneConfig(MethodConfig):
    linear_probe: bool = Field(False, description="Freeze the whole backbone and train only the head.")
    cache_features: bool = Field(
        True, description="With a frozen backbone, compute features once and train the head on them."
    )


class Finetune(Method[FinetuneConfig], name="finetune", label="Fine-tuning"):
    """Train a new head (and optionally the backbone) on the labelled source. Source-only baseline."""

    def frozen_stage_count(self) -> int:
        if self.config.linear_probe:
            return len(self.model.stages)
        return super().frozen_stage_count()

    def feature_cache_ok(self) -> bool:
        """True when the trainer may train the head on features computed once."""
        return bool(self.config.cache_features) and self.backbone_frozen()

    def training_step(self, batch: Batch) -> StepResult:
        logits = self.model(batch.x_source)
        loss = self.classification_loss(logits, batch.y_source)
        return StepResult(loss, logits, {"loss/cls": float(loss.detach())})
