"""`runs` (list run directories), `list` (registered methods, backbones, attacks) and `gui`."""

from __future__ import annotations

import argparse

from engine.cli.common import add_command
from engine.core.errors import UserError


def cmd_runs(args: argparse.Namespace) -> int:
    from engine.core.runs import list_runs

    for run in list_runs(args.runs_dir):
        info = run.info()
        best = info.get("best_metrics", {})
        print(
            f"{run.path.name:<45} {info.get('status', '?'):<9} {info.get('method', ''):<14} {info.get('backbone', ''):<18} "
            f"val {best.get('val/acc', float('nan')):.3f} target {best.get('target/acc', float('nan')):.3f}"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "methods":
        from engine.methods import list_methods

        for m in list_methods():
            print(f"{m.name:<16} {m.kind:<18} {m.summary}")
    elif args.what == "backbones":
        from engine.models.backbones import BACKBONES

        for spec in BACKBONES.values():
            print(f"{spec.name:<20} {spec.input_size:>4}px  {spec.summary}")
    elif args.what == "jobs":
        from engine.jobs import all_jobs

        for name, job in all_jobs().items():
            print(f"{name:<10} {job.summary}")
    else:
        from engine.attacks import list_attacks

        for name in list_attacks():
            print(name)
    return 0


def cmd_gui(args: argparse.Namespace) -> int:
    """Start the desktop front end, found through its entry point (engine never imports Qt code)."""
    from importlib.metadata import entry_points

    found = entry_points(group="transfer_studio.frontends", name="gui")
    if not found:
        raise UserError(
            "the desktop app is not installed. Install the package with its GUI (pip install -e .) and try again."
        )
    gui_main = next(iter(found)).load()
    return int(gui_main(["--demo"] if args.demo else []) or 0)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = add_command(sub, "runs", cmd_runs, "list runs")
    sp.add_argument("runs_dir", nargs="?", default="runs")

    sp = add_command(sub, "list", cmd_list, "list registered methods, backbones, attacks or jobs")
    sp.add_argument("what", choices=["methods", "backbones", "attacks", "jobs"])

    sp = add_command(sub, "gui", cmd_gui, "open the desktop app")
    sp.add_argument("--demo", action="store_true", help="open on the demo data")
