"""Point 7 (CLI): SIGTERM to `python -m engine.cli train` stops it at the next step with a
checkpoint, as Ctrl-C does; the run is marked stopped and can be resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.core.runs import open_run
from engine.data.demo import DemoPaths
from engine.training.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[3]


def test_sigterm_stops_cli_training_with_a_checkpoint(tiny_demo: DemoPaths, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "engine.cli", "train", "--source", str(tiny_demo.source)]
    argv += ["--epochs", "200", "--batch-size", "16", "--runs-dir", str(tmp_path), "--name", "sig", "--quiet"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # wait until it has trained one epoch
        seen.append(line)
        if line.startswith("epoch 1:"):
            break
    assert seen and seen[-1].startswith("epoch 1:"), "".join(seen) + (proc.stderr.read() if proc.stderr else "")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    waited = time.monotonic() - sent
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping after this step" in err
    assert "(stopped," in out
    run = open_run(tmp_path / "sig")
    info = run.info()
    assert info["status"] == "stopped" and 1 <= info["epoch"] < 200
    state = load_checkpoint(run.checkpoint("last"))
    assert state["step"] >= 1 and state["epoch"] == info["epoch"]
    assert waited < 60, f"took {waited:.1f}s to stop"
    assert (run.path / ".lock").read_text() == ""  # the lock was released
