"""The handheld: the firmware bridge attached to a live session's controller.

``Handheld`` runs ``firmware_bridge.Bridge`` against a ``LiveController`` (any
``firmware_bridge.controller.Controller``): the push-to-talk button records from the
session's capture device, the function button swaps the language pair and steps the volume,
and the engine's states, the pair and the volume go back to the LEDs and the display.

The session never depends on the device: unplugged, it goes on under keyboard (or screen)
control, and the bridge looks for the port again every half second (a path until it opens,
a USB VID:PID through pyserial's ``list_ports``), so a replugged device is re-attached and
sent the current snapshot. Each change is reported once, as a ``HandheldChanged`` event,
however many retries the bridge makes meanwhile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..events import Event
from .events import Listener

if TYPE_CHECKING:
    from firmware_bridge.bridge import Bridge
    from firmware_bridge.controller import Controller

DEFAULT_BAUD = 115200


@dataclass
class HandheldChanged(Event):
    """The handheld was attached, or went away (unplugged, or its link fell silent)."""

    name: ClassVar[str] = "handheld"
    attached: bool
    port: str  # as given: a path or VID:PID
    detail: str  # attached: the device (name, firmware); detached: why

    def describe(self) -> str:
        """One line for a terminal."""
        if self.attached:
            return f"handheld attached on {self.port}: {self.detail}"
        return (
            f"handheld on {self.port} is gone ({self.detail}): the session goes on with "
            "keyboard control; it is re-attached when it comes back"
        )


class Handheld:
    """The bridge serving ``controller`` on ``port``, in a background thread.

    ``on_event`` gets the ``HandheldChanged`` notices; ``on_bridge_event`` (optional) every
    event the bridge reports (port, link, device messages), for ``edge bridge``'s log.
    """

    def __init__(
        self,
        controller: Controller,
        port: str,
        *,
        baud: int = DEFAULT_BAUD,
        on_event: Listener | None = None,
        on_bridge_event: Listener | None = None,
    ) -> None:
        # Imported here: pyserial and the protocol are only needed with a handheld.
        from firmware_bridge.bridge import Bridge

        self._notify = on_event
        self._forward = on_bridge_event
        self._lock = threading.Lock()
        self._attached = False
        self._ever_attached = False
        self._missing_reported = False
        self.attachments = 0
        self.detachments = 0
        self.bridge: Bridge = Bridge(controller, port, baud=baud, on_event=self._on_bridge_event)
        self.port = self.bridge.port_spec

    @property
    def attached(self) -> bool:
        """True while the device's link is up."""
        return self._attached

    def start(self) -> None:
        self.bridge.start()

    def stop(self) -> None:
        self.bridge.stop()

    def __enter__(self) -> Handheld:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _on_bridge_event(self, event: Event) -> None:
        from firmware_bridge.bridge import LinkLost, LinkUp, PortClosed, PortUnavailable

        if self._forward is not None:
            self._forward(event)
        notice: HandheldChanged | None = None
        with self._lock:
            if isinstance(event, LinkUp):
                if not self._attached:
                    self._attached = self._ever_attached = True
                    self.attachments += 1
                    notice = HandheldChanged(True, self.port, event.device)
            elif isinstance(event, (LinkLost, PortClosed)):
                if isinstance(event, PortClosed) and event.reason == "stopped":
                    return  # the session is ending, not the device
                if self._attached:
                    self._attached = False
                    self.detachments += 1
                    notice = HandheldChanged(False, self.port, event.reason)
            elif isinstance(event, PortUnavailable) and not (
                self._ever_attached or self._missing_reported
            ):
                # Not plugged in at start: said once; later retries are the bridge's business.
                self._missing_reported = True
                notice = HandheldChanged(False, self.port, f"not found: {event.reason}")
        if notice is not None and self._notify is not None:
            self._notify(notice)
