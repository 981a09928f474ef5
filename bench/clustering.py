"""Self-taught clustering benchmark: the demo's target test images (labels hidden from the
clustering, used only to score it) clustered by k-means with k = 10 from four kinds of features:
raw pixels, a source-trained model, a DANN run, and SSL pretraining on the unlabelled target.

Prints a markdown table of NMI, ARI and accuracy (Hungarian matching), and auto-k's choice,
and writes JSON. Runs it does not get (--source-run, --dann-run, --ssl-run) it trains first.

    OMP_NUM_THREADS=1 .venv/bin/python bench/clustering.py --data DEMO --seeds 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _common import pretrain_digits, save_json, spread  # noqa: E402  (bench/ is the script's own folder, on sys.path)


def train(data: Path, method: str, epochs: int, runs: Path) -> Path:
    from engine.core.config import TrainConfig
    from engine.training.trainer import run_train

    cfg = TrainConfig(
        source=data / "source",
        target=data / "target" / "train" if method != "finetune" else None,
        target_test=data / "target" / "test",
        method=method,
        weights="random",
        epochs=epochs,
        runs_dir=runs,
    )
    return run_train(cfg).run_dir


def pretrain(data: Path, epochs: int, runs: Path) -> Path:
    return Path(pretrain_digits([data / "target" / "train"], runs, epochs=epochs).run_dir)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, help="an existing demo folder (default: write one)")
    ap.add_argument("--source-run", type=Path)
    ap.add_argument("--dann-run", type=Path)
    ap.add_argument("--ssl-run", type=Path)
    ap.add_argument("--epochs", type=int, default=10, help="training epochs of runs made here")
    ap.add_argument("--ssl-epochs", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=3, help="k-means seeds")
    ap.add_argument("--json", type=Path, default=Path("bench/clustering.json"))
    args = ap.parse_args()

    import torch

    from engine.analysis.clustering import ClusterConfig, run_cluster
    from engine.data.demo import make_demo

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="clustering_"))
    data = args.data or make_demo(work / "demo").source.parent
    runs = work / "runs"
    sources = {
        "raw pixels": "pixels",
        "source-trained model": str(args.source_run or train(data, "finetune", args.epochs, runs)),
        "DANN run": str(args.dann_run or train(data, "dann", args.epochs, runs)),
        "SimCLR on the unlabelled target": str(args.ssl_run or pretrain(data, args.ssl_epochs, runs)),
    }
    layers = {name: "features" for name in sources}
    sources["DANN run, class probabilities"] = sources["DANN run"]
    layers["DANN run, class probabilities"] = "probabilities"
    rows: dict[str, dict[str, list[float]]] = {}
    for name, features in sources.items():
        for seed in range(args.seeds):
            t0 = time.process_time()
            cfg = ClusterConfig(folder=data / "target" / "test", features=features, layer=layers[name], k=10, seed=seed)
            report = run_cluster(cfg)
            assert report.metrics is not None
            row = rows.setdefault(name, {})
            for key, value in report.metrics.items():
                row.setdefault(key, []).append(value)
            row.setdefault("cpu_s", []).append(time.process_time() - t0)
        auto = run_cluster(ClusterConfig(folder=data / "target" / "test", features=features, layer=layers[name]))
        rows[name]["auto_k"] = [float(auto.k)]
        print(f"{name}: { ({k: round(statistics.fmean(v), 3) for k, v in rows[name].items()}) }", flush=True)

    print(f"\ntarget test images of the demo, k-means with k = 10, {args.seeds} seed(s)\n")
    print("| features | NMI | ARI | accuracy | auto k | CPU s |\n|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(
            f"| {name} | {spread(r['nmi'], 3)} | {spread(r['ari'], 3)} | {spread(r['accuracy'], 3)} | {int(r['auto_k'][0])} | "
            f"{statistics.fmean(r['cpu_s']):.1f} |"
        )
    save_json(args.json, {"rows": rows, "features": sources})
    return 0


if __name__ == "__main__":
    sys.exit(main())
