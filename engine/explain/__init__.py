"""Explanations: heat maps of what a classifier looked at, and how far to trust them.

- gradcam.py: Grad-CAM and Grad-CAM++ on a run's PyTorch model (gradients, torch hooks on the
  backbone's last convolutional stage).
- perturb.py: occlusion and RISE (Petsiuk et al. 2018) on any scoring function, so they run
  through onnxruntime on an exported file without gradients; batched and query-counted.
- cam.py: exact CAM (Zhou et al. 2016) for backbones ending in global pooling + one linear
  layer, from PyTorch or from an ONNX file exported with its `cam` output.
- faithfulness.py: deletion and insertion AUC of a map against a random map.
- explainer.py: one interface over a run directory or an .onnx file; overlay.py: the pictures.
"""

from __future__ import annotations

METHODS = ("gradcam", "gradcam++", "occlusion", "rise", "cam")
GRADIENT_METHODS = ("gradcam", "gradcam++")

__all__ = ["GRADIENT_METHODS", "METHODS"]
