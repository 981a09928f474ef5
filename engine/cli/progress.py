"""Terminal progress for CLI jobs: engine events become a tqdm bar and one line per epoch."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import tqdm

from engine.core.control import JobControl
from engine.core.events import EpochEnd, Event, Failed, Finished, Log, Progress, Stage, Started


def _fmt(metrics: dict[str, float], keys: tuple[str, ...] | None = None) -> str:
    items = [(k, v) for k, v in metrics.items() if keys is None or k in keys]
    return "  ".join(f"{k} {v:.4g}" for k, v in items if isinstance(v, (int, float)))


class TrainPrinter:
    """An event sink for the terminal: a step bar plus a summary line per epoch."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet or not sys.stderr.isatty()
        self.bar: tqdm | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Stage):  # scanning/decoding: a bar per stage (the Log lines carry the ETA too)
            if self.quiet:
                return
            if self.bar is None or self.bar.desc != event.stage:
                self.close()
                self.bar = tqdm(total=event.total or None, desc=event.stage, unit=" img", leave=False)
            self.bar.n = event.done
            self.bar.refresh()
            return
        if isinstance(event, Started):
            self.close()  # the last preparation bar
            print(f"{event.job}: {event.run_dir} on {event.device}", flush=True)
            if not self.quiet and event.total_steps:
                self.bar = tqdm(total=event.total_steps, unit="step", dynamic_ncols=True, leave=False)
        elif isinstance(event, Progress):
            if self.bar is not None:
                self.bar.n = event.step
                self.bar.set_postfix_str(_fmt(event.metrics, ("loss", "lambda", "domain_acc")), refresh=True)
        elif isinstance(event, EpochEnd):
            line = f"epoch {event.epoch}: {_fmt(event.metrics)}"
            tqdm.write(line) if self.bar is not None else print(line, flush=True)
        elif isinstance(event, Log):
            text = event.message if event.level == "info" else f"{event.level}: {event.message}"
            tqdm.write(text, file=sys.stderr if event.level != "info" else sys.stdout)
        elif isinstance(event, (Finished, Failed)):
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class CallbackBar:
    """`progress(done, total)` callback shown as a tqdm bar; a context manager."""

    def __init__(self, desc: str, total: int | None = None) -> None:
        self.bar = tqdm(total=total, desc=desc, leave=False, disable=not sys.stderr.isatty(), dynamic_ncols=True)

    def __call__(self, done: int, total: int | None = None) -> None:
        if total is not None and self.bar.total != total:
            self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def __enter__(self) -> CallbackBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()


@contextmanager
def stop_on_interrupt(control: JobControl) -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM (kill, systemd, a batch scheduler ending the job) ask the job to
    stop cleanly at the next step, keeping a checkpoint it can resume from; a second one kills.

    Handlers can only be installed from the main thread; elsewhere (e.g. a test calling the CLI
    from a worker thread) the job runs without them.
    """

    def handler(signum: int, frame: Any) -> None:
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        if control.stop_requested:
            raise KeyboardInterrupt
        print(f"\n{name}: stopping after this step (again to abort)...", file=sys.stderr, flush=True)
        control.stop()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
