"""Counts and an ETA for the waits before training: scanning, decoding, caching.

A 100k-image folder takes minutes to decode the first time; the user must see it move. A
`StageProgress` turns `update(done)` calls into Stage events (the bar of the window and of
the CLI, at most 10 a second) and a Log line every few seconds ("Decoding source: 3,200/10,000
images, 850/s, ETA 8 s"), and a last line with the time it took. Torch-free.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from engine.core.events import Emit, Log, Stage

LOG_EVERY_S = 3.0
EVENT_EVERY_S = 0.1


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds < 0:  # NaN
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def describe(event: Stage) -> str:
    """'Decoding source: 3,200/10,000 images, ETA 8 s': what the window and the CLI show."""
    if event.total > 0:
        return f"{event.stage}: {event.done:,}/{event.total:,} {event.unit}, ETA {format_duration(event.eta_s)}"
    return f"{event.stage}: {event.done:,} {event.unit}"


class StageProgress:
    """One stage of preparation ("Decoding source", unit "images") with `total` items (0: unknown)."""

    def __init__(
        self,
        emit: Emit,
        stage: str,
        total: int = 0,
        unit: str = "images",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.emit, self.stage, self.total, self.unit, self.clock = emit, stage, total, unit, clock
        self.start = clock()
        self._last_event = -1e9
        self._last_log = self.start
        self.done = 0

    def eta(self) -> float:
        elapsed = self.clock() - self.start
        if self.done <= 0 or self.total <= 0 or elapsed <= 0:
            return float("nan")
        return (self.total - self.done) * elapsed / self.done

    def line(self) -> str:
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total > 0:
            return (
                f"{self.stage}: {self.done:,}/{self.total:,} {self.unit}, {rate:,.0f}/s, "
                f"ETA {format_duration(self.eta())}"
            )
        return f"{self.stage}: {self.done:,} {self.unit} so far, {rate:,.0f}/s"

    def update(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = self.clock()
        if now - self._last_event >= EVENT_EVERY_S or (self.total and done >= self.total):
            self._last_event = now
            self.emit(Stage(self.stage, done, self.total, self.eta(), self.unit))
        if now - self._last_log >= LOG_EVERY_S:
            self._last_log = now
            self.emit(Log(self.line()))

    def finish(self, note: str = "") -> float:
        """Log '<stage>: N images in 4.2 s' (plus `note`) and return the seconds taken."""
        took = self.clock() - self.start
        self.emit(Log(f"{self.stage}: {self.done:,} {self.unit} in {took:.1f} s{note}"))
        return took
