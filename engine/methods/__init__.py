"""Transfer methods, one per module, registered by name.

Importing this package registers every built-in method; `get_method(name)` finds one.
"""

from __future__ import annotations

from engine.methods.base import (  # noqa: F401
    METHODS,
    Batch,
    Method,
    MethodConfig,
    MethodContext,
    StepResult,
    default_backbone,
    get_method,
    list_methods,
    register,
)

_BUILTIN = [
    "finetune",
    "adabn",
    "dann",
    "cdan",
    "dan",
    "coral",
    "mcc",
    "self_training",
    "self_ensembling",
    "fast_at",
    "pgd_at",
    "trades",
    "dann_at",
    "distill",
    "zero_shot",
    "multitask",
    "importance_weighting",
    "pixel_da",
]


def load_builtin_methods() -> None:
    """Import every built-in method module so it registers itself."""
    import importlib

    for name in _BUILTIN:
        importlib.import_module(f"engine.methods.{name}")


load_builtin_methods()
