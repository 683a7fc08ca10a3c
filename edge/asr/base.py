"""Speech recognition interfaces.

Two kinds of recognizer sit behind the engine:

* ``SegmentRecognizer``: decodes a whole speech segment cut by the VAD (Moonshine,
  Whisper, SenseVoice). It may be re-run on a growing segment to give partial results.
* ``StreamingRecognizer``: consumes audio continuously and reports partials and
  endpoints itself (sherpa-onnx online transducer / CTC / paraformer models).

Audio is always 16 kHz mono float32 in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

SAMPLE_RATE = 16000


@dataclass
class Recognition:
    """The text of one segment, and what the hallucination guards (``edge.asr.guards``) made
    of it. A rejected recognition has an empty ``text``: callers that only read ``text``
    never pass on what the guards threw away."""

    text: str
    lang: str  # FLORES-200 code of ``text``
    # Direct speech translation (Whisper's translate task): the spoken language, and its
    # transcript when it was asked for.
    source_lang: str | None = None
    source_text: str | None = None
    # Why the guards rejected the segment ("no speech", "repetition loop", ...), and the text
    # that was decoded and thrown away; None when the text stands.
    rejected: str | None = None
    rejected_text: str = ""
    cut: str | None = None  # why the text was shortened ("repetition loop"), None if whole
    # A text passed on although every decode failed a check ("low confidence ..."): a guess.
    failed: str | None = None
    # Whisper's scores of the decode kept (None where the model gives none).
    avg_logprob: float | None = None  # mean log-probability per token, end of text included
    no_speech_prob: float | None = None  # probability of Whisper's <|nospeech|> token
    compression_ratio: float | None = None  # UTF-8 length / zlib length of the text
    temperature: float | None = None  # the decode's temperature (fallback above 0)


@runtime_checkable
class SegmentRecognizer(Protocol):
    languages: tuple[str, ...]  # FLORES-200 codes it can recognize

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Recognition: ...


@dataclass
class EndpointConfig:
    """Endpoint rules of a streaming recognizer (sherpa-onnx rule1..rule3).

    rule1: trailing silence after which an utterance ends even if nothing was decoded.
    rule2: trailing silence after which an utterance with decoded text ends.
    rule3: maximum utterance length.
    """

    rule1_min_trailing_silence_s: float = 2.4
    rule2_min_trailing_silence_s: float = 0.6
    rule3_min_utterance_length_s: float = 20.0


class RecognizerStream(Protocol):
    def accept(self, audio: np.ndarray) -> None: ...

    def partial(self) -> str:
        """Decode what is ready and return the current hypothesis."""
        ...

    def is_endpoint(self) -> bool: ...

    def finish(self) -> str:
        """Flush the remaining audio and return the final text of the utterance."""
        ...

    def reset(self) -> None:
        """Start a new utterance on the same stream."""
        ...


@runtime_checkable
class StreamingRecognizer(Protocol):
    languages: tuple[str, ...]

    def create_stream(self) -> RecognizerStream: ...
