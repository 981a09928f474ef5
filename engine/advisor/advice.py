"""An advice's state on disk: `ADVICE_DIR/advice.json`, rewritten atomically after every
candidate, so a stopped (or killed) advice resumes where it stopped: finished candidates are
kept, a stopped candidate's run is continued from its last checkpoint, the rest are trained.

Torch-free: the window reads it to fill its table while the advice runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.advisor.shift import ShiftReport
from engine.core.errors import UserError
from engine.core.fsutil import atomic_write_bytes, atomic_write_json

STATE_FILE = "advice.json"
PROBS_DIR = "target-probs"  # each finished candidate's target softmax (save_probs)
ENTRY_STATUSES = ("pending", "running", "stopped", "finished", "dropped", "skipped")


class Entry(BaseModel):
    """One candidate in one rung of successive halving: a training run and its scores."""

    model_config = ConfigDict(extra="forbid")
    candidate: int  # index in the candidate list (the same in every rung)
    rung: int
    epochs: int
    method: str
    options: dict[str, float] = Field(default_factory=dict)
    label: str
    status: str = "pending"
    reason: str = ""  # why dropped or skipped
    run_dir: str = ""
    seconds: float = 0.0
    scores: dict[str, float] = Field(default_factory=dict)  # val_acc, dev, snd, entropy (+ target_acc: a check)
    probs: str = ""  # its target softmax, a .npy file in the advice folder (PROBS_DIR)
    combined: float | None = None  # the value it was ranked by within its rung
    rank: int | None = None  # 1 = best of its rung

    @property
    def done(self) -> bool:
        return self.status in ("finished", "dropped", "skipped")


class AdviceState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any]  # the AdviseConfig, as plain data
    created: float = Field(default_factory=time.time)
    status: str = "running"  # running | stopped | finished
    candidates: int = 0  # how many candidates rung 0 trains
    rungs: list[tuple[int, int]] = Field(default_factory=list)  # (epochs, keep) per rung
    entries: list[Entry] = Field(default_factory=list)
    shift: ShiftReport | None = None
    elapsed_s: float = 0.0
    warnings: list[str] = Field(default_factory=list)

    def rung_entries(self, rung: int) -> list[Entry]:
        return [e for e in self.entries if e.rung == rung]


def state_path(advice_dir: str | Path) -> Path:
    return Path(advice_dir) / STATE_FILE


def save_state(advice_dir: str | Path, state: AdviceState) -> None:
    atomic_write_json(state_path(advice_dir), state.model_dump(mode="json"))


def load_state(advice_dir: str | Path) -> AdviceState:
    path = state_path(Path(advice_dir).expanduser())
    if not path.is_file():
        raise UserError(
            f"{advice_dir}: not an advice folder (no {STATE_FILE}). Resume a folder made by 'transfer-studio advise'."
        )
    try:
        return AdviceState.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as err:
        raise UserError(f"{path}: unreadable advice state ({type(err).__name__}); start a new advice.") from None


def save_probs(advice_dir: str | Path, entry: Entry, probs: Any) -> None:
    """Write `entry`'s target softmax (numpy [n_target, classes]) atomically and name it in the entry."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(probs, dtype=np.float32), allow_pickle=False)
    name = f"{PROBS_DIR}/c{entry.candidate:02d}-r{entry.rung}.npy"
    path = Path(advice_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    entry.probs = name


def load_probs(advice_dir: str | Path, entry: Entry) -> Any:
    """`entry`'s target softmax, or None when it has none (not finished, or an older advice)."""
    import numpy as np

    path = Path(advice_dir) / entry.probs
    if not entry.probs or not path.is_file():
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None


def new_advice_dir(runs_dir: Path, name: str | None = None) -> Path:
    """`runs_dir/advice-<time>` (then -2, -3... when taken); never a run folder (no config.toml)."""
    base = name or time.strftime("advice-%Y%m%d-%H%M%S")
    path, n = runs_dir / base, 1
    while path.exists():
        n += 1
        path = runs_dir / f"{base}-{n}"
    path.mkdir(parents=True)
    return path
