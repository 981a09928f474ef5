"""Pixel-level domain adaptation (CyCADA, Hoffman et al. 2018): translate the labelled source
images into the target's style with an unpaired image-to-image GAN, train the classifier on the
translated source with its labels, and align the features on top.

The translator is a `transfer-studio gan translate` run (`translator`), or, when empty, one
trained here on the run's source training images and target images before the first epoch
(`translate_steps`; cycle loss or CUT's PatchNCE, `translate_loss`, plus semantic consistency
when `classifier` names a source run). The source validation split is translated too, so the
selection score measures the classifier on the images it is trained for (the same mix).

Why the pixel stage alone is not enough (measured on the demo, bench/gan_pixel_da.py): a
classifier trained only on translations learns the translator's artefacts; the translations
are close to the target's colours but not to its distribution, and the classifier lost 7.5
points to source-only (3 seeds), although the labels survive translation. CyCADA therefore
adapts at both levels: `feature_method` adds a registered feature-level method's transfer loss
(DANN's domain discriminator, MCC, ...) between the source batch and the target, weighted by
`transfer_weight` and ramped like the method itself; `source_share` keeps original source
images beside the translated ones. Both together (the defaults) gained 19 points over
source-only on the demo (3 seeds). The feature method's code is reused, not copied: its
instance computes the loss and its modules (DANN's discriminator) are trained here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field

from engine.core.config import OptionalPath, path_field
from engine.core.errors import UserError
from engine.core.events import Emit, Log
from engine.methods.adaptation import AdaptationConfig, AdaptationMethod, DomainOutputs
from engine.methods.base import Batch, MethodContext, StepResult, get_method
from engine.models.classifier import ImageClassifier

if TYPE_CHECKING:  # pragma: no cover
    from engine.data.prepare import PreparedData

FeatureMethod = Literal["none", "dann", "cdan", "mcc", "dan", "coral"]


class PixelDAConfig(AdaptationConfig):
    translator: OptionalPath = path_field(
        "A translation run (transfer-studio gan translate); empty: train one here first."
    )
    translate_steps: int = Field(1000, ge=1, le=1_000_000, description="Steps of the translator trained here.")
    translate_loss: Literal["cycle", "cut"] = Field(
        "cycle", description="Content loss of the translator trained here: cycle (CycleGAN) or cut (CUT's PatchNCE)."
    )
    classifier: OptionalPath = path_field(
        "A source-trained run for semantic consistency of the translator trained here (optional)."
    )
    source_share: float = Field(
        0.5,
        ge=0,
        le=0.5,
        description="Share of the training images that are original (untranslated) source images beside every "
        "translated one: 0 trains on translations only, 0.5 adds all originals (measured best on the demo).",
    )
    feature_method: FeatureMethod = Field(
        "dann",
        description="Feature-level adaptation on top (CyCADA): this method's transfer loss between the translated "
        "source and the target, weighted by transfer_weight; none: the pixel level alone.",
    )


class PixelDA(AdaptationMethod[PixelDAConfig], name="pixel_da", label="Pixel-level DA (CyCADA)"):
    summary = (
        "Translate the source into the target's style with an unpaired GAN, train on it with its labels, "
        "and align features on top (CyCADA)."
    )

    def __init__(self, model: ImageClassifier, config: PixelDAConfig, ctx: MethodContext) -> None:
        super().__init__(model, config, ctx)
        self._feature: AdaptationMethod[Any] | None = None
        self.feature_modules = torch.nn.ModuleList()
        if config.feature_method != "none":
            cls = get_method(config.feature_method)
            inner = cls(model, cls.Config(), ctx)
            assert isinstance(inner, AdaptationMethod)
            # kept outside the module tree (it holds the model a second time); its own modules
            # (a discriminator) are registered here so they are trained, moved and saved
            object.__setattr__(self, "_feature", inner)
            self.feature_modules.extend(inner.extra_modules())
            self.ramp_in_loss = inner.ramp_in_loss

    def transfer_loss(self, out: DomainOutputs, lam: float) -> tuple[torch.Tensor, dict[str, float]]:
        assert self._feature is not None
        return self._feature.transfer_loss(out, lam)

    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.config
        if self._feature is not None or cfg.mcc_weight > 0 or cfg.entropy_weight > 0:
            if self._feature is None:  # the regularisers alone: no transfer loss
                return self._regularised_step(batch)
            return super().training_step(batch)
        logits = self.model(batch.x_source)
        loss = self.classification_loss(logits, batch.y_source)
        return StepResult(loss, logits, {"loss/cls": float(loss.detach())})

    def _regularised_step(self, batch: Batch) -> StepResult:
        from engine.methods.regularisers import with_regularisers

        lam = self.ramp(batch.progress)
        out = self.forward_both(batch)
        cls = self.classification_loss(out.logits_s, batch.y_source)
        metrics = {"loss/cls": float(cls.detach()), "lambda": lam}
        return StepResult(with_regularisers(cls, metrics, self.config, out.logits_t, lam), out.logits_s, metrics)

    def prepare(self, data: PreparedData, emit: Emit, augment: str = "none") -> None:
        device = torch.device("cpu")
        g = self._translator(data, emit) if self.config.translator is None else None
        if g is None:
            assert self.config.translator is not None
            g = _load_translator(self.config.translator, data.size)
            emit(Log(f"pixel_da: translating the source with {self.config.translator}"))
        from engine.gan.translate import translate_with

        gen = torch.Generator().manual_seed(torch.initial_seed() % (2**63))
        data.x_train, data.y_train, n = mix_with_source(
            translate_with(g, data.x_train, device), data.x_train, data.y_train, self.config.source_share, gen
        )
        data.x_val, data.y_val, _ = mix_with_source(
            translate_with(g, data.x_val, device), data.x_val, data.y_val, self.config.source_share, gen
        )
        emit(Log(f"pixel_da: {len(data.x_train) - n} source training images translated into the target's style"
                 + (f", {n} originals kept beside them" if n else "")))  # fmt: skip
        if self._feature is not None:
            emit(Log(f"pixel_da: {self.config.feature_method} aligns the features on top"))

    def _translator(self, data: PreparedData, emit: Emit) -> torch.nn.Module:
        from engine.gan.translate import TranslatorTrainer

        if data.x_target is None:
            raise UserError("pixel_da needs a target folder: its images set the style to translate into.")
        classifier = None
        if self.config.classifier is not None:
            from engine.jobs.gan_translate import source_classifier

            classifier, classes = source_classifier(self.config.classifier, data.size)
            if classes != data.classes:
                raise UserError(f"classifier {self.config.classifier}: its classes differ from the source's.")
        emit(Log(f"pixel_da: training a translator for {self.config.translate_steps} steps before the first epoch"))
        trainer = TranslatorTrainer(
            data.x_train, data.y_train, data.x_target, classifier=classifier, loss=self.config.translate_loss,
            device=torch.device("cpu"),
        )  # fmt: skip
        with torch.random.fork_rng(devices=[]):  # the classifier's run keeps its own random stream
            trainer.fit(self.config.translate_steps)
        return trainer.g_st


def mix_with_source(
    translated: torch.Tensor, original: Any, labels: torch.Tensor, share: float, gen: torch.Generator
) -> tuple[Any, torch.Tensor, int]:
    """Every translated image, plus originals so that they make `share` of the result (at most
    all of them, share 0.5), drawn with `gen`: (images, labels, originals added). Originals over
    the memory budget (DiskImages) stay on disk: the result is then a ConcatImages."""
    from engine.data.disk_images import concat, take

    n = min(len(original), round(len(original) * share / (1 - share))) if share > 0 else 0
    if n == 0:
        return translated, labels, 0
    keep = torch.randperm(len(original), generator=gen)[:n]
    return concat([translated, take(original, keep)]), torch.cat([labels, labels[keep]]), n


def _load_translator(run_dir: Path, size: int) -> Any:
    from engine.gan.translate_nets import TranslatorG
    from engine.training.checkpoints import load_checkpoint

    ckpt = Path(run_dir) / "checkpoints" / "last.pt"
    if not ckpt.is_file():
        raise UserError(
            f"translator {run_dir}: no checkpoints/last.pt. Give a finished 'transfer-studio gan translate' run."
        )
    state = load_checkpoint(ckpt)
    if state.get("kind") != "translate":
        raise UserError(f"translator {run_dir}: not a translation run. Make one with 'transfer-studio gan translate'.")
    if int(state["image_size"]) != size:
        raise UserError(
            f"translator {run_dir}: translates {state['image_size']} px images, but this run uses {size} px. "
            f"Set the image size to {state['image_size']} or translate at {size} px."
        )
    g = TranslatorG(int(state["width"]))
    g.load_state_dict(state["g_st"])
    return g
