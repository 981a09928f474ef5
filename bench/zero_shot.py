"""Zero-shot benchmark: demo digits with some digits held out, DAP and ESZSL, with and without
calibrated stacking.

The demo's source digits are split (engine.data.zero_shot_demo): the seen digits train
(70 % of their images), the test folder holds the other 30 % of the seen digits and every image
of the unseen ones. The attribute table is the one the app ships
(resources/attributes/demo_digits.csv). Each run is evaluated as `transfer-studio evaluate`
does: generalised zero-shot (every class competes) seen and unseen accuracy (per-class means)
and their harmonic mean H, with the run's calibration (gamma chosen on seen validation images)
and without (gamma = 0); and the conventional zero-shot accuracy (unseen images among the
unseen classes only). Mean ± std over seeds; one thread.

    .venv/bin/python bench/zero_shot.py                          # 3 seeds, digits 3 6 7 unseen
    .venv/bin/python bench/zero_shot.py --seeds 0 --unseen 2 5 9 --epochs 5
    .venv/bin/python bench/zero_shot.py --methods dap --set attribute_weight=0
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import mean_std  # noqa: E402  (bench/ on sys.path above)

TABLE = ROOT / "resources" / "attributes" / "demo_digits.csv"
FIGURES = ["seen", "unseen", "H"]


def one_run(split: Any, runs: Path, zsl: str, seed: int, epochs: int, extra: dict[str, Any]) -> dict[str, Any]:
    from engine.analysis.evaluate import evaluate_run
    from engine.core.config import TrainConfig
    from engine.jobs.evaluate import EvaluateConfig
    from engine.training.trainer import run_train

    cfg = TrainConfig(
        source=split.seen,
        method="zero_shot",
        method_options={"attributes": str(TABLE), "zsl": zsl, **extra},
        weights="random",
        epochs=epochs,
        seed=seed,
        runs_dir=runs,
        name=f"{zsl}-seed{seed}",
    )
    t0 = time.perf_counter()
    result = run_train(cfg)
    seconds = time.perf_counter() - t0
    report = evaluate_run(EvaluateConfig(run_dir=result.run_dir, data=split.test, device="cpu"))
    zs = report["zero_shot"]
    return {
        "zsl": zsl,
        "seed": seed,
        "seconds": seconds,
        "gamma": zs.calibration,
        "calibrated": zs.calibrated.model_dump(),
        "uncalibrated": zs.uncalibrated.model_dump(),
        "zsl_unseen_acc": zs.zsl_unseen_acc,
    }


def main() -> None:
    import torch

    from engine.data.demo import make_demo
    from engine.data.zero_shot_demo import split_zero_shot

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--unseen", nargs="+", default=["3", "6", "7"], help="digits held out")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--methods", nargs="+", default=["dap", "eszsl"])
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a zero_shot setting for every run")
    p.add_argument("--json", type=Path, help="also write every run's figures here")
    args = p.parse_args()
    from engine.cli.common import parse_options

    extra = dict(parse_options(args.set))
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="zsl-bench-"))
    demo = make_demo(tmp / "demo", per_class=150)
    rows: list[dict[str, Any]] = []
    for seed in args.seeds:
        split = split_zero_shot(demo.source, tmp / f"split{seed}", args.unseen, test_share=0.3, seed=seed)
        for zsl in args.methods:
            row = one_run(split, tmp / "runs", zsl, seed, args.epochs, extra)
            rows.append(row)
            c, u = row["calibrated"], row["uncalibrated"]
            print(
                f"seed {seed} {zsl}: calibrated (gamma {row['gamma']:.3g}) seen {c['seen_acc']:.3f} unseen "
                f"{c['unseen_acc']:.3f} H {c['h']:.3f}; uncalibrated seen {u['seen_acc']:.3f} unseen "
                f"{u['unseen_acc']:.3f} H {u['h']:.3f}; ZSL {row['zsl_unseen_acc']:.3f}; {row['seconds']:.0f} s",
                flush=True,
            )
    print()
    print(f"unseen digits {', '.join(args.unseen)}; {len(args.seeds)} seeds; {args.epochs} epochs; {extra or ''}")
    print("| method | calibration | seen acc | unseen acc | H | ZSL acc (unseen only) | time / run (s) |")
    print("|---|---|---|---|---|---|---|")
    for zsl in args.methods:
        mine = [r for r in rows if r["zsl"] == zsl]
        for key, label in (("uncalibrated", "none"), ("calibrated", "calibrated stacking")):
            figs = [mean_std([r[key][k] for r in mine]) for k in ("seen_acc", "unseen_acc", "h")]
            zsl_acc = mean_std([r["zsl_unseen_acc"] for r in mine])
            secs = statistics.fmean(r["seconds"] for r in mine)
            print(f"| {zsl.upper()} | {label} | {' | '.join(figs)} | {zsl_acc} | {secs:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
