"""Checks of a training config that need no decoding and no torch model, run before the run
directory is made: a start refused for bad input leaves no "failed" run behind.

Each check raises the same UserError the trainer would raise later, naming the field or folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.config import TrainConfig
from engine.core.errors import UserError
from engine.core.events import Emit, ignore

if TYPE_CHECKING:
    from engine.data.prepare import ScannedFolders


def preflight(config: TrainConfig, emit: Emit = ignore) -> ScannedFolders | None:
    """Refuse a config that cannot train: unknown backbone, method or device, bad method options, missing
    folders or weights file, an adaptation method without a target, classes that do not match.

    Returns the folders it walked (None for a multitask config, whose loader reads its own), so
    `prepare_data` does not walk them a second time; the walk reports its progress through `emit`
    ("Scanning source: 12,000 images found"), as a 100k-image folder takes seconds."""
    from engine.data.prepare import ScannedFolders, scan_other, scan_source
    from engine.methods import get_method
    from engine.methods.base import method_config
    from engine.models.backbones import get_backbone_spec
    from engine.training.devices import pick_device

    get_backbone_spec(config.backbone)
    pick_device(config.device)  # 'cuda' on a machine without one is refused here
    method = get_method(config.method)
    method_config(config.method, config.method_options)
    if method.uses_target and not method.target_optional and config.target is None:
        raise UserError(
            f"method '{config.method}' adapts to a target domain: choose a target folder (unlabelled images are fine)."
        )
    if (
        config.weights not in ("auto", "pretrained", "imagenet", "random")
        and not Path(config.weights).expanduser().exists()
    ):
        raise UserError(f"weights {config.weights}: not found. Pick a weights file or a pretraining run, or 'auto'.")
    if config.multitask:  # task folders or a labels table: the multitask loader checks them (engine.multitask)
        return None
    source = scan_source(config.source, emit)
    scanned = ScannedFolders(config.source, source, {})
    for role, path in (("target", config.target), ("target test", config.target_test)):
        if path is not None:
            scanned.others[role] = (path, scan_other(source, path, role, emit))
    return scanned
