"""Pretraining run directories: create, open, and read the trained backbone back.

A pretraining run has the layout of any run (config.toml, run.json, metrics.jsonl,
checkpoints/last.pt); its run.json says `"kind": "pretrain"` and its checkpoint holds the
backbone's state dict under "backbone", keyed like the registry's full network, so
`build_model(..., weights=RUN_DIR)` loads it exactly as it loads a torchvision weights file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from engine.core.errors import UserError
from engine.core.runs import Run, create_kind_run, open_kind_run, run_kind
from engine.ssl.config import PretrainConfig


def is_pretrain_run(path: str | Path) -> bool:
    """True for a folder made by `transfer-studio pretrain` (its config says kind = "pretrain")."""
    return run_kind(path) == "pretrain"


def create_pretrain_run(config: PretrainConfig) -> Run:
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-pretrain-{config.method}-{config.backbone}"
    info = {"kind": "pretrain", "method": config.method, "backbone": config.backbone}
    return create_kind_run(config, config.runs_dir, config.name, base, **info)


def open_pretrain_run(path: str | Path) -> tuple[Run, PretrainConfig]:
    return open_kind_run(path, "pretrain", PretrainConfig, "pretraining", "pretrain")


def read_pretrained_backbone(path: str | Path, backbone: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(backbone state dict, info) of a pretraining run's last checkpoint.

    `backbone`, when given, must be the architecture the run pretrained; info has backbone,
    input_size, method, epoch.
    """
    from engine.training.checkpoints import load_checkpoint

    run, cfg = open_pretrain_run(path)
    ckpt = run.checkpoint("last")
    if not ckpt.is_file():
        raise UserError(
            f"{run.path}: has no checkpoint yet. Let the pretraining finish at least one epoch (or resume it)."
        )
    state = load_checkpoint(ckpt)
    if backbone is not None and state["backbone_name"] != backbone:
        raise UserError(
            f"{run.path}: pretrained backbone '{state['backbone_name']}', but this model uses '{backbone}'. "
            f"Choose backbone '{state['backbone_name']}' or a run pretrained with '{backbone}'."
        )
    info = {
        "backbone": state["backbone_name"],
        "input_size": int(state["input_size"]),
        "method": cfg.method,
        "epoch": int(state["epoch"]),
        "checkpoint": str(ckpt),
    }
    return state["backbone"], info
