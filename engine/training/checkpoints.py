"""Checkpoints: what a run needs to deploy (model weights) and to resume (everything else).

Saved with torch.save to a temporary file and renamed, so a kill mid-write never leaves a torn
checkpoint; read back with `weights_only=True` (tensors and plain Python values only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.core.fsutil import atomic_path


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
