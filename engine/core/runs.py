"""Run directories: config, status, metrics and checkpoints, all written atomically.

```
RUN_DIR/
  config.toml       the TrainConfig the run was started with
  run.json          status, classes, input size, best metrics (rewritten atomically)
  metrics.jsonl     one JSON line per finished epoch
  checkpoints/      last.pt (every epoch and on stop), best.pt (best selection score)
  exports/          ONNX files and their parity reports
  .lock             the pid of the process writing the run (see RunLock)
```
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from engine.core.config import TrainConfig, read_toml, save_toml, validate
from engine.core.errors import UserError
from engine.core.fsutil import atomic_write_json, atomic_write_text
from engine.core.runlock import RunLock

M = TypeVar("M", bound=BaseModel)

STATUSES = ("created", "running", "paused", "stopped", "finished", "failed")


class _InRun:
    """A file or folder of the run directory, read as an attribute: `run.config_path`."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, run: Run, owner: type[Run]) -> Path:
        return run.path / self.name


@dataclass
class Run:
    """A handle on one run directory; its layout is the table below."""

    path: Path

    config_path = _InRun("config.toml")
    info_path = _InRun("run.json")
    metrics_path = _InRun("metrics.jsonl")
    checkpoint_dir = _InRun("checkpoints")
    exports_dir = _InRun("exports")

    def checkpoint(self, which: str = "last") -> Path:
        return self.checkpoint_dir / f"{which}.pt"

    # ----------------------------------------------------------------- one writer
    @contextmanager
    def lock(self) -> Iterator[RunLock]:
        """Hold the run's lock while writing it: a second writer gets RunLocked naming this process;
        a lock left by a killed process is taken over. `with run.lock(): ...`"""
        held = RunLock(self.path).acquire()
        try:
            yield held
        finally:
            held.release()

    def record_failure(self, err: BaseException) -> None:
        """Mark the run failed with the error's message (a UserError's as is, others with their
        type), so the Runs page and a later resume say why; the caller raises it on."""
        message = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
        self.update_info(status="failed", error=message)

    # ----------------------------------------------------------------- reading
    def config(self) -> TrainConfig:
        data = read_toml(self.config_path)
        if data.get("kind") == "pretrain":
            raise UserError(
                f"{self.path}: a pretraining run (transfer-studio pretrain) has no classifier. Use it as weights "
                f"(--weights {self.path}) or as clustering features, or continue it with 'transfer-studio pretrain --resume'."
            )
        if data.get("kind") == "translate":
            raise UserError(
                f"{self.path}: a translation run (transfer-studio gan translate) has no classifier. Use it as pixel_da's "
                f"translator (--method pixel_da --set translator={self.path}), or continue it with "
                f"'transfer-studio gan translate --resume {self.path}'."
            )
        if data.get("kind") == "gan":
            raise UserError(
                f"{self.path}: a GAN or translation run (transfer-studio gan ...) has no classifier. Sample, score or export it "
                f"with 'transfer-studio gan sample|score|export {self.path}', or transfer it with 'gan train --from'."
            )
        return validate(TrainConfig, data, str(self.config_path))

    def info(self) -> dict[str, Any]:
        try:
            return json.loads(self.info_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}

    def metrics(self) -> list[dict[str, Any]]:
        """Epoch records; a torn last line (killed mid-write) is ignored."""
        rows: list[dict[str, Any]] = []
        if not self.metrics_path.is_file():
            return rows
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    # ----------------------------------------------------------------- writing
    def update_info(self, **fields: Any) -> dict[str, Any]:
        info = self.info()
        info.update(fields)
        info["updated"] = time.time()
        atomic_write_json(self.info_path, info)
        return info

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows))

    def append_metrics(self, row: dict[str, Any]) -> None:
        self.write_metrics([r for r in self.metrics() if r.get("epoch") != row.get("epoch")] + [row])


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:60] or "run"


def new_run_dir(root: Path, base: str) -> Path:
    """A new run folder `root/base` (then `base-2`, `base-3`... when taken) with its checkpoints/."""
    path, n = root / base, 1
    while path.exists():
        n += 1
        path = root / f"{base}-{n}"
    path.mkdir(parents=True)
    (path / "checkpoints").mkdir()
    return path


def create_run(config: TrainConfig) -> Run:
    """Make a fresh run directory under `config.runs_dir` and save the config there."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = _slug(config.name) if config.name else f"{stamp}-{_slug(config.method)}-{_slug(config.backbone)}"
    run = Run(new_run_dir(Path(config.runs_dir), base))
    save_toml(config, run.config_path)
    run.update_info(status="created", created=time.time(), method=config.method, backbone=config.backbone)
    return run


def run_kind(path: str | Path) -> str | None:
    """The `kind` a run's config.toml declares ("pretrain", "gan", ...), None for a training run
    or a folder that is no run."""
    cfg = Path(path).expanduser() / "config.toml"
    if not cfg.is_file():
        return None
    try:
        kind = read_toml(cfg).get("kind")
    except UserError:
        return None
    return str(kind) if kind is not None else None


def create_kind_run(config: BaseModel, runs_dir: Path, name: str | None, default_base: str, **info: Any) -> Run:
    """A new run folder of another kind of job (pretraining, GAN), named `name` or `default_base`,
    with its config saved and run.json started (`info`: kind, method, backbone...)."""
    run = Run(new_run_dir(Path(runs_dir), _slug(name) if name else default_base))
    save_toml(config, run.config_path)
    run.update_info(status="created", created=time.time(), **info)
    return run


def open_kind_run(path: str | Path, kind: str, model: type[M], what: str, command: str) -> tuple[Run, M]:
    """(run, config) of a run of `kind` ("a `what` run"), or a UserError naming the folder and the
    command that makes one."""
    p = Path(path).expanduser()
    if run_kind(p) != kind:
        raise UserError(
            f'{p}: not a {what} run (no config.toml with kind = "{kind}"). '
            f"Pick a folder made by 'transfer-studio {command}'."
        )
    run = Run(p)
    return run, validate(model, read_toml(run.config_path), str(run.config_path))


def open_run(path: str | Path) -> Run:
    p = Path(path).expanduser()
    if not (p / "config.toml").is_file():
        raise UserError(f"{p}: not a run directory (no config.toml). Pick a folder made by 'transfer-studio train'.")
    return Run(p)


def list_runs(runs_dir: str | Path) -> list[Run]:
    root = Path(runs_dir).expanduser()
    if not root.is_dir():
        return []
    runs = [Run(p) for p in root.iterdir() if (p / "config.toml").is_file()]
    return sorted(runs, key=lambda r: r.path.stat().st_mtime, reverse=True)


def delete_run(run: Run) -> None:
    import shutil

    if not (run.path / "config.toml").is_file():
        raise UserError(f"{run.path}: refusing to delete a folder that is not a run directory.")
    RunLock(run.path).refuse_if_held("delete it")
    shutil.rmtree(run.path)


def load_run_model(run_dir: str | Path, which: str = "best") -> tuple[Any, dict[str, Any]]:
    """The run's classifier (taking [0, 1] images, eval mode, CPU) and its info dict.

    `which` is 'best' or 'last'; 'best' falls back to 'last' when no best checkpoint exists.
    """
    from engine.models.classifier import ImageClassifier, build_model
    from engine.training.checkpoints import load_checkpoint

    run = open_run(run_dir)
    info = run.info()
    path = run.checkpoint(which)
    if not path.is_file():
        path = run.checkpoint("last")
    if not path.is_file():
        raise UserError(f"{run.path}: has no checkpoint yet. Train it first (or resume it) for at least one epoch.")
    state = load_checkpoint(path)
    cfg = run.config()
    backbone = cfg.backbone
    if backbone == "small_cnn" and "backbone.block1.3.weight" in state["model"]:
        # a run trained before small_cnn became the one-conv, flatten-head net: its weights are
        # the former net's, registered now as small_cnn_gap
        backbone = "small_cnn_gap"
    model: ImageClassifier
    zero_shot = None
    if "tasks" in state:  # a multitask run: one head per task (engine.multitask.model)
        from engine.multitask.model import load_multitask

        model = load_multitask(state, backbone)
    else:
        model = build_model(
            backbone, len(state["classes"]), weights="random", bottleneck_dim=state.get("bottleneck_dim", 0)
        )
        from engine.models.zero_shot_head import install_head

        zero_shot = install_head(model, state["model"])  # a zero-shot run scores every class of its table
        model.load_state_dict(state["model"])
    model.eval()
    info = dict(info)
    if "tasks" in state:
        info["tasks"] = {t: list(c) for t, c in state["tasks"].items()}
    info.update(
        classes=list(state["classes"]),
        input_size=int(state["input_size"]),
        backbone=backbone,
        method=cfg.method,
        run_id=run.path.name,
        mean=[float(v) for v in model.mean.flatten()],
        std=[float(v) for v in model.std.flatten()],
        checkpoint=str(path),
    )
    if zero_shot is not None:
        seen = zero_shot.seen.tolist()
        info["seen_classes"] = [c for c, s in zip(state["classes"], seen, strict=True) if s > 0]
        info["calibration"] = float(zero_shot.calibration)
    return model, info
