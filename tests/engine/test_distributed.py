"""torchrun: two CPU processes (Gloo) train one run together, and the model they save works.

The earlier test checked only the run folder's shape and passed while the saved model was at
chance (BatchNorm running averages that had seen one shard for a few steps). These tests compare
the accuracy of a 2-process run with the same run in one process (same seed, same global batch)
and check that the saved checkpoint evaluates to the accuracy the run reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.analysis.evaluate import EvaluateConfig, evaluate_run
from engine.core.config import TrainConfig
from engine.data.demo import DemoPaths, make_demo
from engine.training.trainer import run_train

EPOCHS = {"finetune": 3, "dann": 6}  # DANN's adversarial game needs a few more epochs to settle


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoPaths:
    """400 source images (320 to train, 80 to validate), 120 target-test images."""
    return make_demo(tmp_path_factory.mktemp("ddp") / "demo", per_class=40, seed=3)


def torchrun(demo: DemoPaths, runs: Path, method: str, batch_size: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSFER_STUDIO_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "engine.cli", "train", "--source", str(demo.source), "--target", str(demo.target_train)]
    cmd += ["--target-test", str(demo.target_test), "--method", method, "--epochs", str(EPOCHS.get(method, 1))]
    cmd += ["--batch-size", str(batch_size), "--lr", "0.003", "--seed", "0", "--runs-dir", str(runs)]
    cmd += ["--name", method, "--quiet"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method", ["finetune", "dann"])
def test_two_processes_train_as_well_as_one(demo: DemoPaths, tmp_path: Path, method: str) -> None:
    runs = tmp_path / "runs"
    proc = torchrun(demo, runs, method, batch_size=16)  # 2 ranks x 16 = the global batch of 32 below
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run: ") == 1  # only rank 0 reports
    assert [p.name for p in runs.iterdir()] == [method]  # one run directory, not one per rank
    run = runs / method
    rows = metrics(run)
    epochs = EPOCHS[method]
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert rows[-1]["step"] == epochs * (320 // 2 // 16)  # each rank did half of every epoch

    single = run_train(
        TrainConfig(
            source=demo.source,
            target=demo.target_train,
            target_test=demo.target_test,
            method=method,
            epochs=epochs,
            batch_size=32,
            lr=0.003,
            seed=0,
            runs_dir=tmp_path / "single",
            name=method,
        )
    )
    one = metrics(single.run_dir)[-1]
    two = rows[-1]
    assert one["val/acc"] > 0.5  # the reference itself learned (chance is 0.1)
    assert abs(two["val/acc"] - one["val/acc"]) <= 0.05, (one["val/acc"], two["val/acc"])
    assert abs(two["target/acc"] - one["target/acc"]) <= 0.10, (one["target/acc"], two["target/acc"])

    # the checkpoint rank 0 saved is the model whose accuracy the run reported
    info = json.loads((run / "run.json").read_text())
    report = evaluate_run(EvaluateConfig(run_dir=run, data=demo.target_test, checkpoint="best", device="cpu"))
    assert report["accuracy"] == pytest.approx(info["best_metrics"]["target/acc"], abs=1e-6)


def test_sync_bn_on_cpu_is_refused_with_a_reason(demo: DemoPaths, tmp_path: Path) -> None:
    cfg = tmp_path / "sync.toml"
    cfg.write_text("sync_bn = true\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TRANSFER_STUDIO_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "engine.cli"]
    cmd += [
        "train",
        "--config",
        str(cfg),
        "--source",
        str(demo.source),
        "--epochs",
        "1",
        "--runs-dir",
        str(tmp_path / "r"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "SyncBatchNorm needs CUDA" in proc.stderr
