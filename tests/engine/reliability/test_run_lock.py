"""Point 3: one writer per run directory. A second writer is refused naming the owner's pid; a
lock left by a killed process is taken over; the trainer and delete_run honour it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.cli import main
from engine.core.errors import RunLocked
from engine.core.runlock import RunLock, pid_alive
from engine.core.runs import Run, delete_run

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from engine.core.runs import Run
    with Run(Path(sys.argv[1])).lock():
        print("locked", flush=True)
        time.sleep(120)
    """
)


@pytest.fixture
def holder(tiny_run: Run):
    """Another process holding the run's lock (killed at the end of the test)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tiny_run.path)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_second_writer_is_refused_naming_the_owner(tiny_run: Run, holder: subprocess.Popen) -> None:
    with pytest.raises(RunLocked) as info, tiny_run.lock():
        pass
    msg = str(info.value)
    assert f"pid {holder.pid}" in msg and str(tiny_run.path) in msg and "being written by" in msg


def test_cli_resume_of_a_run_in_use_exits_2_and_writes_nothing(
    tiny_run: Run, holder: subprocess.Popen, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.stat().st_mtime_ns for p in tiny_run.path.rglob("*") if p.is_file() and p.name != ".lock"}
    assert main(["train", "--resume", str(tiny_run.path), "--quiet"]) == 2
    assert f"pid {holder.pid}" in capsys.readouterr().err
    after = {p: p.stat().st_mtime_ns for p in tiny_run.path.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before  # neither checkpoints, metrics nor run.json were touched


def test_delete_refused_while_in_use(tiny_run: Run, holder: subprocess.Popen) -> None:
    with pytest.raises(RunLocked, match=f"pid {holder.pid}"):
        delete_run(tiny_run)
    assert tiny_run.path.is_dir()


def test_lock_of_a_killed_process_is_taken_over(tiny_run: Run, holder: subprocess.Popen) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert not pid_alive(holder.pid)
    assert json.loads((tiny_run.path / ".lock").read_text())["pid"] == holder.pid  # left behind
    with tiny_run.lock() as held:
        assert held.took_over is not None and held.took_over["pid"] == holder.pid
        assert json.loads((tiny_run.path / ".lock").read_text())["pid"] == os.getpid()
    delete_run(tiny_run)  # free again once released
    assert not tiny_run.path.exists()


def test_stale_lock_file_with_a_dead_pid_is_taken_over(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(proc.stdout)
    (tmp_path / ".lock").write_text(json.dumps({"pid": dead, "host": "here", "started": 0}))
    lock = RunLock(tmp_path).acquire()
    try:
        assert lock.took_over is not None and lock.took_over["pid"] == dead
    finally:
        lock.release()


def test_two_writers_in_one_process_are_refused_too(tiny_run: Run) -> None:
    """The window running a second job on the same run directory."""
    with tiny_run.lock(), pytest.raises(RunLocked, match=f"pid {os.getpid()}"), Run(tiny_run.path).lock():
        pass
    with tiny_run.lock():  # released: free again
        pass
