"""Image decoding and the one preprocessing step shared by training and ONNX prediction.

PIL and numpy only: the ONNX predict path imports this module and must run without torch.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from engine.core.errors import UnreadableImage

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
_BOMB_RE = re.compile(r"\((\d+) pixels\) exceeds limit of (\d+) pixels")


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name ends in a known image extension (any case); nothing is opened."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_EXTENSIONS


@dataclass(frozen=True)
class ImageInfo:
    """What a file held before conversion: displayed size (after EXIF rotation), mode, format."""

    width: int
    height: int
    mode: str
    format: str


def _pixel_limit(max_pixels: int | None) -> int | None:
    """The effective limit: `max_pixels`, else PIL's own (None when PIL's check is disabled)."""
    if max_pixels is not None:
        return int(max_pixels)
    limit = Image.MAX_IMAGE_PIXELS
    return int(limit) if limit else None


def _bomb_reason(width: int | None, height: int | None, pixels: int, limit: int) -> str:
    dims = f"{width}×{height} = " if width is not None and height is not None else ""
    return f"larger than the decompression-bomb limit ({dims}{pixels} pixels > {limit})"


def _failure_reason(exc: BaseException) -> str:
    """Turn a PIL/OS exception into a short reason a user understands."""
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (could not identify format)"
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        m = _BOMB_RE.search(str(exc))
        if m:
            return _bomb_reason(None, None, int(m.group(1)), int(m.group(2)))
        return f"larger than the decompression-bomb limit ({exc})"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode"
    text = str(exc).strip()
    low = text.lower()
    if "truncated" in low or "broken data stream" in low or "broken png" in low:
        return "truncated image data"
    if isinstance(exc, (EOFError, SyntaxError)) and not text:
        return "truncated image data"
    if "could not create decoder" in low:  # what PIL says for a truncated/corrupt WebP
        return "corrupt or truncated image data"
    return f"could not decode ({type(exc).__name__}: {text})" if text else f"could not decode ({type(exc).__name__})"


def _scale_to_uint8(arr: np.ndarray, sixteen_bit: bool) -> np.ndarray:
    """Map one high-depth channel to uint8 by scaling (never by clipping)."""
    a = arr.astype(np.float64)
    if sixteen_bit:
        out = a / 257.0
    else:
        finite = a[np.isfinite(a)]
        lo = float(finite.min()) if finite.size else 0.0
        hi = float(finite.max()) if finite.size else 0.0
        a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
        if arr.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
            out = a * 255.0  # float images in [0, 1]
        elif lo >= 0.0 and hi <= 255.0:
            out = a  # 8-bit values stored in a wide mode
        elif lo >= 0.0 and hi <= 65535.0:
            out = a / 257.0  # 16-bit values stored in mode "I" (older PNG/TIFF readers)
        elif hi > lo:
            out = (a - lo) * (255.0 / (hi - lo))
        else:
            out = np.zeros_like(a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited onto white."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        grey = _scale_to_uint8(np.asarray(img), sixteen_bit=mode in _SIXTEEN_BIT_MODES)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode == "RGB":
        return img
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise UnreadableImage("", f"unsupported colour mode {mode!r}") from exc


def _decode(fp: BinaryIO, limit: int | None, draft: int | None = None) -> tuple[Image.Image, ImageInfo]:
    img: Image.Image = Image.open(fp)
    width, height = img.size
    if limit is not None and width * height > limit:
        raise UnreadableImage("", _bomb_reason(width, height, width * height, limit))
    fmt = img.format or ""
    mode = img.mode
    if draft is not None and fmt == "JPEG" and min(width, height) >= 2 * draft:
        # libjpeg scales by 1/2, 1/4 or 1/8 inside the DCT, keeping both sides >= `draft`: the
        # decode does 4-64x less work and the resize that follows starts from fewer pixels.
        img.draft(img.mode, (draft, draft))
    img.load()
    with contextlib.suppress(Exception):  # a broken EXIF block must not make a good image unreadable
        img = ImageOps.exif_transpose(img) or img
    w, h = img.size
    if (w, h) != (width, height) and draft is not None:  # a draft decode: report the file's own size
        w, h = (width, height) if (w >= h) == (width >= height) else (height, width)
    info = ImageInfo(width=w, height=h, mode=mode, format=fmt)
    return _to_rgb(img), info


def open_rgb_with_info(
    path: str | os.PathLike[str], max_pixels: int | None = None, data: bytes | None = None, draft: int | None = None
) -> tuple[Image.Image, ImageInfo]:
    """Fully decode `path` (or its already-read `data`) to an RGB image, plus what it was.

    Applies EXIF orientation. `draft`: a JPEG whose shorter side is at least twice `draft` may
    be decoded at 1/2-1/8 scale (libjpeg's DCT scaling), its shorter side staying >= `draft`.
    Raises UnreadableImage(path, reason) on any failure; images over
    `max_pixels` (default: PIL's MAX_IMAGE_PIXELS) are refused before any pixel is allocated.
    """
    name = os.fspath(path)
    try:
        if data is None:
            if os.path.getsize(name) == 0:
                raise UnreadableImage(name, "empty file (0 bytes)")
            with open(name, "rb") as fh:
                return _decode(fh, _pixel_limit(max_pixels), draft)
        if len(data) == 0:
            raise UnreadableImage(name, "empty file (0 bytes)")
        return _decode(io.BytesIO(data), _pixel_limit(max_pixels), draft)
    except UnreadableImage as exc:
        raise UnreadableImage(name, exc.reason) from None
    except Exception as exc:  # PIL raises a zoo of types (OSError, SyntaxError, ValueError, ...)
        raise UnreadableImage(name, _failure_reason(exc)) from exc


def open_rgb(path: str | os.PathLike[str], max_pixels: int | None = None) -> Image.Image:
    """Fully decode an image file to RGB (EXIF-rotated); raises UnreadableImage with a short reason."""
    return open_rgb_with_info(path, max_pixels)[0]


def resize_center_crop(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to `size` (bilinear, antialiased), then centre-crop size×size.

    The single preprocessing step used by training, evaluation and ONNX prediction alike.
    """
    if size <= 0:
        raise ValueError(f"size must be a positive number of pixels, got {size}")
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ValueError(f"image has no pixels ({w}×{h})")
    scale = size / min(w, h)
    new_w = size if w <= h else max(size, round(w * scale))
    new_h = size if h <= w else max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left = (new_w - size) // 2
    top = (new_h - size) // 2
    if (left, top, new_w, new_h) != (0, 0, size, size):
        img = img.crop((left, top, left + size, top + size))
    return img


def to_chw_float(img: Image.Image) -> np.ndarray:
    """RGB PIL image -> float32 array [3, H, W] in [0, 1] (the model's input layout)."""
    arr = np.asarray(img.convert("RGB") if img.mode != "RGB" else img, dtype=np.uint8)
    return np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32) / np.float32(255.0)


DRAFT_FACTOR = 2  # draft decoding keeps the shorter side >= DRAFT_FACTOR x the target side


def load_for_model(path: str | os.PathLike[str] | Path, size: int, max_pixels: int | None = None) -> np.ndarray:
    """The shared decoder (engine.data.decode) as float32 [3, size, size] in [0, 1]."""
    img, _ = open_rgb_with_info(path, max_pixels, draft=DRAFT_FACTOR * size)
    return to_chw_float(resize_center_crop(img, size))
