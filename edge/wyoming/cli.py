"""``edge wyoming``: serve the installed models to Home Assistant (or any Wyoming client).

Wired into ``edge`` by ``edge.cli`` (``add_parser`` registers ``run`` as the handler);
``python -m edge.wyoming`` runs the same command on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from typing import Any

from ..cli.options import add_model_options, add_runtime_options, add_settings, build
from .config import SECTION, ServerConfig

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "wyoming",
        help="serve speech recognition, voices and translation over the Wyoming protocol",
        description="A Wyoming server (Home Assistant's voice protocol) for the installed "
        "models: speech recognition (asr), voices (tts) and the 'edge translate' handle "
        "program. Listens on 127.0.0.1 unless another host is given in --uri.",
    )
    add_settings(parser, ServerConfig, SECTION)
    add_model_options(parser, ServerConfig, only=("models_dir",))
    served = parser.add_argument_group(
        "served models",
        "Default: every installed model, and an espeak-ng voice (robotic) for each language "
        "the translation models translate into that no installed Piper voice speaks.",
    )
    for option, what in (
        ("--asr", "speech recognition model"),
        ("--voice", "voice: a Piper voice, or espeak-ng-LANG such as espeak-ng-pt"),
        ("--mt", "translation model"),
    ):
        served.add_argument(
            option,
            action="append",
            default=[],
            metavar="ID",
            help=f"serve only this {what} (repeatable)",
        )
    add_runtime_options(parser, ServerConfig, speech=False)
    parser.set_defaults(handler=run)
    return parser


def config_from(args: argparse.Namespace) -> ServerConfig:
    """The flags given, over ServerConfig's defaults; raises EdgeError on a bad value."""
    config = build(args, ServerConfig)
    config.asr, config.voices, config.mt = tuple(args.asr), tuple(args.voice), tuple(args.mt)
    return config.validate()


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; raises EdgeError (one line from ``edge``) on bad input."""
    from .server import WyomingServer

    config = config_from(args)
    server = WyomingServer(config)
    warning = server.endpoint.exposure_warning()
    if warning:
        print(warning, file=sys.stderr, flush=True)
    served = ", ".join(s.id for s in server.pool.all())
    print(f"edge wyoming: serving {served} on {config.uri}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a foreground server stops
        asyncio.run(server.run())
    return 0
