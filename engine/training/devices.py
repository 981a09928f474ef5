"""Device choice and the per-device speed settings (AMP dtype, channels_last, pinned memory)."""

from __future__ import annotations

from contextlib import AbstractContextManager as ContextManager
from contextlib import nullcontext
from typing import Any

import torch

from engine.core.errors import UserError


def pick_device(choice: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for 'auto'; a clear error when the asked device is missing."""
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "device 'cuda' was asked for but no CUDA GPU is visible to PyTorch. Use device 'auto' or 'cpu'."
        )
    if choice == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("device 'mps' was asked for but Apple's Metal backend is not available. Use 'auto' or 'cpu'.")
    return torch.device(choice)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def amp_dtype(device: torch.device) -> torch.dtype | None:
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, enabled: bool) -> ContextManager[Any]:
    dtype = amp_dtype(device)
    if not enabled or dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device_float(x_uint8: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 NCHW -> float [0, 1] on `device` (pinned, non-blocking copy on CUDA)."""
    if device.type == "cuda":
        x = x_uint8.pin_memory().to(device, non_blocking=True).float().div_(255)
        return x.contiguous(memory_format=torch.channels_last)
    return x_uint8.to(device).float().div_(255)


def apply_threads(threads: int | None) -> tuple[int, int]:
    """Set torch's CPU threads to `threads` (None: all cores but one, so the window keeps a core);
    returns (threads used, cores available). With one thread per core, a run sharing the CPU with
    two other busy processes slowed ~35x (threads waiting on each other at every op)."""
    from engine.data.decode import cpu_count, default_threads

    n = int(threads) if threads else default_threads()
    torch.set_num_threads(max(1, n))
    return torch.get_num_threads(), cpu_count()
