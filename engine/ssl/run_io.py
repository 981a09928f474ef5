"""Pretraining run directories: create, open, and read the trained backbone back.

A pretraining run has the layout of any run (config.toml, run.json, metrics.jsonl,
checkpoints/last.pt); its run.json says `"kind": "pretrain"` and its checkpoint holds the
backbone's state dict under "backbone", keyed like the registry's full network, so
`build_model(..., weights=RUN_DIR)` loads it exactly as it loads a torchvision weights file.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from engine.core.config import read_toml, save_toml, validate
from engine.core.errors import UserError
from engine.core.runs import Run, new_run_dir
from engine.ssl.config import PretrainConfig


def is_pretrain_run(path: str | Path) -> bool:
    """True for a folder made by `transfer-studio pretrain` (its config says kind = "pretrain")."""
    p = Path(path).expanduser()
    cfg = p / "config.toml"
    if not cfg.is_file():
        return False
    try:
        return read_toml(cfg).get("kind") == "pretrain"
    except UserError:
        return False


def create_pretrain_run(config: PretrainConfig) -> Run:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", config.name or "").strip("-")[:60]
    base = slug or f"{stamp}-pretrain-{config.method}-{config.backbone}"
    run = Run(new_run_dir(Path(config.runs_dir), base))
    save_toml(config, run.config_path)
    run.update_info(
        status="created", created=time.time(), kind="pretrain", method=config.method, backbone=config.backbone
    )
    return run


def open_pretrain_run(path: str | Path) -> tuple[Run, PretrainConfig]:
    p = Path(path).expanduser()
    if not is_pretrain_run(p):
        raise UserError(
            f"{p}: not a pretraining run (no config.toml with kind = \"pretrain\"). Pick a folder made by 'transfer-studio pretrain'."
        )
    run = Run(p)
    return run, validate(PretrainConfig, read_toml(run.config_path), str(run.config_path))


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
