"""Checkpoints: what a run needs to deploy (model weights) and to resume (everything else).

Saved with torch.save into memory, then written through engine.core.fsutil (temporary file,
fsync, rename), so a kill or a full disk mid-write never leaves a torn checkpoint and the last
good one stays. Read back with `weights_only=True` only: a file holding anything but tensors and
plain values (a pickle payload that would run code) is refused with `refusal_message`, never
loaded, and the user is never told to switch the protection off.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import torch

from engine.core.errors import DiskFull, UserError
from engine.core.fsutil import atomic_write_bytes, human_bytes
from engine.models.weights import safe_torch_load

VALID_CHECKPOINT = "a checkpoint written by Transfer Studio (tensors and plain numbers, lists and dicts only)"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write `payload` atomically; on a full disk raise DiskFull naming the folder, the size and
    the last good checkpoint, which is left intact."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    data = buf.getbuffer().tobytes()
    try:
        atomic_write_bytes(path, data)
    except DiskFull as err:
        raise DiskFull(_disk_full_message(path, len(data), err), folder=err.folder, needed=len(data)) from None


def _disk_full_message(path: Path, needed: int, err: DiskFull) -> str:
    folder = path.parent
    last = folder / "last.pt"
    if last.is_file():
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last.stat().st_mtime))
        kept = f"the last good checkpoint {last} (saved {when}) is intact"
    else:
        kept = "no checkpoint had been saved yet, and no partial file was left"
    free = str(err).split(" and ", 1)[1].split(" is free", 1)[0] if " is free" in str(err) else "little"
    return (
        f"{folder}: the disk is full: saving {path.name} needs {human_bytes(needed)} and {free} is free; "
        f"{kept}. The run stopped; free some space, then resume it (transfer-studio train --resume "
        f"{folder.parent})."
    )


def load_checkpoint(path: Path) -> dict[str, Any]:
    state = safe_torch_load(Path(path), VALID_CHECKPOINT)
    if not isinstance(state, dict):
        raise UserError(
            f"{path}: holds a {type(state).__name__}, not a checkpoint. A valid file is {VALID_CHECKPOINT}."
        )
    return state


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
