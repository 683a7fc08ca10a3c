"""The ``edge`` command line: one module per command, dispatched from one table.

Each command module has ``add_parser(subparsers)``, which registers its ``run(args) -> int``
as the parser's ``handler``; :data:`COMMANDS` lists them in the order ``edge --help`` shows.
Flags shared between commands come from :mod:`edge.cli.options` (derived from the settings
dataclasses), event printing from :mod:`edge.cli.printer`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..errors import EdgeError
from .options import EXIT_INTERRUPTED, Parser

__all__ = ["COMMANDS", "build_parser", "main"]

log = logging.getLogger("edge")

# subcommand -> module with add_parser(subparsers) and run(args); the order is the help's.
COMMANDS: dict[str, str] = {
    name: f"{__name__}.{name}"
    for name in (
        "translate",
        "transcribe",
        "languages",
        "models",
        "live",
        "devices",
        "doctor",
        "bridge",
        "bench",
        "wyoming",
    )
}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="edge",
        description="Offline speech-to-speech translation: speech in one language, speech out in another.",
    )
    parser.add_argument("--version", action="version", version=f"edge {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except EdgeError as exc:
        if args.verbose >= 2:
            log.exception("details")
        print(f"edge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
