"""Data-parallel scaling on one machine: training images/s of 1 vs N torchrun processes on the
CPU (Gloo), or on CUDA GPUs when there are enough of them, and the multi-node command checked
with two "nodes" on localhost (--nnodes 2, --node_rank 0/1, --master_addr 127.0.0.1).

    python bench/ddp.py [--procs 2] [--epochs 3] [--per-class 100] [--threads 1] [--method finetune]

Throughput is measured over the training steps of every epoch after the first (evaluation
excluded: `epoch_time` in metrics.jsonl). Every process gets --threads intra-op threads, so on
the CPU N processes use N x threads cores; the ratio is meaningful only with that many free.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import demo_dir

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train_cmd(launcher: list[str], demo: Path, runs: Path, name: str, args: argparse.Namespace) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        *launcher,
        "-m",
        "engine.cli",
        "train",
        "--source",
        str(demo / "source"),
        "--target",
        str(demo / "target" / "train"),
        "--target-test",
        str(demo / "target" / "test"),
        "--method",
        args.method,
        "--epochs",
        str(args.epochs),
        "--batch-size",
        str(args.batch_size),
        "--lr",
        "3e-3",
        "--runs-dir",
        str(runs),
        "--name",
        name,
        "--quiet",
    ]


def env(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "TRANSFER_STUDIO_OFFLINE": "1", "PYTHONPATH": str(ROOT)}


def summary(run: Path, batch: int) -> dict[str, float]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    info = json.loads((run / "run.json").read_text())
    steps = rows[0]["step"]
    later = rows[1:] or rows
    seconds = sum(r["epoch_time"] for r in later)
    return {
        "images_per_s": steps * len(later) * batch / seconds,
        "val_acc": float(info["best_metrics"].get("val/acc", float("nan"))),
        "status": info["status"],
    }


def run_standalone(procs: int, demo: Path, runs: Path, args: argparse.Namespace) -> dict[str, float]:
    name = f"p{procs}"
    cmd = train_cmd(["--standalone", "--nproc_per_node", str(procs)], demo, runs, name, args)
    subprocess.run(cmd, env=env(args.threads), check=True, capture_output=True, cwd=ROOT)
    return summary(runs / name, args.batch_size)


def run_two_nodes(demo: Path, runs: Path, args: argparse.Namespace) -> dict[str, float]:
    """Two torchrun launchers, one per "node", rendezvous at 127.0.0.1: what a 2-machine job runs."""
    port = str(free_port())
    procs = []
    for node in (0, 1):
        launcher = ["--nnodes", "2", "--node_rank", str(node), "--nproc_per_node", "1"]
        launcher += ["--master_addr", "127.0.0.1", "--master_port", port]
        cmd = train_cmd(launcher, demo, runs, "nodes2", args)
        procs.append(subprocess.Popen(cmd, env=env(args.threads), cwd=ROOT, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=1800)[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"two-node run failed: {[p.returncode for p in procs]}")
    reports = [o.count("run: ") for o in outs]
    assert reports == [1, 0], reports  # the node with global rank 0 reports, the other is silent
    return summary(runs / "nodes2", args.batch_size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=64, help="the global batch")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    ap.add_argument("--method", default="finetune")
    ap.add_argument("--skip-nodes", action="store_true", help="skip the two-node check")
    args = ap.parse_args()
    demo = demo_dir(args.per_class)
    runs = Path(tempfile.mkdtemp(prefix="ts-ddp-"))
    one = run_standalone(1, demo, runs, args)
    many = run_standalone(args.procs, demo, runs, args)
    print(f"method {args.method}, global batch {args.batch_size}, {args.threads} thread(s) per process")
    print(f"1 process : {one['images_per_s']:8.1f} images/s   val/acc {one['val_acc']:.3f}")
    print(f"{args.procs} processes: {many['images_per_s']:8.1f} images/s   val/acc {many['val_acc']:.3f}")
    print(f"ratio {args.procs}/1: {many['images_per_s'] / one['images_per_s']:.2f}x")
    if not args.skip_nodes:
        nodes = run_two_nodes(demo, runs, args)
        print(
            f"2 nodes on localhost (--nnodes 2): {nodes['status']}, {nodes['images_per_s']:.1f} images/s, "
            f"val/acc {nodes['val_acc']:.3f}"
        )


if __name__ == "__main__":
    main()
