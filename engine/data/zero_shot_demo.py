"""A zero-shot split of a labelled folder: some classes held out as unseen.

`split_zero_shot(src, out, unseen)` writes `out/seen` (training images of the seen classes) and
`out/test` (held-out images of the seen classes plus every image of the unseen ones), the layout
of the generalised zero-shot protocol (Xian et al. 2018): training never sees an unseen class,
and the test folder mixes both kinds. The bench and the tests build theirs from the demo digits.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from engine.core.errors import UserError


@dataclass(frozen=True)
class ZeroShotSplit:
    seen: Path  # class sub-folders of the seen classes: the training folder
    test: Path  # class sub-folders of every class: seen (held-out images) and unseen


def split_zero_shot(
    source: Path, out: Path, unseen: list[str], test_share: float = 0.3, seed: int = 0, per_class: int | None = None
) -> ZeroShotSplit:
    """Copy `source` (class sub-folders) into seen/ and test/; `per_class` caps the images taken."""
    classes = sorted(p.name for p in source.iterdir() if p.is_dir())
    unknown = [c for c in unseen if c not in classes]
    if unknown:
        raise UserError(
            f"{source}: has no class folders {', '.join(unknown)} to hold out (it has {', '.join(classes)})."
        )
    if len(classes) - len(unseen) < 2:
        raise UserError(f"{source}: holding out {', '.join(unseen)} leaves fewer than 2 seen classes.")
    rng = random.Random(seed)
    split = ZeroShotSplit(out / "seen", out / "test")
    for name in classes:
        files = sorted(p for p in (source / name).iterdir() if p.is_file())
        rng.shuffle(files)
        files = files[:per_class] if per_class else files
        n_test = len(files) if name in unseen else max(1, round(test_share * len(files)))
        for i, f in enumerate(files):
            dest = (split.test if i < n_test else split.seen) / name
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, dest / f.name)
    return split


def main(argv: list[str] | None = None) -> int:
    """`python -m engine.data.zero_shot_demo SOURCE OUT 3 6 7`: the split the README's example uses."""
    import argparse

    p = argparse.ArgumentParser(description="Split a labelled folder for zero-shot learning: hold out some classes.")
    p.add_argument("source", type=Path, help="labelled folder (class sub-folders), e.g. demo-data/source")
    p.add_argument("out", type=Path, help="where to write seen/ and test/")
    p.add_argument("unseen", nargs="+", help="classes held out (no training images)")
    p.add_argument("--test-share", type=float, default=0.3, help="share of each seen class's images kept for testing")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        split = split_zero_shot(args.source, args.out, args.unseen, args.test_share, args.seed)
    except UserError as err:
        print(f"error: {err}")
        return 2
    print(f"seen (train on it):        {split.seen}")
    print(f"test (seen + unseen):      {split.test}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
