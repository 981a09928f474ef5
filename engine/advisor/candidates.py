"""The candidates (methods × a small grid of each one's most sensitive setting) and the scoring
of a trained candidate's run without target labels.

The sensitive setting of the adaptation losses is the transfer weight (DANN's and MCC's
optimum moves by 3-10× from one benchmark to the next, CORAL's loss is orders of magnitude
smaller than the others'); importance weighting's is the clip of its weights. Fine-tuning
(source-only) and AdaBN have none and are one candidate each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.core.errors import UserError

if TYPE_CHECKING:
    from engine.data.prepare import PreparedData

# method -> (its most sensitive setting, the values tried: the default first)
SENSITIVE: dict[str, tuple[str, tuple[float, ...]]] = {
    "dann": ("transfer_weight", (1.0, 0.3, 3.0)),
    "cdan": ("transfer_weight", (1.0, 0.3, 3.0)),
    "dan": ("transfer_weight", (1.0, 0.3, 3.0)),
    "coral": ("transfer_weight", (1.0, 10.0, 100.0)),
    "mcc": ("transfer_weight", (1.0, 0.3, 3.0)),
    "self_training": ("threshold", (0.9, 0.8, 0.95)),
    "importance_weighting": ("clip", (10.0, 3.0, 30.0)),
    "self_ensembling": ("transfer_weight", (3.0, 1.0, 10.0)),
}
DEFAULT_METHODS = ["finetune", "adabn", "dann", "coral", "mcc", "importance_weighting", "self_ensembling"]
SOURCE_ONLY = "finetune"


@dataclass(frozen=True)
class Candidate:
    """One method with one value of its sensitive setting."""

    method: str
    options: dict[str, float]

    @property
    def label(self) -> str:
        if not self.options:
            return self.method
        return self.method + " " + " ".join(f"{k}={v:g}" for k, v in self.options.items())

    @property
    def slug(self) -> str:
        tail = "-".join(f"{k.split('_')[-1]}{v:g}" for k, v in self.options.items())
        return self.method + (f"-{tail}" if tail else "")


def check_methods(methods: list[str]) -> None:
    """Every name a registered method a candidate can be: fine-tuning or domain adaptation."""
    from engine.methods import METHODS

    for name in methods:
        if name not in METHODS:
            raise UserError(f"methods: unknown method '{name}'. Choose from: {', '.join(METHODS.names())}.")
        cls = METHODS.get(name)
        if cls.kind not in ("fine-tuning", "domain adaptation") or name == "distill":
            raise UserError(
                f"methods: '{name}' is a {cls.kind} method, not a transfer method the advisor can compare; "
                "choose fine-tuning or domain-adaptation methods."
            )


def candidate_grid(methods: list[str], grid_points: int, grid: dict[str, list[float]] | None = None) -> list[Candidate]:
    """Source-only first (always: it measures the shift and is the answer when it is small), then
    each method with `grid_points` values of its sensitive setting (or the values in `grid`)."""
    grid = grid or {}
    unknown = sorted(set(grid) - set(methods))
    if unknown:
        raise UserError(f"grid: {unknown} are not among the methods tried ({', '.join(methods)}).")
    out = [Candidate(SOURCE_ONLY, {})]
    for name in methods:
        if name == SOURCE_ONLY:
            continue
        if name not in SENSITIVE:
            if name in grid:
                raise UserError(f"grid: method '{name}' has no sensitive setting to vary; leave it out of grid.")
            out.append(Candidate(name, {}))
            continue
        key, values = SENSITIVE[name]
        tried = grid.get(name) or list(values[:grid_points])
        out += [Candidate(name, {key: float(v)}) for v in tried]
    return out


@dataclass
class CandidateScores:
    val_acc: float
    dev: float
    snd: float
    entropy: float
    target_acc: float | None  # with a labelled target test only: shown as a check, never used to choose
    val_loss: float = float("nan")  # diagnostics (scores.DIAGNOSTICS): shown; class_tv can order ties (tie_z)
    class_tv: float = float("nan")
    # softmax of every target image (float32 [n_target, classes]): the ensemble agreement needs
    # all candidates' (ranking.agreement_scores); kept beside the advice, not in its state file
    target_probs: Any = field(default=None, repr=False)

    def as_dict(self) -> dict[str, float]:
        out = {"val_acc": self.val_acc, "dev": self.dev, "snd": self.snd, "entropy": self.entropy}
        out |= {"val_loss": self.val_loss, "class_tv": self.class_tv}
        if self.target_acc is not None:
            out["target_acc"] = self.target_acc
        return out

    def finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.val_acc, self.dev, self.snd, self.entropy))


def _uses_target_bn(model: Any, method: str, options: dict[str, Any]) -> bool:
    from engine.methods import MethodContext, get_method
    from engine.methods.base import method_config

    cfg = method_config(method, options)
    ctx = MethodContext(model.num_classes, model.feature_dim, 1, 1)
    return bool(get_method(method)(model, cfg, ctx).target_bn())


def _head(model: Any, features: Any, device: Any) -> Any:
    """The head's logits of features computed already (the same pass as the features)."""
    import torch

    with torch.inference_mode():
        return model.head(features.to(device)).cpu()


def score_run(run_dir: Path, data: PreparedData, device: Any, seed: int = 0, max_images: int = 2000) -> CandidateScores:
    """The label-free scores of a run's best checkpoint. Source images are normalised with source
    BatchNorm statistics and target images with target ones where the method adapts them (AdaBN),
    as the trainer measures them; DEV's domain classifier sees source-train and target features."""
    import torch

    from engine.advisor import scores
    from engine.analysis.evaluate import predict_logits
    from engine.core.runs import load_run_model, open_run
    from engine.models.bn_stats import recompute_bn_stats

    run = open_run(run_dir)
    cfg = run.config()
    model, _ = load_run_model(run_dir, "best")
    model.to(device)
    target_bn = data.x_target is not None and _uses_target_bn(model, cfg.method, cfg.method_options)
    g = torch.Generator().manual_seed(seed)
    train_idx = torch.randperm(len(data.x_train), generator=g)[:max_images]
    if target_bn:
        recompute_bn_stats(model, data.x_train, device)
    from engine.data.disk_images import take

    # a view of the sample (on disk: nothing read yet); predict_logits reads it a batch at a time
    f_train = predict_logits(model, take(data.x_train, train_idx), device, features=True)
    f_val = predict_logits(model, data.x_val, device, features=True)
    val_logits = _head(model, f_val, device)
    if target_bn and data.x_target is not None:
        recompute_bn_stats(model, data.x_target, device)
    x_target = data.x_target if data.x_target is not None else data.x_val[:0]
    f_target = predict_logits(model, x_target, device, features=True)
    t_logits = _head(model, f_target, device)
    target_acc = None
    if data.x_test is not None and data.y_test is not None:
        test_logits = predict_logits(model, data.x_test, device)
        target_acc = scores.source_val_accuracy(test_logits.numpy(), data.y_test.numpy())
    arrays = (f_train, f_val, f_target, val_logits, t_logits)
    if any(not bool(torch.isfinite(a).all()) for a in arrays):
        nan = float("nan")
        return CandidateScores(nan, nan, nan, nan, target_acc)
    y_val = data.y_val.numpy()
    losses = scores.per_image_loss(val_logits.numpy(), y_val)
    dev = float("nan")
    if len(f_val) >= 2 and len(f_target) >= 2:
        weights = scores.domain_classifier_ratio(f_train.numpy(), f_target.numpy(), f_val.numpy(), seed=seed)
        dev = scores.dev_risk(losses, weights)
    prior = torch.bincount(torch.cat([data.y_train, data.y_val]), minlength=len(data.classes))
    return CandidateScores(
        val_acc=scores.source_val_accuracy(val_logits.numpy(), y_val),
        dev=dev,
        snd=scores.snd(t_logits.numpy()),
        entropy=scores.prediction_entropy(t_logits.numpy()),
        target_acc=target_acc,
        val_loss=float(losses.mean()) if len(losses) else float("nan"),
        class_tv=scores.class_share_tv(t_logits.numpy(), prior.numpy()),
        target_probs=torch.softmax(t_logits.double(), 1).float().numpy(),
    )
