"""Deterministic stratified train/validation split. No torch here."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from engine.core.errors import UserError


def stratified_split(labels: Sequence[Hashable], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Split indices 0..N-1 into (train, val), keeping each class's share close to `val_fraction`.

    Same labels + fraction + seed -> same split. A class with >= 2 items gets at least one item
    in each part; a class with one item goes to train. val_fraction 0 gives an empty val list.
    Unlabelled items (None or -1) are treated as one more group.
    """
    if not 0.0 <= float(val_fraction) < 1.0:
        raise UserError(f"val_fraction is {val_fraction}; use a number from 0 (no validation) to below 1, e.g. 0.2.")
    n = len(labels)
    if val_fraction == 0 or n == 0:
        return list(range(n)), []
    groups: dict[Hashable, list[int]] = {}
    for i, lab in enumerate(labels):
        groups.setdefault(lab, []).append(i)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    for key in sorted(groups, key=lambda k: (k is None, str(type(k)), k if k is not None else 0)):
        idx = np.array(groups[key])
        rng.shuffle(idx)
        k = len(idx)
        n_val = round(k * val_fraction)
        if k >= 2:
            n_val = min(max(n_val, 1), k - 1)
        else:
            n_val = 0
        val += idx[:n_val].tolist()
        train += idx[n_val:].tolist()
    return sorted(train), sorted(val)
