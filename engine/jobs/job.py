"""The job contract every long action of the app follows.

A job is `run(config, emit, control) -> report`: `config` is a pydantic model (plain data, TOML
in and out), `emit` receives the events of engine.core.events, `control` is checked between
batches for Stop and Pause, and the report is a pydantic model, so the CLI prints typed fields
and a page shows them without `getattr` or dict keys.

One failure path: a job raises (a `UserError` for the user's mistakes, anything else for bugs)
and whoever drives it reports the error once: the CLI prints it, the window's JobRunner shows a
dialog. A job never emits `Failed` and raises as well. A job that is stopped returns its report
with what it finished (`stopped=True`) where a partial result means something (train, attack,
predict, check), and lets `Stopped` propagate where it does not (evaluate, export, embed).

This module imports only pydantic: the heavy imports (torch, onnxruntime) happen inside `run`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from engine.core.config import StrictModel, format_validation_error
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, ignore

C = TypeVar("C", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Job(Generic[C, R]):
    """A named job: its config class, its report class and its `run` function."""

    name: str
    summary: str
    config: type[C]
    report: type[R]
    fn: Callable[[C, Emit, JobControl], R]

    def run(self, config: C, emit: Emit = ignore, control: JobControl | None = None) -> R:
        """Run the job in this thread; raises on failure (see the module docstring)."""
        return self.fn(config, emit, control or JobControl())

    def parse(self, data: Mapping[str, object], source: str = "options") -> C:
        """The config from plain data, or a UserError naming each bad field, value and what is allowed."""
        try:
            return self.config.model_validate(dict(data))
        except ValidationError as err:
            raise UserError(format_validation_error(err, source)) from None


class RunRequest(StrictModel, Generic[C]):
    """What a job that makes a run directory takes: exactly one of `config` (a new run) and
    `resume` (a run directory to continue from its last checkpoint)."""

    config: C | None = Field(None, description="Settings of a new run.")
    resume: Path | None = Field(None, description="Run directory to continue from its last checkpoint.")

    @model_validator(mode="after")
    def _one(self) -> RunRequest[C]:
        if (self.config is None) == (self.resume is None):
            raise ValueError("give either a config (a new run) or resume = a run directory, not both")
        return self
