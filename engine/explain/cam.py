"""Exact CAM (Zhou et al. 2016) for backbones that end in global average pooling + one linear layer.

For such a model the logits are the spatial mean of the class activation maps,
`logits[c] = mean_hw(sum_k W[c, k] F_k) + b[c]`, so the map is exact, not an approximation, and
costs one forward pass. `CamModel` returns both; exported with `ExportConfig.cam`, the ONNX file
carries the maps as a second output `cam` [N, classes, h, w] (the last feature map projected by the
head: an ONNX reader then needs no head weights), and `OnnxCam` reads them without torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.core.errors import UserError

CAM_OUTPUT = "cam"
EXPORT_HINT = (
    "export the run with its class-activation output: 'transfer-studio export RUN --cam' "
    "(the Export page's 'Add the CAM output' box), for backbones that end in pooling + one linear layer"
)


def resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of maps [..., h, w] to [..., H, W] (PIL, torch-free)."""
    from PIL import Image

    h, w = size
    flat = maps.reshape(-1, *maps.shape[-2:]).astype(np.float32)
    out = np.stack([np.asarray(Image.fromarray(m, mode="F").resize((w, h), Image.Resampling.BILINEAR)) for m in flat])
    return out.reshape(*maps.shape[:-2], h, w).astype(np.float32)


def cam_trunk(model: Any) -> Any:
    """The part of a run's classifier that maps normalised images to the last feature map, or a
    UserError saying why this model has no exact CAM."""
    from torch import nn

    from engine.models.backbones import SmallCNN, _Pooled
    from engine.models.tiny import TinyCNN

    bb = model.backbone
    why = ""
    if not isinstance(model.bottleneck, nn.Identity):
        why = "it has a bottleneck layer between the pooling and the classifier"
    elif isinstance(bb, TinyCNN):
        return nn.Sequential(bb.block1, bb.block2, bb.block3, bb.block4)
    elif isinstance(bb, SmallCNN) and bb.head_kind == "gap":
        return nn.Sequential(bb.block1, bb.block2, bb.block3)
    elif isinstance(bb, _Pooled):
        return bb.trunk
    else:
        why = f"its backbone ({type(bb).__name__}) does not end in global average pooling"
    raise UserError(
        f"exact CAM needs a model that ends in global average pooling + one linear layer; {why}. "
        "Use gradcam, gradcam++, occlusion or rise for this model."
    )


def make_cam_model(model: Any) -> Any:
    """`CamModel` around a run's classifier: forward(x01) -> (logits, cam [N, classes, h, w])."""
    import torch
    from torch import nn

    class CamModel(nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self.trunk = cam_trunk(inner)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            feats = self.trunk((x - self.inner.mean) / self.inner.std)
            cam = torch.einsum("kc,nchw->nkhw", self.inner.head.weight, feats)
            logits = cam.mean((2, 3)) + self.inner.head.bias
            return logits, cam

    return CamModel(model).eval()


def torch_cam(model: Any, x: Any) -> np.ndarray:
    """Class activation maps [N, classes, H, W] (upsampled to the input) of a run's model."""
    import torch

    with torch.inference_mode():
        _, cam = make_cam_model(model)(x.float())
    return resize_maps(cam.float().cpu().numpy(), (int(x.shape[-2]), int(x.shape[-1])))


class OnnxCam:
    """The `cam` output of an ONNX file exported with `ExportConfig.cam`, through onnxruntime."""

    def __init__(self, path: str | Path) -> None:
        import onnxruntime as ort

        from engine.deploy.onnx_check import inspect_onnx

        self.info = inspect_onnx(path)
        if self.info.cam_output != CAM_OUTPUT:
            raise UserError(
                f"{Path(path).name}: has no '{CAM_OUTPUT}' output, so exact CAM cannot be read; {EXPORT_HINT}"
            )
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.queries = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Maps [N, classes, H, W] for float [0, 1] images [N, 3, H, W] (the file normalises)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        if not self.info.normalize_in_model:
            mean = np.asarray(self.info.mean, np.float32).reshape(1, -1, 1, 1)
            std = np.asarray(self.info.std, np.float32).reshape(1, -1, 1, 1)
            x = (x - mean) / std
        cam = self.session.run([CAM_OUTPUT], {self.info.input_name: x})[0]
        self.queries += len(x)
        return resize_maps(np.asarray(cam, np.float32), (int(x.shape[-2]), int(x.shape[-1])))
