"""Load the heavy parts of the engine ahead of time and describe the runtime.

A module imported for the first time inside a training worker holds the GIL while it loads
(torchvision pulls in sympy and more: seconds), which would freeze a GUI mid-run; front ends
call `preload()` once in a background thread, before they let the user start a job.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any


def preload() -> dict[str, Any]:
    """Import torch and everything a run needs; returns versions, the device and the seconds taken."""
    t0 = time.perf_counter()
    import torch  # noqa: F401 - the point of this function
    from PIL import Image

    import engine.core.runs
    import engine.data.health
    import engine.data.loading
    import engine.methods
    import engine.models.backbones
    import engine.models.weights
    import engine.training.checkpoints
    import engine.training.trainer  # noqa: F401
    from engine.training.devices import describe_device, pick_device

    Image.init()  # registers every image plugin now rather than at the first decode
    return {
        "torch": metadata.version("torch"),
        "device": describe_device(pick_device("auto")),
        "seconds": time.perf_counter() - t0,
    }
