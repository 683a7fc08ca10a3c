"""What the bridge drives: the live-mode controller, and a simulated one for demos and tests.

The real controller (push-to-talk on the live engine) satisfies ``Controller`` and
publishes ``edge.events.StateChanged``, plus ``edge.live.events.LanguagePairChanged`` and
``VolumeChanged`` when the language pair or the volume change, so the device display and
volume follow any source of change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from edge.events import Event, StateChanged
from edge.live.events import (
    ControllerSnapshot,
    LanguagePairChanged,
    Listener,
    Listeners,
    VolumeChanged,
)


@runtime_checkable
class Controller(Protocol):
    def ptt_down(self) -> None: ...

    def ptt_up(self) -> None: ...

    def swap_languages(self) -> None: ...

    def set_volume(self, level: int) -> None: ...

    def snapshot(self) -> ControllerSnapshot:
        """Current state, language pair and volume, sent to a device when it connects."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every StateChanged, LanguagePairChanged and VolumeChanged;
        returns a function that unsubscribes. Listeners must return quickly."""
        ...


@dataclass(frozen=True)
class StateRecord:
    monotonic_s: float
    state: str


class SimulatedController:
    """A real state machine with the live controller's transitions, minus the audio.

    idle -> listening on ptt_down (from any state: pressing talks over playback),
    listening -> thinking on ptt_up, thinking -> speaking after ``think_s``,
    speaking -> idle after ``speak_s``. ``fail`` enters error; ptt_down leaves it.
    Every transition is recorded with its monotonic time in ``history``.
    """

    def __init__(
        self,
        language_pair: str = "EN>ES",
        volume: int = 60,
        think_s: float = 0.3,
        speak_s: float = 0.8,
    ) -> None:
        self._lock = threading.RLock()
        self._listeners = Listeners(self._lock)
        self._state = "idle"
        self._pair = language_pair
        self._volume = _clamp_volume(volume)
        self._think_s = think_s
        self._speak_s = speak_s
        self._timer: threading.Timer | None = None
        self.history: list[StateRecord] = [StateRecord(time.monotonic(), "idle")]

    def ptt_down(self) -> None:
        with self._lock:
            if self._state != "listening":
                self._enter("listening")

    def ptt_up(self) -> None:
        with self._lock:
            if self._state == "listening":
                self._enter("thinking", then=("speaking", self._think_s))

    def swap_languages(self) -> None:
        with self._lock:
            source, sep, target = self._pair.partition(">")
            self._pair = f"{target}{sep}{source}" if sep else self._pair
            self._publish(LanguagePairChanged(self._pair))

    def set_volume(self, level: int) -> None:
        with self._lock:
            level = _clamp_volume(level)
            if level != self._volume:
                self._volume = level
                self._publish(VolumeChanged(level))

    def fail(self) -> None:
        """Enter the error state, as the engine does when a stage fails."""
        with self._lock:
            self._enter("error")

    def snapshot(self) -> ControllerSnapshot:
        with self._lock:
            return ControllerSnapshot(self._state, self._pair, self._volume)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)

    def close(self) -> None:
        with self._lock:
            self._cancel_timer()

    def _enter(self, state: str, then: tuple[str, float] | None = None) -> None:
        self._cancel_timer()
        previous, self._state = self._state, state
        self.history.append(StateRecord(time.monotonic(), state))
        self._publish(StateChanged(state=state, previous=previous))
        if then is not None:
            self._schedule(*then)

    def _schedule(self, state: str, delay_s: float) -> None:
        timer = threading.Timer(delay_s, self._timer_fired, args=(state,))
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _timer_fired(self, state: str) -> None:
        with self._lock:
            if self._timer is None or threading.current_thread() is not self._timer:
                return  # cancelled after it started waiting for the lock
            self._timer = None
            self._enter(state, then=("idle", self._speak_s) if state == "speaking" else None)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _publish(self, event: Event) -> None:
        # Under the lock, so listeners see transitions in order.
        self._listeners.publish(event)


def _clamp_volume(level: int) -> int:
    return max(0, min(100, int(level)))
