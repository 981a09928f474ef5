"""What every command module shares: option parsing, JSON output, running a job in the terminal
(Ctrl-C stops it cleanly) and the `add_command` helper that gives each command `--config`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import tomllib
from pydantic import BaseModel

from engine.cli.progress import CallbackBar, stop_on_interrupt
from engine.core.config import load_config
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


def write_json_if_asked(args: argparse.Namespace, report: BaseModel) -> int:
    """Write the report to the file `--json` names, if it names one; a command's exit status 0."""
    if getattr(args, "json", None):
        write_json(args.json, report)
    return 0


def flag_overrides(args: argparse.Namespace, *flags: str, **values: Any) -> dict[str, Any]:
    """Config settings from parsed flags: each of `flags` under its own name, then `values` (flags
    renamed or converted). None means "not given": the TOML's value or the default stands."""
    return {**{flag: getattr(args, flag, None) for flag in flags}, **values}


def run_with_flags(job: Job[C, R], args: argparse.Namespace, emit: Emit, *flags: str, **values: Any) -> R:
    """Run `job` on its config: the `--config` TOML (if any) with the flags on top (`flag_overrides`)."""
    return run_job(job, load_config(job.config, args.config, flag_overrides(args, *flags, **values)), emit)


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
