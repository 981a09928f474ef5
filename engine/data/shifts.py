"""The shift zoo: six offline digit domain shifts to measure domain adaptation on.

Every shift shares the demo's source (clean grey digits from scikit-learn's 8×8 set, upscaled
with a small affine jitter) and changes only the target domain, so a method's gain on one shift
cannot come from an easier source. A method tuned on the demo ("texture") alone can be checked
on five shifts it was not tuned on, the way issue 21 measured the app from outside:

- texture: the original demo, digits blended into random colour textures (MNIST -> MNIST-M);
- blur: the same grey digits under a strong Gaussian blur at lower contrast;
- rotation: digits turned by 35-65 degrees, either way (the source turns at most 12);
- inversion: dark digits on light paper (the source is light on dark);
- noise: heavy Gaussian pixel noise plus salt-and-pepper specks;
- scale: small digits (about 40 % of the source's size) anywhere in the frame.

Each renders deterministically from its seed (`render_shift`) and is written by
`make_demo(dir, shift=NAME)`, i.e. `transfer-studio demo DIR --shift NAME`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from engine.core.errors import UserError
from engine.data.demo import (
    DemoArrays,
    TargetRenderer,
    _digit_mask,
    _source_image,
    _textured_target,
    render_pair,
)


@dataclass(frozen=True)
class Shift:
    """One entry of the zoo: its name, a one-line description and its target renderer."""

    name: str
    summary: str
    render: TargetRenderer


def _grey(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def _blur(digit8: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    img = Image.fromarray(_source_image(_digit_mask(digit8, size, rng), rng), "L")
    radius = rng.uniform(1.8, 2.6) * size / 32  # strokes are ~3 px wide at 32 px: they smear into blobs
    soft = np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255.0
    gain = rng.uniform(0.55, 0.8)  # and the blurred digit is dimmer, as an out-of-focus shot is
    return _grey(soft * gain + rng.uniform(0.02, 0.12))


def _rotation(digit8: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    lo, hi = sorted((sign * 35.0, sign * 65.0))
    return _source_image(_digit_mask(digit8, size, rng, angle_deg=(lo, hi)), rng)


def _inversion(digit8: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return 255 - _source_image(_digit_mask(digit8, size, rng), rng)


def _noise(digit8: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    img = _source_image(_digit_mask(digit8, size, rng), rng).astype(np.float32) / 255.0
    img = img + rng.normal(0.0, rng.uniform(0.25, 0.4), size=img.shape)
    specks = rng.uniform(size=img.shape)
    share = rng.uniform(0.05, 0.12)
    img[specks < share / 2] = 0.0
    img[specks > 1 - share / 2] = 1.0
    return _grey(img)


def _scale(digit8: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    mask = _digit_mask(digit8, size, rng, scale_range=(0.26, 0.36), offset=0.26)
    return _source_image(mask, rng)


SHIFTS: dict[str, Shift] = {
    s.name: s
    for s in (
        Shift(
            "texture",
            "digits blended into random colour textures (the original demo, MNIST -> MNIST-M)",
            _textured_target,
        ),
        Shift("blur", "grey digits under a strong Gaussian blur, dimmer", _blur),
        Shift("rotation", "grey digits turned by 35-65 degrees either way", _rotation),
        Shift("inversion", "dark digits on light paper", _inversion),
        Shift("noise", "grey digits under heavy Gaussian and salt-and-pepper noise", _noise),
        Shift("scale", "small grey digits (~40 % of the source's size) anywhere in the frame", _scale),
    )
}


def shift_names() -> list[str]:
    return list(SHIFTS)


def get_shift(name: str) -> Shift:
    try:
        return SHIFTS[name]
    except KeyError:
        raise UserError(f"unknown shift '{name}'; choose one of: {', '.join(SHIFTS)}.") from None


def render_shift(name: str, *, seed: int = 0, size: int = 32, per_class: int = 150) -> DemoArrays:
    """Source, target train and target test of one shift, in memory (uint8 arrays and labels)."""
    return render_pair(get_shift(name).render, seed=seed, size=size, per_class=per_class)
