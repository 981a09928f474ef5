"""Evaluation: accuracy, per-class precision and recall, confusion matrix, misclassified files.

`evaluate_run` measures for the evaluate job (engine.jobs.evaluate); `predict_logits` and `summarise` are also
used by the trainer at the end of every epoch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.core.control import JobControl
from engine.core.events import Emit, Finished, Log, Progress, Started, ignore
from engine.jobs.evaluate import EvaluateConfig
from engine.training.devices import pick_device, to_device_float


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module,
    x_uint8: torch.Tensor,
    device: torch.device,
    batch_size: int = 256,
    control: JobControl | None = None,
    features: bool = False,
) -> torch.Tensor:
    """Logits (or features) of uint8 images, batch by batch, in eval mode; returned on the CPU."""
    was_training = model.training
    model.eval()
    outs = []
    try:
        for i in range(0, len(x_uint8), batch_size):
            if control is not None:
                control.check()
            x = to_device_float(x_uint8[i : i + batch_size], device)
            out = model.features(x) if features else model(x)  # type: ignore[operator]
            outs.append(out.float().cpu())
    finally:
        model.train(was_training)
    if not outs:
        return torch.zeros(0, getattr(model, "num_classes", 0))
    return torch.cat(outs)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    if len(labels) == 0:
        return float("nan")
    return float((logits.argmax(1) == labels).float().mean())


def mean_entropy(logits: torch.Tensor) -> float:
    """Mean prediction entropy in nats: lower means more confident predictions."""
    if len(logits) == 0:
        return float("nan")
    logp = torch.log_softmax(logits.float(), 1)
    return float(-(logp.exp() * logp).sum(1).mean())


def confusion_matrix(pred: np.ndarray, true: np.ndarray, num_classes: int) -> np.ndarray:
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (true, pred), 1)
    return cm


NEVER_PREDICTED = "never predicted: precision 0"
NO_IMAGES = "no images of this class: recall 0"


def per_class(cm: np.ndarray, classes: list[str]) -> list[dict[str, Any]]:
    """Precision, recall and support per class (rows of `cm` are true classes, columns predictions).

    A class the model never predicts has no precision in the strict sense (0/0); like
    scikit-learn's `zero_division=0` it is reported as 0, not NaN, since a model that never
    predicts a class is of no use for it, and the row's `note` says why. The same holds for the
    recall of a class with no images. `predicted` counts the predictions of each class.
    """
    rows = []
    for i, name in enumerate(classes):
        tp = int(cm[i, i])
        support = int(cm[i].sum())
        predicted = int(cm[:, i].sum())
        notes = ([] if predicted else [NEVER_PREDICTED]) + ([] if support else [NO_IMAGES])
        rows.append(
            {
                "class": name,
                "support": support,
                "predicted": predicted,
                "precision": tp / predicted if predicted else 0.0,
                "recall": tp / support if support else 0.0,
                "note": "; ".join(notes),
            }
        )
    return rows


def zero_shot_part(
    logits: torch.Tensor, labels: torch.Tensor, classes: list[str], folder: list[str], info: dict[str, Any], emit: Emit
) -> Any:
    """Seen and unseen accuracy and H for a zero-shot run, when the folder holds both kinds."""
    from engine.analysis.zero_shot_eval import zero_shot_scores

    seen = set(info["seen_classes"])
    if not seen & set(folder) or not set(folder) - seen:
        kind = "unseen" if seen & set(folder) else "seen"
        emit(Log(f"The folder holds no {kind} classes: seen/unseen accuracy and H need both.", "warning"))
        return None
    zs = zero_shot_scores(logits, labels, classes, info["seen_classes"], float(info.get("calibration", 0.0)))
    c = zs.calibrated
    emit(Log(f"Generalised zero-shot: seen {c.seen_acc:.2%}, unseen {c.unseen_acc:.2%}, H {c.h:.2%}"))
    return zs


def evaluate_run(config: EvaluateConfig, emit: Emit = ignore, control: JobControl | None = None) -> dict[str, Any]:
    """Accuracy, per-class precision/recall, confusion matrix and misclassified files on a folder."""
    from engine.core.errors import UserError
    from engine.core.runs import load_run_model
    from engine.data.folders import scan_domain
    from engine.data.loading import decode_domain

    model, info = load_run_model(config.run_dir, which=config.checkpoint)
    if "tasks" in info:  # a multitask run: every task measured (engine.multitask.evaluate)
        from engine.multitask.evaluate import evaluate_multitask_run

        return evaluate_multitask_run(model, info, config, emit, control)
    classes: list[str] = info["classes"]
    domain = scan_domain(config.data, name="evaluation")
    if not domain.labelled:
        raise UserError(
            f"{config.data}: has no class sub-folders, so there is nothing to measure against. Pick a labelled folder."
        )
    unknown = sorted(set(domain.classes) - set(classes))
    if unknown:
        raise UserError(f"{config.data}: classes {unknown} are unknown to the model (it knows {classes}).")
    emit(Started("evaluate", str(config.run_dir)))
    from engine.data.disk_images import budget_bytes
    from engine.data.stage_progress import StageProgress

    # through the disk cache; a folder over the memory budget is read batch by batch (DiskImages)
    bar = StageProgress(emit, "Decoding", len(domain))
    dec = decode_domain(
        domain, int(info["input_size"]), control=control, budget=budget_bytes(None), progress=bar.update
    )
    bar.finish(f" ({dec.cache_hits:,} from the disk cache)")
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[domain.classes[int(label)]] for label in dec.labels], dtype=torch.long)
    device = pick_device(config.device)
    model.to(device)
    logits = predict_logits(model, dec.images, device, config.batch_size, control)
    emit(Progress(0, len(labels), len(labels), {}))
    probs = torch.softmax(logits, 1)
    pred = probs.argmax(1)
    cm = confusion_matrix(pred.numpy(), labels.numpy(), len(classes))
    wrong = (pred != labels).nonzero().flatten().tolist()
    report = {
        "run_dir": str(config.run_dir),
        "data": str(config.data),
        "checkpoint": info.get("checkpoint", ""),
        "n": len(labels),
        "accuracy": accuracy(logits, labels),
        "classes": classes,
        "per_class": per_class(cm, classes),
        "confusion_matrix": cm.tolist(),
        "misclassified": [
            {
                "path": dec.paths[i],
                "true": classes[int(labels[i])],
                "predicted": classes[int(pred[i])],
                "confidence": float(probs[i, pred[i]]),
            }
            for i in wrong
        ],
        "skipped": [{"path": p, "reason": r} for p, r in dec.skipped],
    }
    emit(Log(f"Accuracy {report['accuracy']:.2%} on {len(labels)} images"))
    if "seen_classes" in info:
        report["zero_shot"] = zero_shot_part(logits, labels, classes, domain.classes, info, emit)
    emit(Finished("evaluate", str(config.run_dir), {"accuracy": report["accuracy"]}))
    return report
