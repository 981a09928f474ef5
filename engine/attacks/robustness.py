"""Robustness job: attack a run (white-box, query, transfer) or an ONNX file (query, transfer) over
a grid of budgets, and save a report (JSON), an accuracy-vs-eps curve and example galleries.

```
RUN_DIR/robustness/STAMP-ATTACK-NORM/        (or beside an .onnx file: ./robustness/STEM-STAMP-ATTACK-NORM/)
  report.json      RobustnessReport, written atomically (also when stopped early)
  curve.png        accuracy and attack success rate against eps
  gallery_K.png    clean | adversarial | amplified perturbation, with both predictions, for eps K
```
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from engine.attacks import get_attack, list_attacks
from engine.attacks.base import Attack, is_success, perturbation_norms, project
from engine.attacks.queries import scores_in_batches, torch_scores_fn
from engine.attacks.report_images import save_curve, save_gallery
from engine.attacks.transfer import TransferAttack
from engine.core.config import StrictModel
from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Progress, Started, ignore
from engine.core.fsutil import atomic_write_json

JOB = "robustness"
DEFAULT_GRID = {"linf": (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255), "l2": (0.0, 0.25, 0.5, 1.0, 2.0)}
ScoresFn = Callable[[np.ndarray], np.ndarray]


def _problems(err: ValidationError) -> str:
    return "; ".join(
        f"'{'.'.join(map(str, e['loc'])) or 'value'}' = {e.get('input')!r}: {e['msg'].removeprefix('Value error, ')}"
        for e in err.errors()
    )


class AttackJobConfig(StrictModel):
    """One robustness evaluation. `eps` is the user's grid of budgets in [0, 1] pixel units."""

    model: Path = Field(
        description="Run directory (any attack) or .onnx file (square, hopskipjump, or transfer with a surrogate)."
    )
    data: Path = Field(description="Labelled folder (one sub-folder per class) to attack.")
    attack: str = Field("pgd", description="Attack name from the registry.")
    norm: Literal["linf", "l2"] = Field("linf", description="Threat model of the eps grid.")
    attack_options: dict[str, Any] = Field(
        default_factory=dict, validate_default=True, description="Settings of the attack (validated by its config)."
    )
    eps: list[float] | None = Field(
        None, validate_default=True, description="Budgets to evaluate; empty: 0-8/255 (linf) or 0-2 (l2)."
    )
    limit: int | None = Field(None, ge=1, description="Attack at most this many images (a seeded random subset).")
    batch_size: int = Field(64, ge=1, le=4096, description="Images attacked together.")
    surrogate: Path | None = Field(None, description="Run directory whose model crafts transfer attacks.")
    checkpoint: Literal["best", "last"] = Field("best", description="Which checkpoint of run directories to load.")
    seed: int = Field(0, description="Seed for the subset, random starts, targets and query attacks.")
    gallery: int = Field(6, ge=0, le=64, description="Examples shown per eps in the gallery images.")
    device: str = Field("auto", description="auto, cpu, cuda or mps (white-box and surrogate models).")
    out_dir: Path | None = Field(
        None, description="Folder for reports; empty: robustness/ under the run (or beside the .onnx)."
    )

    @field_validator("attack")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in list_attacks():
            raise ValueError(f"unknown attack {v!r}; use one of: {', '.join(list_attacks())}")
        return v

    @field_validator("attack_options")
    @classmethod
    def _options(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        name, norm = info.data.get("attack"), info.data.get("norm", "linf")
        if name is None:
            return v
        clash = sorted({"eps", "norm"} & set(v))
        if clash:
            raise ValueError(f"set {', '.join(clash)} as job fields (eps is the grid), not in attack_options")
        try:
            get_attack(name).config_cls(norm=norm, **v)
        except ValidationError as err:
            raise ValueError(f"invalid settings for attack {name!r}: {_problems(err)}") from None
        return v

    @field_validator("eps")
    @classmethod
    def _grid(cls, v: list[float] | None, info: ValidationInfo) -> list[float]:
        if v is None:
            v = list(DEFAULT_GRID.get(info.data.get("norm", "linf"), DEFAULT_GRID["linf"]))
        if not v:
            raise ValueError("give at least one budget, e.g. [0, 0.01, 0.03]")
        name, norm = info.data.get("attack"), info.data.get("norm", "linf")
        for e in v:
            if e != e or e < 0 or (norm == "linf" and e > 1):
                allowed = "[0, 1] (images are in [0, 1]; 8/255 = 0.0314)" if norm == "linf" else ">= 0"
                raise ValueError(f"eps={e} is out of range for norm {norm!r}: use values in {allowed}")
        if name is not None and "attack_options" in info.data:
            for e in v:
                try:
                    get_attack(name).config_cls(norm=norm, eps=e, **info.data["attack_options"])
                except ValidationError as err:
                    raise ValueError(f"eps={e} is refused by attack {name!r}: {_problems(err)}") from None
        return sorted(set(float(e) for e in v))


class EpsResult(BaseModel):
    """Figures at one budget. Norms are over successful adversarials; queries over attacked images."""

    model_config = ConfigDict(extra="forbid")
    eps: float
    accuracy: float
    success_rate: float
    n_attacked: int
    n_success: int
    l2_mean: float | None = None
    l2_median: float | None = None
    linf_mean: float | None = None
    linf_median: float | None = None
    queries_mean: float | None = None
    queries_median: float | None = None
    surrogate_success_rate: float | None = None
    transfer_rate: float | None = None
    gallery: str | None = None


class RobustnessReport(BaseModel):
    """What `run_attack` returns and saves as report.json."""

    model_config = ConfigDict(extra="forbid")
    model: str
    model_kind: Literal["run", "onnx"]
    data: str
    attack: str
    attack_kind: str
    norm: str
    targeted: bool
    options: dict[str, Any]
    classes: list[str]
    n_images: int
    clean_accuracy: float
    results: list[EpsResult]
    surrogate: str | None = None
    surrogate_agreement: float | None = None
    stopped: bool = False
    elapsed_s: float = 0.0
    device: str = "cpu"
    seed: int = 0
    created: str = ""
    folder: str = ""
    curve: str | None = None
    skipped: list[str] = Field(default_factory=list)


def compare_onnx_torch(
    model: torch.nn.Module, onnx_scores_fn: ScoresFn, x: torch.Tensor | np.ndarray, batch_size: int = 64
) -> dict[str, float]:
    """Logits of a torch model and an ONNX scores function on the same [0, 1] images, compared."""
    xn = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    a = scores_in_batches(torch_scores_fn(model, device), xn, batch_size)
    b = scores_in_batches(onnx_scores_fn, xn, batch_size)
    if a.shape != b.shape:
        raise UserError(f"the ONNX model returns scores of shape {list(b.shape)} but the torch model {list(a.shape)}")
    diff = np.abs(a - b) if len(a) else np.zeros(1)
    return {
        "n": len(xn),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "top1_agreement": float((a.argmax(1) == b.argmax(1)).mean()) if len(a) else float("nan"),
    }


# ------------------------------------------------------------------------------------ job
class _Acc:
    """Running sums for one eps."""

    def __init__(self) -> None:
        self.robust = 0
        self.attacked = 0
        self.success = 0
        self.l2: list[float] = []
        self.linf: list[float] = []
        self.queries: list[int] = []
        self.sur_success = 0
        self.sur_and_target = 0
        self.has_surrogate = False
        self.examples: list[tuple[np.ndarray, np.ndarray, int, int, bool]] = []  # clean, adv, label, pred, fooled

    def merge(self, other: _Acc, keep: int) -> None:
        """Add a finished batch; keep up to `keep` fooled and `keep` unfooled examples for the gallery."""
        for name in ("robust", "attacked", "success", "sur_success", "sur_and_target"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.l2 += other.l2
        self.linf += other.linf
        self.queries += other.queries
        self.has_surrogate |= other.has_surrogate
        for ex in other.examples:
            same = sum(1 for e in self.examples if e[4] == ex[4])
            if same < keep:
                self.examples.append(ex)


def _stats(values: list[float]) -> tuple[float | None, float | None]:
    return (float(np.mean(values)), float(np.median(values))) if values else (None, None)


def _load_target(config: AttackJobConfig, kind: str, device: torch.device):
    """(torch model or None, scores function, classes, input size, model kind)."""
    path = Path(config.model).expanduser()
    if path.suffix.lower() == ".onnx":
        if not path.is_file():
            raise UserError(f"{path}: ONNX file not found. Give an existing .onnx file or a run directory.")
        if kind == "white-box":
            raise UserError(
                f"{path.name}: an ONNX model gives no gradients, so the white-box attack {config.attack!r} "
                "cannot run on it. Use a query attack ('square' or 'hopskipjump'), or 'transfer' with "
                "surrogate = a run directory whose model crafts the attack."
            )
        from engine.deploy.predict import OnnxClassifier

        clf = OnnxClassifier(path)
        return (
            None,
            (lambda x: clf.logits(x, batch_size=config.batch_size)),
            list(clf.classes),
            int(clf.input_size),
            "onnx",
        )
    from engine.models import load_run_model

    model, info = load_run_model(path, which=config.checkpoint)
    model.to(device).eval()
    return model, torch_scores_fn(model, device), list(info["classes"]), int(info["input_size"]), "run"


def _report_dir(config: AttackJobConfig, kind: str, targeted: bool) -> Path:
    path = Path(config.model).expanduser()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{config.attack}-{config.norm}" + ("-targeted" if targeted else "")
    if config.out_dir is not None:
        base = Path(config.out_dir).expanduser()
    else:
        base = (path.parent if kind == "onnx" else path) / "robustness"
    if kind == "onnx" and config.out_dir is None:
        name = f"{path.stem}-{name}"
    out, n = base / name, 1
    while out.exists():
        n += 1
        out = base / f"{name}-{n}"
    return out  # created when the report is saved, so a failed job leaves no empty folder


def run_attack(config: AttackJobConfig, emit: Emit = ignore, control: JobControl | None = None) -> RobustnessReport:
    """Attack every correctly classified image at each eps and report accuracy, success rate,
    perturbation norms and queries. Minimal-norm attacks (DeepFool, C&W, HopSkipJump) run once
    unbounded and each eps keeps the result projected onto its ball (success re-checked)."""
    from engine.data.folders import scan_domain
    from engine.data.loading import decode_domain
    from engine.training.devices import describe_device, pick_device

    t_start = time.time()
    control = control or JobControl()
    cls = get_attack(config.attack)
    device = pick_device(config.device)
    model, scores_fn, classes, size, model_kind = _load_target(config, cls.kind, device)
    surrogate = None
    if cls.kind == "transfer":
        if config.surrogate is None:
            raise UserError(
                "attack 'transfer' needs surrogate: a run directory whose model crafts the adversarial images."
            )
        from engine.models import load_run_model

        surrogate, sinfo = load_run_model(Path(config.surrogate).expanduser(), which=config.checkpoint)
        if list(sinfo["classes"]) != classes:
            raise UserError(
                f"{config.surrogate}: the surrogate's classes {sinfo['classes']} differ from the target's "
                f"{classes}; train the surrogate on the same class folders."
            )
        surrogate.to(device).eval()
    elif config.surrogate is not None:
        emit(Log(f"surrogate is only used by the transfer attack; ignored for {config.attack!r}", "warning"))

    domain = scan_domain(config.data, name="robustness")
    if not domain.labelled:
        raise UserError(
            f"{config.data}: has no class sub-folders, so there are no labels to attack. Pick a labelled folder."
        )
    domain = domain.relabel(classes)
    rng = np.random.default_rng(config.seed)
    if config.limit is not None and config.limit < len(domain.samples):
        keep = sorted(rng.choice(len(domain.samples), config.limit, replace=False).tolist())
        domain = replace(domain, samples=[domain.samples[i] for i in keep])
    dec = decode_domain(domain, size, control=control)
    n = len(dec)
    if n == 0:
        raise UserError(f"{config.data}: no readable images to attack.")

    base_cfg = cls.config_cls(norm=config.norm, **config.attack_options)
    minimal = bool(get_attack(base_cfg.base).minimal_norm) if cls.kind == "transfer" else bool(cls.minimal_norm)
    targeted = bool(base_cfg.targeted)
    grid = list(config.eps or [])
    positive = [e for e in grid if e > 0]
    runs: list[float | None] = ([None] if positive else []) if minimal else positive
    attacks: dict[float | None, Attack] = {e: cls(norm=config.norm, eps=e, **config.attack_options) for e in runs}
    labels = dec.labels.long()
    targets = (labels + torch.from_numpy(rng.integers(1, len(classes), size=n))) % len(classes) if targeted else None
    torch.manual_seed(config.seed)

    out_dir = _report_dir(config, model_kind, targeted)
    n_batches = math.ceil(n / config.batch_size)
    total = n_batches * max(1, len(runs))  # a grid of only 0 still reports one step per batch
    emit(Started(JOB, str(out_dir), total, describe_device(device)))
    emit(Log(f"{config.attack} ({cls.kind}, {config.norm}) on {n} images of {config.data}; eps grid {grid}"))
    accs = {e: _Acc() for e in grid}
    clean_correct, agree, n_done, step, stopped = 0, 0, 0, 0, False

    def predict(xb: torch.Tensor) -> torch.Tensor:
        if model is not None:
            with torch.no_grad():
                return model(xb.to(device)).argmax(1).cpu()
        return torch.from_numpy(scores_in_batches(scores_fn, xb.cpu().numpy(), config.batch_size).argmax(1))

    def surrogate_pred(xb: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return surrogate(xb.to(device)).argmax(1).cpu()

    try:
        for b in range(n_batches):
            sl = slice(b * config.batch_size, (b + 1) * config.batch_size)
            x = dec.images[sl].to(device).float().div_(255)
            y, t = labels[sl], (targets[sl] if targets is not None else None)
            pred0 = predict(x)
            ok = pred0 == y
            batch = {e: _Acc() for e in grid}  # merged only once the whole batch is done
            xs, ys = x[ok.to(x.device)], y[ok]
            ts = t[ok] if t is not None else None
            for e in grid:
                batch[e].robust += int(ok.sum()) if (e == 0 or len(xs) == 0) else 0
            for run_eps in runs:
                control.check()
                if len(xs):
                    res = _call(attacks[run_eps], model, surrogate, scores_fn, xs, ys.to(xs.device), ts)
                    for e in grid if minimal else [run_eps]:
                        if e == 0:
                            continue
                        x_e = (
                            project(xs, res.x_adv.to(xs.device), e, config.norm) if minimal else res.x_adv.to(xs.device)
                        )
                        p_e = predict(x_e) if minimal else res.pred
                        sur = None
                        if surrogate is not None:
                            sp = surrogate_pred(x_e) if minimal else res.extras["surrogate_pred"]
                            sur = is_success(sp, ys, ts, targeted)
                        _accumulate(
                            batch[e],
                            xs,
                            x_e,
                            ys,
                            p_e,
                            is_success(p_e, ys, ts, targeted),
                            sur,
                            res.queries,
                            config.gallery,
                        )
                step += 1
                emit(
                    Progress(
                        0,
                        step,
                        total,
                        {"eps": float(run_eps or 0.0)},
                        eta_s=(time.time() - t_start) / step * (total - step),
                    )
                )
            if not runs:
                step += 1
                emit(Progress(0, step, total, {"eps": 0.0}))
            for e in grid:
                accs[e].merge(batch[e], config.gallery)
            clean_correct += int(ok.sum())
            if surrogate is not None:
                agree += int((surrogate_pred(x) == pred0).sum())
            n_done += len(y)
            control.check()
    except Stopped:
        stopped = True
        emit(Log(f"stopped: the report covers the {n_done} images finished so far", "warning"))

    denom = max(n_done, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for i, e in enumerate(grid):
        a = accs[e]
        gal = save_gallery(
            a.examples,
            classes,
            f"{config.attack}, eps = {e:.4g} ({config.norm})",
            out_dir / f"gallery_{i}.png",
            config.gallery,
        )
        l2m, l2d = _stats(a.l2)
        lim, lid = _stats(a.linf)
        qm, qd = _stats([float(q) for q in a.queries])
        results.append(
            EpsResult(
                eps=e,
                accuracy=a.robust / denom,
                success_rate=a.success / a.attacked if a.attacked else 0.0,
                n_attacked=a.attacked,
                n_success=a.success,
                l2_mean=l2m,
                l2_median=l2d,
                linf_mean=lim,
                linf_median=lid,
                queries_mean=qm,
                queries_median=qd,
                surrogate_success_rate=(a.sur_success / a.attacked if a.attacked else None)
                if a.has_surrogate
                else None,
                transfer_rate=(a.sur_and_target / a.sur_success if a.sur_success else None)
                if a.has_surrogate
                else None,
                gallery=gal,
            )
        )
    report = RobustnessReport(
        model=str(config.model),
        model_kind=model_kind,
        data=str(config.data),
        attack=config.attack,
        attack_kind=cls.kind,
        norm=config.norm,
        targeted=targeted,
        options=base_cfg.model_dump(mode="json", exclude={"eps"}),
        classes=classes,
        n_images=n_done,
        clean_accuracy=clean_correct / denom,
        results=results,
        surrogate=str(config.surrogate) if surrogate is not None else None,
        surrogate_agreement=agree / denom if surrogate is not None else None,
        stopped=stopped,
        elapsed_s=time.time() - t_start,
        device=describe_device(device),
        seed=config.seed,
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        folder=str(out_dir),
        skipped=[f"{p}: {r}" for p, r in dec.skipped],
    )
    report.curve = save_curve(
        [r.eps for r in results],
        [r.accuracy for r in results],
        [r.success_rate for r in results],
        config.norm,
        f"{config.attack} on {Path(config.model).name}",
        out_dir / "curve.png",
    )
    atomic_write_json(out_dir / "report.json", report.model_dump(mode="json"))
    metrics = {"clean_accuracy": report.clean_accuracy}
    metrics.update({f"accuracy@{r.eps:.4g}": r.accuracy for r in results})
    emit(Finished(JOB, str(out_dir), metrics, stopped=stopped))
    return report


def _call(attack: Attack, model, surrogate, scores_fn, x, y, t):
    """Run one attack on the correctly classified images of a batch, whatever its kind."""
    t_dev = t.to(x.device) if t is not None else None
    if attack.kind == "white-box":
        return attack(model, x, y, t_dev)
    if isinstance(attack, TransferAttack):
        return attack(surrogate, scores_fn, x, y, t_dev)
    return attack(scores_fn, x.cpu(), y.cpu(), t)


def _accumulate(
    a: _Acc,
    xs: torch.Tensor,
    x_e: torch.Tensor,
    ys: torch.Tensor,
    pred: torch.Tensor,
    success: torch.Tensor,
    sur: torch.Tensor | None,
    queries: torch.Tensor | None,
    keep: int,
) -> None:
    ys, pred, success = ys.cpu(), pred.cpu(), success.cpu()
    norms = perturbation_norms(x_e - xs)
    a.attacked += len(ys)
    a.success += int(success.sum())
    a.robust += int((pred == ys).sum())
    a.l2 += norms["l2"][success].tolist()
    a.linf += norms["linf"][success].tolist()
    if queries is not None:
        a.queries += queries.tolist()
    if sur is not None:
        sur = sur.cpu()
        a.has_surrogate = True
        a.sur_success += int(sur.sum())
        a.sur_and_target += int((sur & success).sum())
    for flag in (True, False):  # copy at most `keep` fooled and `keep` unfooled images per batch
        for i in (success == flag).nonzero().flatten()[:keep].tolist():
            a.examples.append((xs[i].cpu().numpy(), x_e[i].cpu().numpy(), int(ys[i]), int(pred[i]), flag))
