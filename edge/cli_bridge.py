"""``edge bridge``: connect a handheld's firmware (buttons, LEDs, display) to the engine.

``edge bridge --port PATH|VID:PID`` serves a real device; ``edge bridge simulate`` runs a
simulated device on a pseudo-terminal, so the whole loop can be shown without hardware.
Until ``edge live`` exists, both drive the simulated controller (a state machine with the
live controller's transitions and no audio).
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

For now the bridge drives a simulated controller (idle -> listening -> thinking ->
speaking -> idle, without audio) and prints every event; it will drive the live engine
once `edge live` is available.

  edge bridge --port /dev/ttyACM0       a device on a serial port (reconnects after unplug)
  edge bridge --port 2E8A:000A          the first USB device with this VID:PID
  edge bridge simulate                  simulated device, commands typed at a prompt
  edge bridge simulate --script FILE    simulated device driven by a script
"""
SIMULATE_DESCRIPTION = """\
Runs a simulated device on a pseudo-terminal and the real bridge against it.
Script and prompt commands:

"""


def add_bridge_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from firmware_bridge.bridge import DEFAULT_BAUD
    from firmware_bridge.simulator import COMMANDS

    parser = subparsers.add_parser(
        "bridge",
        help=BRIDGE_HELP,
        description=BRIDGE_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--port", help="serial port path (/dev/ttyACM0, COM3) or USB VID:PID (2E8A:000A)"
    )
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD, help="UART speed (USB ignores)")
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    parser.add_argument(
        "--seconds", type=float, help="stop after this many seconds (default: until Ctrl-C)"
    )
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
    parser.set_defaults(handler=handle_bridge)
    return parser


def handle_bridge(args: argparse.Namespace) -> int:
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
    from firmware_bridge.bridge import Bridge
    from firmware_bridge.controller import SimulatedController

    printer = _Printer(args.json)
    controller = SimulatedController()
    controller.subscribe(printer.engine_event)
    bridge = Bridge(controller, args.port, baud=args.baud, on_event=printer.event)
    bridge.start()
    try:
        _wait(args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        bridge.stop()
        controller.close()
    return 0


def _wait(seconds: float | None) -> None:
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))


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
    printer = _Printer(args.json)
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
