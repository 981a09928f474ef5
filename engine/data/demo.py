"""A small, offline domain-shift demo in the spirit of MNIST -> MNIST-M.

Source: clean grey digits on a dark background. Target: the same kind of digits (different
originals) blended with random colour textures, so colour and texture shift while the shape
stays readable. Built from scikit-learn's bundled 8×8 digits; no download, no torch.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.core.errors import UserError

CLASSES = [str(d) for d in range(10)]
_TRAIN_SHARE, _TEST_SHARE = 0.4, 0.2  # target train / test images per class, relative to per_class
_MAX_TRAIN, _MAX_TEST = 60, 30  # leaves ~90 distinct originals per class for the source
_MIN_CONTRAST = 0.3  # brightness gap between stroke and background in the target
_BRIGHT_STROKE = 0.85  # share of painted target strokes brighter than their background


@dataclass(frozen=True)
class DemoPaths:
    """Where make_demo wrote the three folders."""

    source: Path
    target_train: Path
    target_test: Path

    def folders(self) -> dict[str, Path]:
        """The three folders under the names the job configs give them (source, target, target_test)."""
        return {"source": self.source, "target": self.target_train, "target_test": self.target_test}


@dataclass
class DemoArrays:
    """The rendered demo before writing: uint8 images [N, size, size] (source) or [N, size, size, 3]."""

    source: np.ndarray
    source_labels: np.ndarray
    target_train: np.ndarray
    target_train_labels: np.ndarray
    target_test: np.ndarray
    target_test_labels: np.ndarray


def _digit_mask(
    digit8: np.ndarray,
    size: int,
    rng: np.random.Generator,
    *,
    angle_deg: tuple[float, float] = (-12, 12),
    scale_range: tuple[float, float] = (0.68, 0.82),
    offset: float = 0.06,
) -> np.ndarray:
    """8×8 digit (0..16) -> float mask [size, size] in [0, 1], smoothly upscaled with a random affine jitter.

    The defaults are the demo's jitter; the shift zoo (engine.data.shifts) widens them for its
    rotation and scale shifts. `offset` is the largest shift of the centre, as a share of the side.
    """
    src = Image.fromarray(np.clip(digit8 * 16.0, 0, 255).astype(np.uint8), "L")
    src = src.resize((32, 32), Image.Resampling.BICUBIC)  # smooth first, then warp at the output size
    angle = math.radians(rng.uniform(*angle_deg))
    scale = rng.uniform(*scale_range) * size / 32  # digit box ~3/4 of the image, like MNIST's 20/28
    shear = rng.uniform(-0.15, 0.15)
    tx, ty = rng.uniform(-offset, offset, size=2) * size
    cos, sin = math.cos(angle), math.sin(angle)
    # forward map: input (centred) -> output (centred) = scale * R * Shear; PIL wants the inverse
    m = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]]) * scale
    inv = np.linalg.inv(m)
    c_out = size / 2 + np.array([tx, ty])
    off = np.array([16.0, 16.0]) - inv @ c_out
    data = (inv[0, 0], inv[0, 1], off[0], inv[1, 0], inv[1, 1], off[1])
    out = src.transform((size, size), Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR)
    mask = np.asarray(out, dtype=np.float32) / 255.0
    peak = float(mask.max())
    return np.clip(mask / peak, 0, 1) if peak > 0 else mask


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 1, size=3).astype(np.float32)


def _luma(c: np.ndarray) -> float:
    return float(np.asarray(c, dtype=np.float32)[..., :3].reshape(-1, 3).mean(0) @ np.array([0.299, 0.587, 0.114]))


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random colour texture [size, size, 3] in [0, 1]: gradient, smooth noise, stripes or checks."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    kind = rng.integers(4)
    c1, c2 = _colour(rng), _colour(rng)
    if kind == 0:  # linear gradient in a random direction
        th = rng.uniform(0, 2 * math.pi)
        t = xx * math.cos(th) + yy * math.sin(th)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif kind == 1:  # smooth value noise: a coarse random colour grid, upscaled
        cells = int(rng.integers(2, 5))
        grid = (rng.uniform(0, 1, size=(cells, cells, 3)) * 255).astype(np.uint8)
        img = Image.fromarray(grid, "RGB").resize((size, size), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.float32) / 255.0
    elif kind == 2:  # soft stripes
        th = rng.uniform(0, math.pi)
        freq = rng.uniform(1.5, 4)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * freq * (xx * math.cos(th) + yy * math.sin(th)) + rng.uniform(0, 6.3))
    else:  # checks
        f1, f2 = rng.uniform(1.5, 3.5, size=2)
        t = (np.sin(2 * math.pi * f1 * xx + rng.uniform(0, 6.3)) * np.sin(2 * math.pi * f2 * yy) > 0).astype(np.float32)
    if kind >= 2:  # patterns at reduced contrast, so the digit stays the strongest shape
        c2 = c1 + (c2 - c1) * rng.uniform(0.2, 0.5)
    return (c1[None, None, :] * (1 - t[..., None]) + c2[None, None, :] * t[..., None]).astype(np.float32)


def _stroke_colour(bg: np.ndarray, brighter: bool, rng: np.random.Generator) -> np.ndarray:
    """A random colour clearly brighter (or darker) than the background, so the digit reads."""
    lb = _luma(bg)
    for _ in range(30):
        c = _colour(rng)
        gap = _luma(c) - lb
        if (gap if brighter else -gap) >= _MIN_CONTRAST:
            return c
    return np.full(3, 1.0 if brighter else 0.0, dtype=np.float32)


def _target_image(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blend a digit mask with random colour textures, MNIST-M style; returns uint8 [size, size, 3].

    Backgrounds are mostly darker than mid-grey (like the photo crops of MNIST-M), so most
    strokes end up brighter than their background, as in the source, but not all of them.
    """
    size = mask.shape[0]
    bg = _texture(size, rng)
    if rng.uniform() < 0.15:  # patch of a second texture somewhere (busier backgrounds)
        patch = _texture(size, rng)
        x0, y0 = rng.integers(0, size // 2, size=2)
        w, h = rng.integers(size // 3, size, size=2)
        bg[y0 : y0 + h, x0 : x0 + w] = patch[y0 : y0 + h, x0 : x0 + w]
    bg *= rng.uniform(0.3, 0.9)
    m = mask[..., None]
    if rng.uniform() < 0.5 and _luma(bg) < 0.5 - _MIN_CONTRAST / 2:
        out = np.abs(bg - m)  # MNIST-M: the stroke inverts the background colour
    else:  # the stroke is a colour, shaded a little, that contrasts with the background
        brighter = _luma(bg) < 1 - _MIN_CONTRAST and rng.uniform() < _BRIGHT_STROKE
        fg = _stroke_colour(bg, brighter, rng)[None, None, :] * rng.uniform(0.9, 1.1, size=(size, size, 1))
        out = bg * (1 - m) + fg * m
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def _source_image(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grey/white stroke on a dark background; uint8 [size, size]."""
    ink = rng.uniform(0.75, 1.0)
    paper = rng.uniform(0.0, 0.08)
    return (np.clip(paper + (ink - paper) * mask, 0, 1) * 255 + 0.5).astype(np.uint8)


def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8×8 digits (1,797 images, values 0..16), read without importing sklearn (slow)."""
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if csv is not None and csv.is_file():
        with gzip.open(csv, "rt") as fh:
            data = np.loadtxt(fh, delimiter=",", dtype=np.float32)
        return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits  # pragma: no cover - layout changed in a future sklearn

    d = load_digits()
    return d.images.astype(np.float32), d.target.astype(np.int64)


def assign_digits(targets: np.ndarray, per_class: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Indices of the original digits for "source", "train" (target) and "test" (target), per class.

    Target train/test take distinct originals; the source draws only from the rest, repeating
    them (each copy gets its own jitter later) to reach `per_class`. Target train is shuffled
    across classes, so file order in the flat folder reveals nothing.
    """
    n_train = min(_MAX_TRAIN, max(1, round(per_class * _TRAIN_SHARE)))
    n_test = min(_MAX_TEST, max(1, round(per_class * _TEST_SHARE)))
    parts: dict[str, list[int]] = {"source": [], "train": [], "test": []}
    for label in range(10):
        idx = np.flatnonzero(targets == label)
        rng.shuffle(idx)
        test, train, rest = idx[:n_test], idx[n_test : n_test + n_train], idx[n_test + n_train :]
        parts["test"] += test.tolist()
        parts["train"] += train.tolist()
        parts["source"] += [int(rest[k % len(rest)]) for k in range(per_class)]
    train_idx = np.array(parts["train"])[rng.permutation(len(parts["train"]))]
    return {"source": np.array(parts["source"]), "train": train_idx, "test": np.array(parts["test"])}


TargetRenderer = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
"""(8×8 digit, image side, rng) -> one target image, uint8 [size, size] or [size, size, 3]."""


def _textured_target(digit8: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return _target_image(_digit_mask(digit8, size, rng), rng)


def render_pair(target: TargetRenderer, *, seed: int = 0, size: int = 32, per_class: int = 150) -> DemoArrays:
    """Source digits and target digits drawn by `target` (deterministic for `seed`; disjoint originals).

    The source is the same for every target renderer and seed, so the shifts of the zoo differ
    only in their target domain.
    """
    if size < 8:
        raise UserError(f"demo image size is {size}; use at least 8 pixels (e.g. 32).")
    if per_class < 1:
        raise UserError(f"per_class is {per_class}; use at least 1 (e.g. 150).")
    images8, targets = _load_digits()
    rng = np.random.default_rng(seed)
    parts = assign_digits(targets, per_class, rng)
    src = [_source_image(_digit_mask(images8[i], size, rng), rng) for i in parts["source"]]
    trn = [target(images8[i], size, rng) for i in parts["train"]]
    tst = [target(images8[i], size, rng) for i in parts["test"]]

    def labels(key: str) -> np.ndarray:
        return targets[parts[key]].astype(np.int64)

    return DemoArrays(np.stack(src), labels("source"), np.stack(trn), labels("train"), np.stack(tst), labels("test"))


def render_demo(*, seed: int = 0, size: int = 32, per_class: int = 150) -> DemoArrays:
    """Render the demo (the zoo's "texture" shift) in memory, deterministic for `seed`."""
    return render_pair(_textured_target, seed=seed, size=size, per_class=per_class)


def make_demo(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    size: int = 32,
    per_class: int = 150,
    progress: Callable[[int, int], None] | None = None,
    shift: str = "texture",
) -> DemoPaths:
    """Write the demo as PNGs: out/source/<class>/, out/target/train/ (flat, unlabelled), out/target/test/<class>/.

    `shift` names the target domain from the shift zoo (engine.data.shifts; "texture" is the
    original demo). `out_dir` must be new or empty. ~2,400 files at the defaults, a few seconds.
    """
    from engine.data.shifts import get_shift

    spec = get_shift(shift)  # an unknown name fails before anything is written
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not an empty folder; choose a new folder for the demo data.")
    arrays = render_pair(spec.render, seed=seed, size=size, per_class=per_class)
    paths = DemoPaths(out / "source", out / "target" / "train", out / "target" / "test")
    jobs: list[tuple[Path, np.ndarray]] = []
    counters = dict.fromkeys(range(10), 0)
    for img, lab in zip(arrays.source, arrays.source_labels, strict=False):
        jobs.append((paths.source / CLASSES[lab] / f"{CLASSES[lab]}_{counters[lab]:04d}.png", img))
        counters[lab] += 1
    for i, img in enumerate(arrays.target_train):
        jobs.append((paths.target_train / f"{i:05d}.png", img))
    counters = dict.fromkeys(range(10), 0)
    for img, lab in zip(arrays.target_test, arrays.target_test_labels, strict=False):
        jobs.append((paths.target_test / CLASSES[lab] / f"{CLASSES[lab]}_{counters[lab]:04d}.png", img))
        counters[lab] += 1
    for d in {p.parent for p, _ in jobs}:
        d.mkdir(parents=True, exist_ok=True)
    for k, (p, img) in enumerate(jobs, 1):
        Image.fromarray(img, "L" if img.ndim == 2 else "RGB").save(p, "PNG")
        if progress is not None and (k % 100 == 0 or k == len(jobs)):
            progress(k, len(jobs))
    (out / "README.txt").write_text(
        f"Transfer Studio demo (scikit-learn 8x8 digits), shift '{spec.name}': {spec.summary}\n"
        f"Seed {seed}, {size}x{size} pixels.\n"
        "source/        labelled clean grey digits (train here)\n"
        "target/train/  unlabelled shifted digits (for domain adaptation)\n"
        "target/test/   labelled shifted digits (only to measure target accuracy)\n",
        encoding="utf-8",
    )
    return paths
