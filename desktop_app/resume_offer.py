"""Runs that were stopped or killed, so the window can offer to continue one at start.

A run is interrupted when run.json says "stopped", or "running"/"paused" although no process is
training it: its recorded pid is gone, or (no pid recorded) it has not written run.json for far
longer than an epoch takes. Only runs with a checkpoint to resume from are offered. Torch-free.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from desktop_app import errors
from engine.core.runs import Run, list_runs

STALE_FLOOR_S = 600.0  # a live run rewrites run.json every epoch; none of ours takes 10 minutes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    return True


def is_interrupted(run: Run, now: float | None = None) -> bool:
    info: dict[str, Any] = run.info()
    status = info.get("status")
    if not run.checkpoint("last").is_file():
        return False
    if status == "stopped":
        return True
    if status not in ("running", "paused"):
        return False
    pid = info.get("pid")
    if isinstance(pid, int) and pid > 0:
        return not _pid_alive(pid)
    now = time.time() if now is None else now
    updated = float(info.get("updated") or 0.0)
    epoch_s = float((info.get("last_metrics") or {}).get("epoch_time") or 0.0)
    return now - updated > max(STALE_FLOOR_S, 3.0 * epoch_s)


def interrupted_runs(runs_dir: str | Path, now: float | None = None) -> list[Run]:
    """Interrupted runs, newest first (as list_runs orders them)."""
    out = []
    for run in list_runs(runs_dir):
        try:
            if is_interrupted(run, now):
                out.append(run)
        except (OSError, ValueError, TypeError):
            continue
    return out


def ask_to_resume(parent: Any, state: Any) -> str:
    """Ask about the newest interrupted run not declined before; its directory if the answer is yes.

    A "No" is remembered (QSettings), so the same run is not offered at every start.
    """

    declined = {str(v) for v in (state.settings.value("runs/resume_declined", []) or [])}
    runs = [r for r in interrupted_runs(state.runs_dir) if str(r.path) not in declined]
    if not runs:
        return ""
    run = runs[0]
    more = f"\n\n{len(runs) - 1} other interrupted run(s) are on the Runs page." if len(runs) > 1 else ""
    if not errors.ask(
        parent,
        "Resume a run?",
        f"{describe(run)}\n\nContinue it from its last checkpoint?{more}",
        default_yes=True,
    ):
        state.settings.setValue("runs/resume_declined", sorted(declined | {str(run.path)})[-50:])
        return ""
    return str(run.path)


def describe(run: Run) -> str:
    info = run.info()
    done, total = info.get("epoch", 0), info.get("epochs", "?")
    how = "was stopped" if info.get("status") == "stopped" else "was interrupted (the app or machine stopped)"
    return f"{run.path.name} ({info.get('method', '?')}) {how} after epoch {done} of {total}."
