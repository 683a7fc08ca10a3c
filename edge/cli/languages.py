"""``edge languages``: the language codes edge understands."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "languages", help="list language codes (FLORES-200 and ISO 639-1)"
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..languages import FLORES200_CODES, language_name, to_iso639_1

    for code in FLORES200_CODES:
        short = to_iso639_1(code) or ""
        print(f"{code:10} {short:3} {language_name(code)}")
    return 0
