"""The life of one utterance on the listener thread: begin, partial, speculate, finish, discard.

Each segmentation mode (``listeners``, ``ptt``) decides *when* an utterance begins and ends;
this decides *what* happens then, the same for all of them: events to the caller, the
recognition (ASR, or direct speech translation), and the sentence jobs for the translator.

Thread ownership: the listener thread alone calls into this class and owns its state (the
ASR memo, the last rejection) and the listener's counters in ``Meter``; it writes the
``Ledger``'s segment and partial tables.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from ..asr.base import SAMPLE_RATE, Recognition
from ..events import (
    PartialTranscript,
    Rejected,
    SpeechDiscarded,
    SpeechEnded,
    SpeechStarted,
    Transcript,
)
from ..text import complete_sentences, split_sentences
from ..vad import SpeechSegment
from ..voice_match import Profiles, VoiceTarget
from .config import AudioBlock
from .messages import Confirm, Sentence, UtteranceDone
from .metrics import UtteranceTiming
from .shared import Part, Shared
from .speculation import Memo, segment_key

# Direct mode's source transcript waits at most this long for the reply's first sound.
TRANSCRIPT_WAIT_S = 5.0


@dataclass(frozen=True)
class Heard:
    """One recognition of a stretch of audio."""

    text: str
    lang: str
    spoken: str | None  # direct mode: the language spoken (``text`` is already translated)
    seconds: float
    rejection: Recognition | None  # set when the guards threw the decode away (text empty)


class Lifecycle(Part):
    def __init__(self, shared: Shared) -> None:
        super().__init__(shared)
        # Speculative decodes by segment: the final decode of the same audio reuses one.
        self._asr_memo = Memo(4)
        # The echo check of a paused segment, reused when the same audio ends the utterance
        # (so it is off the path from the end of speech to the first sound).
        self._echo_memo = Memo(4)
        # The speaker's pitch and rate per side, for the voice to match (edge.voice_match).
        self.profiles = Profiles(shared.config.voice_match)

    def heard_audio(self, block: AudioBlock) -> None:
        self.meter.audio_seconds += len(block.samples) / SAMPLE_RATE

    def is_behind(self, block: AudioBlock) -> bool:
        """Live input the listener fell behind on: skip optional work (partials, speculation)."""
        limit = self.config.behind_s
        return limit is not None and time.perf_counter() - block.arrival > limit

    def begin(self, utterance_id: int, start_s: float) -> None:
        self.meter.timing(utterance_id)
        self.channels.emit(SpeechStarted(utterance_id, start_s))

    def discard(self, utterance_id: int, start_s: float, reason: str = "too short") -> None:
        """Sound that is not an utterance (too short, not speech): it ends without a result."""
        self.ledger.end_partials(utterance_id)
        self.meter.forget(utterance_id)
        self.channels.emit(SpeechDiscarded(utterance_id, start_s, reason))

    def refine(
        self, segment: SpeechSegment, utterance_id: int, end_wall: float
    ) -> SpeechSegment | None:
        """Full duplex: the segment as the echo canceller judges it (``EchoCheck``), None
        when it is the device's own voice; without one, the segment as it is."""
        if self.echo is None:
            return segment
        key = segment_key(utterance_id, segment)
        memo = self._echo_memo.get(key)
        if isinstance(memo, tuple):
            audio = memo[0]
        else:
            start_wall = end_wall - len(segment.audio) / SAMPLE_RATE
            audio = self.echo.refine(start_wall, end_wall, segment.audio)
            self._echo_memo.put(key, (audio,))
        if audio is None:
            return None
        return segment if audio is segment.audio else replace(segment, audio=audio)

    def own_voice(self, start_s: float, end_s: float, end_wall: float) -> bool:
        """Full duplex: whether the device's own voice explains the stream's audio from
        ``start_s`` to ``end_s`` (it ended at ``end_wall``); without a canceller, False."""
        if self.echo is None:
            return False
        return self.echo.own_voice(end_wall - (end_s - start_s), end_wall)

    def recognize(self, audio: np.ndarray) -> Heard:
        t0 = time.perf_counter()
        if self.stages.direct is not None:
            rec = self.stages.direct.recognize(audio, self.config.source)
            rejection = rec if getattr(rec, "rejected", None) else None
            return Heard(rec.text, rec.lang, rec.source_lang, time.perf_counter() - t0, rejection)
        lang = self.config.source
        if self.config.languages is not None:
            assert self.stages.language_id is not None
            lang, _probability = self.stages.language_id.detect_language(
                audio, self.config.languages
            )
        recognizer = self.stages.recognizer_for(lang)
        assert recognizer is not None
        rec = recognizer.recognize(audio, lang)
        rejection = rec if getattr(rec, "rejected", None) else None
        return Heard(rec.text, rec.lang, None, time.perf_counter() - t0, rejection)

    def partial(self, audio: np.ndarray, utterance_id: int, wall: float) -> None:
        """Re-decode the open utterance: a ``partial`` event, and cache warm-up for slow MT.

        Partials never decide what is spoken. A decode of the whole utterance can still
        change a sentence that a partial had complete and stable (Moonshine puts quotes
        around it, Whisper rewords it), so a sentence complete (followed by more speech) and
        unchanged over two consecutive partials is only translated and synthesized into the
        caches. The final decode's sentences are the ones spoken; those equal to a warmed
        sentence find its translation and speech ready.
        """
        heard = self.recognize(audio)
        self.meter.stage_seconds["asr"] += heard.seconds
        self.channels.emit(PartialTranscript(utterance_id, heard.text, heard.lang))
        done, _rest = complete_sentences(heard.text)
        previous = self.ledger.partial(utterance_id, done)
        target = self.config.target_for(heard.lang)
        if self.stages.direct is not None or target is None:
            return
        for index, sentence in enumerate(done):
            stable = index < len(previous) and previous[index] == sentence
            if not stable or not self.ledger.warm(utterance_id, index, sentence):
                continue
            job = Sentence(
                utterance_id, index, sentence, heard.lang, False, wall, target, warm_only=True
            )
            self.channels.put(self.channels.sentences, job)

    def speculate(self, segment: SpeechSegment, utterance_id: int, speech_end_wall: float) -> None:
        """Decode, translate and synthesize a paused segment; its speech is held until the
        hangover confirms the end (it is then final) or speech resumes (it is stale)."""
        key = self.ledger.track(utterance_id, segment)
        heard = self.recognize(segment.audio)
        self.meter.stage_seconds["asr"] += heard.seconds
        self._asr_memo.put(key, heard)
        self.ledger.speculated(utterance_id, key)
        target = self.config.target_for(heard.lang)
        if target is None:
            return
        fresh = split_sentences(heard.text)
        voice = self._voice(segment.audio, heard, commit=False) if fresh else None
        for index, sentence in enumerate(fresh):
            job = Sentence(
                utterance_id,
                index,
                sentence,
                heard.lang,
                index == len(fresh) - 1,
                speech_end_wall,
                target,
                speculative=True,
                segment_key=key,
                voice=voice,
            )
            if heard.spoken is not None:
                job.translated, job.spoken_lang = sentence, heard.spoken
            self.channels.put(self.channels.sentences, job)

    def finish(
        self,
        segment: SpeechSegment,
        utterance_id: int,
        speech_end_s: float,
        speech_end_wall: float,
    ) -> None:
        """The end of an utterance's audio: its final decode, transcript and sentence jobs
        (or the confirmation of the speculation on the same audio)."""
        channels = self.channels
        channels.emit(SpeechEnded(utterance_id, segment.start_s, speech_end_s))
        self.meter.speech_seconds += len(segment.audio) / SAMPLE_RATE
        key = self.ledger.track(utterance_id, segment)
        heard = self._asr_memo.get(key)
        if not isinstance(heard, Heard):
            heard = self.recognize(segment.audio)
            self.meter.stage_seconds["asr"] += heard.seconds
        timing = self.meter.timing(utterance_id)
        timing.speech_end_wall = speech_end_wall
        timing.asr_ms += heard.seconds * 1000
        self.meter.utterances += 1
        if heard.rejection is not None:
            # The guards threw the decode away: nothing to translate or speak; the utterance
            # closes as an empty one does.
            reason, text = heard.rejection.rejected or "", heard.rejection.rejected_text
            channels.emit(Rejected(utterance_id, reason, text, segment.start_s, speech_end_s))
            channels.put(channels.sentences, UtteranceDone(utterance_id))
            return
        text, lang, spoken = heard.text, heard.lang, heard.spoken
        if spoken is None:
            channels.emit(Transcript(utterance_id, text, lang, segment.start_s, speech_end_s))
        target = self.config.target_for(lang)
        fresh = split_sentences(text) if target else []
        # The speculation on exactly this audio already sent these sentences on: they become
        # final where they are (in MT, or held by the speaker) instead of starting over.
        # Measured into the profile once per utterance (a speculation only previewed it).
        voice = self._voice(segment.audio, heard) if fresh else None
        adopted = bool(fresh) and self.ledger.adopt(utterance_id, key)
        if adopted:
            channels.put(channels.speech, Confirm(utterance_id))
            fresh = []
        for index, sentence in enumerate(fresh):
            last = index == len(fresh) - 1
            job = Sentence(utterance_id, index, sentence, lang, last, speech_end_wall, target)
            job.voice = voice
            if spoken is not None:
                job.translated, job.spoken_lang = sentence, spoken
            channels.put(channels.sentences, job)
        if not fresh and not adopted:
            channels.put(channels.sentences, UtteranceDone(utterance_id))
        if spoken is not None:
            source_text = ""
            if self.config.direct_transcript and self.stages.direct is not None:
                # A second decode on the same cores: after the reply's first sound, not
                # competing with it (bounded, so a stuck speaker cannot stall listening).
                self._await_voiced(timing)
                t0 = time.perf_counter()
                source_text = self.stages.direct.transcribe(segment.audio, spoken)
                self.meter.stage_seconds["asr"] += time.perf_counter() - t0
            channels.emit(
                Transcript(utterance_id, source_text, spoken, segment.start_s, speech_end_s)
            )

    def _await_voiced(self, timing: UtteranceTiming) -> None:
        deadline = time.perf_counter() + TRANSCRIPT_WAIT_S
        while not timing.voiced.wait(0.05):
            if self.channels.stop.is_set() or time.perf_counter() > deadline:
                return

    def _voice(self, audio: np.ndarray, heard: Heard, *, commit: bool = True) -> VoiceTarget | None:
        """The target voice for this utterance's speech, its side's profile updated."""
        if heard.spoken is not None:  # direct mode: the transcript is not in the spoken words
            return self.profiles.target(audio, "", heard.spoken, commit=commit)
        return self.profiles.target(audio, heard.text, heard.lang, commit=commit)

    def finish_text(
        self,
        utterance_id: int,
        text: str,
        lang: str,
        span_s: tuple[float, float],
        wall: float,
        seconds: float,
    ) -> None:
        """The final text of a streaming utterance: transcript, then its sentences to MT."""
        start_s, end_s = span_s
        self.channels.emit(SpeechEnded(utterance_id, start_s, end_s))
        timing = self.meter.timing(utterance_id)
        timing.speech_end_wall = wall
        timing.asr_ms += seconds * 1000
        self.meter.utterances += 1
        self.channels.emit(Transcript(utterance_id, text.strip(), lang, start_s, end_s))
        target = self.config.target_for(lang)
        sentences = split_sentences(text) if target else []
        if not sentences:
            self.channels.put(self.channels.sentences, UtteranceDone(utterance_id))
        for index, sentence in enumerate(sentences):
            last = index == len(sentences) - 1
            self.channels.put(
                self.channels.sentences,
                Sentence(utterance_id, index, sentence, lang, last, wall, target),
            )
