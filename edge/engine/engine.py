"""``Engine``: wires the stages into four threads joined by bounded queues.

    source ──audio──▶ listener ──sentences──▶ translator ──speech──▶ speaker
                         │  └──────────── Confirm ───────────────────▲ │
                         └─────────────── events ──────────────────────┴──▶ run()'s caller

Each thread runs one object (``listeners``, ``translating``, ``speaking``) that owns its own
state; what they share is the ``Ledger`` (which jobs are wanted), the ``Meter`` (timings)
and the ``Channels``. The caller's thread iterates ``run()`` and may call ``stop`` and
``cancel_output`` at any time: those only set flags that the stages read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator

from ..events import Event
from .channels import Channels
from .config import AudioBlock, EchoCheck, EngineConfig, PushToTalk, Stages, check
from .lifecycle import Lifecycle
from .listeners import make_listener
from .messages import Failure, Stop
from .metrics import Meter
from .shared import Shared
from .speaking import Speaker
from .speculation import Ledger
from .translating import Translator


class Engine:
    """Runs one audio stream through the stages and yields events."""

    def __init__(self, stages: Stages, config: EngineConfig, echo: EchoCheck | None = None) -> None:
        check(stages, config)
        self.stages = stages
        self.config = config
        self._channels = Channels(config.queue_size)
        self._events = self._channels.events  # what run() reads (tests watch it fill)
        self._ledger = Ledger()
        self._meter = Meter()
        shared = Shared(stages, config, self._channels, self._ledger, self._meter, echo)
        self._life = Lifecycle(shared)
        self._translator = Translator(shared)
        self._speaker = Speaker(shared)

    def run(self, blocks: Iterable[AudioBlock | PushToTalk]) -> Iterator[Event]:
        """Process the audio and yield events until the input is exhausted and drained."""
        channels = self._channels
        started = time.perf_counter()
        stages: list[tuple[str, Callable[[], None]]] = [
            ("edge-source", lambda: self._source(blocks)),
            ("edge-listener", self._listen),
            ("edge-translator", self._translator.run),
            ("edge-speaker", self._speaker.run),
        ]
        threads = [
            threading.Thread(target=self._guard(target), name=name, daemon=True)
            for name, target in stages
        ]
        for thread in threads:
            thread.start()
        failure: BaseException | None = None
        try:
            while True:
                item = channels.events.get()
                if isinstance(item, Stop):
                    break
                if isinstance(item, Failure):
                    failure = item.error
                    break
                yield item
        finally:
            channels.stop.set()
            channels.closed.set()
            deadline = time.monotonic() + self.config.join_timeout_s
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if failure is not None:
            raise failure
        yield self._meter.summary(time.perf_counter() - started)

    def stop(self) -> None:
        self._channels.stop.set()

    def cancel_output(self, through_utterance_id: int) -> None:
        """Stop translating and speaking utterances up to this id (the user barged in)."""
        self._ledger.cancel(through_utterance_id)
        self._meter.audio_until = 0.0  # what was queued is not going to play

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # handed to the caller's thread, never lost
                self._channels.stop.set()
                self._channels.emit(Failure(exc))

        return run

    def _source(self, blocks: Iterable[AudioBlock | PushToTalk]) -> None:
        channels = self._channels
        for block in blocks:
            if not channels.put(channels.audio, block):
                return
        channels.put(channels.audio, Stop())

    def _listen(self) -> None:
        make_listener(self._life).run()
        self._channels.put(self._channels.sentences, Stop())
