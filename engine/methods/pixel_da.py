"""Pixel-level domain adaptation (CyCADA's pixel stage, Hoffman et al. 2018): translate the
labelled source images into the target's style with an unpaired image-to-image GAN, then
train the classifier on the translated source with its labels.

The translator is a `transfer-studio gan translate` run (`translator`), or, when empty, one
trained here on the run's source training images and target images before the first epoch
(`translate_steps`; cycle loss or CUT's PatchNCE, `translate_loss`, plus semantic consistency when `classifier` names a source
run). The source validation split is translated too, so the selection score measures the
classifier on the images it is trained for. Adaptation happens in pixels, so the step itself
is plain cross-entropy: feature-level methods (DANN, ...) can still be added on top later.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from engine.core.config import OptionalPath, path_field
from engine.core.errors import UserError
from engine.core.events import Emit, Log
from engine.methods.base import Batch, Method, MethodConfig, StepResult

if TYPE_CHECKING:  # pragma: no cover
    from engine.data.prepare import PreparedData


class PixelDAConfig(MethodConfig):
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
    keep_source: bool = Field(False, description="Train on the original source images as well as the translated ones.")


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


class PixelDA(Method[PixelDAConfig], name="pixel_da", label="Pixel-level DA (CyCADA)"):
    summary = "Translate the source into the target's style with an unpaired GAN, then train on it with its labels."
    uses_target = True
    kind = "domain adaptation"

    def prepare(self, data: PreparedData, emit: Emit, augment: str = "none") -> None:
        import torch

        from engine.gan.translate import TranslatorTrainer, translate_with

        device = torch.device("cpu")
        if self.config.translator is not None:
            g = _load_translator(self.config.translator, data.size)
            emit(Log(f"pixel_da: translating the source with {self.config.translator}"))
        else:
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
                device=device,
            )  # fmt: skip
            with torch.random.fork_rng(devices=[]):  # the classifier's run keeps its own random stream
                trainer.fit(self.config.translate_steps)
            g = trainer.g_st
        x_train = translate_with(g, data.x_train, device)
        if self.config.keep_source:
            from engine.data.disk_images import concat  # the source split may stay on disk (DiskImages)

            data.x_train, data.y_train = concat([data.x_train, x_train]), torch.cat([data.y_train, data.y_train])
        else:
            data.x_train = x_train
        data.x_val = translate_with(g, data.x_val, device)
        emit(Log(f"pixel_da: {len(x_train)} source training images translated into the target's style"))

    def training_step(self, batch: Batch) -> StepResult:
        logits = self.model(batch.x_source)
        loss = self.classification_loss(logits, batch.y_source)
        return StepResult(loss, logits, {"loss/cls": float(loss.detach())})
