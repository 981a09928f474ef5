"""The attack job: a robustness evaluation of a run (white-box, query, transfer attacks) or an
ONNX file (query, transfer) over a grid of budgets. This module holds its config and its report
(torch-free); engine.attacks.robustness runs the attack loop and engine.attacks.robustness_report
turns the running sums into the report, the curve and the galleries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from engine.core.config import StrictModel, format_validation_error
from engine.core.control import JobControl
from engine.core.events import Emit
from engine.jobs.job import Job

DEFAULT_GRID = {"linf": (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255), "l2": (0.0, 0.25, 0.5, 1.0, 2.0)}


def _problems(err: ValidationError, source: str) -> str:
    """The attack config's own problems, on one line (they become one field's message here)."""
    return format_validation_error(err, source).replace("\n", "; ")


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
    task: str | None = Field(
        None, description="A multitask model: the task to attack (its classes label the data); empty: the first task."
    )
    seed: int = Field(0, description="Seed for the subset, random starts, targets and query attacks.")
    gallery: int = Field(6, ge=0, le=64, description="Examples shown per eps in the gallery images.")
    device: str = Field("auto", description="auto, cpu, cuda or mps (white-box and surrogate models).")
    out_dir: Path | None = Field(
        None, description="Folder for reports; empty: robustness/ under the run (or beside the .onnx)."
    )

    @field_validator("attack")
    @classmethod
    def _known(cls, v: str) -> str:
        from engine.attacks import list_attacks

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
        from engine.attacks import get_attack

        try:
            get_attack(name).config_cls(norm=norm, **v)
        except ValidationError as err:
            raise ValueError(f"invalid settings for attack {name!r}: {_problems(err, 'attack_options')}") from None
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
            from engine.attacks import get_attack

            for e in v:
                try:
                    get_attack(name).config_cls(norm=norm, eps=e, **info.data["attack_options"])
                except ValidationError as err:
                    raise ValueError(f"eps={e} is refused by attack {name!r}: {_problems(err, name)}") from None
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


def run(config: AttackJobConfig, emit: Emit, control: JobControl) -> RobustnessReport:
    from engine.attacks.robustness import run_attack

    return run_attack(config, emit, control)


JOB = Job(
    "attack",
    "attack a run (white-box) or an ONNX model (query-only, transfer) and chart robustness",
    AttackJobConfig,
    RobustnessReport,
    run,
)
