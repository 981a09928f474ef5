"""AdaBN: train on the source, then normalise target images with target statistics.

Li, Wang, Shi, Liu & Hou, "Revisiting Batch Normalization For Practical Domain Adaptation",
ICLR workshop 2017. The weights learn the source task as in fine-tuning; after every epoch the
BatchNorm statistics are recomputed on the unlabelled target images, which removes a shift
in colour, contrast or texture statistics without any extra loss. It is the cheapest
adaptation there is (the cost of fine-tuning), and the other adaptation methods use the same
target statistics by default (their `target_bn` setting), so it is also the baseline that
shows what their losses add.
"""

from __future__ import annotations

from engine.methods.base import Batch, Method, MethodConfig, StepResult


class AdaBNConfig(MethodConfig):
    """Fine-tuning's settings: AdaBN adds no loss, only target statistics."""


class AdaBN(Method[AdaBNConfig], name="adabn", label="AdaBN (target BatchNorm statistics)"):
    """Li et al. 2017: fine-tune on the source, then normalise target images with the target's own BatchNorm statistics."""

    uses_target = True
    kind = "domain adaptation"

    def target_bn(self) -> bool:
        return True

    def training_step(self, batch: Batch) -> StepResult:
        logits = self.model(batch.x_source)  # the source alone: its own batch statistics
        loss = self.classification_loss(logits, batch.y_source)
        return StepResult(loss, logits, {"loss/cls": float(loss.detach())})
