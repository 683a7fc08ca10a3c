"""Typed events emitted by the engine.

Every consumer (CLI, firmware bridge, UI) sees the same small dataclasses. Times named
``*_s`` are positions in the input audio stream, in seconds; times named ``*_ms`` are
wall-clock durations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


@dataclass
class Event:
    name: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with an ``event`` field; audio samples are left out."""
        out: dict[str, Any] = {"event": self.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                continue
            if isinstance(value, float):
                value = round(value, 4)
            out[f.name] = value
        return out


@dataclass
class SpeechStarted(Event):
    name: ClassVar[str] = "speech_start"
    utterance_id: int
    start_s: float


@dataclass
class SpeechEnded(Event):
    name: ClassVar[str] = "speech_end"
    utterance_id: int
    start_s: float
    end_s: float


@dataclass
class SpeechDiscarded(Event):
    """Sound that started an utterance and turned out not to be one: too short (a click, a
    cough, an empty press), or not speech (a tune the VAD half-believed: ``VadConfig.
    min_confident_s``). Nothing is recognized, translated or spoken."""

    name: ClassVar[str] = "speech_discarded"
    utterance_id: int
    start_s: float
    reason: str = "too short"


@dataclass
class PartialTranscript(Event):
    name: ClassVar[str] = "partial"
    utterance_id: int
    text: str
    lang: str


@dataclass
class Transcript(Event):
    """The final text of one utterance. In direct mode (speech translated by Whisper) it is
    a second decode that waits for the reply's first sound, so it follows the first
    ``AudioOut``; elsewhere it comes before the utterance's translation."""

    name: ClassVar[str] = "transcript"
    utterance_id: int
    text: str
    lang: str
    start_s: float
    end_s: float


@dataclass
class Rejected(Event):
    """A segment whose recognition the hallucination guards rejected (``edge.asr.guards``):
    no speech, a repetition loop, too many words for the audio, a low-confidence decode. It is
    neither translated nor spoken; ``text`` is what the recognizer decoded."""

    name: ClassVar[str] = "rejected"
    utterance_id: int
    reason: str
    text: str
    start_s: float
    end_s: float


@dataclass
class Translation(Event):
    """One translated sentence of an utterance."""

    name: ClassVar[str] = "translation"
    utterance_id: int
    sentence_index: int
    text: str
    lang: str
    source_text: str
    source_lang: str


@dataclass
class AudioOut(Event):
    """A chunk of synthesized speech, float32 mono in [-1, 1]."""

    name: ClassVar[str] = "audio"
    utterance_id: int
    sentence_index: int
    sample_rate: int
    samples: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["num_samples"] = int(len(self.samples))
        return out


@dataclass
class UtteranceMetrics(Event):
    """Timing of one utterance, from the end of its speech to its first translated sound."""

    name: ClassVar[str] = "utterance_metrics"
    utterance_id: int
    end_of_speech_to_first_audio_ms: float | None
    asr_ms: float
    mt_ms: float
    tts_first_chunk_ms: float | None
    tts_ms: float


@dataclass
class Metrics(Event):
    """Closing summary of a run."""

    name: ClassVar[str] = "metrics"
    audio_s: float
    wall_s: float
    utterances: int
    stage_ms: dict[str, float]
    real_time_factor: dict[str, float]
    end_of_speech_to_first_audio_ms: list[float]
    peak_rss_mb: float | None = None


@dataclass
class StateChanged(Event):
    """Engine state for LEDs, screens and the firmware bridge."""

    name: ClassVar[str] = "state"
    state: str  # idle | listening | thinking | speaking | error
    previous: str


@dataclass
class StageError(Event):
    """A stage failed on one item; the engine keeps running."""

    name: ClassVar[str] = "error"
    stage: str
    message: str
    utterance_id: int | None = None
