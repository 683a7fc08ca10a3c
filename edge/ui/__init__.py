"""The kiosk screen of ``edge live --ui``: a local web page beside the live session.

``KioskServer`` serves ``static/`` (plain HTML, CSS and JavaScript, no build step, nothing
from the network) and one WebSocket, ``/ws``, from a background thread: the session's events
go to every open page as JSON, and the pages send push-to-talk presses, language picks and
swaps back to the controller. docs/kiosk.md describes the screen and how to run it at boot.

from edge.ui import EventHub
from edge.ui.server import start_kiosk

hub = EventHub()
controller = LiveController(config, loader.stages, on_event=hub.tee(printer))
server = start_kiosk(controller, hub, config)  # config.ui_host, config.ui_port
controller.run()
server.stop()
"""

from .hub import EventHub, language_pairs
from .server import KioskServer, is_loopback

__all__ = ["EventHub", "KioskServer", "is_loopback", "language_pairs"]
