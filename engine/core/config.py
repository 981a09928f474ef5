"""Job configurations as pydantic models, with TOML in and out.

A config is plain data: it never names code to run. Validation errors are turned into
messages that name the field, the bad value and what is allowed (`format_validation_error`).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import tomli_w
import tomllib
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.core.errors import UserError
from engine.core.fsutil import atomic_write_text

M = TypeVar("M", bound=BaseModel)


def _expand_user(value: Any) -> Any:
    return Path(value).expanduser() if isinstance(value, str) else value


# A path typed by a person: "~/photos" means the home folder's photos (TOML, flags and forms alike).
UserPath = Annotated[Path, BeforeValidator(_expand_user)]


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# An optional path whose empty form field (or "" in TOML) means "none given".
OptionalPath = Annotated[Path | None, BeforeValidator(_blank_is_none)]


def path_field(description: str, kind: Literal["file", "file_or_dir"] = "file_or_dir") -> Any:
    """An OptionalPath field, empty by default; `kind` tells the window which browse button it gets."""
    return Field(None, description=description, json_schema_extra={"path": kind})


def weight(default: float, description: str, *, le: float = 100) -> Any:
    """A field for a loss weight or factor, from 0 to `le`: the most common setting of a method."""
    return Field(default, ge=0, le=le, description=description)


def share(default: float, description: str, *, below_one: bool = False) -> Any:
    """A field for a share from 0 to 1; `below_one` for a share of the run, which must leave some."""
    if below_one:
        return Field(default, ge=0, lt=1, description=description)
    return Field(default, ge=0, le=1, description=description)


class StrictModel(BaseModel):
    """Base for every config: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The (nested) model class that owns the field at `loc`, following sub-model fields."""
    for part in loc:
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return None
        ann = model.model_fields[part].annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return model


def unknown_key_message(key: str, valid: list[str]) -> str:
    """'unknown key 'epoch': did you mean 'epochs'?' (difflib), else the list of valid keys."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    if not close and len(key) >= 3:  # a shortened name: 'freez' for 'freeze_stages'
        close = [k for k in valid if k.startswith(key)][:1]
    if not close:  # a lengthened one: 'lr_rate' for 'lr'
        close = sorted((k for k in valid if len(k) >= 2 and key.startswith(k)), key=len, reverse=True)[:1]
    if close:
        return f"unknown key '{key}': did you mean '{close[0]}'?"
    shown = ", ".join(valid[:30]) + (", ..." if len(valid) > 30 else "")
    return f"unknown key '{key}'. Valid keys: {shown}"


def format_validation_error(err: ValidationError, source: str = "config", model: type[BaseModel] | None = None) -> str:
    """One line per problem: `source: field 'x' = value: what is allowed`; an unknown key names the
    closest valid one (a typo like `epoch = 3` must not look like a broken file)."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        if e["type"] == "extra_forbidden" and e["loc"]:
            owner = _model_at(model, tuple(e["loc"][:-1]))
            if owner is not None:
                where = ".".join(str(p) for p in e["loc"][:-1])
                prefix = f"{source}: " + (f"in '{where}': " if where else "")
                lines.append(prefix + unknown_key_message(str(e["loc"][-1]), list(owner.model_fields)))
                continue
        msg = e["msg"].removeprefix("Value error, ")
        if not e["loc"]:  # a check across fields: its message names them
            lines.append(f"{source}: {msg}")
            continue
        value = e.get("input")
        shown = repr(value) if not isinstance(value, dict) else "{...}"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        lines.append(f"{source}: field '{loc}' = {shown}: {msg}")
    return "\n".join(lines)


def validate(model: type[M], data: dict[str, Any], source: str = "config") -> M:
    """Build `model` from `data`, raising UserError with readable messages."""
    if not isinstance(data, dict):
        raise UserError(f"{source}: expected a table of settings, found {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise UserError(format_validation_error(err, source, model)) from None


def read_toml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: config file not found. Give the path of a .toml file.")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{p}: not valid TOML ({err}). Fix the line named or start from a saved config.toml.") from None
    except UnicodeDecodeError:
        raise UserError(f"{p}: not a text file. A config must be UTF-8 TOML.") from None


def _plain(value: Any) -> Any:
    """Convert to TOML-able values: Paths to strings, drop Nones (TOML has no null)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def to_toml(model: BaseModel) -> str:
    return tomli_w.dumps(_plain(model.model_dump(mode="python")))


def with_absolute_paths(model: M) -> M:
    """A copy whose Path fields are absolute (relative ones joined to the current folder, `~`
    expanded, symlinks kept), so a saved config means the same folders from any working directory."""
    update = {
        name: Path(os.path.abspath(os.path.expanduser(value)))
        for name in type(model).model_fields
        if isinstance(value := getattr(model, name), Path)
    }
    return model.model_copy(update=update)


def save_toml(model: BaseModel, path: str | Path) -> None:
    """Write `model` as TOML atomically, its paths absolute: `train --config RUN/config.toml`
    then repeats the run from any working directory."""
    atomic_write_text(Path(path), to_toml(with_absolute_paths(model)))


def load_config(model: type[M], path: str | Path | None, overrides: dict[str, Any]) -> M:
    """Config from an optional TOML file, with `overrides` (non-None CLI flags) on top."""
    data: dict[str, Any] = read_toml(path) if path else {}
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    return validate(model, data, str(path) if path else "options")


Device = Literal["auto", "cpu", "cuda", "mps"]
Augment = Literal["none", "light", "strong"]


class TrainConfig(StrictModel):
    """Everything a training run needs. Saved as `config.toml` in the run directory."""

    source: UserPath = Field(description="Labelled source folder: one sub-folder per class.")
    target: UserPath | None = Field(None, description="Target folder (unlabelled images, or class sub-folders).")
    target_test: UserPath | None = Field(None, description="Labelled target folder used only to measure accuracy.")
    method: str = Field("finetune", description="Transfer method from the method registry.")
    method_options: dict[str, Any] = Field(default_factory=dict, description="Settings of the method.")
    backbone: str = Field(
        "small_cnn",
        description="Network architecture from the backbone registry (empty: the method's own default, "
        "small_cnn, or small_cnn_gap for self-ensembling).",
    )
    weights: str = Field(
        "auto", description="'auto' (pretrained if the backbone has them), 'pretrained', 'random' or a weights file."
    )
    image_size: int | None = Field(
        None, ge=8, le=1024, description="Side of the square input; empty uses the backbone's default."
    )
    epochs: int = Field(10, ge=1, le=10_000, description="Passes over the source data.")
    batch_size: int = Field(64, ge=1, le=4096, description="Images per step (per domain for adaptation methods).")
    lr: float = Field(1e-3, gt=0, le=10, description="Learning rate of the new layers.")
    optimizer: Literal["sgd", "adamw"] = Field("adamw", description="SGD with momentum 0.9 (Nesterov) or AdamW.")
    weight_decay: float = Field(1e-4, ge=0, le=1, description="L2 penalty on the weights.")
    warmup_epochs: float = Field(0.5, ge=0, description="Linear learning-rate warm-up, in epochs.")
    schedule: Literal["cosine", "constant"] = Field("cosine", description="Learning-rate schedule after warm-up.")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Cross-entropy label smoothing.")
    augment: Augment = Field("none", description="Training augmentation preset.")
    synthetic: UserPath | None = Field(
        None,
        description="Generated labelled images (class sub-folders, e.g. 'gan sample --per-class') added to training.",
    )
    synthetic_ratio: float = Field(1.0, gt=0, le=100, description="Synthetic images per real source training image.")
    val_fraction: float = Field(0.2, ge=0, lt=1, description="Share of the source held out for validation.")
    early_stop_patience: int = Field(
        0, ge=0, description="Stop after this many epochs without a better selection score (0: never)."
    )
    select: Literal["val_acc", "target_entropy", "last"] = Field(
        "val_acc",
        description="How the best checkpoint is chosen without target labels: source validation accuracy, "
        "lowest target prediction entropy, or the last epoch.",
    )
    ema_decay: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Average the weights over steps with this decay (0: off; empty: the method's choice, "
        "0.99 for domain adaptation, whose checkpoints swing, off otherwise).",
    )
    precise_bn: bool = Field(
        True,
        description="At each epoch's end, set BatchNorm statistics to the exact ones of the training images "
        "(PreciseBN): running averages lag behind the weights in short runs and under torchrun.",
    )
    sync_bn: bool = Field(
        False,
        description="Under torchrun on CUDA GPUs, normalise with BatchNorm statistics of the whole global batch "
        "(SyncBatchNorm) instead of each process's share: for small per-GPU batches.",
    )
    device: Device = Field("auto", description="Where to train: auto picks cuda, then mps, then cpu.")
    amp: bool = Field(True, description="Mixed precision on CUDA.")
    workers: int = Field(
        0, ge=0, le=64, description="Processes that augment training batches (0: in the training process)."
    )
    threads: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="CPU threads for the model and for decoding images (empty: all cores but one, "
        "leaving the window a core).",
    )
    cache_memory_mb: int | None = Field(
        None,
        ge=0,
        le=16_000_000,
        description="Memory for decoded images, in MB (empty: a quarter of the free memory). Above it the "
        "images are read from the disk cache batch by batch, so memory does not grow with the folder.",
    )
    seed: int = Field(0, description="Random seed for splits, initialisation and batches.")
    runs_dir: UserPath = Field(Path("runs"), description="Where run directories are created.")
    name: str | None = Field(None, description="Optional run name (default: method-backbone-time).")
    tasks: dict[str, Path] = Field(
        default_factory=dict,
        description="Multitask (method multitask): one labelled folder per task, NAME = FOLDER; tasks may have different images.",
    )
    labels: UserPath | None = Field(
        None,
        description="Multitask (method multitask): a labels table, CSV with a path column and one column per task "
        "(an empty cell: no label for that task).",
    )

    @model_validator(mode="before")
    @classmethod
    def _multitask_source(cls, data: Any) -> Any:
        """A multitask run needs no source folder: it is the labels table's folder or the first task's."""
        if isinstance(data, dict) and not data.get("source"):
            if data.get("labels"):
                return {**data, "source": Path(str(data["labels"])).expanduser().parent}
            tasks = data.get("tasks")
            if isinstance(tasks, dict) and tasks:
                return {**data, "source": next(iter(tasks.values()))}
        return data

    @model_validator(mode="before")
    @classmethod
    def _method_backbone(cls, data: Any) -> Any:
        """No backbone chosen: the method's own default (`Method.default_backbone`, measured on the
        shift zoo). The registry needs torch, so it is read only when a method is named."""
        if isinstance(data, dict) and not data.get("backbone") and data.get("method"):
            from engine.methods import default_backbone

            return {**data, "backbone": default_backbone(str(data["method"]))}
        return data

    @field_validator("tasks", mode="after")
    @classmethod
    def _absolute_tasks(cls, v: dict[str, Path]) -> dict[str, Path]:
        """Absolute task folders, so a saved config means the same folders from anywhere (like the others)."""
        return {name: Path(os.path.abspath(os.path.expanduser(p))) for name, p in v.items()}

    @property
    def multitask(self) -> bool:
        return bool(self.tasks) or self.labels is not None
