"""Stop and pause tokens shared between a job and whoever drives it (GUI thread, CLI signal)."""

from __future__ import annotations

import threading


class Stopped(Exception):
    """Raised inside a job when its stop token was set; the job saves what it has and returns."""


class JobControl:
    """Thread-safe stop/pause flags, checked by jobs between batches.

    `check()` returns at once when running, blocks while paused and raises `Stopped` once stop
    is requested (also while paused, so a paused job can be stopped).
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def check(self) -> None:
        while not self._running.wait(0.1):
            if self._stop.is_set():
                break
        if self._stop.is_set():
            raise Stopped()
