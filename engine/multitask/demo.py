"""The multitask demo: grey digits with two label sets, one plentiful and one scarce.

`digit` (10 classes) labels every training image; `parity` (even / odd, a property of the
digit) labels only `scarce` images a class. Learning parity from 20 images is hard (five digit
shapes hide behind each label); learning it next to the digits is easy, since the shared
features already tell the digits apart: the case multitask learning is for.

Written as a labels table (labels.csv: path, digit, parity; parity empty for most rows), the same
labels as one folder per task (tasks/digit/<class>/, tasks/parity/<class>/, the parity images
being copies of the labelled ones), and a held-out test set labelled for both tasks
(test/labels.csv, and test/tasks/<task>/). Built from scikit-learn's bundled 8x8 digits; no download, no torch.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.core.csvfile import write_csv_rows
from engine.core.errors import UserError
from engine.data.demo import _digit_mask, _load_digits, _source_image

PARITY = ("even", "odd")


@dataclass(frozen=True)
class MultitaskDemoPaths:
    labels: Path  # labels.csv (path, digit, parity)
    tasks: dict[str, Path]  # one class folder per task
    test_labels: Path  # test/labels.csv, both labels on every image


def parity_of(digit: int) -> str:
    return PARITY[digit % 2]


def make_multitask_demo(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = 0,
    size: int = 32,
    per_class: int = 150,
    scarce: int = 10,
    test_per_class: int = 30,
    progress: Callable[[int, int], None] | None = None,
) -> MultitaskDemoPaths:
    """Write the demo (about 1,800 PNGs at the defaults, a few seconds); `out_dir` must be new or empty."""
    if size < 8:
        raise UserError(f"demo image size is {size}; use at least 8 pixels (e.g. 32).")
    if per_class < 2 or scarce < 1 or scarce * 5 > per_class * 10:
        raise UserError(f"per_class {per_class}, scarce {scarce}: use per_class >= 2 and 1 <= scarce <= per_class * 2.")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not an empty folder; choose a new folder for the demo data.")
    images8, targets = _load_digits()
    rng = np.random.default_rng(seed)
    train_src: list[int] = []
    test_src: list[int] = []
    for d in range(10):
        idx = np.flatnonzero(targets == d)
        rng.shuffle(idx)
        test_src += idx[:test_per_class].tolist()
        rest = idx[test_per_class:]
        train_src += [int(rest[k % len(rest)]) for k in range(per_class)]
    order = rng.permutation(len(train_src))
    train_digits = [int(targets[train_src[i]]) for i in order]
    # the scarce task: the first `scarce` images of each parity class in the shuffled order
    labelled: set[int] = set()
    for name in PARITY:
        rows = [i for i, d in enumerate(train_digits) if parity_of(d) == name][:scarce]
        labelled.update(rows)
    jobs: list[tuple[Path, np.ndarray]] = []
    train_rows: list[list[str]] = []
    for k, i in enumerate(order):
        img = _source_image(_digit_mask(images8[train_src[i]], size, rng), rng)
        rel = f"images/{k:05d}.png"
        jobs.append((out / rel, img))
        d = train_digits[k]
        train_rows.append([rel, str(d), parity_of(d) if k in labelled else ""])
    test_rows: list[list[str]] = []
    for k, i in enumerate(test_src):
        img = _source_image(_digit_mask(images8[i], size, rng), rng)
        rel = f"images/{k:05d}.png"
        jobs.append((out / "test" / rel, img))
        d = int(targets[i])
        test_rows.append([rel, str(d), parity_of(d)])
    for folder in {p.parent for p, _ in jobs}:
        folder.mkdir(parents=True, exist_ok=True)
    for n, (p, img) in enumerate(jobs, 1):
        Image.fromarray(img, "L").save(p, "PNG")
        if progress is not None and (n % 200 == 0 or n == len(jobs)):
            progress(n, len(jobs))
    header = ["path", "digit", "parity"]
    labels = write_csv_rows(out / "labels.csv", header, train_rows)
    test_labels = write_csv_rows(out / "test" / "labels.csv", header, test_rows)
    tasks = {"digit": out / "tasks" / "digit", "parity": out / "tasks" / "parity"}
    for base, written, folders in (
        (out, train_rows, tasks),
        (out / "test", test_rows, {t: out / "test" / "tasks" / t for t in tasks}),
    ):
        for rel, digit, parity in written:
            for task, cls in (("digit", digit), ("parity", parity)):
                if cls:
                    dest = folders[task] / cls / Path(rel).name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(base / rel, dest)
    (out / "README.txt").write_text(
        f"Transfer Studio multitask demo (scikit-learn 8x8 digits), seed {seed}, {size}x{size} pixels.\n"
        f"labels.csv        path, digit (every image), parity (only {scarce} images a class; empty = no label)\n"
        "tasks/<task>/     the same labels as one class folder per task\n"
        "test/labels.csv   held-out images labelled for both tasks (to measure)\n"
        "test/tasks/<task>/ the same held-out labels as one class folder per task (to attack one task)\n"
        "Train: transfer-studio train --labels labels.csv   (or --task digit=tasks/digit --task parity=tasks/parity)\n",
        encoding="utf-8",
    )
    return MultitaskDemoPaths(labels, tasks, test_labels)
