"""``edge bridge``: connect a handheld's firmware (buttons, LEDs, display) to the engine.

``edge bridge --port PATH|VID:PID`` serves a real device with a live session (the same as
``edge live --bridge PORT``, push-to-talk by default, every ``edge live`` flag accepted) and
logs what the bridge sees. ``edge bridge simulate`` runs a simulated device on a
pseudo-terminal against the simulated controller (a state machine with the live
controller's transitions and no audio), so the protocol can be shown without hardware.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from edge.events import Event

if TYPE_CHECKING:
    from firmware_bridge.simulator import DeviceView, SimulatedDevice

# firmware_bridge (and pyserial) are imported when the command runs, not when the CLI starts.

BRIDGE_HELP = "connect a handheld device (push-to-talk, LEDs, display) over serial"
BRIDGE_DESCRIPTION = """\
Runs the firmware bridge: device buttons drive push-to-talk, language swap and volume;
engine states and the language pair go back to the device's LEDs and display.
Protocol: firmware_bridge/PROTOCOL.md.

With --port the device drives a live session, as `edge live --bridge PORT` does:
push-to-talk (unless --mode vad) records from the capture device and the translation
plays on the output device; every `edge live` option applies. Unplugged, the session goes
on with keyboard control and the device is re-attached when it comes back.
`simulate` drives a simulated controller instead (idle -> listening -> thinking ->
speaking -> idle, without audio).

  edge bridge --port /dev/ttyACM0 --from en --to es     a device on a serial port
  edge bridge --port 2E8A:000A --config live.toml       the first USB device with this id
  edge bridge simulate                  simulated device, commands typed at a prompt
  edge bridge simulate --script FILE    simulated device driven by a script
"""
SIMULATE_DESCRIPTION = """\
Runs a simulated device on a pseudo-terminal and the real bridge against it.
Script and prompt commands:

"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from firmware_bridge.simulator import COMMANDS

    from .live import add_session_options

    parser = subparsers.add_parser(
        "bridge",
        help=BRIDGE_HELP,
        description=BRIDGE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port", help="serial port path (/dev/ttyACM0, COM3) or USB VID:PID (2E8A:000A)"
    )
    parser.add_argument("--baud", type=int, help="UART speed (USB ignores it; default 115200)")
    parser.add_argument(
        "--seconds", type=float, help="stop after this many seconds (default: until Ctrl-C)"
    )
    add_session_options(parser, handheld=False)  # --json among them
    commands = parser.add_subparsers(dest="bridge_command")
    simulate = commands.add_parser(
        "simulate",
        help="run a simulated device on a pseudo-terminal",
        description=SIMULATE_DESCRIPTION + COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    simulate.add_argument("--script", type=Path, help="commands to run instead of a prompt")
    # SUPPRESS: a subparser default would overwrite `edge bridge --json simulate`.
    simulate.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON lines"
    )
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from firmware_bridge.port import BridgeError

    if args.bridge_command == "simulate":
        return _simulate(args)
    if not args.port:
        raise BridgeError(
            "no serial port given", "pass --port /dev/ttyACM0 or --port VID:PID, or run simulate"
        )
    return _serve_port(args)


class _Printer:
    """Prints events from several threads, one whole line at a time."""

    def __init__(self, as_json: bool, out: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = out if out is not None else sys.stdout
        self._lock = threading.Lock()

    def event(self, event: Event, source: str = "bridge") -> None:
        data = event.to_dict()
        if self.as_json:
            line = json.dumps(data)
        else:
            name = data.pop("event")
            line = f"{source:6} {name:16} " + " ".join(f"{k}={v}" for k, v in data.items())
        self.line(line)

    def engine_event(self, event: Event) -> None:
        self.event(event, "engine")

    def line(self, text: str) -> None:
        with self._lock:
            print(text, file=self.out, flush=True)


def _serve_port(args: argparse.Namespace) -> int:
    """The live session with the device on ``--port``: ``edge live --bridge PORT``."""
    from ..live.config import LiveConfig, apply, load_config
    from .live import serve
    from .options import given

    # A handheld is a push-to-talk device: ptt unless --mode or the config file says more.
    config = load_config(args.config) if args.config else LiveConfig(mode="ptt")
    values = given(args, LiveConfig)
    values["bridge"] = args.port
    if args.baud is not None:
        values["bridge_baud"] = args.baud
    if args.seconds is not None:
        values["max_seconds"] = args.seconds
    printer = _Printer(bool(args.json))
    return serve(apply(config, values), on_bridge_event=printer.event)


def _simulate(args: argparse.Namespace) -> int:
    from firmware_bridge.bridge import Bridge
    from firmware_bridge.controller import SimulatedController
    from firmware_bridge.port import BridgeError
    from firmware_bridge.simulator import COMMANDS, ScriptError, SimulatedDevice, run_command

    lines: list[str] | None = None
    if args.script is not None:
        try:
            lines = args.script.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BridgeError(
                f"cannot read script {args.script}: {exc}", "pass a text file"
            ) from None
    printer = _Printer(bool(args.json))
    controller = SimulatedController()
    controller.subscribe(printer.engine_event)

    def show(view: DeviceView) -> None:
        if args.json:
            printer.line(json.dumps(view.to_dict()))
        else:
            printer.line(f"device {view.describe()}")

    with SimulatedDevice(on_change=show) as device:
        bridge = Bridge(controller, device.port_path, on_event=printer.event)
        bridge.start()
        try:
            if not device.wait_for(lambda v: v.host_up and v.state is not None, timeout=5):
                raise BridgeError(
                    "the simulated device did not connect", "check that pseudo-terminals work here"
                )
            if lines is not None:
                for number, line in enumerate(lines, 1):
                    try:
                        if not run_command(device, line, time.sleep):
                            break
                    except ScriptError as exc:
                        raise BridgeError(
                            f"{args.script}:{number}: {exc}", "see `edge bridge simulate --help`"
                        ) from None
            else:
                _prompt(device, printer, COMMANDS)
        except KeyboardInterrupt:
            pass
        finally:
            bridge.stop()
            controller.close()
        errors = bridge.decode_errors() or "none"
        printer.line(f"done: {device.view().describe()}; frames dropped by the host: {errors}")
    return 0


def _prompt(device: SimulatedDevice, printer: _Printer, commands: str) -> None:
    from firmware_bridge.simulator import ScriptError, run_command

    printer.line(commands)
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return
        if line.strip() in ("help", "?"):
            printer.line(commands)
            continue
        try:
            if not run_command(device, line, time.sleep):
                return
        except ScriptError as exc:
            printer.line(f"error: {exc}")
