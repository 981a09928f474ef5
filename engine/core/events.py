"""Events a job emits while it runs: small, frozen, holding plain Python values only.

The GUI turns each event into a queued Qt signal; the CLI prints them. Nothing here may hold
a tensor, so events are cheap to copy across threads and safe to serialise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Started:
    """A job began. `total_steps` is the number of optimiser steps planned (0 if unknown)."""

    job: str
    run_dir: str = ""
    total_steps: int = 0
    device: str = "cpu"


@dataclass(frozen=True)
class Progress:
    """One training step (or one batch of other work) finished."""

    epoch: int
    step: int
    total_steps: int
    metrics: dict[str, float] = field(default_factory=dict)
    eta_s: float = float("nan")


@dataclass(frozen=True)
class EpochEnd:
    """An epoch finished; `metrics` holds train/val/target figures and method extras."""

    epoch: int
    step: int
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """Preparation before the steps (scanning, decoding, caching): `done` of `total` (0: unknown)."""

    stage: str
    done: int
    total: int = 0
    eta_s: float = float("nan")
    unit: str = "images"


@dataclass(frozen=True)
class Log:
    message: str
    level: str = "info"  # info | warning | error


@dataclass(frozen=True)
class Finished:
    job: str
    run_dir: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    stopped: bool = False


@dataclass(frozen=True)
class Failed:
    job: str
    message: str
    details: str = ""


Event = Started | Progress | Stage | EpochEnd | Log | Finished | Failed
Emit = Callable[[Event], None]


def ignore(_: Event) -> None:
    """An emitter that drops every event (for library use and tests)."""


class Collector:
    """An emitter that keeps every event, for tests and for the CLI summary."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]
