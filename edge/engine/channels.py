"""The queues between the engine's threads, and the two flags that end them.

Queues are bounded: a slow stage holds up the ones before it (backpressure), nothing is
dropped. ``put`` and ``get`` give up once ``stop`` is set, so no thread waits forever on a
stage that has ended; ``emit`` gives up once ``closed`` is set, when nobody reads events.
Every method is safe from any thread (``queue.Queue`` and ``threading.Event`` are).
"""

from __future__ import annotations

import queue
import threading
from typing import TypeVar

from .messages import AudioItem, EventItem, SentenceItem, SpeechItem, Stop

T = TypeVar("T")


class Channels:
    def __init__(self, queue_size: int) -> None:
        self.events: queue.Queue[EventItem] = queue.Queue(maxsize=1024)
        self.audio: queue.Queue[AudioItem] = queue.Queue(maxsize=64)
        self.sentences: queue.Queue[SentenceItem] = queue.Queue(maxsize=queue_size)
        self.speech: queue.Queue[SpeechItem] = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        # Set when run() ends, also when its caller abandons it (gen.close(), or drops it):
        # nobody reads events any more, so stages must not wait for room in the queue.
        self.closed = threading.Event()

    def emit(self, item: EventItem) -> None:
        """Hand an item to the caller; drop it only when the caller has stopped reading.

        A full queue is backpressure while run() is being consumed, but a caller that
        abandoned the generator never drains it: waiting would leak the stage threads.
        """
        while not self.closed.is_set():
            try:
                self.events.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def put(self, q: queue.Queue[T], item: T) -> bool:
        """Blocking put that gives up when the engine is stopping (backpressure, no loss)."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue[T]) -> T | Stop:
        """Blocking get; a ``Stop`` once the engine is stopping and the queue is empty."""
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    return Stop()
