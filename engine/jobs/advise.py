"""The advise job: measure the shift, train candidate methods within a time budget (successive
halving), rank them without target labels and recommend one (engine.advisor.driver does it).

Every candidate is a normal run in `runs_dir` (the Runs page lists it); the advice's own state
is `runs_dir/advice-<time>/advice.json`, and `resume = that folder` continues a stopped advice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.advisor.advice import Entry
from engine.advisor.candidates import DEFAULT_METHODS
from engine.advisor.shift import SMALL_PAD, ShiftReport
from engine.core.config import Device, StrictModel
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job

RankBy = Literal["combined", "val_acc", "dev", "snd", "entropy", "class_tv", "agreement"]


class AdviseConfig(StrictModel):
    """What to compare, on which data, within how much time."""

    source: Path | None = Field(None, description="Labelled source folder: one sub-folder per class.")
    target: Path | None = Field(None, description="Target folder (unlabelled images are enough).")
    target_test: Path | None = Field(
        None,
        description="Labelled target folder: its accuracy is shown next to the scores as a check, never to choose.",
    )
    methods: list[str] = Field(
        default_factory=lambda: list(DEFAULT_METHODS),
        description="Methods to try (source-only fine-tuning is always tried: it measures the shift).",
    )
    grid_points: int = Field(2, ge=1, le=3, description="Values of each method's most sensitive setting to try.")
    grid: dict[str, list[float]] = Field(
        default_factory=dict, description="Own values of a method's sensitive setting, e.g. {dann = [0.1, 1]}."
    )
    budget_minutes: float = Field(30.0, gt=0, le=100_000, description="Time for the whole advice, in minutes.")
    min_epochs: int = Field(2, ge=1, le=1000, description="Epochs of every candidate's first (shortest) run.")
    max_epochs: int = Field(8, ge=1, le=10_000, description="Epochs of the longest run successive halving may give.")
    eta: int = Field(2, ge=2, le=4, description="Successive halving keeps 1/eta of the candidates per rung.")
    ema_decay: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Weight averaging of every candidate run (0: off): one value for all, so short runs compare fairly.",
    )
    full_epochs: int = Field(10, ge=1, le=10_000, description="Epochs of 'Train the recommended' (the full run).")
    rank_by: RankBy = Field(
        "agreement",
        description="The label-free ranking: one score, 'combined' (the mean rank under the weighted scores) or "
        "'agreement' (the default): the share of target images on which a candidate predicts what the ensemble "
        "of the rung's candidates predicts, the ensemble's voters being those that pass the source-accuracy gate "
        "and whose class skew is within skew_band of the lowest. On held-out seeds of the shift zoo it cut the "
        "end-to-end regret from 6.9 (source accuracy) to 1.5 points (bench/advisor.py; the README has the table).",
    )
    score_weights: dict[str, float] = Field(
        default_factory=lambda: {"val_acc": 1.0, "dev": 1.0, "snd": 1.0, "entropy": 1.0},
        description="Weight of each score (val_acc, dev, snd, entropy) in the combined ranking.",
    )
    compare_source_only: bool = Field(
        False,
        description="Rank source-only against the adaptation candidates even when the shift is not small "
        "(off: it is the baseline row; source-side scores favour it, since adaptation trades source accuracy).",
    )
    val_gate: float = Field(
        0.1, ge=0, le=1, description="Rank last a candidate whose source accuracy is this far below the best one's."
    )
    tie_z: float = Field(
        0.0,
        ge=0,
        le=5,
        description="Ranked by source accuracy, candidates within this many binomial standard errors of the best "
        "tie and are ordered by how close their predicted target class shares are to the source's (0: off, the "
        "default: on held-out seeds of the shift zoo it did not lower the regret; it assumes the target has "
        "about the source's class mix).",
    )
    skew_band: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Ranked by agreement: the ensemble votes with the candidates whose class skew is within this "
        "of the lowest one's (1: every candidate that passes the source-accuracy gate).",
    )
    small_shift: float = Field(
        SMALL_PAD,
        ge=0,
        le=2,
        description="Below this proxy A-distance the shift is small: source-only is recommended, adaptation not tried (0: always try).",
    )
    backbone: str | None = Field(
        None, description="Network architecture of every candidate (empty: each method's own default backbone)."
    )
    weights: str = Field("auto", description="'auto', 'pretrained', 'random' or a weights file.")
    image_size: int | None = Field(None, ge=8, le=1024, description="Input side; empty: the backbone's default.")
    batch_size: int = Field(64, ge=2, le=4096, description="Images per step (per domain).")
    lr: float = Field(1e-3, gt=0, le=10, description="Learning rate of the new layers.")
    seed: int = Field(0, description="Seed of every candidate's run (the same split for all).")
    device: Device = Field("auto", description="Where to train.")
    runs_dir: Path = Field(Path("runs"), description="Where the candidates' runs and the advice folder go.")
    resume: Path | None = Field(None, description="An advice folder to continue (its own settings are used).")

    @field_validator("score_weights")
    @classmethod
    def _known_scores(cls, v: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(v) - {"val_acc", "dev", "snd", "entropy"})
        if unknown:
            raise ValueError(f"unknown scores {unknown}: weigh val_acc, dev, snd and entropy")
        if not any(w > 0 for w in v.values()):
            raise ValueError("give at least one score a weight above 0")
        return v

    @field_validator("source", "target", "target_test", "runs_dir", "resume", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(v).expanduser() if isinstance(v, str) else v


class AdviseReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    advice_dir: str
    status: str  # finished | stopped
    shift: ShiftReport | None = None
    candidates: list[Entry] = Field(default_factory=list)
    recommended: Entry | None = None
    runner_ups: list[Entry] = Field(default_factory=list)
    source_only_enough: bool = False
    message: str = ""
    warnings: list[str] = Field(default_factory=list)
    rank_by: str = "agreement"
    budget_s: float = 0.0
    elapsed_s: float = 0.0
    recommended_config: dict[str, Any] | None = None  # a TrainConfig (plain data): "Train the recommended"

    @property
    def stopped(self) -> bool:
        return self.status == "stopped"


def run(config: AdviseConfig, emit: Emit, control: JobControl) -> AdviseReport:
    from engine.advisor.driver import advise

    return advise(config, emit, control)


JOB = Job(
    "advise",
    "try transfer methods on the data and recommend one without target labels",
    AdviseConfig,
    AdviseReport,
    run,
)
