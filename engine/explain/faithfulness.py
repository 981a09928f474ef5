"""Deletion and insertion (Petsiuk et al. 2018): does the map point at what the model uses?

Deletion replaces the pixels in the map's order, most salient first, by a blurred copy of the
image and follows the class probability: a faithful map makes it fall fast (low AUC). Insertion
starts from the blurred copy and puts the pixels back in the same order: a faithful map makes
the probability rise fast (high AUC). A blurred baseline rather than black keeps the images
closer to what the model has seen. A random map (uniform noise) is the bar every method must
clear; `score = insertion - deletion` ranks methods in one number.
"""

from __future__ import annotations

import numpy as np

from engine.explain.perturb import Scorer


def blurred(image: np.ndarray) -> np.ndarray:
    """The image [3, H, W] under a Gaussian blur of radius a fifth of its side: enough to wipe out
    a small object (a tenth left the planted patch of the tests recognisable)."""
    from PIL import Image, ImageFilter

    hwc = (np.clip(image.transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8)
    radius = max(1.0, image.shape[-1] / 5)
    out = np.asarray(Image.fromarray(hwc).filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def pixel_order(saliency: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat pixel indices, most salient first; ties (flat regions of a map) in random order."""
    flat = saliency.reshape(-1)
    return np.lexsort((rng.random(flat.size), -flat))


def curves(
    score: Scorer, image: np.ndarray, saliency: np.ndarray, target: int, steps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Probability of `target` after deleting / inserting 0, 1/steps, ..., all of the pixels."""
    _, h, w = image.shape
    order = pixel_order(saliency, rng)
    base = blurred(image)
    counts = np.linspace(0, h * w, steps + 1).round().astype(int)
    rank = np.empty(h * w, np.int64)
    rank[order] = np.arange(h * w)
    masks = (rank[None] < counts[:, None]).reshape(steps + 1, 1, h, w)  # True: pixel taken
    deleted = np.where(masks, base[None], image[None])
    inserted = np.where(masks, image[None], base[None])
    probs = score(np.concatenate([deleted, inserted]).astype(np.float32))[:, target]
    return probs[: steps + 1], probs[steps + 1 :]


def auc(curve: np.ndarray) -> float:
    """Area under a curve sampled at evenly spaced fractions of [0, 1] (trapezoids)."""
    return float(np.trapezoid(curve, dx=1.0 / max(len(curve) - 1, 1)))


def faithfulness(
    score: Scorer, image: np.ndarray, saliency: np.ndarray, target: int, steps: int = 24, seed: int = 0
) -> dict[str, float]:
    """Deletion and insertion AUC of `saliency` [H, W] and of a random map, for class `target`."""
    rng = np.random.default_rng(seed)
    d, i = curves(score, image, saliency, target, steps, rng)
    rd, ri = curves(score, image, rng.random(saliency.shape), target, steps, rng)
    return {
        "deletion": auc(d),
        "insertion": auc(i),
        "random_deletion": auc(rd),
        "random_insertion": auc(ri),
    }


def score_of(scores: dict[str, float]) -> float:
    """One number per map: insertion minus deletion (higher is more faithful)."""
    return scores["insertion"] - scores["deletion"]
