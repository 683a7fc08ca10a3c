"""Finding the device's serial port by path or by USB vendor:product id."""

from __future__ import annotations

import re

from serial.tools import list_ports

from edge.errors import EdgeError

_VID_PID = re.compile(r"^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})$")


class BridgeError(EdgeError):
    """The firmware bridge cannot run as asked (a bad port, script or argument)."""

    exit_code = 2  # a usage error, like edge.errors.InputError


def parse_vid_pid(spec: str) -> tuple[int, int] | None:
    """``"2E8A:000A"`` -> ``(0x2E8A, 0x000A)``; anything else is a path, so None."""
    match = _VID_PID.match(spec.strip())
    return (int(match.group(1), 16), int(match.group(2), 16)) if match else None


def check_port_spec(spec: str) -> str:
    """The spec without surrounding blanks; an empty one is the user's error."""
    if not spec.strip():
        raise BridgeError("empty serial port", "pass --port /dev/ttyACM0 or --port VID:PID")
    return spec.strip()


def resolve_port(spec: str) -> str | None:
    """Device path for ``spec``, or None while no USB device with that id is plugged in.

    A path is returned as given: whether it opens is found out by opening it, so a port
    that comes back after an unplug is picked up by the same retry.
    """
    spec = check_port_spec(spec)
    ids = parse_vid_pid(spec)
    if ids is None:
        return spec
    matches = sorted(p.device for p in list_ports.comports() if (p.vid, p.pid) == ids)
    return matches[0] if matches else None
