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
    text: str
    lang: str  # FLORES-200 code of ``text``
    # Direct speech translation (Whisper's translate task): the spoken language, and its
    # transcript when it was asked for.
    source_lang: str | None = None
    source_text: str | None = None


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
