"""Events of a live session, on top of the engine's (``edge.events``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ..events import Event

Listener = Callable[[Event], None]


class Listeners:
    """A controller's subscribers (LEDs, a screen, the firmware bridge).

    ``publish`` is called with the owner's lock held, so every listener sees the changes
    in the order they happened.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._items: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._items.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._items:
                    self._items.remove(listener)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for listener in list(self._items):
            listener(event)


@dataclass
class SessionStarted(Event):
    """The devices are open and the session listens."""

    name: ClassVar[str] = "session_start"
    mode: str
    language_pair: str
    input: str  # device name and format, or the file
    output: str
    duplex: str = "half"  # as resolved: full (echo cancellation) or half (muted microphone)


@dataclass
class Playback(Event):
    """One utterance's translated speech was played (or cut short by a barge-in)."""

    name: ClassVar[str] = "playback"
    utterance_id: int
    # From the end of speech (push-to-talk: the release) to the first sound out.
    end_of_speech_to_first_played_ms: float | None
    interrupted: bool


@dataclass
class LiveStats(Event):
    """Closing summary of a live session."""

    name: ClassVar[str] = "live_stats"
    wall_s: float
    utterances: int
    played: int
    barge_ins: int
    overruns: int  # capture blocks lost: by the device, or dropped from a full backlog
    dropped_audio_s: float
    gated_s: float  # microphone audio muted while the device spoke (echo gate)
    device_recoveries: int
    first_played_ms: list[float]
    holds: int = 0  # full duplex: translations held because the speaker went on (grace_s)
    aec_cpu_s: float = 0.0  # time spent in the echo canceller (its segment checks included)
    # Full duplex: seconds of audio the recognizer heard through the linear filter (the rest
    # through AEC3, while the filter had not converged), and how often a stream's wall time
    # slipped from its sample count (each costs the linear filter a re-convergence).
    aec_linear_s: float = 0.0
    aec_slips: int = 0
    aec_linear_erle_db: float | None = None  # echo the linear filter removed, at the end
    # Full duplex, the echo check on finished segments: discarded as the device's own voice;
    # heard through the batch fit; and outputs paused by an onset that was then discarded
    # and resumed (no barge-in).
    own_voice_segments: int = 0
    refined_segments: int = 0
    resumed: int = 0


@dataclass
class LanguagePairChanged(Event):
    name: ClassVar[str] = "language_pair"
    pair: str  # source>target as short upper-case codes, e.g. "EN>ES"


@dataclass
class VolumeChanged(Event):
    name: ClassVar[str] = "volume"
    level: int  # 0..100


@dataclass(frozen=True)
class ControllerSnapshot:
    state: str
    language_pair: str
    volume: int
