"""Knowledge distillation: a teacher's soft predictions train a smaller student.

The teacher is a finished run (any backbone, any method: adapt with DANN, then distil) or any
ONNX image classifier queried through onnxruntime. The student (the run's backbone, e.g.
`tiny_cnn`) learns from the source labels and from the teacher's logits on the same images,
and, when a target folder is given, from the teacher's logits on the unlabelled target images:
that is how an adapted teacher's knowledge of the target domain reaches the student.

Teacher outputs are computed on exactly the images the student sees (augmented ones too); with
augmentation off they are computed once before training and looked up by image content.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import torch
from pydantic import Field

from engine.core.config import OptionalPath, path_field, share, weight
from engine.core.errors import UserError
from engine.core.events import Emit, Log
from engine.methods.base import Batch, Method, MethodConfig, MethodContext, StepResult
from engine.methods.kd_losses import agreement, dist_loss, dkd, hinton_kd
from engine.methods.teachers import Teacher, count_params, load_teacher
from engine.models.classifier import ImageClassifier

if TYPE_CHECKING:  # pragma: no cover
    from engine.data.prepare import PreparedData


class DistillConfig(MethodConfig):
    teacher: OptionalPath = path_field(
        "The teacher: a finished run directory (or any file in it) or an .onnx image classifier."
    )
    loss: Literal["kd", "dkd", "dist"] = Field(
        "kd", description="kd: Hinton 2015; dkd: decoupled KD (Zhao 2022); dist: DIST, relations (Huang 2022)."
    )
    temperature: float = Field(4.0, gt=0, le=100, description="Softmax temperature T of the distillation loss.")
    kd_weight: float = weight(1.0, "Weight of the distillation loss.")
    hard_weight: float = weight(1.0, "Weight of the cross-entropy on the source labels (0: teacher only).")
    use_target: bool = Field(
        True, description="Also distil on the unlabelled target images (the teacher's soft labels there)."
    )
    dkd_alpha: float = weight(1.0, "DKD: weight α of the target-class term.")
    dkd_beta: float = weight(8.0, "DKD: weight β of the non-target-class term.")
    dist_beta: float = weight(1.0, "DIST: weight β of the inter-class relation.")
    dist_gamma: float = weight(1.0, "DIST: weight γ of the intra-class relation.")
    warmup: float = share(
        0.0, "Share of the run over which the distillation weight grows from 0 (DKD uses it).", below_one=True
    )
    target_bn: bool = Field(
        True,
        description="With target images: after every epoch, set BatchNorm statistics to the target's (AdaBN), as the adaptation methods do.",
    )


def fingerprint(x: torch.Tensor) -> list[int]:
    """One integer per image from its 8-bit pixel values: exact (integer arithmetic, so the
    same whatever the batch), and the same for uint8 images and their float [0, 1] copies, so
    cached teacher outputs are found again. Random 31-bit weights make collisions ~2^-60."""
    q = x if x.dtype == torch.uint8 else (x.float() * 255).round()
    flat = q.reshape(len(x), -1).long()
    weights = torch.randint(1, 2**31 - 1, (flat.shape[1],), generator=torch.Generator().manual_seed(7))
    return (flat * weights.to(flat.device)).sum(1).tolist()


class Distill(Method, name="distill", label="Knowledge distillation"):
    """Train a small student on a teacher's soft predictions (a run or an ONNX file), on source and target images."""

    Config = DistillConfig
    uses_target = True  # target images are used when given; distill runs without them too
    target_optional = True
    kind = "distillation"
    default_ema = 0.99

    def __init__(self, model: ImageClassifier, config: MethodConfig, ctx: MethodContext) -> None:
        super().__init__(model, config, ctx)
        cfg: DistillConfig = config  # type: ignore[assignment]
        self.cfg = cfg
        # a plain attribute, not a submodule: no parameters, no state_dict entry, reloaded on resume
        self.teacher: Teacher = load_teacher(cfg.teacher)
        if len(self.teacher.classes) != ctx.num_classes:
            raise UserError(
                f"teacher {self.teacher.path}: outputs {len(self.teacher.classes)} classes "
                f"({', '.join(self.teacher.classes)}) but the source has {ctx.num_classes}. "
                "Distil from a teacher trained on the source's classes."
            )
        self._cache: dict[int, int] = {}
        self._cached = torch.zeros(0, ctx.num_classes)

    # ----------------------------------------------------------------- set-up (trainer hook)
    def prepare(self, data: PreparedData, emit: Emit, augment: str = "none") -> None:
        """Check the teacher against the data, say what will happen, and cache teacher outputs
        for the images that are never augmented (all of them with augmentation off)."""
        for note in self.teacher.match_classes(data.classes):
            emit(Log(note))
        emit(Log(f"Distilling from the {self.teacher.describe()} with {self.cfg.loss.upper()}."))
        if self.teacher.input_size != data.size:
            emit(
                Log(
                    f"The teacher takes {self.teacher.input_size}×{self.teacher.input_size} images and the student "
                    f"{data.size}×{data.size}: images are resized to {self.teacher.input_size} px for the teacher.",
                    "warning",
                )
            )
        student = count_params(self.model)
        if student >= self.teacher.num_params:
            emit(
                Log(
                    f"The student ({student / 1e6:.2f}M weights) is not smaller than its teacher "
                    f"({self.teacher.num_params / 1e6:.2f}M): distillation will not make the model smaller. "
                    "Choose a smaller backbone (e.g. tiny_cnn).",
                    "warning",
                )
            )
        parts = [data.x_target] if (self.cfg.use_target and data.x_target is not None) else []
        if augment == "none":
            parts.insert(0, data.x_train)
        else:
            emit(Log("Augmentation is on: teacher outputs are computed on every augmented source batch."))
        images = [p for p in parts if p is not None and len(p)]
        if images:
            from engine.data.disk_images import concat_batches

            # batches of 256 over the splits end to end, read one at a time (DiskImages over the
            # memory budget): only the fingerprints and logits are kept, never the images
            device = next(self.model.parameters()).device
            keys: list[int] = []
            outs: list[torch.Tensor] = []
            for chunk in concat_batches(images, 256):
                keys += fingerprint(chunk)
                outs.append(self.teacher.logits(chunk.to(device).float().div(255)).cpu())
            self._cache = {k: i for i, k in enumerate(keys)}
            self._cached = torch.cat(outs)
            emit(Log(f"Teacher outputs computed once for {len(keys)} images."))

    # ----------------------------------------------------------------- teacher outputs
    def teacher_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Cached outputs when every image of the batch is known, else the teacher on the batch."""
        if self._cache:
            rows = [self._cache.get(k, -1) for k in fingerprint(x)]
            if min(rows) >= 0:
                return self._cached[torch.tensor(rows)].to(x.device)
        return self.teacher.logits(x.detach())

    def kd_loss(self, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        if cfg.loss == "dkd":
            return dkd(student, teacher, labels, cfg.dkd_alpha, cfg.dkd_beta, cfg.temperature)
        if cfg.loss == "dist":
            return dist_loss(student, teacher, cfg.dist_beta, cfg.dist_gamma, cfg.temperature)
        return hinton_kd(student, teacher, cfg.temperature)

    def target_bn(self) -> bool:
        return self.cfg.target_bn and self.cfg.use_target

    # ----------------------------------------------------------------- one step
    def training_step(self, batch: Batch) -> StepResult:
        cfg = self.cfg
        xt = batch.x_target if cfg.use_target else None
        n = len(batch.x_source)
        x = batch.x_source if xt is None else torch.cat([batch.x_source, xt])
        logits = self.model(x)  # one pass: source and target share BatchNorm statistics
        logits_s = logits[:n]
        with torch.no_grad():
            teacher = torch.cat(
                [self.teacher_logits(batch.x_source)] + ([] if xt is None else [self.teacher_logits(xt)])
            )
        # DKD needs a target class: the label on source images, the teacher's guess on target ones
        labels = torch.cat([batch.y_source, teacher[n:].argmax(1)])
        kd = self.kd_loss(logits.float(), teacher.float(), labels)
        hard = self.classification_loss(logits_s, batch.y_source)
        ramp = min(1.0, batch.progress / cfg.warmup) if cfg.warmup > 0 else 1.0
        loss = cfg.hard_weight * hard + ramp * cfg.kd_weight * kd
        metrics: dict[str, Any] = {
            "loss/kd": float(kd.detach()),
            "loss/hard": float(hard.detach()),
            "agree/source": agreement(logits_s.detach(), teacher[:n]),
        }
        if xt is not None:
            metrics["agree/target"] = agreement(logits[n:].detach(), teacher[n:])
        return StepResult(loss, logits_s, metrics)
