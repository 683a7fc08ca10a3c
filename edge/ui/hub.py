"""The kiosk screen's fan-out: a live session's events, as JSON, to every open page.

``EventHub.publish`` is the controller's ``on_event`` (or part of it): it is called from the
controller's threads, sometimes with the controller's lock held, so it never waits on a
page. Each page has a bounded queue on the server's event loop; a page that cannot keep up
is disconnected and, when it reconnects, catches up from the ``hello`` message (the current
state and the recent captions), as a page that was reloaded does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..events import Event
from ..languages import language_name, to_flores, to_iso639_1

log = logging.getLogger(__name__)

SKIPPED = frozenset({"audio"})  # synthesized samples: many a second, and nothing to show
# What a page that connects late needs to show the conversation so far (partials are
# superseded by their transcript; a late page does not need them).
KEPT = frozenset({"transcript", "translation", "rejected", "speech_discarded"})
HISTORY = 200  # events kept for pages that connect later
CLIENT_QUEUE = 1000  # messages waiting for one page before it is dropped as too slow
CLOSE = None  # sentinel in a client's queue: disconnect (it reconnects and catches up)


def short(code: str) -> str:
    """``por_Latn`` -> ``PT``: how the controller spells a language pair (``EN>PT``)."""
    return (to_iso639_1(code) or code.split("_")[0]).upper()


def _pair(source: str, target: str) -> dict[str, str]:
    return {
        "source": source,
        "target": target,
        "pair": f"{short(source)}>{short(target)}",
        "label": f"{language_name(source)} → {language_name(target)}",
    }


def language_pairs(
    source: str, target: str, models_dir: str | Path | None = None
) -> list[dict[str, str]]:
    """The pairs the picker offers: the session's, its reverse, and every direction an
    installed translation model covers between languages an installed recognizer hears.
    A pair whose voice or recognizer turns out missing fails when picked, with an error the
    page shows; the session goes on with the pair it had."""
    source, target = to_flores(source), to_flores(target)
    found = [(source, target), (target, source)]
    try:
        from ..models.store import ModelStore
        from ..models.store import models_dir as default_models_dir

        installed = ModelStore(Path(models_dir) if models_dir else default_models_dir()).installed()
    except Exception as exc:  # a picker with the session's pair is still useful
        log.info("no installed models listed for the language picker: %s", exc)
        installed = []
    heard = {lang for m in installed if m.has_kind("asr-segment") for lang in m.languages}
    heard |= {lang for m in installed if m.has_kind("asr-streaming") for lang in m.languages}
    for model in installed:
        if not model.has_kind("mt"):
            continue
        if model.directions:
            candidates = [tuple(d.split(">", 1)) for d in model.directions]
        else:
            langs = [lang for lang in model.languages if lang in heard]
            candidates = [(a, b) for a in langs for b in langs if a != b]
        for a, b in candidates:
            if a in heard and (a, b) not in found:
                found.append((a, b))
    return [_pair(a, b) for a, b in found]


class Client:
    """One open page: a queue on the server's event loop, filled from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(CLIENT_QUEUE)

    def offer(self, text: str) -> None:
        """From any thread: never blocks (the controller's lock may be held)."""
        with contextlib.suppress(RuntimeError):  # a closed loop: the server is stopping
            self.loop.call_soon_threadsafe(self._put, text)

    def _put(self, text: str) -> None:
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            # Too slow (a frozen tab): drop it rather than the session's memory; a
            # reconnect's hello brings it back up to date.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(CLOSE)


class EventHub:
    """Tracks what a new page needs and forwards every event to the open pages."""

    def __init__(self, history: int = HISTORY) -> None:
        self._lock = threading.Lock()
        self._clients: set[Client] = set()
        self._history: deque[dict[str, Any]] = deque(maxlen=history)
        self.status: dict[str, Any] = {
            "state": "idle",
            "language_pair": "",
            "volume": None,
            "mode": "vad",
            "two_way": False,
            "fault": None,  # a device notice while the state is "error"
            "session": False,  # the devices are open
            "pairs": [],
            # The handheld (``edge live --bridge``): None without one; else the last notice,
            # {"attached": bool, "port", "detail"} ("attached": None until the first).
            "handheld": None,
        }

    def configure(self, **status: Any) -> None:
        """Set what the session is (mode, pair, offered pairs) before pages connect."""
        with self._lock:
            self.status.update(status)

    def publish(self, event: Event) -> None:
        """The controller's ``on_event``: safe from any thread, never waits."""
        if event.name in SKIPPED:
            return
        message = event.to_dict()
        if isinstance(message.get("lang"), str):
            message["lang_code"] = short(message["lang"])
        text = json.dumps(message, default=_plain)
        with self._lock:
            self._track(message)
            for client in self._clients:
                client.offer(text)

    def tee(self, other: Callable[[Event], None]) -> Callable[[Event], None]:
        """An ``on_event`` that gives each event to ``other`` (the printer), then the pages."""

        def both(event: Event) -> None:
            other(event)
            self.publish(event)

        return both

    def register(self, client: Client) -> str:
        """Add a page; its first message (``hello``), taken with no event in between."""
        with self._lock:
            self._clients.add(client)
            hello = {"event": "hello", **self.status, "history": list(self._history)}
            return json.dumps(hello, default=_plain)

    def unregister(self, client: Client) -> None:
        with self._lock:
            self._clients.discard(client)

    @property
    def clients(self) -> int:
        with self._lock:
            return len(self._clients)

    def _track(self, message: dict[str, Any]) -> None:
        name = message["event"]
        status = self.status
        if name in KEPT:
            self._history.append(message)
        if name == "state":
            status["state"] = message["state"]
            if message["state"] != "error":
                status["fault"] = None
        elif name == "error" and message.get("stage") == "device":
            status["fault"] = message["message"]
        elif name == "language_pair":
            status["language_pair"] = message["pair"]
        elif name == "volume":
            status["volume"] = message["level"]
        elif name == "session_start":
            status.update(session=True, language_pair=message["language_pair"])
            status["mode"] = message["mode"]
        elif name == "live_stats":
            status["session"] = False
        elif name == "handheld":  # edge.live.handheld.HandheldChanged
            status["handheld"] = {
                "attached": message["attached"],
                "port": message["port"],
                "detail": message["detail"],
            }


def _plain(value: Any) -> Any:
    """JSON for what ``json`` does not know (numpy scalars in metrics)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)
