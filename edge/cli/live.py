"""``edge live``: microphone -> speaker translation, push-to-talk or hands-free.

Every flag is a ``LiveConfig`` setting (edge.live.config), so it can come from ``--config
FILE.toml`` as well; a flag given overrides the file.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable
from typing import Any

from ..events import Event
from ..live.config import LiveConfig
from ..settings import SpeechSettings, settings
from .options import (
    add_language_options,
    add_model_options,
    add_output_options,
    add_runtime_options,
    add_settings,
    add_vad_options,
    given,
)
from .printer import live_printer


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "live",
        help="translate a microphone to a speaker, push-to-talk or hands-free",
        description="Live translation from a microphone (or a WAV file played as one) to a "
        "speaker (or a WAV file). Every setting can also come from --config FILE (TOML); "
        "flags override it.",
    )
    add_session_options(parser)
    parser.set_defaults(handler=run)
    return parser


def add_session_options(parser: argparse.ArgumentParser, *, handheld: bool = True) -> None:
    """Every LiveConfig flag (``edge bridge --port`` adds them too, without ``--bridge``)."""
    parser.add_argument("--config", metavar="FILE.toml", help="settings file (see docs/live.md)")
    add_language_options(parser, LiveConfig)
    speech = tuple(f.name for f in settings(SpeechSettings))  # in the runtime group below
    add_settings(parser, LiveConfig, "", exclude=("source", "target", *speech))
    if handheld:
        group = parser.add_argument_group("handheld (firmware_bridge/README.md)")
        add_settings(group, LiveConfig, "bridge")
    add_settings(parser.add_argument_group("audio devices"), LiveConfig, "audio")
    add_vad_options(parser, LiveConfig)
    add_settings(parser.add_argument_group("push-to-talk"), LiveConfig, "ptt")
    add_settings(parser.add_argument_group("kiosk screen (docs/kiosk.md)"), LiveConfig, "ui")
    add_model_options(parser, LiveConfig)
    runtime = add_runtime_options(parser, LiveConfig)
    add_settings(runtime, LiveConfig, "runtime", only=("max_seconds",))
    add_output_options(parser, LiveConfig)


def run(args: argparse.Namespace) -> int:
    from ..live.config import apply, load_config

    config = load_config(args.config) if args.config else LiveConfig()
    config = apply(config, given(args, LiveConfig))
    return serve(config)


def serve(config: LiveConfig, on_bridge_event: Callable[[Event], None] | None = None) -> int:
    """Run a session as configured: devices or files, the terminal keys, the handheld.

    ``on_bridge_event`` gets everything the firmware bridge reports (``edge bridge``'s log).
    """
    from ..audio import audio_info, check_output_path
    from ..live import LiveController, ModelLoader
    from ..live.handheld import Handheld
    from ..live.keyboard import TerminalKeys

    config.validate()
    if config.input_is_file:  # a bad input or output fails before the models load
        assert config.input is not None
        audio_info(config.input, scan=True)
    if config.output_is_file:
        assert config.output is not None
        check_output_path(config.output, source=config.input if config.input_is_file else None)
    printer = live_printer(config.json)
    on_event = printer
    if config.ui:  # the kiosk screen's pages get every event the printer does
        from ..ui import EventHub

        hub = EventHub()
        on_event = hub.tee(printer)
    controller = LiveController(config, ModelLoader(config).stages, on_event=on_event)
    signal.signal(signal.SIGTERM, lambda *_: controller.stop())  # systemd stop: a clean end
    with contextlib.ExitStack() as stack:
        if config.ui:
            from ..ui.server import start_kiosk

            stack.callback(start_kiosk(controller, hub, config).stop)
        if config.bridge:
            # Started before the devices open: the LEDs show the session from its start.
            handheld = Handheld(
                controller,
                config.bridge,
                baud=config.bridge_baud,
                on_event=on_event,  # the notices reach the kiosk screen too
                on_bridge_event=on_bridge_event,
            )
            stack.enter_context(handheld)
        if not config.input_is_file and TerminalKeys.available():
            # The keys stay on beside a handheld: they are the fallback when it is unplugged.
            stack.enter_context(TerminalKeys(controller, config.ptt_key, config.volume))
            what = "hold" if config.mode == "ptt" else "press"
            print(
                f"edge live {controller.language_pair}: {what} {config.ptt_key} to "
                f"{'talk' if config.mode == 'ptt' else 'interrupt'}, s swaps, +/- volume, q quits",
                file=sys.stderr,
            )
        controller.run()
    return 0
