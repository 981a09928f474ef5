"""How responsive the desktop app is: start-up, event-loop stalls while training, plot redraw cost.

Prints
  1. time from process start to the window shown, and to torch ready (the app's own `--timings`);
  2. the longest event-loop stall (a 10 ms heartbeat QTimer) during a short training run, against
     the same heartbeat with no job running;
  3. the time to push new points and repaint the live plots holding 100,000 points, against 1,000.
Runs offscreen on the CPU. `python bench/gui_responsiveness.py [--quick]`
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TRANSFER_STUDIO_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def startup(runs: int) -> None:
    shown, ready = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "XDG_CONFIG_HOME": f"{home}/config", "XDG_DATA_HOME": f"{home}/data"}
            t0 = time.time()
            out = subprocess.run(
                [sys.executable, "-m", "desktop_app", "--timings"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            stamps: dict[str, float] = {}
            for line in out.stdout.splitlines():
                if line.startswith("{"):
                    stamps.update(json.loads(line))
            if "torch_ready" not in stamps:
                raise SystemExit(f"the app did not report its timings:\n{out.stdout}\n{out.stderr}")
            shown.append(stamps["window_shown"] - t0)
            ready.append(stamps["torch_ready"] - t0)
    print(
        f"start-up ({runs} runs): window shown after {min(shown):.2f} s (median {statistics.median(shown):.2f}); "
        f"torch ready after {min(ready):.2f} s (median {statistics.median(ready):.2f})"
    )


class Heartbeat:
    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self.last)
        self.last = now

    def start(self) -> None:
        self.gaps.clear()
        self.last = time.perf_counter()
        self.timer.start()

    def summary(self) -> str:
        self.timer.stop()
        g = sorted(self.gaps) or [0.0]
        p99 = g[min(len(g) - 1, int(0.99 * len(g)))]
        over = sum(1 for x in g if x > 0.05)
        return f"max {g[-1] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, {over} of {len(g)} beats over 50 ms"


def wait(app: object, done, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.002)


def training_stall(epochs: int) -> None:
    from PySide6.QtCore import QSettings

    from desktop_app.app import load_engine
    from desktop_app.pages.train import TrainPage
    from desktop_app.state import AppState
    from engine.data.demo import make_demo

    app = _app()
    tmp = Path(tempfile.mkdtemp(prefix="ts-bench-"))
    demo = make_demo(tmp / "demo", per_class=20, seed=1)
    state = AppState(QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat), workspace=tmp / "ws")
    state.set_folders(str(demo.source), str(demo.target_train), str(demo.target_test))
    page = TrainPage(state)
    page.resize(1300, 850)
    page.show()
    page.engine_ready(load_engine())
    wait(app, lambda: False, 1.0)  # the page's first layout and paint are not the machine's stalls
    beat = Heartbeat()
    beat.start()
    wait(app, lambda: False, 2.0)
    idle = beat.summary()
    page.set_method("dann")
    page.basic_form.set_values({"epochs": epochs, "batch_size": 16})
    beat.start()
    t0 = time.perf_counter()
    page.start()
    wait(app, lambda: page.last_progress is not None, 120)
    first = time.perf_counter() - t0
    wait(app, lambda: not page.busy(), 600)
    total = time.perf_counter() - t0
    print(f"event loop, no job (2 s): {idle}")
    print(
        f"event loop during DANN training ({epochs} epochs, {page.total_steps} steps, {total:.1f} s, first step after {first:.1f} s): {beat.summary()}"
    )


def plot_redraw() -> None:
    import numpy as np

    from desktop_app.widgets.live_plot import LivePlots

    app = _app()
    for n in (1_000, 100_000):
        plots = LivePlots()
        plots.resize(1000, 640)
        plots.show()
        plots.set_x_limit(n + 1000)
        x = np.arange(n, dtype=np.float64)
        for key in ("loss", "loss/cls", "lr", "lambda"):
            plots.extend(key, x, np.random.rand(n))
        while plots.refresh():
            pass
        app.processEvents()
        times = []
        for i in range(30):
            t = time.perf_counter()
            for key in ("loss", "loss/cls", "lr", "lambda"):
                plots.extend(key, np.arange(n + 10 * i, n + 10 * i + 10, dtype=np.float64), np.random.rand(10))
            plots.refresh()
            for group in plots.groups():  # synchronous paint of every plot (the container's own
                plots.plot(group).viewport().repaint()  # repaint() does not reach the plots)
            times.append(time.perf_counter() - t)
        plots.close()
        print(
            f"plot redraw, 4 curves of {n:,} points each: median {statistics.median(times) * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms per refresh + repaint"
        )


def _app():
    from desktop_app.compat import guard_none_refcount
    from desktop_app.jobs import share_the_gil_quickly

    guard_none_refcount()
    share_the_gil_quickly()  # as the app's main() does
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    app.setStyle("Fusion")
    return app


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "")
    startup(1 if quick else 3)
    plot_redraw()
    training_stall(2 if quick else 4)
