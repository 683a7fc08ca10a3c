"""``python -m edge.wyoming``: the ``edge wyoming`` command on its own."""

from __future__ import annotations

import logging
import sys

from ..cli.options import EXIT_INTERRUPTED, Parser
from ..errors import EdgeError
from .cli import add_parser


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="edge")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["wyoming", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.handler(args))
    except EdgeError as exc:
        print(f"edge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
