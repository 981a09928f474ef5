"""The robustness job's report: running sums per budget while the attack runs, then the figures
per budget (EpsResult), the curve, the example galleries and report.json.

```
OUT_DIR/
  report.json      RobustnessReport, written atomically (also when stopped early)
  curve.png        accuracy and attack success rate against eps
  gallery_K.png    clean | adversarial | amplified perturbation, with both predictions, for eps K
```
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from engine.attacks.base import perturbation_norms
from engine.attacks.report_images import save_curve, save_gallery
from engine.core.fsutil import atomic_write_json
from engine.jobs.attack import AttackJobConfig, EpsResult, RobustnessReport

Example = tuple[np.ndarray, np.ndarray, int, int, bool]  # clean, adversarial, label, prediction, fooled


@dataclass
class Tally:
    """Running sums for one eps."""

    robust: int = 0
    attacked: int = 0
    success: int = 0
    l2: list[float] = field(default_factory=list)
    linf: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    sur_success: int = 0
    sur_and_target: int = 0
    has_surrogate: bool = False
    examples: list[Example] = field(default_factory=list)

    def merge(self, other: Tally, keep: int) -> None:
        """Add a finished batch; keep up to `keep` fooled and `keep` unfooled examples for the gallery."""
        self.robust += other.robust
        self.attacked += other.attacked
        self.success += other.success
        self.sur_success += other.sur_success
        self.sur_and_target += other.sur_and_target
        self.l2 += other.l2
        self.linf += other.linf
        self.queries += other.queries
        self.has_surrogate |= other.has_surrogate
        for ex in other.examples:
            same = sum(1 for e in self.examples if e[4] == ex[4])
            if same < keep:
                self.examples.append(ex)

    def add(
        self,
        xs: torch.Tensor,
        x_e: torch.Tensor,
        ys: torch.Tensor,
        pred: torch.Tensor,
        success: torch.Tensor,
        sur: torch.Tensor | None,
        queries: torch.Tensor | None,
        keep: int,
    ) -> None:
        """Count one attacked batch at one eps (`sur`: the surrogate's own success, transfer only)."""
        ys, pred, success = ys.cpu(), pred.cpu(), success.cpu()
        norms = perturbation_norms(x_e - xs)
        self.attacked += len(ys)
        self.success += int(success.sum())
        self.robust += int((pred == ys).sum())
        self.l2 += norms["l2"][success].tolist()
        self.linf += norms["linf"][success].tolist()
        if queries is not None:
            self.queries += queries.tolist()
        if sur is not None:
            sur = sur.cpu()
            self.has_surrogate = True
            self.sur_success += int(sur.sum())
            self.sur_and_target += int((sur & success).sum())
        for flag in (True, False):  # copy at most `keep` fooled and `keep` unfooled images per batch
            for i in (success == flag).nonzero().flatten()[:keep].tolist():
                self.examples.append((xs[i].cpu().numpy(), x_e[i].cpu().numpy(), int(ys[i]), int(pred[i]), flag))

    def result(self, eps: float, images: int, gallery: str | None) -> EpsResult:
        """The figures at this eps over `images` attacked-or-not images."""
        sur = self.has_surrogate
        return EpsResult(
            eps=eps,
            accuracy=self.robust / max(images, 1),
            success_rate=self.success / self.attacked if self.attacked else 0.0,
            n_attacked=self.attacked,
            n_success=self.success,
            **_mean_median("l2", self.l2),
            **_mean_median("linf", self.linf),
            **_mean_median("queries", [float(q) for q in self.queries]),
            surrogate_success_rate=(self.sur_success / self.attacked if self.attacked else None) if sur else None,
            transfer_rate=(self.sur_and_target / self.sur_success if self.sur_success else None) if sur else None,
            gallery=gallery,
        )


@dataclass
class Totals:
    """Everything the report needs besides the per-eps tallies."""

    model_kind: Literal["run", "onnx"]
    attack_kind: str
    targeted: bool
    options: dict[str, object]
    classes: list[str]
    device: str
    out_dir: Path
    surrogate_used: bool
    skipped: list[str]
    started: float = field(default_factory=time.time)
    n_done: int = 0
    clean_correct: int = 0
    agree: int = 0
    stopped: bool = False


def _mean_median(name: str, values: list[float]) -> dict[str, float | None]:
    """The report fields `{name}_mean` and `{name}_median` (None without values)."""
    if not values:
        return {f"{name}_mean": None, f"{name}_median": None}
    return {f"{name}_mean": float(np.mean(values)), f"{name}_median": float(np.median(values))}


def save_report(config: AttackJobConfig, tallies: dict[float, Tally], totals: Totals) -> RobustnessReport:
    """Galleries, curve and report.json in `totals.out_dir` (created now); the report."""
    out_dir = totals.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    denom = max(totals.n_done, 1)
    results = []
    for i, (e, tally) in enumerate(tallies.items()):
        title = f"{config.attack}, eps = {e:.4g} ({config.norm})"
        gallery = save_gallery(tally.examples, totals.classes, title, out_dir / f"gallery_{i}.png", config.gallery)
        results.append(tally.result(e, totals.n_done, gallery))
    report = RobustnessReport(
        model=str(config.model),
        model_kind=totals.model_kind,
        data=str(config.data),
        attack=config.attack,
        attack_kind=totals.attack_kind,
        norm=config.norm,
        targeted=totals.targeted,
        options=totals.options,
        classes=totals.classes,
        n_images=totals.n_done,
        clean_accuracy=totals.clean_correct / denom,
        results=results,
        surrogate=str(config.surrogate) if totals.surrogate_used else None,
        surrogate_agreement=totals.agree / denom if totals.surrogate_used else None,
        stopped=totals.stopped,
        elapsed_s=time.time() - totals.started,
        device=totals.device,
        seed=config.seed,
        created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        folder=str(out_dir),
        skipped=totals.skipped,
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
    return report
