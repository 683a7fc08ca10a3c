"""The kiosk screen's HTTP and WebSocket server (Starlette on uvicorn, in a background thread).

Pages talk to the session over ``/ws``. Server to page: ``hello`` (state, language pair,
mode, the pairs the picker offers, the handheld's last notice, recent captions), then every
event of the session as ``Event.to_dict()`` (``audio`` left out). Page to server, one JSON
object a message:

    {"type": "press"} / {"type": "release"}     push-to-talk (the on-screen button)
    {"type": "swap"}                            swap the languages
    {"type": "pair", "source": "eng_Latn", "target": "por_Latn"}   one of hello's pairs
    {"type": "volume", "level": 0..100}

Several pages (or the two halves of a face-to-face screen) may hold the button: the
controller sees one press when the first goes down and one release when the last lets go,
and a page that disconnects while holding lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import EdgeError
from .hub import CLOSE, Client, EventHub

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


class Controller(Protocol):
    """What the kiosk screen drives: ``edge.live.LiveController`` (or a test's stand-in)."""

    def ptt_down(self) -> None: ...
    def ptt_up(self) -> None: ...
    def swap_languages(self) -> None: ...
    def set_language_pair(self, source: str, target: str) -> None: ...
    def set_volume(self, level: int) -> None: ...


class UiError(EdgeError):
    """The kiosk screen cannot be served (the port is taken, the address is not ours)."""

    exit_code = 2


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host`` (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class KioskServer:
    """Serves the page and its WebSocket for one live session until ``stop()``."""

    def __init__(
        self,
        controller: Controller,
        hub: EventHub,
        host: str = "127.0.0.1",
        port: int = 8765,
    ) -> None:
        self.controller = controller
        self.hub = hub
        self.host = host
        self.port = port
        self._holders: set[int] = set()  # pages holding the push-to-talk button
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route("/", self._index),
                Route("/favicon.ico", self._icon),
                WebSocketRoute("/ws", self._socket),
                Mount("/static", StaticFiles(directory=STATIC), name="static"),
            ]
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 10.0) -> None:
        """Bind (here, so a taken port is a clear error) and serve from a daemon thread."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise UiError(
                f"cannot serve the kiosk screen on {self.host}:{self.port}: {exc.strerror}",
                "choose another --ui-port, or stop the program that uses it",
            ) from None
        self.port = sock.getsockname()[1]  # port 0: the one the system chose
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            ws_ping_interval=5.0,  # a page on a dead network is noticed and let go
            ws_ping_timeout=5.0,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        self._server = server
        # Not the main thread: uvicorn leaves the signal handlers to the session.
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="edge-ui", daemon=True
        )
        self._thread.start()
        waited = 0.0
        while not server.started and self._thread.is_alive() and waited < timeout:
            self._thread.join(0.02)
            waited += 0.02
        if not server.started:
            self.stop()
            raise UiError("the kiosk screen's server did not start", "see the log above")

    def stop(self) -> None:
        """Close the pages' connections (they retry: a restarted session gets them back)."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._server = self._thread = None

    # --- routes ------------------------------------------------------------------------

    async def _index(self, _request: Any) -> Response:
        # no-cache: a kiosk that outlives an upgrade revalidates rather than keep old files
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    async def _icon(self, _request: Any) -> Response:
        return FileResponse(STATIC / "icon.svg", media_type="image/svg+xml")

    async def _socket(self, ws: WebSocket) -> None:
        await ws.accept()
        client = Client(asyncio.get_running_loop())
        await ws.send_text(self.hub.register(client))
        sender = asyncio.create_task(self._send(ws, client))
        try:
            while True:
                text = await ws.receive_text()
                reply = self._command(id(client), text)
                if reply is not None:
                    await ws.send_text(json.dumps(reply))
        except WebSocketDisconnect:
            pass
        finally:
            self.hub.unregister(client)
            sender.cancel()
            self._release(id(client))  # a page that goes away must not hold the key down

    async def _send(self, ws: WebSocket, client: Client) -> None:
        with contextlib.suppress(Exception):  # the page went away: the receiver notices
            while True:
                text = await client.queue.get()
                if text is CLOSE:
                    await ws.close(code=1013)  # "try again later": the page reconnects
                    return
                await ws.send_text(text)

    def _command(self, holder: int, text: str) -> dict[str, Any] | None:
        """Act on one message from a page; an answer for that page only, if any."""
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, TypeError, KeyError):
            return _error("not a command: expected a JSON object with a type")
        try:
            if kind == "press":
                if not self._holders:
                    self.controller.ptt_down()
                self._holders.add(holder)
            elif kind == "release":
                self._release(holder)
            elif kind == "swap":
                self.controller.swap_languages()
            elif kind == "pair":
                offered = {(p["source"], p["target"]) for p in self.hub.status["pairs"]}
                wanted = (message.get("source"), message.get("target"))
                if wanted not in offered:
                    return _error(f"language pair {wanted[0]} > {wanted[1]} is not offered")
                self.controller.set_language_pair(*wanted)
            elif kind == "volume":
                self.controller.set_volume(int(message["level"]))
            else:
                return _error(f"unknown command {kind!r}")
        except (EdgeError, ValueError, TypeError, KeyError) as exc:
            return _error(f"{kind}: {exc}")
        return None

    def _release(self, holder: int) -> None:
        if holder in self._holders:
            self._holders.discard(holder)
            if not self._holders:
                self.controller.ptt_up()


def _error(message: str) -> dict[str, Any]:
    return {"event": "error", "stage": "ui", "message": message, "utterance_id": None}


def start_kiosk(controller: Any, hub: EventHub, config: Any) -> KioskServer:
    """Serve the kiosk screen of ``controller`` (a ``LiveController``) as ``config`` says
    (``ui_host``, ``ui_port``); one warning line when it is open to the network."""
    from .hub import language_pairs

    snapshot = controller.snapshot()
    hub.configure(
        mode=config.mode,
        two_way=config.two_way,
        language_pair=snapshot.language_pair,
        volume=snapshot.volume,
        state=snapshot.state,
        pairs=language_pairs(config.source, config.target, config.models_dir),
    )
    bridge = getattr(config, "bridge", None)
    if bridge and hub.status.get("handheld") is None:
        # shown as looking for it until the handheld's first HandheldChanged notice
        hub.configure(handheld={"attached": None, "port": bridge, "detail": ""})
    server = KioskServer(controller, hub, config.ui_host, config.ui_port)
    server.start()
    if not is_loopback(config.ui_host):
        print(
            f"edge: warning: the kiosk screen {server.url} is open to the network: anyone "
            "who reaches it can talk through this device (no password)",
            file=sys.stderr,
            flush=True,
        )
    print(f"edge live: kiosk screen at {server.url}", file=sys.stderr, flush=True)
    return server
