"""Feature vectors for clustering: raw pixels (the baseline), a training run, a pretraining run,
or a weights file on a registered backbone.

Every source says which image size it expects; images of another size are resized and
centre-cropped to it (the same preprocessing as training), and the job says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import UserError

PIXELS = "pixels"
PIXEL_SIZE = 32  # raw-pixel baseline default side: 3,072 values an image


@dataclass
class FeatureSource:
    """`extract(images_uint8 [N,3,S,S]) -> float32 [N, D]`; `size` is S; `label` names the source."""

    extract: Callable[[object], np.ndarray]
    size: int | None
    label: str
    kind: str  # pixels | run | pretrain | weights


def _pixels(images: Any) -> np.ndarray:
    """The pixels in [0, 1] as vectors, filled a batch at a time (the images may be DiskImages)."""
    from engine.data.disk_images import batch_bounds

    n = len(images)
    out = np.empty((n, int(np.prod(images.shape[1:]))), np.float32)
    for a, b in batch_bounds(n, 256):
        out[a:b] = images[a:b].reshape(b - a, -1).float().div(255).numpy()
    return out


def _batched(fn: Callable[[Any], Any]) -> Callable[[object], np.ndarray]:
    def run(images: Any) -> np.ndarray:
        """Features a batch at a time: uint8 tensors or DiskImages (one batch read at a time)."""
        import torch

        outs = []
        with torch.inference_mode():
            for i in range(0, len(images), 256):
                out = fn(images[i : i + 256].float() / 255)
                assert isinstance(out, torch.Tensor)
                outs.append(out.float().cpu())
        return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)

    return run


def feature_source(features: str, backbone: str = "small_cnn", layer: str = "features") -> FeatureSource:
    """Resolve 'pixels', a run directory (training or pretraining) or a weights file.

    layer 'features' is the penultimate layer; 'probabilities' (training runs only) is the
    softmax of the run's classifier, for a folder holding the classes the run was trained on.
    """
    choice = features.strip()
    if layer == "probabilities" and not (Path(choice).expanduser().is_dir() and _is_training_run(Path(choice))):
        raise UserError(
            f"features {features!r}: only a training run has class probabilities; use layer 'features' "
            "for raw pixels, pretraining runs and weights files."
        )
    if choice in ("", PIXELS, "raw"):
        return FeatureSource(_pixels, None, "raw pixels", "pixels")
    path = Path(choice).expanduser()
    if path.is_dir():
        from engine.ssl.run_io import is_pretrain_run

        if is_pretrain_run(path):
            return _pretrain_source(path)
        from engine.core.runs import load_run_model

        model, info = load_run_model(path)
        if layer == "probabilities":

            def probabilities(x: Any) -> Any:
                return model(x).softmax(dim=1)

            return FeatureSource(
                _batched(probabilities), int(info["input_size"]), f"run {path.name} (class probabilities)", "run"
            )
        return FeatureSource(_batched(model.features), int(info["input_size"]), f"run {path.name}", "run")
    if path.is_file():
        from engine.models.backbones import get_backbone_spec
        from engine.models.classifier import build_model

        spec = get_backbone_spec(backbone)
        model = build_model(backbone, 1, weights=str(path)).eval()
        return FeatureSource(
            _batched(model.backbone_features), spec.input_size, f"{backbone} weights {path.name}", "weights"
        )
    raise UserError(
        f"features {features!r}: not 'pixels', a run directory or a weights file. "
        "Pick a run (training or pretraining), a .pth/.pt/.safetensors file, or 'pixels'."
    )


def _is_training_run(path: Path) -> bool:
    from engine.ssl.run_io import is_pretrain_run

    return (path / "config.toml").is_file() and not is_pretrain_run(path)


def _pretrain_source(path: Path) -> FeatureSource:
    import torch

    from engine.models.backbones import get_backbone_spec
    from engine.ssl.run_io import read_pretrained_backbone

    state, info = read_pretrained_backbone(path)
    spec = get_backbone_spec(info["backbone"])
    full, extract = spec.build()
    full.load_state_dict(state)
    module = extract(full).module.eval()
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return module((x - mean) / std)

    return FeatureSource(
        _batched(forward),
        int(info["input_size"]),
        f"pretraining run {path.name} ({info['method']})",
        "pretrain",
    )
