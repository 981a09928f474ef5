"""Data layer: finding, checking, splitting and decoding image folders.

Import submodules directly. Only `engine.data.loading` imports torch, so the ONNX predict path can
use `images`, `folders`, `health` and `split` without it.
"""
