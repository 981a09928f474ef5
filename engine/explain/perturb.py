"""Occlusion and RISE: maps from the model's answers alone, so they work on any ONNX file.

Both take a `Scorer`: a function from float [0, 1] images [N, 3, H, W] to class probabilities
[N, classes] (an onnxruntime session through OnnxClassifier, or a PyTorch model), called in
batches. A `QueryCounter` wraps it and counts the images sent, the figure that says what a map
costs on a model behind an API. Each call returns maps for every class at once: the same queries
answer "why this class" for the predicted and the true class alike.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.core.control import JobControl

Scorer = Callable[[np.ndarray], np.ndarray]


class QueryCounter:
    """A scorer that runs in batches of at most `batch_size` and counts the images it scored."""

    def __init__(self, scorer: Scorer, batch_size: int = 64, control: JobControl | None = None) -> None:
        self.scorer = scorer
        self.batch_size = max(1, int(batch_size))
        self.control = control
        self.queries = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        outs = []
        for i in range(0, len(x), self.batch_size):
            if self.control is not None:
                self.control.check()
            chunk = np.ascontiguousarray(x[i : i + self.batch_size], dtype=np.float32)
            outs.append(np.asarray(self.scorer(chunk), dtype=np.float32))
            self.queries += len(chunk)
        return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def default_window(size: int) -> int:
    """An occluding square of about an eighth of the side (4 px at 32, 28 at 224)."""
    return max(2, round(size / 8))


def occlusion(
    score: Scorer, image: np.ndarray, window: int | None = None, stride: int | None = None, fill: float = 0.5
) -> np.ndarray:
    """Maps [classes, H, W]: the drop in each class's probability when a grey square hides a pixel.

    Zeiler and Fergus (2014): slide a `window` square (stride half of it) over the image, score
    every occluded copy, and give each pixel the mean drop over the squares that covered it.
    """
    _, h, w = image.shape
    window = window or default_window(max(h, w))
    stride = stride or max(1, window // 2)
    ys = sorted({*range(0, max(h - window, 0) + 1, stride), max(h - window, 0)})
    xs = sorted({*range(0, max(w - window, 0) + 1, stride), max(w - window, 0)})
    boxes = [(y, x) for y in ys for x in xs]
    batch = np.repeat(image[None], len(boxes), axis=0)
    for k, (y, x) in enumerate(boxes):
        batch[k, :, y : y + window, x : x + window] = fill
    base = score(image[None])[0]
    probs = score(batch)
    drop = base[None] - probs  # [boxes, classes]
    total = np.zeros((drop.shape[1], h, w), np.float64)
    count = np.zeros((h, w), np.float64)
    for k, (y, x) in enumerate(boxes):
        total[:, y : y + window, x : x + window] += drop[k][:, None, None]
        count[y : y + window, x : x + window] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)


def rise_masks(n: int, size: int, cells: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """`n` smooth random masks [n, size, size] in [0, 1]: a `cells` x `cells` binary grid kept with
    probability `p`, upsampled bilinearly to a cell larger than the image and shifted at random."""
    from PIL import Image

    cell = int(np.ceil(size / cells))
    up = (cells + 1) * cell
    grids = (rng.random((n, cells, cells)) < p).astype(np.float32)
    masks = np.empty((n, size, size), np.float32)
    for i in range(n):
        big = np.asarray(Image.fromarray(grids[i]).resize((up, up), Image.Resampling.BILINEAR), dtype=np.float32)
        dy, dx = rng.integers(0, cell, size=2)
        masks[i] = big[dy : dy + size, dx : dx + size]
    return masks


def rise(
    score: Scorer,
    image: np.ndarray,
    n_masks: int = 1000,
    cells: int = 7,
    p: float = 0.5,
    seed: int = 0,
    chunk: int = 256,
    fill: float = 0.5,
) -> np.ndarray:
    """Maps [classes, H, W] by RISE (Petsiuk et al. 2018): the expected probability of each class
    over random masks that keep a pixel, E[p(x M + fill (1 - M)) | M(pixel) = 1] = sum_i p_i M_i / (n p).

    Hidden pixels turn grey (`fill`), as under occlusion, rather than black as in the paper: a
    black-masked image darkens everywhere, and a model that looks for a bright object (the tests'
    white patch) then sees none under any mask, so every pixel scores alike."""
    _, h, w = image.shape
    rng = np.random.default_rng(seed)
    total: np.ndarray | None = None
    done = 0
    while done < n_masks:
        k = min(chunk, n_masks - done)
        masks = rise_masks(k, max(h, w), cells, p, rng)[:, :h, :w]
        probs = score(image[None] * masks[:, None] + fill * (1 - masks[:, None]))  # [k, classes]
        part = np.tensordot(probs, masks, axes=([0], [0]))  # [classes, H, W]
        total = part if total is None else total + part
        done += k
    assert total is not None
    return (total / (n_masks * p)).astype(np.float32)
