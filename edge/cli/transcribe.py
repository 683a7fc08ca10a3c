"""``edge transcribe``: speech to text only (dictation)."""

from __future__ import annotations

import argparse
from typing import Any

from .printer import file_printer
from .translate import add_file_options, check_paths, load_translator


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("transcribe", help="speech to text only (dictation)")
    parser.add_argument("input", help="WAV, FLAC or OGG file")
    parser.add_argument("--lang", required=True, metavar="LANG", help="spoken language")
    add_file_options(parser, translation=False)
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..languages import to_flores

    to_flores(args.lang)
    as_json = bool(args.json)
    check_paths(args.input, as_json=as_json)
    translator = load_translator(args, args.lang, None)
    translator.translate_file(args.input, None, on_event=file_printer(as_json))
    return 0
