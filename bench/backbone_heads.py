"""Which part of the small CNN costs target accuracy under shift? Source-only, in memory.

Trains variants of `SmallCNN` (convs per block, channel widths, global-average-pooling vs
flatten -> 256 -> dropout head) on the zoo's shared source (clean grey digits) and measures each
on the target test images of every shift in the zoo. The source is the same for every shift,
so one training per variant and seed serves all of them. Plain loop (AdamW, cosine, batch 64),
no target images during training; the target is measured in eval mode with source BatchNorm
statistics, as a source-only model is deployed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/backbone_heads.py --seeds 2 --epochs 6
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# name -> SmallCNN options
VARIANTS: dict[str, dict[str, Any]] = {
    "2conv 32-64-128 gap (old small_cnn)": {"convs": 2, "head": "gap"},
    "2conv 32-64-128 flatten": {"convs": 2, "head": "flatten"},
    "1conv 32-64-128 gap": {"convs": 1, "head": "gap"},
    "1conv 32-64-128 flatten (new small_cnn)": {"convs": 1, "head": "flatten"},
    "1conv 16-32-64 flatten (issue's reference)": {"convs": 1, "head": "flatten", "channels": (16, 32, 64)},
}


def _tensor(images: Any) -> Any:
    import torch

    x = torch.from_numpy(images)
    if x.ndim == 3:
        x = x.unsqueeze(-1).expand(-1, -1, -1, 3)
    return x.permute(0, 3, 1, 2).float().div(255)


def train_eval(options: dict[str, Any], seed: int, data: dict[str, Any], epochs: int) -> dict[str, float]:
    """Train one variant on the source; target accuracy (eval mode) on every shift."""
    import torch
    from torch.nn import functional as F

    from engine.models.backbones import SmallCNN
    from engine.models.classifier import ImageClassifier

    torch.manual_seed(seed)
    net = SmallCNN(**options)
    model = ImageClassifier(net, net.dim, 10, (0.5,) * 3, (0.25,) * 3)
    xs, ys = data["source"]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    steps = epochs * (len(xs) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xs), generator=g)
        for i in range(0, len(xs) - 63, 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    out = {}
    with torch.no_grad():
        for name, (xt, yt) in data["targets"].items():
            out[name] = float((model(xt).argmax(1) == yt).float().mean())
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    from engine.data.shifts import render_shift, shift_names

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--per-class", type=int, default=150)
    ap.add_argument("--variants", nargs="+", help="Substrings of the variant names to run (default: all).")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    names = shift_names()
    arrays = {n: render_shift(n, seed=0, per_class=args.per_class) for n in names}
    src = arrays[names[0]]
    data = {
        "source": (_tensor(src.source), torch.from_numpy(src.source_labels)),
        "targets": {n: (_tensor(a.target_test), torch.from_numpy(a.target_test_labels)) for n, a in arrays.items()},
    }
    variants = {k: v for k, v in VARIANTS.items() if not args.variants or any(s in k for s in args.variants)}
    results: dict[str, list[dict[str, float]]] = {}
    for vname, options in variants.items():
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            r = train_eval(options, seed, data, args.epochs)
            results.setdefault(vname, []).append(r)
            accs = " ".join(f"{n} {r[n] * 100:.1f}" for n in names)
            print(f"{vname} seed {seed}: {accs} ({time.perf_counter() - t0:.0f} s)", flush=True)
    print()
    print(f"Source-only target accuracy (%), mean over {args.seeds} seed(s), {args.epochs} epochs:")
    print("| backbone | " + " | ".join(names) + " | mean |")
    print("|---|" + "---|" * (len(names) + 1))
    for vname, rs in results.items():
        means = [statistics.fmean(r[n] for r in rs) * 100 for n in names]
        print(f"| {vname} | " + " | ".join(f"{m:.1f}" for m in means) + f" | {statistics.fmean(means):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
