"""What a transfer method is: its config, its extra modules, and its loss for one step.

The trainer owns the loop, devices, AMP, checkpoints, metrics and stop/pause; a method owns
its losses and the modules it adds (a domain discriminator, say), following Lightning's split
between a training loop and `BaseFinetuning`-style freezing hooks.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import torch
from pydantic import Field
from torch import nn

from engine.core.config import StrictModel, validate, weight
from engine.core.events import Emit
from engine.core.registry import Registry
from engine.models.classifier import ImageClassifier

if TYPE_CHECKING:
    from engine.data.prepare import PreparedData


class MethodConfig(StrictModel):
    """Settings every method shares. Subclasses add their own fields (with descriptions)."""

    freeze_stages: int = Field(0, ge=0, le=32, description="Freeze the first N stages of the backbone (0: train all).")
    backbone_lr_factor: float = weight(
        0.1,
        "Pretrained layers learn at the learning rate times this (a randomly initialised backbone learns at the full rate).",
        le=10,
    )
    bottleneck_dim: int = Field(0, ge=0, le=4096, description="Width of a bottleneck layer before the head (0: none).")


C = TypeVar("C", bound=MethodConfig)


@dataclass(frozen=True)
class MethodContext:
    num_classes: int
    feature_dim: int
    total_steps: int
    steps_per_epoch: int
    label_smoothing: float = 0.0


@dataclass
class Batch:
    """One step's data, already on the device as float images in [0, 1]."""

    x_source: torch.Tensor
    y_source: torch.Tensor
    x_target: torch.Tensor | None = None
    step: int = 0
    progress: float = 0.0  # training progress over the whole run, 0 -> 1


@dataclass
class StepResult:
    loss: torch.Tensor
    logits_source: torch.Tensor
    metrics: dict[str, float] = field(default_factory=dict)
    accuracy: float | None = None  # the step's training accuracy when the method measures it (multitask)


def batch_accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Share of the batch's predictions that are right (a live training metric, no gradient)."""
    return float((logits.detach().argmax(1) == y).float().mean())


class Method(nn.Module, Generic[C]):
    """Base class. A method names itself in its class line and writes `training_step`:

        class DeepCORAL(AdaptationMethod[CORALConfig], name="coral", label="Deep CORAL"):
            '''Sun & Saenko 2016: ... (the docstring's first paragraph is its `summary`).'''

    That registers it (see `register`). Generic in its config class, so `self.config` has the
    method's own fields for the type checker, and that class is its `Config` (a class generic in
    a type variable, like DANN, sets `Config` itself). Optional hooks (`epoch_metrics`,
    `feature_cache_ok`, `target_bn`, `lr_multiplier`) are declared here as no-ops; the trainer
    calls them on every method.
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    uses_target: ClassVar[bool] = False  # needs an unlabelled target batch every step
    target_optional: ClassVar[bool] = False  # uses target batches when a target is given, runs without
    kind: ClassVar[str] = "fine-tuning"  # fine-tuning | domain adaptation | robustness
    default_ema: ClassVar[float] = 0.0  # weight-averaging decay when the run's ema_decay is empty
    # the backbone a run of this method gets when none is chosen (TrainConfig fills it in)
    default_backbone: ClassVar[str] = "small_cnn"
    # backbone -> (a better one for this method, why): the Train page suggests the switch
    backbone_advice: ClassVar[dict[str, tuple[str, str]]] = {}
    # True when some trainable parameter may get no gradient in a step (DistributedDataParallel
    # must then look for them every step); every built-in method uses all of them.
    ddp_unused_parameters: ClassVar[bool] = False

    config: C

    @classmethod
    def backbone_note(cls, backbone: str) -> str | None:
        """The method's advice against `backbone`, as a log line (None when it has none)."""
        advice = cls.backbone_advice.get(backbone)
        return f"{advice[1]} (--backbone {advice[0]})" if advice else None

    def __init_subclass__(cls, name: str = "", label: str = "", **kwargs: Any) -> None:
        """Fill `Config` from the generic argument and register a class that gives a `name`:
        the name, label and config class are then said once, in the class line."""
        super().__init_subclass__(**kwargs)
        if "Config" not in cls.__dict__:
            cls.Config = _generic_config(cls, cls.Config)
        if name:
            cls.name, cls.label = name, label or name
            register(cls)

    def __init__(self, model: ImageClassifier, config: C, ctx: MethodContext) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.ctx = ctx
        self._frozen: list[nn.Module] = []
        self.freeze()

    # --------------------------------------------------------------------- freezing
    def frozen_stage_count(self) -> int:
        return min(self.config.freeze_stages, len(self.model.stages))

    def freeze(self) -> None:
        """Freeze the first `freeze_stages` backbone stages (weights and BatchNorm statistics)."""
        self._frozen = self.model.stages[: self.frozen_stage_count()]
        for module in self._frozen:
            for p in module.parameters():
                p.requires_grad_(False)

    def backbone_frozen(self) -> bool:
        return all(not p.requires_grad for p in self.model.backbone.parameters())

    def train(self, mode: bool = True) -> Method[C]:
        super().train(mode)
        for module in self._frozen:
            module.eval()
        return self

    # --------------------------------------------------------------------- optimisation
    def extra_modules(self) -> list[nn.Module]:
        """Modules the method adds (trained at the full learning rate)."""
        return [m for name, m in self.named_children() if name != "model"]

    def backbone_lr_factor(self) -> float:
        """The configured factor for pretrained weights; 1 for a backbone that starts from random
        weights (it has nothing to preserve, and a 10x smaller rate only slows it down)."""
        return self.config.backbone_lr_factor if self.model.pretrained else 1.0

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Pretrained backbone at lr x backbone_lr_factor, new layers and method modules at lr."""
        backbone = [p for p in self.model.backbone.parameters() if p.requires_grad]
        new = [p for p in self.model.new_parameters() if p.requires_grad]
        for module in self.extra_modules():
            new += [p for p in module.parameters() if p.requires_grad]
        groups = [{"params": new, "lr": lr, "name": "new"}]
        factor = self.backbone_lr_factor()
        if backbone and factor > 0:
            groups.insert(0, {"params": backbone, "lr": lr * factor, "name": "backbone"})
        elif backbone:
            for p in backbone:
                p.requires_grad_(False)
        return groups

    def classification_loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits, y, label_smoothing=self.ctx.label_smoothing)

    def training_step(self, batch: Batch) -> StepResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, batch: Batch) -> StepResult:
        """Calling the method runs one training step (so DistributedDataParallel can wrap it)."""
        return self.training_step(batch)

    def prepare(self, data: PreparedData, emit: Emit, augment: str = "none") -> None:
        """Checks against the prepared data before the first step (distillation matches its
        teacher's classes here); most methods need none."""

    def fit_head(self, model: nn.Module, data: PreparedData, device: torch.device) -> list[str]:
        """Fit what the method solves in closed form on the epoch's model before it is measured
        (zero-shot: the ESZSL mapping and the calibration); returns notes for the log."""
        return []

    def target_bn(self) -> bool:
        """True when the model should normalise with target BatchNorm statistics (AdaBN): the
        trainer then recomputes them on the target images after every epoch."""
        return False

    def feature_cache_ok(self) -> bool:
        """True when the trainer may train the head on backbone features computed once (a frozen
        backbone and a loss that needs only the head)."""
        return False

    def epoch_metrics(self, model: nn.Module, x01: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Extra validation metrics at the end of every epoch (robust accuracy, say), measured on
        a slice of the validation images in [0, 1]."""
        return {}

    def lr_multiplier(self, progress: float) -> float | None:
        """A method may impose its own learning-rate schedule (DANN's annealing); None keeps the trainer's."""
        return None


def _generic_config(cls: type, inherited: type[MethodConfig]) -> type[MethodConfig]:
    """The config class `cls` is generic in (`Method[FinetuneConfig]`), else the inherited one."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        for arg in typing.get_args(base):
            if isinstance(arg, type) and issubclass(arg, MethodConfig):
                return arg
    return inherited


AnyMethod = Method[Any]
M = TypeVar("M", bound=type[AnyMethod])

METHODS: Registry[type[AnyMethod]] = Registry("method")


def register(cls: M) -> M:
    """Add a method class to METHODS; its docstring's first paragraph is its `summary` (shown in
    the method list and the Train page) unless it sets one. A class that gives `name=` in its
    class line is registered already; `@register` serves one that sets `name` in its body."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    doc = cls.__dict__.get("__doc__")
    if "summary" not in cls.__dict__ and doc:
        cls.summary = " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())
    METHODS.add(cls.name, cls)
    return cls


def get_method(name: str) -> type[AnyMethod]:
    return METHODS.get(name)


def default_backbone(method: str) -> str:
    """The backbone a run of `method` gets when none is chosen (small_cnn for an unknown name,
    whose own error comes from the method check)."""
    return METHODS.get(method).default_backbone if method in METHODS else Method.default_backbone


def list_methods() -> list[type[AnyMethod]]:
    return METHODS.values()


def method_config(name: str, options: dict[str, Any]) -> MethodConfig:
    """Validate `options` against the method's own config class (errors name the field)."""
    return validate(get_method(name).Config, options, f"method_options ({name})")
