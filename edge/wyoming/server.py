"""The Wyoming server: one event handler per connection, limits, and start/stop.

The protocol is the ``wyoming`` package's: its ``AsyncServer`` accepts connections and its
``async_read_event`` parses events. This module adds what a server on a shared network
needs and the package leaves to servers: a limit on clients, on the size an event may
declare, and on idle connections, and an ``error`` event instead of a dropped connection
for input it cannot use. Nothing one client sends stops the server or disturbs another
client: a malformed event closes that client's connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from wyoming.event import Event, async_read_event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncServer

from ..errors import EdgeError
from ..models import ModelStore
from . import errors
from .asr import Recognition
from .config import Endpoint, ServerConfig, endpoint
from .handle import Translation
from .info import build_info, mt_pairs
from .pool import ModelPool
from .tts import Synthesis

log = logging.getLogger(__name__)


class EventTooLarge(Exception):
    def __init__(self, size: object, limit: int) -> None:
        super().__init__(f"an event declared {size} bytes, over the limit of {limit}")


class _LimitedReader:
    """The client's stream as ``async_read_event`` reads it, refusing an oversized
    ``data_length`` or ``payload_length`` before reading (and buffering) any of it."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        self._reader = reader
        self._limit = limit

    async def readline(self) -> bytes:
        return await self._reader.readline()

    async def readexactly(self, size: int) -> bytes:
        if not isinstance(size, int) or size > self._limit:
            raise EventTooLarge(size, self._limit)
        return await self._reader.readexactly(size)


class EdgeEventHandler(AsyncEventHandler):
    """One client connection: ASR, TTS and translation requests, one after another."""

    def __init__(
        self, server: WyomingServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super().__init__(reader, writer)
        self.server = server
        pool = server.pool
        self.recognition = Recognition(pool, self.write_event)
        self.synthesis = Synthesis(pool, self.write_event)
        self.translation = Translation(pool, self.write_event)

    async def run(self) -> None:
        config = self.server.config
        if not self.server.take_slot():
            await self._refuse(
                errors.TOO_MANY_CLIENTS,
                f"the server already serves {config.max_clients} clients; try again later",
            )
            self.writer.close()
            return
        reader = _LimitedReader(self.reader, config.max_event_bytes)
        try:
            while True:
                waiting_since = time.monotonic()
                try:
                    event = await asyncio.wait_for(
                        async_read_event(reader),  # type: ignore[arg-type]
                        config.idle_timeout_s,
                    )
                except asyncio.TimeoutError:
                    # wait_for also raised this when a SIGTERM shutdown cancelled the read
                    # (seen on Python 3.11): only a wait of the full time is an idle client.
                    if time.monotonic() - waiting_since >= config.idle_timeout_s:
                        await self._refuse(
                            errors.IDLE,
                            f"closed after {config.idle_timeout_s:g} s without an event",
                        )
                    break
                except EventTooLarge as exc:
                    await self._refuse(errors.TOO_LARGE, str(exc))
                    break
                except (asyncio.IncompleteReadError, ConnectionError):
                    break  # the client left in the middle of an event
                except Exception as exc:  # a header that is JSON but not an event
                    await self._refuse(errors.MALFORMED, f"malformed event: {type(exc).__name__}")
                    break
                if event is None:
                    if not self.reader.at_eof():  # not the end: a line that is not JSON
                        await self._refuse(
                            errors.MALFORMED, "malformed event: the header line is not JSON"
                        )
                    break
                try:
                    if not await self.handle_event(event):
                        break
                except (ConnectionError, RuntimeError):
                    break  # the client left while its answer was written
        finally:
            self.server.release_slot()
            await self.disconnect()
            self.writer.close()

    async def _refuse(self, code: str, text: str) -> None:
        log.info("client refused: %s", text)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.write_event(errors.RequestError(code, text).event())

    async def handle_event(self, event: Event) -> bool:
        try:
            if not isinstance(event.data, dict):
                raise errors.RequestError(errors.MALFORMED, "an event's data must be a JSON object")
            await self._dispatch(event)
        except errors.RequestError as exc:
            await self.write_event(exc.event())
        except ConnectionError:
            return False
        except EdgeError as exc:  # a model that does not load or refuses its input
            log.warning("request failed: %s", exc)
            await self.write_event(errors.RequestError(errors.MODEL_FAILED, str(exc)).event())
        except Exception:
            log.exception("request failed")
            self.recognition.reset()
            self.synthesis = Synthesis(self.server.pool, self.write_event)
            await self.write_event(
                errors.RequestError(
                    errors.INTERNAL, "internal error; the request was dropped"
                ).event()
            )
        return True

    async def _dispatch(self, event: Event) -> None:
        kind, data = event.type, event.data
        if Describe.is_type(kind):
            await self.write_event(self.server.info_event)
        elif Ping.is_type(kind):
            await self.write_event(Pong(text=data.get("text")).event())
        elif kind == "transcribe":
            await self.recognition.transcribe(data)
        elif kind == "audio-start":
            await self.recognition.audio_start(data)
        elif kind == "audio-chunk":
            await self.recognition.audio_chunk(data, event.payload)
        elif kind == "audio-stop":
            await self.recognition.audio_stop()
        elif kind == "synthesize":
            await self.synthesis.synthesize(data)
        elif kind == "synthesize-start":
            await self.synthesis.start(data)
        elif kind == "synthesize-chunk":
            await self.synthesis.chunk(data)
        elif kind == "synthesize-stop":
            await self.synthesis.stop()
        elif kind == "transcript":
            await self.translation.transcript(data)
        else:
            log.debug("ignored event %r", kind)  # the protocol: drop what is not understood


class WyomingServer:
    """Serves the installed models over Wyoming until stopped."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        store: ModelStore | None = None,
        loaded: Mapping[str, Any] | None = None,
    ) -> None:
        """``loaded``: models already in memory by model id (shared, not loaded again)."""
        self.config = config.validate()
        self.endpoint: Endpoint = endpoint(config.uri)
        self.pool = ModelPool(config, store, loaded)
        self._check_target()
        self.info = build_info(self.pool, config.target)
        self.info_event = self.info.event()
        self.clients = 0
        self._server: AsyncServer | None = None

    def _check_target(self) -> None:
        target = self.config.target
        if target is None:
            return
        into = {b for s in self.pool.mt for _a, b in mt_pairs(s.record)}
        if target not in into:
            have = ", ".join(sorted(into)) or "none (no translation model is installed)"
            raise EdgeError(
                f"no installed translation model translates into {target}",
                f"pull one (see edge models list) or use a target of: {have}",
            )

    def take_slot(self) -> bool:
        if self.clients >= self.config.max_clients:
            return False
        self.clients += 1
        return True

    def release_slot(self) -> None:
        self.clients -= 1

    def _handler(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> EdgeEventHandler:
        return EdgeEventHandler(self, reader, writer)

    def _wyoming_server(self) -> AsyncServer:
        try:
            return AsyncServer.from_uri(self.config.uri)
        except ValueError as exc:
            raise EdgeError(
                f"bad --uri {self.config.uri!r}: {exc}", "use tcp://127.0.0.1:10300"
            ) from None

    async def start(self) -> None:
        """Listen (without blocking); raises EdgeError when the address cannot be used."""
        if self.config.preload:
            await self.pool.preload()
        self._server = self._wyoming_server()
        try:
            await self._server.start(self._handler)
        except OSError as exc:
            raise _bind_error(self.config.uri, exc) from None

    async def run(self) -> None:
        """Listen and serve until cancelled or SIGTERM."""
        if self.config.preload:
            await self.pool.preload()
        self._server = self._wyoming_server()
        try:
            await self._server.run(self._handler)
        except OSError as exc:
            raise _bind_error(self.config.uri, exc) from None
        finally:
            self.pool.close()

    @property
    def port(self) -> int:
        """The TCP port listened on (the one chosen by the system for port 0)."""
        listener = getattr(self._server, "_server", None)  # asyncio's, inside AsyncTcpServer
        if listener is None or not listener.sockets:
            return self.endpoint.port
        return int(listener.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
        self.pool.close()


def _bind_error(uri: str, exc: OSError) -> EdgeError:
    return EdgeError(
        f"cannot listen on {uri}: {exc.strerror or exc}",
        "choose another port in --uri, or stop the program that uses it",
    )
