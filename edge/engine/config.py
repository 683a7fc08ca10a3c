"""What an engine is built from and fed: its models, its settings, and its input items.

``Stages`` holds the loaded models, ``EngineConfig`` the settings; ``check`` refuses a
combination that could not run before any thread starts. The input is a stream of
``AudioBlock`` items, with ``PushToTalk`` items placed where a key went down or up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..asr.base import SegmentRecognizer, StreamingRecognizer
from ..asr.whisper_ct2 import WhisperCT2
from ..errors import EdgeError
from ..mt.base import TextTranslator
from ..tts.base import Voice
from ..tts.chunking import FIRST_PHRASE_WORDS
from ..vad import VadConfig
from ..voice_match import MODES as VOICE_MATCH_MODES

SEGMENTATIONS = ("vad", "ptt")


class LanguageIdentifier(Protocol):
    def detect_language(
        self, audio: np.ndarray, allowed: tuple[str, ...] | None = None
    ) -> tuple[str, float]: ...


class EchoCheck(Protocol):
    """Full duplex: the echo canceller's look at a finished segment (``edge.live.aec``)."""

    def refine(self, start_wall: float, end_wall: float, audio: np.ndarray) -> np.ndarray | None:
        """The segment's audio for the recognizer (the device's voice removed where it can
        be), or None when the device's own voice explains it: it is not the user's.
        ``start_wall``/``end_wall``: the wall times of its first sample and of its end."""
        ...

    def own_voice(self, start_wall: float, end_wall: float) -> bool:
        """Whether the device's own voice explains all the microphone caught between these
        wall times (an onset the VAD dropped as too short: the device's, or the user's)."""
        ...


@dataclass
class Stages:
    """The loaded models of one pipeline; unused stages are None."""

    segment_asr: SegmentRecognizer | None = None
    streaming_asr: StreamingRecognizer | None = None
    direct: WhisperCT2 | None = None  # speech -> English text, replaces ASR + MT
    mt: TextTranslator | None = None
    tts: Voice | None = None
    # Two-way conversation: models of the second direction, and what tells the languages apart.
    recognizers: dict[str, SegmentRecognizer] = field(default_factory=dict)  # by spoken language
    extra_mt: tuple[TextTranslator, ...] = ()
    voices: dict[str, Voice] = field(default_factory=dict)  # by language spoken
    language_id: LanguageIdentifier | None = None

    def recognizer_for(self, lang: str) -> SegmentRecognizer | None:
        return self.recognizers.get(lang, self.segment_asr)

    def mt_for(self, source: str, target: str) -> TextTranslator | None:
        for mt in (self.mt, *self.extra_mt):
            if mt is not None and mt.supports(source, target):
                return mt
        return None

    def voice_for(self, lang: str | None) -> Voice | None:
        return self.voices.get(lang, self.tts) if lang is not None else self.tts


@dataclass
class EngineConfig:
    source: str  # FLORES-200 code of the speech
    target: str | None  # None: transcription only
    vad: VadConfig = field(default_factory=VadConfig)
    queue_size: int = 8
    # Re-decode the open segment this often for partial results (0: only final results).
    partial_interval_s: float = 0.0
    # Decode, translate and synthesize at the first pause, release at the confirmed end.
    speculative: bool = True
    # Speak the first sentence of an utterance from its first phrase of at least this many
    # words while the MT is still decoding the rest (0: whole clauses only). Phrases are
    # also cut at clause punctuation.
    first_phrase_words: int = FIRST_PHRASE_WORDS
    # Also transcribe the source language in direct mode (a second, cheaper decode). It runs
    # after the reply's first sound, so its Transcript follows the first AudioOut there.
    direct_transcript: bool = True
    # "vad": the VAD cuts utterances; "ptt": PushToTalk items in the audio stream do.
    segmentation: str = "vad"
    ptt_pre_roll_s: float = 0.3  # audio kept from before the press (the first syllable)
    ptt_tail_s: float = 0.2  # audio kept after a release that cut speech short
    # Two-way conversation: each utterance is identified as one of these and translated into
    # the other (``source``/``target`` are then the first and second of them).
    languages: tuple[str, str] | None = None
    # Live input: skip optional work (partials, speculation) on audio older than this, so a
    # listener that fell behind catches up instead of falling further behind.
    behind_s: float | None = None
    join_timeout_s: float = 5.0  # total wait for the stage threads when the run ends
    # Voice matching (edge.voice_match): "off", "rate", "pitch" or "full"; two-way: one per
    # spoken language (a dict). "off" here keeps the library's output as it was; the CLI's
    # default is the setting's ("rate").
    voice_match: str | dict[str, str] = "off"

    def target_for(self, lang: str) -> str | None:
        """The language an utterance recognized as ``lang`` is translated into."""
        if self.languages is None:
            return self.target
        return self.languages[1] if lang == self.languages[0] else self.languages[0]


@dataclass
class PushToTalk:
    """A key press or release, placed in the audio stream where it happened."""

    pressed: bool
    at: float  # perf_counter() of the press or release


@dataclass
class AudioBlock:
    samples: np.ndarray  # 16 kHz mono float32: what the recognizer hears
    arrival: float  # perf_counter() when the block's last sample became available
    # The same stretch for the VAD where it must differ (full duplex: the echo suppressed
    # harder than a recognizer needs, so the device's own voice never opens a segment).
    detect: np.ndarray | None = None

    @property
    def for_vad(self) -> np.ndarray:
        return self.samples if self.detect is None else self.detect


def check(stages: Stages, config: EngineConfig) -> None:
    """Refuse models and settings that cannot run, with the fix (before any thread starts)."""
    recognizers = (
        stages.segment_asr,
        stages.streaming_asr,
        stages.direct,
        *stages.recognizers.values(),
    )
    if all(r is None for r in recognizers):
        raise EdgeError("no speech recognition model loaded", "pull an ASR model: edge models list")
    needs_mt = config.target is not None and config.target != config.source
    if needs_mt and stages.direct is None and stages.mt is None:
        raise EdgeError("no translation model loaded", "pull an MT model: edge models list")
    if config.segmentation not in SEGMENTATIONS:
        raise EdgeError(
            f"unknown segmentation {config.segmentation!r}", f"use one of {SEGMENTATIONS}"
        )
    modes = config.voice_match
    for mode in modes.values() if isinstance(modes, dict) else (modes,):
        if mode not in VOICE_MATCH_MODES:
            raise EdgeError(f"unknown voice match {mode!r}", f"use one of {VOICE_MATCH_MODES}")
    if config.languages is not None:
        _check_two_way(stages, config.languages)


def _check_two_way(stages: Stages, languages: tuple[str, str]) -> None:
    a, b = languages
    if a == b:
        raise EdgeError(f"a conversation needs two languages, got {a} twice", "pass two languages")
    if stages.direct is not None or stages.streaming_asr is not None:
        raise EdgeError(
            "a two-way conversation needs segment recognizers (Moonshine, Whisper)",
            "choose segment ASR models for both languages",
        )
    if stages.language_id is None:
        raise EdgeError(
            "a two-way conversation needs a language identifier",
            "install a multilingual Whisper model (edge models pull whisper-base-ct2)",
        )
    for source, target in ((a, b), (b, a)):
        if stages.recognizer_for(source) is None:
            raise EdgeError(f"no speech recognition model for {source}", "pull one for it")
        if stages.mt_for(source, target) is None:
            raise EdgeError(f"no translation model for {source} -> {target}", "pull one for it")
