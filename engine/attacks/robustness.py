"""The robustness job's attack loop: attack a run (white-box, query, transfer) or an ONNX file
(query, transfer) over a grid of budgets. The config and report models are engine.jobs.attack's;
the running sums, galleries, curve and report.json are engine.attacks.robustness_report's.

Reports go to RUN_DIR/robustness/STAMP-ATTACK-NORM/ (or beside an .onnx file:
./robustness/STEM-STAMP-ATTACK-NORM/).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from engine.attacks import get_attack
from engine.attacks.base import Attack, ScoresFn, Victim, is_success, project
from engine.attacks.queries import scores_in_batches, torch_scores_fn
from engine.attacks.robustness_report import Tally, Totals, save_report
from engine.core.control import JobControl, Stopped
from engine.core.errors import UserError
from engine.core.events import Emit, Finished, Log, Progress, Started, ignore
from engine.data.disk_images import budget_bytes
from engine.jobs.attack import DEFAULT_GRID, AttackJobConfig, EpsResult, RobustnessReport

JOB = "robustness"
__all__ = ["DEFAULT_GRID", "AttackJobConfig", "EpsResult", "RobustnessReport", "compare_onnx_torch", "run_attack"]


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


def _load_target(
    config: AttackJobConfig, kind: str, device: torch.device
) -> tuple[torch.nn.Module | None, ScoresFn, list[str], int, Literal["run", "onnx"]]:
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
        if clf.info.tasks:  # a multitask model: the chosen task's output
            from engine.multitask.attack import onnx_task

            task, classes = onnx_task(clf, config.task)
            return (
                None,
                (lambda x: clf.task_logits(x, batch_size=config.batch_size)[task]),
                classes,
                int(clf.input_size),
                "onnx",
            )
        if config.task:
            raise UserError(f"task = {config.task}: {path.name} is a single-task model; leave task empty.")
        return (
            None,
            (lambda x: clf.logits(x, batch_size=config.batch_size)),
            list(clf.classes),
            int(clf.input_size),
            "onnx",
        )
    from engine.models import load_run_model

    model, info = load_run_model(path, which=config.checkpoint)
    classes = list(info["classes"])
    if "tasks" in info:  # a multitask run: the chosen task as a plain classifier
        from engine.multitask.attack import run_task

        model, classes = run_task(model, info, config.task)
    elif config.task:
        raise UserError(f"task = {config.task}: {path.name} is a single-task run; leave task empty.")
    model.to(device).eval()
    return model, torch_scores_fn(model, device), classes, int(info["input_size"]), "run"


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
    surrogate: torch.nn.Module | None = None
    if cls.kind == "transfer":
        if config.surrogate is None:
            raise UserError(
                "attack 'transfer' needs surrogate: a run directory whose model crafts the adversarial images."
            )
        from engine.models import load_run_model

        surrogate, sinfo = load_run_model(Path(config.surrogate).expanduser(), which=config.checkpoint)
        if "tasks" in sinfo:  # a multitask surrogate crafts with the same task
            from engine.multitask.attack import run_task

            surrogate, sinfo["classes"] = run_task(surrogate, sinfo, config.task)
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
    # within the memory budget in memory, over it DiskImages: the loop below reads a batch at a time
    dec = decode_domain(domain, size, control=control, budget=budget_bytes(None))
    n = len(dec)
    if n == 0:
        raise UserError(f"{config.data}: no readable images to attack.")

    base_cfg = cls.config_cls(norm=config.norm, **config.attack_options)
    minimal = bool(cls(base_cfg).minimal_norm)  # a transfer attack is minimal-norm when its base attack is
    targeted = bool(base_cfg.targeted)
    grid = list(config.eps or [])
    positive = [e for e in grid if e > 0]
    runs: list[float | None] = [None] if minimal and positive else []
    if not minimal:
        runs.extend(positive)
    victim = Victim(model=model, scores_fn=scores_fn, surrogate=surrogate)
    attacks: dict[float | None, Attack] = {
        e: cls(norm=config.norm, eps=e, victim=victim, **config.attack_options) for e in runs
    }
    labels = dec.labels.long()
    targets = (labels + torch.from_numpy(rng.integers(1, len(classes), size=n))) % len(classes) if targeted else None
    torch.manual_seed(config.seed)

    out_dir = _report_dir(config, model_kind, targeted)
    n_batches = math.ceil(n / config.batch_size)
    total = n_batches * max(1, len(runs))  # a grid of only 0 still reports one step per batch
    emit(Started(JOB, str(out_dir), total, describe_device(device)))
    emit(Log(f"{config.attack} ({cls.kind}, {config.norm}) on {n} images of {config.data}; eps grid {grid}"))
    tallies = {e: Tally() for e in grid}
    totals = Totals(
        model_kind=model_kind,
        attack_kind=cls.kind,
        targeted=targeted,
        options=base_cfg.model_dump(mode="json", exclude={"eps"}),
        classes=classes,
        device=describe_device(device),
        out_dir=out_dir,
        surrogate_used=surrogate is not None,
        skipped=[f"{p}: {r}" for p, r in dec.skipped],
        started=t_start,
    )
    step = 0

    def predict(xb: torch.Tensor) -> torch.Tensor:
        if model is not None:
            with torch.no_grad():
                return model(xb.to(device)).argmax(1).cpu()
        return torch.from_numpy(scores_in_batches(scores_fn, xb.cpu().numpy(), config.batch_size).argmax(1))

    def surrogate_pred(net: torch.nn.Module, xb: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return net(xb.to(device)).argmax(1).cpu()

    try:
        for b in range(n_batches):
            sl = slice(b * config.batch_size, (b + 1) * config.batch_size)
            x = dec.images[sl].to(device).float().div_(255)
            y, t = labels[sl], (targets[sl] if targets is not None else None)
            pred0 = predict(x)
            ok = pred0 == y
            batch = {e: Tally() for e in grid}  # merged only once the whole batch is done
            xs, ys = x[ok.to(x.device)], y[ok]
            ts = t[ok] if t is not None else None
            for e in grid:
                batch[e].robust += int(ok.sum()) if (e == 0 or len(xs) == 0) else 0
            for run_eps in runs:
                control.check()
                if len(xs):
                    res = attacks[run_eps].run(xs, ys, ts)
                    budgets = grid if minimal or run_eps is None else [run_eps]  # None runs only when minimal
                    for e in budgets:
                        if e == 0:
                            continue
                        x_e = (
                            project(xs, res.x_adv.to(xs.device), e, config.norm) if minimal else res.x_adv.to(xs.device)
                        )
                        p_e = predict(x_e) if minimal else res.pred
                        sur = None
                        if surrogate is not None:
                            sp = surrogate_pred(surrogate, x_e) if minimal else res.extras["surrogate_pred"]
                            sur = is_success(sp, ys, ts, targeted)
                        batch[e].add(
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
                tallies[e].merge(batch[e], config.gallery)
            totals.clean_correct += int(ok.sum())
            if surrogate is not None:
                totals.agree += int((surrogate_pred(surrogate, x) == pred0).sum())
            totals.n_done += len(y)
            control.check()
    except Stopped:
        totals.stopped = True
        emit(Log(f"stopped: the report covers the {totals.n_done} images finished so far", "warning"))
    report = save_report(config, tallies, totals)
    metrics = {"clean_accuracy": report.clean_accuracy}
    metrics.update({f"accuracy@{r.eps:.4g}": r.accuracy for r in report.results})
    emit(Finished(JOB, str(out_dir), metrics, stopped=totals.stopped))
    return report
