"""What travels on the engine's queues: one dataclass per kind of message.

Each queue carries a union of these (see ``Channels``), and every stage dispatches on the
class: no tuples, no bare sentinel objects.

    audio      AudioBlock | PushToTalk | Stop           source     -> listener
    sentences  Sentence | UtteranceDone | Stop          listener   -> translator
    speech     Phrase | Confirm | UtteranceDone | Stop  translator -> speaker (and Confirm
                                                        straight from the listener)
    events     Event | Failure | Stop                   any stage  -> the caller of run()
"""

from __future__ import annotations

from dataclasses import dataclass

from ..events import Event
from ..voice_match import VoiceTarget
from .config import AudioBlock, PushToTalk

# (utterance id, start, end) of the audio a decode was made from, in seconds, rounded so
# that the same audio always gives the same key.
SegmentKey = tuple[int, float, float]


@dataclass(frozen=True)
class Stop:
    """The end of a queue's stream: its producer is done, or the engine is stopping."""


@dataclass(frozen=True)
class UtteranceDone:
    """An utterance with nothing to say (rejected, empty, or transcription only): the speaker
    closes it, in order behind the speech of earlier utterances."""

    utterance_id: int


@dataclass(frozen=True)
class Confirm:
    """The hangover confirmed a speculative segment: its held speech may play."""

    utterance_id: int


@dataclass(frozen=True)
class Failure:
    """An exception that ended a stage, handed to the caller's thread to be re-raised."""

    error: BaseException


@dataclass
class Sentence:
    """One sentence of an utterance, to translate and speak (or only to warm the caches)."""

    utterance_id: int
    index: int
    text: str
    lang: str
    is_last: bool
    speech_end_wall: float  # perf_counter() at the end of the speech it came from
    target: str | None = None  # language to translate into
    translated: str | None = None  # set when no MT is needed (direct mode)
    speculative: bool = False
    spoken_lang: str | None = None  # direct mode: the language that was spoken
    segment_key: SegmentKey | None = None  # speculative: the audio it came from
    # From a partial hypothesis: translated and synthesized into the caches, never spoken
    # (only the final decode says what is spoken; when it agrees, its jobs find them there).
    warm_only: bool = False
    # Took over the decode of an earlier job for the same sentence (``Translator._stream``).
    inherited: bool = False
    # What the speech should sound like (the speaker's pitch and rate); None: the voice as is.
    voice: VoiceTarget | None = None

    @property
    def mt_key(self) -> tuple[str, str | None, str]:
        """What its translation depends on: jobs with equal keys share one decode."""
        return (self.lang, self.target, self.text)


@dataclass
class Phrase:
    """A piece of a sentence's translation, synthesized on its own."""

    job: Sentence
    text: str
    last: bool  # the sentence's translation is complete with this phrase


AudioItem = AudioBlock | PushToTalk | Stop
SentenceItem = Sentence | UtteranceDone | Stop
SpeechItem = Phrase | Confirm | UtteranceDone | Stop
EventItem = Event | Failure | Stop
