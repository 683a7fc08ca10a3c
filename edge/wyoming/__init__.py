"""``edge`` as a Wyoming server: speech recognition, voices and translation for Home Assistant.

Built on the ``wyoming`` package (its server, event parsing and event types); this package
adds the handlers for edge's models, the ``info`` answer built from what is installed, and
the limits a network service needs. ``edge wyoming --help`` and docs/home-assistant.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ServerConfig
    from .server import WyomingServer

__all__ = ["ServerConfig", "WyomingServer"]


def __getattr__(name: str) -> Any:
    # Lazy: `edge --help` imports edge.wyoming.cli, which should not load the server.
    if name == "ServerConfig":
        from .config import ServerConfig

        return ServerConfig
    if name == "WyomingServer":
        from .server import WyomingServer

        return WyomingServer
    raise AttributeError(name)
