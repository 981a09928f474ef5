"""Data layer: finding, checking, splitting and decoding image folders.

Import submodules directly. Only `loading`, `cached_decode`, `disk_images` and `prepare` import
torch, so the ONNX predict path can use `images`, `decode`, `folders`, `health` and `split`
without it.
"""
