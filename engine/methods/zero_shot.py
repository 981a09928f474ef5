"""Zero-shot learning: recognise classes that have no training images through their attributes.

The source folder holds the seen classes; an attribute table (engine.data.attributes) lists
them and the unseen ones. The backbone learns on the seen classes (a softmax classifier over
them, which the deployed model drops); the zero-shot head (engine.models.zero_shot_head) maps
features to attributes and scores every class of the table:

- `zsl = "dap"`: attribute classifiers (one logistic regression per attribute, fitted to
  convergence on the training features at the end of every epoch), combined per class as in
  Lampert et al. 2009. With `attribute_weight` > 0 their loss also shapes the backbone's
  features during the epoch; off by default, since on the demo digits it made unseen classes
  worse (H 31.8 against 43.8 %, bench/zero_shot.py): features that learn the seen classes'
  attributes by heart transfer less than features that learn the seen classes.
- `zsl = "eszsl"`: the ESZSL mapping solved in closed form on the training images' features at
  the end of every epoch (Romera-Paredes & Torr 2015).

After each epoch, calibrated stacking's gamma is chosen on the seen validation images
(`stacking_gamma`). The run's classes are all classes of the table, so evaluation, export and
prediction see the unseen classes too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from pydantic import Field
from torch import nn

from engine.core.config import OptionalPath, path_field, share, weight
from engine.core.errors import UserError
from engine.core.events import Emit, Log
from engine.data.attributes import AttributeTable, check_covers, load_attribute_table
from engine.methods.base import Batch, Method, MethodConfig, MethodContext, StepResult
from engine.models.classifier import ImageClassifier
from engine.models.zero_shot_head import ZeroShotHead, dap_fit, eszsl_solve, stacking_gamma

if TYPE_CHECKING:  # pragma: no cover
    from engine.data.prepare import PreparedData


class ZeroShotConfig(MethodConfig):
    attributes: OptionalPath = path_field(
        "Class-attribute table (CSV: class, then one column per attribute) listing the seen and unseen classes.", "file"
    )
    zsl: Literal["dap", "eszsl"] = Field(
        "eszsl",
        description="dap: attribute classifiers (Lampert 2009); eszsl: closed-form mapping (Romera-Paredes 2015).",
    )
    calibration: float | None = Field(
        None,
        ge=-1000,
        le=1000,
        description="Calibrated stacking: subtract this from seen classes' scores (0: off; empty: chosen on the validation images).",
    )
    calibration_tolerance: float = share(
        0.05, "With automatic calibration: the share of seen validation accuracy the calibration may cost."
    )
    eszsl_gamma: float = Field(
        1.0, gt=0, le=1e4, description="ESZSL: ridge penalty on the feature side (relative to the features' scale)."
    )
    eszsl_lambda: float = Field(
        0.1, gt=0, le=1e4, description="ESZSL: ridge penalty on the attribute side (relative to the table's scale)."
    )
    attribute_weight: float = weight(
        0.0,
        "DAP: weight of an attribute loss shaping the backbone's features during the epoch (0: seen-class loss only).",
    )
    dap_l2: float = weight(1e-3, "DAP: L2 penalty of the attribute classifiers fitted at each epoch's end.")
    class_weight: float = weight(1.0, "Weight of the seen-class cross-entropy that shapes the backbone's features.")


def read_table(path: Path | None) -> AttributeTable:
    if path is None:
        raise UserError(
            "method zero_shot: needs an attribute table. Give it with --set attributes=FILE "
            "(the demo digits' table ships as resources/attributes/demo_digits.csv)."
        )
    return load_attribute_table(path)


class ZeroShot(Method[ZeroShotConfig], name="zero_shot", label="Zero-shot (attributes)"):
    summary = "Recognise classes with no training images through a class-attribute table (DAP or ESZSL)."
    kind = "zero-shot"

    signatures01: torch.Tensor  # [Z, A] the table scaled to [0, 1]
    seen_index: torch.Tensor  # [n_seen] table index of each folder class
    seen_pos: torch.Tensor  # [Z] folder index of each table class, -1 for unseen

    def __init__(self, model: ImageClassifier, config: ZeroShotConfig, ctx: MethodContext) -> None:
        super().__init__(model, config, ctx)
        self.table = read_table(config.attributes)
        sig = torch.tensor(self.table.scaled(), dtype=torch.float32)
        self.register_buffer("signatures01", sig, persistent=False)
        head = ZeroShotHead(model.feature_dim, sig, config.zsl)
        if config.zsl == "eszsl" or config.attribute_weight == 0:  # fitted at epoch ends, not by the optimiser
            head.proj.requires_grad_(False)
        model.add_module("head", head)
        model.num_classes = len(self.table.classes)
        self.seen_head = nn.Linear(model.feature_dim, ctx.num_classes)
        self.register_buffer("seen_index", torch.zeros(ctx.num_classes, dtype=torch.long), persistent=False)
        self.register_buffer("seen_pos", torch.full((len(sig),), -1, dtype=torch.long), persistent=False)

    @property
    def head(self) -> ZeroShotHead:
        head = self.model.get_submodule("head")
        assert isinstance(head, ZeroShotHead)
        return head

    # ------------------------------------------------------------------ set-up
    def prepare(self, data: PreparedData, emit: Emit, augment: str = "none") -> None:
        """Check the table against the folder, then make the run's classes the table's: labels
        are renumbered into the table's order, so checkpoints and exports score every class."""
        for note in self.table.notes:
            emit(Log(f"attribute table: {note}", "warning"))
        folder = list(data.classes)
        unseen = check_covers(self.table, folder, "the source folder")
        if not unseen:
            emit(
                Log(
                    "The attribute table lists no class beyond the source folder's: nothing is recognised zero-shot.",
                    "warning",
                )
            )
        index = [self.table.classes.index(c) for c in folder]
        self.seen_index.copy_(torch.tensor(index))
        self.seen_pos.fill_(-1)
        self.seen_pos[self.seen_index] = torch.arange(len(index), device=self.seen_pos.device)
        self.head.set_seen(index)
        table = torch.tensor(index, dtype=torch.long)
        data.y_train, data.y_val = table[data.y_train], table[data.y_val]
        if data.y_test is not None:
            data.y_test = table[data.y_test]
        data.classes = list(self.table.classes)
        emit(
            Log(
                f"Zero-shot ({self.config.zsl.upper()}): {len(folder)} seen classes, {len(unseen)} unseen "
                f"({', '.join(unseen) or 'none'}), {len(self.table.attributes)} attributes."
            )
        )

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Batch) -> StepResult:
        f = self.model.features(batch.x_source)
        y_seen = self.seen_pos[batch.y_source]
        seen_logits = self.seen_head(f)
        loss = self.config.class_weight * nn.functional.cross_entropy(
            seen_logits, y_seen, label_smoothing=self.ctx.label_smoothing
        )
        metrics = {"loss/cls": float(loss.detach())}
        if self.config.zsl == "dap" and self.config.attribute_weight > 0:
            target = self.signatures01[batch.y_source]
            attr = nn.functional.binary_cross_entropy_with_logits(self.head.proj(f), target)
            loss = loss + self.config.attribute_weight * attr
            metrics["loss/attr"] = float(attr.detach())
        # accuracy among the seen classes, reported in the table's class order
        full = seen_logits.new_full((len(f), len(self.seen_pos)), -1e4)
        full[:, self.seen_index] = seen_logits
        return StepResult(loss, full, metrics)

    # ------------------------------------------------------------------ end of epoch
    @torch.no_grad()
    def fit_head(self, model: nn.Module, data: PreparedData, device: torch.device) -> list[str]:
        """The attribute mapping fitted on the training features (ESZSL's closed form, or DAP's
        attribute classifiers), then the calibration on the validation images; both go into
        `model` (the deployed one) and the trained model's head."""
        from engine.analysis.evaluate import predict_logits

        assert isinstance(model, ImageClassifier)
        head = model.get_submodule("head")
        assert isinstance(head, ZeroShotHead)
        notes = []
        feats = predict_logits(model, data.x_train, device, features=True)
        if self.config.zsl == "eszsl":
            seen_sig = head.signatures[self.seen_index].cpu()
            w, b = eszsl_solve(
                feats, self.seen_pos.cpu()[data.y_train], seen_sig, self.config.eszsl_gamma, self.config.eszsl_lambda
            )
        else:
            w, b = dap_fit(feats, head.signatures.cpu()[data.y_train], self.config.dap_l2)
        head.proj.weight.copy_(w)
        head.proj.bias.copy_(b)
        gamma = self.config.calibration
        if gamma is None:
            head.calibration.zero_()
            scores = predict_logits(model, data.x_val, device)
            gamma = stacking_gamma(scores, data.y_val, head.seen.cpu(), self.config.calibration_tolerance)
            notes.append(f"calibrated stacking: gamma {gamma:.4g} (chosen on {len(data.x_val)} validation images)")
        head.calibration.fill_(gamma)
        if head is not self.head:  # weight averaging: the trained model follows the fit
            self.head.load_state_dict(head.state_dict())
        return notes
