"""torchrun: two CPU processes (Gloo) train one run together; rank 0 writes it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from engine.data.demo import DemoPaths


def test_torchrun_two_processes_train_one_run(tiny_demo: DemoPaths, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSFER_STUDIO_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "engine.cli",
        "train",
        "--source",
        str(tiny_demo.source),
        "--target",
        str(tiny_demo.target_train),
        "--method",
        "finetune",
        "--epochs",
        "2",
        "--batch-size",
        "16",
        "--runs-dir",
        str(runs),
        "--name",
        "ddp",
        "--quiet",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run: ") == 1  # only rank 0 reports
    run = runs / "ddp"
    assert [p.name for p in runs.iterdir()] == ["ddp"]  # one run directory, not one per rank
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished"
    # each rank did half the steps: 96 training images / 2 ranks / 16 per batch = 3 steps an epoch
    assert rows[-1]["step"] == 6
