"""`transfer-studio`: every action of the window as a headless command on the same engine.

One module per command group, each with `register(subparsers)`; a new group is one line in
`COMMAND_MODULES`. The commands drive the jobs of engine.jobs, so the CLI holds no orchestration.
Heavy modules (torch, onnxruntime) are imported inside each command, so `predict` never loads
torch and `--help` is instant. User errors print one clear message and exit with code 2;
`--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from engine.cli import advise, analysis, cluster, data, deploy, distill, explain, gan, pretrain, robustness, runs, train
from engine.cli.common import parse_options, parse_value
from engine.core.errors import UserError

COMMAND_MODULES = (data, train, analysis, deploy, robustness, runs, distill, pretrain, cluster, explain, advise, gan)

__all__ = ["COMMAND_MODULES", "build_parser", "main", "parse_options", "parse_value"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="transfer-studio", description="Transfer learning, domain adaptation and robustness on images."
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        if args.debug:
            traceback.print_exc()
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: not an error
        sys.stderr.close()
        return 0
    except Exception as err:
        if args.debug:
            traceback.print_exc()
        else:
            print(f"error: {type(err).__name__}: {err} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
