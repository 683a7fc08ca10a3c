"""The speaker thread: phrases in, ``translation`` and ``audio`` events out, in order.

Final phrases are spoken as they come. Speculative ones are synthesized at once but their
audio is held until the listener's ``Confirm`` says the hangover ended the utterance on
the same audio (or dropped when the ledger says they went stale). Warm-up phrases are only
synthesized into the cache, for a final phrase with the same text to find.

Thread ownership: the speaker thread alone runs this class and owns the held audio, the
TTS memo, and the "tts" counters and latencies in ``Meter``; it reads the ``Ledger`` and
closes each utterance's timing.
"""

from __future__ import annotations

import time

import numpy as np

from ..events import AudioOut, Translation
from ..tts.chunking import seamed
from ..voice_match import OutputMatcher
from .messages import Confirm, Phrase, Stop, UtteranceDone
from .shared import Part, Shared
from .speculation import KEEP_UTTERANCES, Memo

Chunks = list[np.ndarray]


class Speaker(Part):
    def __init__(self, shared: Shared) -> None:
        super().__init__(shared)
        self._memo = Memo(16)  # synthesized chunks by (language, phrase text, voice target)
        # (utterance, sentence) whose next phrase continues a cut: its leading pad goes.
        self._cut_open: set[tuple[int, int]] = set()
        self.matcher = OutputMatcher()
        self._voice_match = shared.config.voice_match

    def run(self) -> None:
        ledger = self.ledger
        modes = self._voice_match
        if any(m != "off" for m in (modes.values() if isinstance(modes, dict) else [modes])):
            # Each voice's own rate and pitch, measured while the first utterance is heard
            # rather than in front of its first phrase.
            for voice in {
                id(v): v for v in (self.stages.tts, *self.stages.voices.values())
            }.values():
                if voice is not None:
                    self.matcher.calibrate(voice)
        # Speculative speech synthesized before the hangover confirmed its segment.
        held: dict[int, list[tuple[Phrase, Chunks]]] = {}
        while True:
            item = self.channels.get(self.channels.speech)
            if isinstance(item, Stop):
                break
            if isinstance(item, UtteranceDone):  # an utterance with nothing to say
                self._close(item.utterance_id)
                continue
            if isinstance(item, Confirm):
                for phrase, chunks in held.pop(item.utterance_id, []):
                    self._speak(phrase, chunks)
                continue
            job = item.job
            if ledger.live(job):
                # Confirmed while its marker was still queued: what was held goes first.
                for phrase, chunks in held.pop(job.utterance_id, []):
                    self._speak(phrase, chunks)
                self._speak(item, None)
            elif job.warm_only:
                if not ledger.stale(job):
                    self._synthesize_ahead(item)  # into the cache; never spoken as it is
            elif not ledger.stale(job):
                waiting = held.setdefault(job.utterance_id, [])
                waiting[:] = [(p, c) for p, c in waiting if not ledger.stale(p.job)]
                waiting.append((item, self._synthesize_ahead(item)))
                for old in [u for u in held if u < job.utterance_id - KEEP_UTTERANCES]:
                    del held[old]
        self.channels.emit(Stop())

    def _synthesize_ahead(self, phrase: Phrase) -> Chunks:
        voice = self.stages.voice_for(phrase.job.target)
        text = phrase.text.strip()
        if voice is None or not text or self.ledger.cancelled(phrase.job.utterance_id):
            return []
        key = (phrase.job.target, text, phrase.job.voice)
        cached = self._memo.get(key)
        if isinstance(cached, list):
            return cached
        t0 = time.perf_counter()
        chunks = list(self.matcher.synthesize(voice, text, phrase.job.voice))
        self.meter.stage_seconds["tts"] += time.perf_counter() - t0
        self._memo.put(key, chunks)
        return chunks

    def _speak(self, phrase: Phrase, chunks: Chunks | None) -> None:
        """Emit a phrase of a live sentence: its translation once complete, then its audio."""
        job, ledger = phrase.job, self.ledger
        if ledger.stale(job):
            return
        if ledger.cancelled(job.utterance_id):
            if phrase.last and job.is_last:
                self._close(job.utterance_id)
            return
        if phrase.last:
            self.channels.emit(
                Translation(
                    job.utterance_id,
                    job.index,
                    job.translated or "",
                    job.target or "",
                    "" if job.spoken_lang is not None else job.text,
                    job.spoken_lang or job.lang,
                )
            )
        voice = self.stages.voice_for(job.target)
        text = phrase.text.strip()
        if voice is not None and text:
            if chunks is None:
                cached = self._memo.get((job.target, text, job.voice))
                chunks = cached if isinstance(cached, list) else None
            t0 = time.perf_counter()
            timing = self.meter.timing(job.utterance_id)
            fresh = self.matcher.synthesize(voice, text, job.voice)  # matched phrase by phrase
            # Where a sentence was cut into phrases, the pads meeting at the cut are trimmed.
            sentence = (job.utterance_id, job.index)
            lead, trail = sentence in self._cut_open, not phrase.last
            self._cut_open.discard(sentence)
            if trail:
                self._cut_open.add(sentence)
            source = iter(chunks) if chunks is not None else fresh
            for chunk in seamed(source, voice.sample_rate, lead=lead, trail=trail):
                if ledger.cancelled(job.utterance_id) or self.channels.stop.is_set():
                    break
                now = time.perf_counter()
                if timing.first_audio_wall is None:
                    timing.first_audio_wall = now
                    timing.tts_first_chunk_ms = (now - t0) * 1000
                    timing.voiced.set()
                seconds = len(chunk) / voice.sample_rate
                self.meter.tts_audio_seconds += seconds
                self.meter.audio_until = max(now, self.meter.audio_until) + seconds
                self.channels.emit(AudioOut(job.utterance_id, job.index, voice.sample_rate, chunk))
            seconds = time.perf_counter() - t0
            if chunks is None:
                self.meter.stage_seconds["tts"] += seconds
            timing.tts_ms += seconds * 1000
        if phrase.last and job.is_last:
            self._close(job.utterance_id)

    def _close(self, utterance_id: int) -> None:
        self._cut_open = {s for s in self._cut_open if s[0] > utterance_id}
        metrics = self.meter.close(utterance_id)
        if metrics is not None:
            self.channels.emit(metrics)
