"""What every command module shares: option parsing, JSON output, running a job in the terminal
(Ctrl-C stops it cleanly) and the `add_command` helper that gives each command `--config`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import tomllib
from pydantic import BaseModel

from engine.cli.progress import CallbackBar, stop_on_interrupt
from engine.core.control import JobControl
from engine.core.errors import UserError
from engine.core.events import Emit, Event, Finished, Log, Progress, Started
from engine.jobs.job import Job

C = TypeVar("C", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
Command = Callable[[argparse.Namespace], int]
TomlValue = str | int | float | bool | list[object] | dict[str, object]


def parse_value(text: str) -> TomlValue:
    """A TOML literal (number, bool, list, quoted string) or else the plain string. Never code."""
    try:
        value: TomlValue = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return value


def parse_options(pairs: Sequence[str] | None, flag: str = "--set") -> dict[str, TomlValue]:
    out: dict[str, TomlValue] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"{flag} {pair!r}: expected NAME=VALUE, for example {flag} freeze_stages=2")
        key, value = pair.split("=", 1)
        out[key.strip()] = parse_value(value.strip())
    return out


def write_json(path: str | Path, report: BaseModel) -> None:
    """The report as JSON (atomic), with JSON names (`by_alias`)."""
    from engine.core.fsutil import atomic_write_json

    atomic_write_json(Path(path), report.model_dump(mode="json", by_alias=True))
    print(f"wrote {path}")


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, fn: Command, help: str
) -> argparse.ArgumentParser:
    """A sub-command running `fn`, with the `--config FILE.toml` every command takes."""
    parser = sub.add_parser(name, help=help, description=help)
    parser.set_defaults(func=fn)
    parser.add_argument("--config", help="TOML file with the command's settings (flags override it)")
    return parser


def run_job(job: Job[C, R], config: C, emit: Emit) -> R:
    """Run `job` here; the first Ctrl-C asks it to stop cleanly, a second one aborts."""
    control = JobControl()
    with stop_on_interrupt(control):
        return job.run(config, emit, control)


class BarPrinter:
    """An event sink for short jobs: a progress bar (on a terminal) and the job's log lines."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: CallbackBar | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started) and event.total_steps:
            self.close()
            self.bar = CallbackBar(self.desc, event.total_steps)
        elif isinstance(event, Progress) and self.bar is not None:
            self.bar(event.step, event.total_steps)
        elif isinstance(event, Log):
            print(event.message, file=sys.stderr if event.level != "info" else sys.stdout)
        elif isinstance(event, Finished):
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__()
        self.bar = None
