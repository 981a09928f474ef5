"""Transfer attack: craft adversarial images with a white-box attack on a surrogate torch model,
then show them to the target through its scores function only (Papernot, McDaniel, Goodfellow,
"Transferability in Machine Learning", 2016; Liu et al., "Delving into Transferable Adversarial
Examples and Black-box Attacks", ICLR 2017).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from pydantic import Field, ValidationError, model_validator
from torch import Tensor, nn

from engine.attacks.base import (
    ATTACKS,
    Attack,
    AttackConfig,
    AttackResult,
    ScoresFn,
    Victim,
    WhiteBoxAttack,
    get_attack,
    is_success,
    register,
)
from engine.attacks.queries import scores_in_batches
from engine.core.config import format_validation_error


class TransferConfig(AttackConfig):
    """`base` names any white-box attack; `base_options` are its settings. eps/norm/targeted set
    here are passed on to it (eps empty: the base attack's default)."""

    EPS_REQUIRED: ClassVar[bool] = False

    base: str = Field("pgd", description="White-box attack run on the surrogate model.")
    base_options: dict[str, Any] = Field(default_factory=dict, description="Settings of the base attack.")
    batch_size: int = Field(256, ge=1, le=65536, description="Images per call to the target model.")

    @model_validator(mode="after")
    def _check_base(self) -> TransferConfig:
        white = [n for n, c in sorted(ATTACKS.items()) if c.kind == "white-box"]
        if self.base not in white:
            raise ValueError(f"base={self.base!r} is not a white-box attack; use one of: {', '.join(white)}")
        clash = sorted({"eps", "norm", "targeted"} & set(self.base_options))
        if clash:
            raise ValueError(f"base_options may not set {', '.join(clash)}; set them on the transfer attack itself")
        try:
            self.base_config()  # validates base_options now, not at attack time
        except ValidationError as err:
            problems = format_validation_error(err, "base_options").replace("\n", "; ")
            raise ValueError(f"base_options for {self.base!r} are invalid: {problems}") from None
        return self

    def base_config(self) -> AttackConfig:
        """The base attack's validated config (eps/norm/targeted taken from this config)."""
        opts = dict(self.base_options, norm=self.norm, targeted=self.targeted)
        if self.eps is not None:
            opts["eps"] = self.eps
        return ATTACKS[self.base].config_cls(**opts)


@register("transfer")
class TransferAttack(Attack):
    """White-box on a surrogate, evaluated on the target; `success` is the target's verdict.

    `__call__(surrogate, scores_fn, x, y, target=None)`: surrogate is a torch model on x's
    device; scores_fn maps [N,3,H,W] float32 numpy in [0,1] to scores [N,C] (e.g. an ONNX
    model). extras: 'surrogate_success' [N] bool and 'surrogate_pred' [N]. The transfer rate is
    success.mean() among surrogate successes (`transfer_rate`). The target is never queried
    while crafting, so `queries` is None.

    Example:
        >>> res = TransferAttack(base="pgd", eps=8 / 255)(torch_model, onnx.logits, x, y)
        >>> res.extras["surrogate_success"].float().mean(), transfer_rate(res)
    """

    kind: ClassVar[str] = "transfer"
    config_cls: ClassVar[type[AttackConfig]] = TransferConfig
    config: TransferConfig

    def _run(self, victim: Victim, x: Tensor, y: Tensor, target: Tensor | None) -> AttackResult:
        t = target.to(x.device) if target is not None else None
        surrogate = self._need(victim.surrogate, "a surrogate torch model")
        return self(surrogate, self._need(victim.scores_fn, "a scores function"), x, y, t)

    @property
    def base_attack(self) -> WhiteBoxAttack:
        attack = get_attack(self.config.base)(self.config.base_config())
        if not isinstance(attack, WhiteBoxAttack):  # the config only admits kind == "white-box"
            raise TypeError(f"base attack {self.config.base!r} is not a white-box attack")
        return attack

    @property
    def minimal_norm(self) -> bool:  # type: ignore[override]  # per instance: follows the base attack
        return bool(get_attack(self.config.base).minimal_norm)

    def __call__(
        self, surrogate: nn.Module, scores_fn: ScoresFn, x: Tensor, y: Tensor, target: Tensor | None = None
    ) -> AttackResult:
        self._check_target(target)
        base = self.base_attack
        res = base(surrogate, x, y, target)
        scores = scores_in_batches(scores_fn, res.x_adv.detach().cpu().numpy(), self.config.batch_size)
        pred = torch.from_numpy(scores.argmax(axis=1)) if len(x) else torch.zeros(0, dtype=torch.long)
        t = target.cpu() if target is not None else None
        success = is_success(pred, y.cpu(), t, base.config.targeted)
        return AttackResult(
            x_adv=res.x_adv,
            success=success,
            pred=pred,
            norms=res.norms,
            queries=None,
            extras={"surrogate_success": res.success, "surrogate_pred": res.pred},
        )


def transfer_rate(result: AttackResult) -> float:
    """Share of surrogate successes that also fool the target (nan when the surrogate never won)."""
    s = result.extras["surrogate_success"]
    return float(result.success[s].float().mean()) if bool(s.any()) else float("nan")
