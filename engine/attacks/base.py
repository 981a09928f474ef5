"""Attack registry, configs, results and the white-box base class.

Every attack works on float32 NCHW images in [0, 1] (normalisation lives inside the model) and
budgets are measured in that pixel space. Subclasses implement only their core; the base
classes own the bookkeeping that must be identical for all attacks: eval mode, frozen weights,
the final projection onto the eps-ball and the [0, 1] box, and the verified success mask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from torch import Tensor, nn

from engine.core.registry import Registry

ScoresFn = Callable[[np.ndarray], np.ndarray]  # images [N,3,H,W] float32 in [0,1] -> scores [N,C]
Norm = Literal["linf", "l2"]
NORMS: tuple[str, ...] = ("linf", "l2")
KINDS = ("white-box", "score", "decision", "transfer")
DEFAULT_EPS: dict[str, float] = {"linf": 8 / 255, "l2": 0.5}


def _load_builtin_attacks() -> None:
    import engine.attacks  # noqa: F401  (imports every attack module so they register)


ATTACKS: Registry[type[Attack]] = Registry("attack", _load_builtin_attacks)
A = TypeVar("A", bound="type[Attack]")


def register(name: str) -> Callable[[A], A]:
    """Class decorator: add an attack class to `ATTACKS` under `name` (lower case, unique)."""

    def deco(cls: A) -> A:
        cls.name = name
        ATTACKS.add(name, cls)
        return cls

    return deco


def get_attack(name: str) -> type[Attack]:
    """The attack class registered as `name`; an unknown name gets a message listing the known ones."""
    return ATTACKS.get(name)


def list_attacks(kind: str | None = None) -> list[str]:
    """Registered attack names, sorted; `kind` filters by white-box/score/decision/transfer."""
    return sorted(n for n, c in ATTACKS.items() if kind is None or c.kind == kind)


class AttackConfig(BaseModel):
    """Settings shared by every attack. `eps` is the budget in [0, 1] pixel units.

    Subclasses narrow `NORMS`, set `EPS_REQUIRED = False` for minimal-norm attacks (where eps is
    an optional bound) and add their own fields.
    """

    model_config = ConfigDict(extra="forbid")
    NORMS: ClassVar[tuple[str, ...]] = NORMS
    EPS_REQUIRED: ClassVar[bool] = True

    norm: Norm = Field("linf", description="Threat model: 'linf' (max pixel change) or 'l2' (Euclidean).")
    eps: float | None = Field(None, description="Budget in [0, 1] pixel units; empty uses the norm's default.")
    targeted: bool = Field(False, description="Push each image to a given target class instead of away from its label.")

    @field_validator("norm")
    @classmethod
    def _norm_supported(cls, v: str) -> str:
        if v not in cls.NORMS:
            raise ValueError(f"norm {v!r} is not supported by this attack; use one of: {', '.join(cls.NORMS)}")
        return v

    @field_validator("eps")
    @classmethod
    def _eps_range(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is None:
            return v
        norm = info.data.get("norm", "linf")
        if v != v or v < 0:
            raise ValueError(f"eps={v} is out of range for norm {norm!r}: it must be >= 0")
        if norm == "linf" and v > 1:
            raise ValueError(
                f"eps={v} is out of range for norm 'linf': use a value in [0, 1] "
                "(images are in [0, 1]; e.g. 8/255 = 0.0314)"
            )
        return v

    @model_validator(mode="after")
    def _default_eps(self) -> AttackConfig:
        if self.norm not in self.NORMS:  # a default norm is not run through the field validator
            raise ValueError(f"norm {self.norm!r} is not supported by this attack; use one of: {', '.join(self.NORMS)}")
        if self.eps is None and self.EPS_REQUIRED:
            self.eps = DEFAULT_EPS[self.norm]
        return self

    def budget(self) -> float:
        """`eps` as a number, for attacks whose budget is required (validation has filled it in)."""
        if self.eps is None:
            raise ValueError(f"{type(self).__name__}: eps is not set; this attack needs a budget")
        return float(self.eps)


@dataclass
class AttackResult:
    """What an attack returns; all tensors are on the CPU except `x_adv` (on the input's device).

    x_adv [N,C,H,W] float32 in [0,1]; success [N] bool (verified on the model); pred [N] int64
    (prediction on x_adv); norms {'l2', 'linf'} [N] float32 of x_adv - x; queries [N] int64 for
    query attacks, else None; extras: attack-specific per-image tensors (e.g. surrogate success).
    """

    x_adv: Tensor
    success: Tensor
    pred: Tensor
    norms: dict[str, Tensor]
    queries: Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean()) if len(self.success) else float("nan")


# ----------------------------------------------------------------------- norm helpers
def perturbation_norms(delta: Tensor) -> dict[str, Tensor]:
    """Per-image L2 and Linf norms of `delta` [N, ...] as float32 CPU tensors."""
    flat = delta.detach().flatten(1).float()
    return {"l2": flat.norm(dim=1).cpu(), "linf": flat.abs().amax(dim=1).cpu() if flat.shape[1] else flat.sum(1).cpu()}


def project(x: Tensor, x_adv: Tensor, eps: float | None, norm: str) -> Tensor:
    """Project `x_adv` onto {x + d : ||d||_norm <= eps} ∩ [0, 1]^n (the box last, which only shrinks d)."""
    if eps is None:
        return x_adv.clamp(0.0, 1.0)
    if norm == "linf":  # min/max form: an image already inside comes back bit-for-bit unchanged
        return torch.clamp(x_adv, (x - eps).clamp_(min=0), (x + eps).clamp_(max=1))
    delta = x_adv - x
    n = delta.flatten(1).norm(dim=1)
    outside = _bcast(n > eps, x)
    factor = _bcast(eps / n.clamp_min(1e-12), x)
    return torch.where(outside, x + delta * factor, x_adv).clamp(0.0, 1.0)


def _bcast(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def is_success(pred: Tensor, y: Tensor, target: Tensor | None, targeted: bool) -> Tensor:
    """Untargeted: prediction differs from the label; targeted: prediction equals the target."""
    return pred == goal_labels(y, target, targeted) if targeted else pred != y


Labels = TypeVar("Labels", Tensor, np.ndarray)


def goal_labels(y: Labels, target: Labels | None, targeted: bool) -> Labels:
    """The labels an attack's loss follows: the target classes (targeted) or the true labels."""
    if not targeted:
        return y
    if target is None:
        raise ValueError("targeted=True needs `target` labels")
    return target


def margin(logits: Tensor, labels: Tensor) -> Tensor:
    """z_label - max_{j != label} z_j per row (negative once the label is no longer the top class)."""
    z_true = logits.gather(1, labels[:, None]).squeeze(1)
    other = logits.scatter(1, labels[:, None], float("-inf")).amax(dim=1)
    return z_true - other


@contextmanager
def frozen_eval(model: nn.Module) -> Iterator[None]:
    """Eval mode and requires_grad=False on every parameter, restoring both exactly afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in flags:
            p.requires_grad_(flag)


@dataclass(frozen=True)
class Victim:
    """What an attack is pointed at, bound when the attack is made: the torch `model` (white-box
    attacks; on the images' device), the `scores_fn` (query attacks, and the target of transfer
    attacks) and the `surrogate` torch model that crafts transfer attacks."""

    model: nn.Module | None = None
    scores_fn: ScoresFn | None = None
    surrogate: nn.Module | None = None


class Attack:
    """Common parts of every attack: a validated config built from keyword options, and the
    victim it is bound to (`victim=`), so `run(x, y, target)` is one call form for every kind."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "white-box"
    config_cls: ClassVar[type[AttackConfig]] = AttackConfig
    minimal_norm: ClassVar[bool] = False  # finds the smallest perturbation; eps is only a bound
    config: AttackConfig  # subclasses narrow this to their `config_cls`

    def __init__(self, config: AttackConfig | None = None, *, victim: Victim | None = None, **options: Any) -> None:
        if config is not None and options:
            raise TypeError("give either a config or keyword options, not both")
        self.config = config if config is not None else self.config_cls(**options)
        if not isinstance(self.config, self.config_cls):
            raise TypeError(
                f"{type(self).__name__} needs a {self.config_cls.__name__}, got {type(self.config).__name__}"
            )
        self.victim = victim

    def run(self, x: Tensor, y: Tensor, target: Tensor | None = None) -> AttackResult:
        """Attack the bound victim: x [N,C,H,W] float32 in [0,1], y/target [N] int64."""
        if self.victim is None:
            raise TypeError(f"{type(self).__name__} has no victim: make it with victim=Victim(...)")
        return self._run(self.victim, x, y, target)

    def _run(self, victim: Victim, x: Tensor, y: Tensor, target: Tensor | None) -> AttackResult:
        """How this kind of attack calls its victim (each base class says)."""
        raise NotImplementedError

    @staticmethod
    def _need(part: nn.Module | ScoresFn | None, what: str) -> Any:
        if part is None:
            raise TypeError(f"this attack needs a victim with {what}")
        return part

    def _check_target(self, target: Any) -> None:
        if self.config.targeted and target is None:
            raise ValueError(f"{self.name}: targeted=True needs `target` labels")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class WhiteBoxAttack(Attack):
    """Gradient attack on a torch model. Subclasses implement `_attack` only.

    `__call__(model, x, y, target=None)`: x [N,C,H,W] float32 in [0,1], y/target [N] int64 on
    the same device as the model. The input is never modified.
    """

    kind: ClassVar[str] = "white-box"

    def _run(self, victim: Victim, x: Tensor, y: Tensor, target: Tensor | None) -> AttackResult:
        t = target.to(x.device) if target is not None else None
        return self(self._need(victim.model, "a torch model"), x, y.to(x.device), t)

    def _attack(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None) -> Tensor | tuple[Tensor, Tensor]:
        """The adversarial images, optionally with the model's logits on exactly those images
        (then the verification forward pass is skipped when the final projection changes nothing)."""
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None = None) -> AttackResult:
        self._check_target(target)
        cfg = self.config
        with torch.inference_mode(False), torch.enable_grad(), frozen_eval(model):
            x0 = x.detach().clone().float()
            y0 = y.detach().clone().long()
            t0 = target.detach().clone().long() if target is not None else None
            if len(x0) == 0:
                return AttackResult(
                    x_adv=x0, success=torch.zeros(0, dtype=torch.bool), pred=y0.cpu(), norms=perturbation_norms(x0)
                )
            out = self._attack(model, x0, y0, t0)
            raw, logits = (out[0].detach(), out[1]) if isinstance(out, tuple) else (out.detach(), None)
            x_adv = project(x0, raw, cfg.eps, cfg.norm)
            if logits is None or not torch.equal(x_adv, raw):
                with torch.no_grad():
                    logits = model(x_adv)
            pred = logits.argmax(dim=1)
        success = is_success(pred, y0, t0, cfg.targeted)
        return AttackResult(x_adv=x_adv, success=success.cpu(), pred=pred.cpu(), norms=perturbation_norms(x_adv - x0))
