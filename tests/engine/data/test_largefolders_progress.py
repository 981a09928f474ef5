"""Counts and an ETA while a folder is scanned and decoded (a 100k-image folder must not look frozen)."""

from __future__ import annotations

import math

from engine.core.events import Collector, Log, Stage
from engine.data.stage_progress import StageProgress, describe, format_duration


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_eta_from_the_rate_so_far_and_throttled_events():
    clock, events = Clock(), Collector()
    bar = StageProgress(events, "Decoding source", 10_000, clock=clock)
    for done in range(256, 2561, 256):  # 256 images every 0.5 s: 512/s
        clock.t += 0.5
        bar.update(done)
    stages = events.of(Stage)
    assert len(stages) == 10 and stages[-1].done == 2560 and stages[-1].total == 10_000
    assert math.isclose(stages[-1].eta_s, (10_000 - 2560) / 512, rel_tol=1e-9)  # 14.5 s
    logs = [e.message for e in events.of(Log)]
    assert logs == ["Decoding source: 1,536/10,000 images, 512/s, ETA 17 s"]  # one line every 3 s
    bar.update(10_000)
    assert bar.finish(" (0 from the disk cache)") > 0
    assert events.of(Log)[-1].message.startswith("Decoding source: 10,000 images in ")
    clock.t += 0.01  # bursts faster than 10 a second are not all sent
    bar.update(10_000)
    assert len(events.of(Stage)) == 12


def test_unknown_totals_and_durations():
    events = Collector()
    bar = StageProgress(events, "Scanning source", 0, "images found", clock=Clock())
    bar.update(70_000)
    (stage,) = events.of(Stage)
    assert math.isnan(stage.eta_s) and describe(stage) == "Scanning source: 70,000 images found"
    assert describe(Stage("Decoding", 5, 10, 3725.0)) == "Decoding: 5/10 images, ETA 1 h 02 min"
    assert format_duration(float("nan")) == "?" and format_duration(75) == "1 min 15 s"
