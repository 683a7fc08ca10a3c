"""The cascade engine: audio -> VAD -> ASR -> MT -> TTS as concurrent stages.

Four threads joined by bounded queues, so sentence 1 is synthesized while sentence 2 is
translated and the next utterance is recognized:

    source ──audio──▶ listener (VAD + ASR) ──sentences──▶ translator (MT) ──▶ speaker (TTS)
                          │                                   │                  │
                          └───────────────── events ──────────┴──────────────────┘

Every stage reports through typed events (``edge.events``) on one queue that the caller
iterates. Sentences are handed to MT one by one as soon as the transcript is final; MT
streams the first one word by word and the speaker synthesizes it phrase by phrase, so the
first sound does not wait for the whole sentence. When the VAD reports a pause the open
segment is decoded, translated and synthesized speculatively; its audio is held and released
the moment the hangover confirms the end of the utterance (or thrown away if speech
resumes).

Live mode (``edge.live``) adds three things: ``PushToTalk`` items in the audio stream cut
utterances at a key's press and release instead of the VAD (``segmentation="ptt"``);
``cancel_output`` drops the speech of earlier utterances when the user barges in; and a
two-way conversation identifies each utterance's language among two and translates it into
the other.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

import numpy as np

from .asr.base import SAMPLE_RATE, Recognition, SegmentRecognizer, StreamingRecognizer
from .asr.whisper_ct2 import WhisperCT2
from .errors import EdgeError
from .events import (
    AudioOut,
    Event,
    Metrics,
    PartialTranscript,
    Rejected,
    SpeechEnded,
    SpeechStarted,
    StageError,
    Transcript,
    Translation,
    UtteranceMetrics,
)
from .mt.base import TextTranslator, WordStreamingTranslator
from .text import complete_sentences, split_sentences
from .tts.base import Voice
from .tts.chunking import FIRST_PHRASE_WORDS, PhraseCutter
from .vad import FRAME, SileroVad, SpeechSegment, VadConfig, VadSegmenter

log = logging.getLogger(__name__)

_STOP = object()
SEGMENTATIONS = ("vad", "ptt")


class LanguageIdentifier(Protocol):
    def detect_language(
        self, audio: np.ndarray, allowed: tuple[str, ...] | None = None
    ) -> tuple[str, float]: ...


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
    # Also transcribe the source language in direct mode (a second, cheaper decode).
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


@dataclass
class PushToTalk:
    """A key press or release, placed in the audio stream where it happened."""

    pressed: bool
    at: float  # perf_counter() of the press or release


@dataclass
class SpeechDiscarded(Event):
    """Speech that started was too short to be an utterance (a click, a cough, an empty press)."""

    name: ClassVar[str] = "speech_discarded"
    utterance_id: int
    start_s: float


@dataclass
class AudioBlock:
    samples: np.ndarray  # 16 kHz mono float32
    arrival: float  # perf_counter() when the block's last sample became available


@dataclass
class _Sentence:
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
    segment_key: tuple[int, float, float] | None = None  # speculative: the audio it came from
    # From a partial hypothesis: translated and synthesized into the caches, never spoken
    # (only the final decode says what is spoken; when it agrees, its jobs find them there).
    warm_only: bool = False
    # Took over the decode of an earlier job for the same sentence (``Engine._stream``).
    inherited: bool = False


@dataclass
class _Phrase:
    """A piece of a sentence's translation, synthesized on its own."""

    job: _Sentence
    text: str
    last: bool  # the sentence's translation is complete with this phrase


@dataclass
class _Confirm:
    """The hangover confirmed a speculative segment: its held speech may play."""

    utterance_id: int


@dataclass
class _UtteranceTiming:
    speech_end_wall: float
    asr_ms: float = 0.0
    mt_ms: float = 0.0
    tts_ms: float = 0.0
    tts_first_chunk_ms: float | None = None
    first_audio_wall: float | None = None


class _Memo:
    """Small LRU of speculative results keyed by their input."""

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict[object, object] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: object) -> object | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key: object, value: object) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class Engine:
    """Runs one audio stream through the stages and yields events."""

    def __init__(self, stages: Stages, config: EngineConfig) -> None:
        recognizers = (
            stages.segment_asr,
            stages.streaming_asr,
            stages.direct,
            *stages.recognizers.values(),
        )
        if all(r is None for r in recognizers):
            raise EdgeError(
                "no speech recognition model loaded", "pull an ASR model: edge models list"
            )
        needs_mt = config.target is not None and config.target != config.source
        if needs_mt and stages.direct is None and stages.mt is None:
            raise EdgeError("no translation model loaded", "pull an MT model: edge models list")
        if config.segmentation not in SEGMENTATIONS:
            raise EdgeError(
                f"unknown segmentation {config.segmentation!r}", f"use one of {SEGMENTATIONS}"
            )
        if config.languages is not None:
            _check_two_way(stages, config.languages)
        self.stages = stages
        self.config = config
        self._cancelled_through = 0  # speech of utterances up to this id is not spoken
        self._events: queue.Queue[object] = queue.Queue(maxsize=1024)
        self._audio: queue.Queue[object] = queue.Queue(maxsize=64)
        self._sentences: queue.Queue[object] = queue.Queue(maxsize=config.queue_size)
        self._speech: queue.Queue[object] = queue.Queue(maxsize=config.queue_size)
        self._stop = threading.Event()
        # Set when run() ends, also when its caller abandons it (gen.close(), or drops it):
        # nobody reads events any more, so stages must not wait for room in the queue.
        self._closed = threading.Event()
        self._timings: dict[int, _UtteranceTiming] = {}
        self._timings_lock = threading.Lock()
        self._mt_memo = _Memo()
        self._tts_memo = _Memo(16)
        self._asr_memo = _Memo(4)
        self._rejection: Recognition | None = None  # listener thread: last decode, if rejected
        # Per utterance, the segment of the newest speculation or of the final decode: older
        # speculative jobs still queued are stale and skipped instead of competing for cores.
        self._current_segment: dict[int, tuple[int, float, float]] = {}
        # The newest speculation of each utterance (its segment, sentences committed before)
        # and the speculations the hangover confirmed: their jobs are the final ones.
        self._speculated: dict[int, tuple[tuple[int, float, float], int]] = {}
        self._confirmed: dict[int, tuple[int, float, float]] = {}
        # Partial re-decoding: per open utterance, the complete sentences of the last partial
        # and the ones sent to warm the MT and TTS caches (by index); utterances up to
        # ``_finalized`` have sent their final jobs, so their warm-up jobs are stale.
        self._partial_done: dict[int, list[str]] = {}
        self._warm: dict[int, dict[int, str]] = {}
        self._finalized = 0
        self._stage_seconds = {"vad": 0.0, "asr": 0.0, "mt": 0.0, "tts": 0.0}
        self._audio_seconds = 0.0
        self._speech_seconds = 0.0
        self._tts_audio_seconds = 0.0
        self._latencies: list[float] = []
        self._utterances = 0

    # --- public ------------------------------------------------------------------------

    def run(self, blocks: Iterable[AudioBlock | PushToTalk]) -> Iterator[Event]:
        """Process the audio and yield events until the input is exhausted and drained."""
        started = time.perf_counter()
        threads = [
            threading.Thread(
                target=self._guard(self._source, blocks), name="edge-source", daemon=True
            ),
            threading.Thread(target=self._guard(self._listener), name="edge-listener", daemon=True),
            threading.Thread(
                target=self._guard(self._translator), name="edge-translator", daemon=True
            ),
            threading.Thread(target=self._guard(self._speaker), name="edge-speaker", daemon=True),
        ]
        for thread in threads:
            thread.start()
        failure: BaseException | None = None
        try:
            while True:
                item = self._events.get()
                if item is _STOP:
                    break
                if isinstance(item, BaseException):
                    failure = item
                    break
                assert isinstance(item, Event)
                yield item
        finally:
            self._stop.set()
            self._closed.set()
            deadline = time.monotonic() + self.config.join_timeout_s
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if failure is not None:
            raise failure
        yield self._summary(time.perf_counter() - started)

    def stop(self) -> None:
        self._stop.set()

    def cancel_output(self, through_utterance_id: int) -> None:
        """Stop translating and speaking utterances up to this id (the user barged in)."""
        self._cancelled_through = max(self._cancelled_through, through_utterance_id)

    def _track_segment(self, utterance_id: int, segment: SpeechSegment) -> tuple[int, float, float]:
        key = _segment_key(utterance_id, segment)
        self._current_segment[utterance_id] = key
        for table in (self._current_segment, self._speculated, self._confirmed):
            for old in [u for u in table if u < utterance_id - 8]:
                del table[old]
        return key

    def _stale(self, job: _Sentence) -> bool:
        """A speculative job whose audio has since grown (speech resumed after the pause); a
        warm-up job once a newer partial warmed another sentence at its index, or once its
        utterance's final jobs are queued (one for the same sentence takes its decode over:
        ``_stream``)."""
        if job.warm_only:
            uid = job.utterance_id
            return uid <= self._finalized or self._warm.get(uid, {}).get(job.index) != job.text
        return job.speculative and self._current_segment.get(job.utterance_id) != job.segment_key

    def _live(self, job: _Sentence) -> bool:
        """Final, or speculative on audio the hangover has confirmed: to be spoken."""
        if job.warm_only:
            return False
        return not job.speculative or self._confirmed.get(job.utterance_id) == job.segment_key

    def _cancelled(self, utterance_id: int) -> bool:
        return utterance_id <= self._cancelled_through

    def _target_for(self, lang: str) -> str | None:
        """The language an utterance recognized as ``lang`` is translated into."""
        pair = self.config.languages
        if pair is None:
            return self.config.target
        return pair[1] if lang == pair[0] else pair[0]

    # --- plumbing ----------------------------------------------------------------------

    def _guard(self, target: Callable[..., None], *args: object) -> Callable[[], None]:
        def run() -> None:
            try:
                target(*args)
            except BaseException as exc:  # handed to the caller's thread, never lost
                self._stop.set()
                self._emit(exc)

        return run

    def _emit(self, item: object) -> None:
        """Hand an item to the caller; drop it only when the caller has stopped reading.

        A full queue is backpressure while run() is being consumed, but a caller that
        abandoned the generator never drains it: waiting would leak the stage threads.
        """
        while not self._closed.is_set():
            try:
                self._events.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _put(self, q: queue.Queue[object], item: object) -> bool:
        """Blocking put that gives up when the engine is stopping (backpressure, no loss)."""
        while not self._stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _get(self, q: queue.Queue[object]) -> object:
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return _STOP

    def _timing(self, utterance_id: int) -> _UtteranceTiming:
        with self._timings_lock:
            return self._timings.setdefault(utterance_id, _UtteranceTiming(time.perf_counter()))

    def _begin_utterance(self, utterance_id: int, start_s: float) -> None:
        self._timing(utterance_id)
        self._emit(SpeechStarted(utterance_id, start_s))

    def _discard_utterance(self, utterance_id: int, start_s: float) -> None:
        self._end_partials(utterance_id)
        with self._timings_lock:
            self._timings.pop(utterance_id, None)
        self._emit(SpeechDiscarded(utterance_id, start_s))

    def _end_partials(self, utterance_id: int) -> None:
        """The utterance's final jobs are queued (or it was discarded): its warm-up is over."""
        self._finalized = max(self._finalized, utterance_id)
        self._partial_done.pop(utterance_id, None)
        self._warm.pop(utterance_id, None)

    def _is_behind(self, block: AudioBlock) -> bool:
        limit = self.config.behind_s
        return limit is not None and time.perf_counter() - block.arrival > limit

    # --- stages ------------------------------------------------------------------------

    def _source(self, blocks: Iterable[AudioBlock | PushToTalk]) -> None:
        for block in blocks:
            if not self._put(self._audio, block):
                return
        self._put(self._audio, _STOP)

    def _listener(self) -> None:
        ptt = self.config.segmentation == "ptt"
        if self.stages.streaming_asr is not None:
            if ptt:
                self._listen_streaming_ptt(self.stages.streaming_asr)
            else:
                self._listen_streaming(self.stages.streaming_asr)
        elif ptt:
            self._listen_ptt()
        else:
            self._listen_segments()
        self._put(self._sentences, _STOP)

    def _listen_segments(self) -> None:
        segmenter = VadSegmenter(self.config.vad)
        utterance_id = 0
        open_start: float | None = None  # start of the utterance the VAD has open
        position = 0  # samples received
        last_partial = 0
        # Sentences of the open utterance already sent on as final. Stays empty: partials
        # only warm the caches (``_partial``), the final decode sends every sentence.
        committed: list[str] = []
        while True:
            item = self._get(self._audio)
            if item is _STOP:
                break
            if isinstance(item, PushToTalk):  # the VAD cuts utterances here
                continue
            assert isinstance(item, AudioBlock)
            block_end = position + len(item.samples)
            position = block_end
            self._audio_seconds += len(item.samples) / SAMPLE_RATE
            optional = not self._is_behind(item)

            def wall_of(seconds: float, block: AudioBlock = item, end: int = block_end) -> float:
                return block.arrival - max(0, end - int(seconds * SAMPLE_RATE)) / SAMPLE_RATE

            t0 = time.perf_counter()
            updates = segmenter.accept(item.samples)
            self._stage_seconds["vad"] += time.perf_counter() - t0
            ended = False
            for update in updates:
                if update.started_at_s is not None:
                    utterance_id += 1
                    committed = []
                    last_partial = position
                    open_start = update.started_at_s
                    self._begin_utterance(utterance_id, update.started_at_s)
                elif update.paused is not None and self.config.speculative and optional:
                    self._speculate(
                        update.paused, utterance_id, wall_of(update.paused.end_s), committed
                    )
                elif update.ended is not None:
                    ended = True
                    self._finish_vad_segment(update.ended, utterance_id, committed, wall_of)
                    committed = []
                    open_start = None
                    if update.ended.split:  # the rest of the speech goes on as a new utterance
                        utterance_id += 1
                        open_start = update.ended.end_s
                        self._begin_utterance(utterance_id, update.ended.end_s)
            if open_start is not None and not segmenter.in_speech and not ended:
                # The VAD closed the segment without a result: shorter than the minimum speech.
                self._discard_utterance(utterance_id, open_start)
                open_start = None
            interval = int(self.config.partial_interval_s * SAMPLE_RATE)
            if interval and segmenter.in_speech and position - last_partial >= interval:
                last_partial = position
                if optional:
                    audio = segmenter.current_audio()
                    self._partial(audio, utterance_id, wall_of(position / SAMPLE_RATE))
        tail = segmenter.flush()
        if tail is not None:
            self._finish_vad_segment(tail, utterance_id, committed, lambda _s: time.perf_counter())
        elif open_start is not None:
            self._discard_utterance(utterance_id, open_start)

    def _listen_ptt(self) -> None:
        """Utterances from press to release; the VAD only trims them and spots empty presses."""
        cfg = self.config
        vad = SileroVad()
        pre_roll = np.zeros(0, np.float32)
        keep = int(cfg.ptt_pre_roll_s * SAMPLE_RATE)
        pad = int(cfg.vad.speech_pad_s * SAMPLE_RATE)
        press: _Press | None = None
        utterance_id = 0
        position = 0
        while True:
            item = self._get(self._audio)
            if item is _STOP:
                break
            if isinstance(item, PushToTalk):
                if item.pressed and press is not None and press.released_at is not None:
                    self._finish_press(press)  # pressed again before the tail was complete
                    press = None
                if item.pressed and press is None:
                    utterance_id += 1
                    vad.reset()
                    press = _Press(utterance_id, position - len(pre_roll), [pre_roll], pad)
                    press.analyze(vad, pre_roll, cfg.vad.threshold)
                    pre_roll = np.zeros(0, np.float32)
                    self._begin_utterance(utterance_id, press.start / SAMPLE_RATE)
                elif not item.pressed and press is not None and press.released_at is None:
                    press.released_at, press.release_wall = position, item.at
                    if not press.speaking_at_release():
                        self._finish_press(press)
                        press = None
                        continue
                    # The key went up mid-word: keep a tail, and decode what there is while
                    # it arrives (the result stands if the tail is quiet).
                    press.waited_for_tail = True
                    if cfg.speculative:
                        self._speculate(
                            press.segment(position), press.utterance_id, item.at, press.committed
                        )
                continue
            assert isinstance(item, AudioBlock)
            samples = item.samples
            position += len(samples)
            self._audio_seconds += len(samples) / SAMPLE_RATE
            if press is None:
                pre_roll = np.concatenate([pre_roll, samples])[-keep:] if keep else pre_roll
                continue
            press.add(samples)
            t0 = time.perf_counter()
            press.analyze(vad, samples, cfg.vad.threshold)
            self._stage_seconds["vad"] += time.perf_counter() - t0
            if press.released_at is not None:
                if position - press.released_at >= int(cfg.ptt_tail_s * SAMPLE_RATE):
                    self._finish_press(press)
                    press = None
            elif cfg.speculative and press.paused(position, cfg.vad) and not self._is_behind(item):
                # Quiet while the key is still held: have the result ready for the release.
                end = min(press.end, press.last_speech_end + press.pad)
                self._speculate(
                    press.segment(end), press.utterance_id, item.arrival, press.committed
                )
            elif position - press.start >= int(cfg.vad.max_segment_s * SAMPLE_RATE):
                # Held past the maximum length: cut here and go on with a new utterance.
                press.released_at, press.release_wall = position, item.arrival
                self._finish_press(press)
                utterance_id += 1
                press = _Press(utterance_id, position, [], pad)
                self._begin_utterance(utterance_id, position / SAMPLE_RATE)
            elif (
                cfg.partial_interval_s
                and press.due_partial(position, cfg.partial_interval_s)
                and not self._is_behind(item)
            ):
                audio = press.segment(position).audio
                self._partial(audio, press.utterance_id, item.arrival)
        if press is not None:
            if press.released_at is None:
                press.released_at, press.release_wall = position, time.perf_counter()
            self._finish_press(press)

    def _finish_press(self, press: _Press) -> None:
        assert press.released_at is not None
        speech = press.speech_span(self.config.vad)
        if speech is None:  # an empty press, or a click
            self._discard_utterance(press.utterance_id, press.start / SAMPLE_RATE)
            return
        _first, last = speech
        if press.waited_for_tail and last <= press.released_at:
            end = press.released_at  # the tail was quiet: the speculative decode stands
        else:
            end = min(press.end, last + int(self.config.vad.speech_pad_s * SAMPLE_RATE))
        # In push-to-talk the release is the end of speech the user signals.
        speech_end_s = min(last, press.released_at) / SAMPLE_RATE
        self._finish_segment(
            press.segment(end),
            press.utterance_id,
            press.committed,
            speech_end_s,
            press.release_wall,
        )
        self._end_partials(press.utterance_id)

    def _recognize(self, audio: np.ndarray) -> tuple[str, str, str | None, float]:
        """(text, its language, spoken language if translated directly, seconds spent); a
        decode the guards rejected has an empty text and is kept in ``self._rejection``."""
        t0 = time.perf_counter()
        if self.stages.direct is not None:
            rec = self.stages.direct.recognize(audio, self.config.source)
            self._rejection = rec if getattr(rec, "rejected", None) else None
            return rec.text, rec.lang, rec.source_lang, time.perf_counter() - t0
        lang = self.config.source
        if self.config.languages is not None:
            assert self.stages.language_id is not None
            lang, _probability = self.stages.language_id.detect_language(
                audio, self.config.languages
            )
        recognizer = self.stages.recognizer_for(lang)
        assert recognizer is not None
        rec = recognizer.recognize(audio, lang)
        self._rejection = rec if getattr(rec, "rejected", None) else None
        return rec.text, rec.lang, None, time.perf_counter() - t0

    def _speculate(
        self,
        segment: SpeechSegment,
        utterance_id: int,
        speech_end_wall: float,
        committed: list[str],
    ) -> None:
        """Decode, translate and synthesize a paused segment; its speech is held until the
        hangover confirms the end (it is then final) or speech resumes (it is stale)."""
        key = self._track_segment(utterance_id, segment)
        text, lang, spoken, seconds = self._recognize(segment.audio)
        self._stage_seconds["asr"] += seconds
        self._asr_memo.put(key, (text, lang, spoken, seconds, self._rejection))
        self._speculated[utterance_id] = (key, len(committed))
        target = self._target_for(lang)
        if target is None:
            return
        fresh = split_sentences(text)[len(committed) :]
        for offset, sentence in enumerate(fresh):
            job = _Sentence(
                utterance_id,
                len(committed) + offset,
                sentence,
                lang,
                offset == len(fresh) - 1,
                speech_end_wall,
                target,
                speculative=True,
                segment_key=key,
            )
            if spoken is not None:
                job.translated, job.spoken_lang = sentence, spoken
            self._put(self._sentences, job)

    def _partial(self, audio: np.ndarray, utterance_id: int, wall: float) -> None:
        """Re-decode the open utterance: a ``partial`` event, and cache warm-up for slow MT.

        Partials never decide what is spoken. A decode of the whole utterance can still
        change a sentence that a partial had complete and stable (Moonshine puts quotes
        around it, Whisper rewords it), so a sentence complete (followed by more speech) and
        unchanged over two consecutive partials is only translated and synthesized into the
        caches. The final decode's sentences are the ones spoken; those equal to a warmed
        sentence find its translation and speech ready.
        """
        text, lang, _spoken, seconds = self._recognize(audio)
        self._stage_seconds["asr"] += seconds
        self._emit(PartialTranscript(utterance_id, text, lang))
        done, _rest = complete_sentences(text)
        previous = self._partial_done.get(utterance_id, [])
        self._partial_done[utterance_id] = done
        target = self._target_for(lang)
        if self.stages.direct is not None or target is None:
            return
        warm = self._warm.setdefault(utterance_id, {})
        for index, sentence in enumerate(done):
            stable = index < len(previous) and previous[index] == sentence
            if not stable or warm.get(index) == sentence:
                continue
            warm[index] = sentence  # a job warming another text at this index is now stale
            job = _Sentence(
                utterance_id, index, sentence, lang, False, wall, target, warm_only=True
            )
            self._put(self._sentences, job)

    def _finish_vad_segment(
        self,
        segment: SpeechSegment,
        utterance_id: int,
        committed: list[str],
        wall_of: Callable[[float], float],
    ) -> None:
        speech_end_s = segment.end_s - (0.0 if segment.split else self.config.vad.speech_pad_s)
        speech_end_s = max(segment.start_s, speech_end_s)
        speech_end_wall = wall_of(segment.end_s) - (segment.end_s - speech_end_s)
        self._finish_segment(segment, utterance_id, committed, speech_end_s, speech_end_wall)
        self._end_partials(utterance_id)  # after: the final jobs are queued to take over

    def _finish_segment(
        self,
        segment: SpeechSegment,
        utterance_id: int,
        committed: list[str],
        speech_end_s: float,
        speech_end_wall: float,
    ) -> None:
        self._emit(SpeechEnded(utterance_id, segment.start_s, speech_end_s))
        self._speech_seconds += len(segment.audio) / SAMPLE_RATE
        key = self._track_segment(utterance_id, segment)
        cached = self._asr_memo.get(key)
        if cached is not None:
            text, lang, spoken, seconds, rejection = cached  # type: ignore[misc]
        else:
            text, lang, spoken, seconds = self._recognize(segment.audio)
            rejection = self._rejection
            self._stage_seconds["asr"] += seconds
        timing = self._timing(utterance_id)
        timing.speech_end_wall = speech_end_wall
        timing.asr_ms += seconds * 1000
        self._utterances += 1
        if rejection is not None:
            # The guards threw the decode away: nothing to translate or speak; the utterance
            # closes as an empty one does.
            reason, heard = rejection.rejected or "", rejection.rejected_text
            self._emit(Rejected(utterance_id, reason, heard, segment.start_s, speech_end_s))
            self._put(self._sentences, ("done", utterance_id))
            return
        if spoken is None:
            self._emit(Transcript(utterance_id, text, lang, segment.start_s, speech_end_s))
        target = self._target_for(lang)
        # Sentences committed from partials were already sent on; the final text replaces
        # only what follows them.
        fresh = split_sentences(text)[len(committed) :] if target else []
        # The speculation on exactly this audio already sent these sentences on: they become
        # final where they are (in MT, or held by the speaker) instead of starting over.
        adopted = bool(fresh) and self._speculated.get(utterance_id) == (key, len(committed))
        if adopted:
            self._confirmed[utterance_id] = key
            self._put(self._speech, _Confirm(utterance_id))
            fresh = []
        for offset, sentence in enumerate(fresh):
            last = offset == len(fresh) - 1
            job = _Sentence(
                utterance_id, len(committed) + offset, sentence, lang, last, speech_end_wall, target
            )
            if spoken is not None:
                job.translated, job.spoken_lang = sentence, spoken
            self._put(self._sentences, job)
        if not fresh and not adopted:
            self._put(self._sentences, ("done", utterance_id))
        if spoken is not None:
            source_text = ""
            if self.config.direct_transcript and self.stages.direct is not None:
                t0 = time.perf_counter()
                source_text = self.stages.direct.transcribe(segment.audio, spoken)
                self._stage_seconds["asr"] += time.perf_counter() - t0
            self._emit(Transcript(utterance_id, source_text, spoken, segment.start_s, speech_end_s))

    def _listen_streaming(self, recognizer: StreamingRecognizer) -> None:
        stream = recognizer.create_stream()
        lang = recognizer.languages[0] if recognizer.languages else self.config.source
        utterance_id = 0
        position = 0
        utterance_start = 0
        last_text = ""
        in_speech = False
        while True:
            item = self._get(self._audio)
            if isinstance(item, PushToTalk):  # the recognizer's endpoints cut utterances here
                continue
            done = item is _STOP
            endpoint = False
            if not done:
                assert isinstance(item, AudioBlock)
                position += len(item.samples)
                self._audio_seconds += len(item.samples) / SAMPLE_RATE
                t0 = time.perf_counter()
                stream.accept(item.samples)
                text = stream.partial()
                self._stage_seconds["asr"] += time.perf_counter() - t0
                if text and not in_speech:
                    in_speech = True
                    utterance_id += 1
                    self._begin_utterance(utterance_id, utterance_start / SAMPLE_RATE)
                if text != last_text and text:
                    self._emit(PartialTranscript(utterance_id, text, lang))
                last_text = text
                endpoint = stream.is_endpoint()
            if done or endpoint:
                t0 = time.perf_counter()
                final = stream.finish() if done else stream.partial()
                seconds = time.perf_counter() - t0
                self._stage_seconds["asr"] += seconds
                if final.strip():
                    if not in_speech:
                        utterance_id += 1
                        self._begin_utterance(utterance_id, utterance_start / SAMPLE_RATE)
                    start_s, end_s = utterance_start / SAMPLE_RATE, position / SAMPLE_RATE
                    wall = item.arrival if isinstance(item, AudioBlock) else time.perf_counter()
                    self._finish_text(utterance_id, final, lang, start_s, end_s, wall, seconds)
                if done:
                    break
                stream.reset()
                utterance_start = position
                in_speech = False
                last_text = ""

    def _listen_streaming_ptt(self, recognizer: StreamingRecognizer) -> None:
        """A streaming recognizer fed only while the key is down; the release ends the text."""
        stream = recognizer.create_stream()
        lang = recognizer.languages[0] if recognizer.languages else self.config.source
        utterance_id = 0
        position = 0
        start: int | None = None  # where the open press began
        last_text = ""
        while True:
            item = self._get(self._audio)
            released = item is _STOP or (isinstance(item, PushToTalk) and not item.pressed)
            if released and start is not None:
                t0 = time.perf_counter()
                final = stream.finish().strip()
                seconds = time.perf_counter() - t0
                self._stage_seconds["asr"] += seconds
                wall = item.at if isinstance(item, PushToTalk) else time.perf_counter()
                if final:
                    start_s, end_s = start / SAMPLE_RATE, position / SAMPLE_RATE
                    self._finish_text(utterance_id, final, lang, start_s, end_s, wall, seconds)
                else:
                    self._discard_utterance(utterance_id, start / SAMPLE_RATE)
                stream.reset()
                start = None
            if item is _STOP:
                break
            if isinstance(item, PushToTalk):
                if item.pressed and start is None:
                    utterance_id += 1
                    start, last_text = position, ""
                    self._begin_utterance(utterance_id, position / SAMPLE_RATE)
                continue
            assert isinstance(item, AudioBlock)
            position += len(item.samples)
            self._audio_seconds += len(item.samples) / SAMPLE_RATE
            if start is None:
                continue
            t0 = time.perf_counter()
            stream.accept(item.samples)
            text = stream.partial()
            self._stage_seconds["asr"] += time.perf_counter() - t0
            if text and text != last_text:
                self._emit(PartialTranscript(utterance_id, text, lang))
            last_text = text

    def _finish_text(
        self,
        utterance_id: int,
        text: str,
        lang: str,
        start_s: float,
        end_s: float,
        wall: float,
        seconds: float,
    ) -> None:
        """The final text of a streaming utterance: transcript, then its sentences to MT."""
        self._emit(SpeechEnded(utterance_id, start_s, end_s))
        timing = self._timing(utterance_id)
        timing.speech_end_wall = wall
        timing.asr_ms += seconds * 1000
        self._utterances += 1
        self._emit(Transcript(utterance_id, text.strip(), lang, start_s, end_s))
        target = self._target_for(lang)
        sentences = split_sentences(text) if target else []
        if not sentences:
            self._put(self._sentences, ("done", utterance_id))
        for index, sentence in enumerate(sentences):
            last = index == len(sentences) - 1
            self._put(
                self._sentences,
                _Sentence(utterance_id, index, sentence, lang, last, wall, target),
            )

    def _translator(self) -> None:
        while True:
            item = self._get(self._sentences)
            if item is _STOP:
                break
            batch = [item]
            # Batch whatever else is already waiting: one decode call amortizes the overhead.
            while len(batch) < 8:
                try:
                    nxt = self._sentences.get_nowait()
                except queue.Empty:
                    break
                batch.append(nxt)
            stop_after = any(job is _STOP for job in batch)
            jobs = [job for job in batch if job is not _STOP]
            self._translate_batch(jobs)
            if stop_after:
                break
        self._put(self._speech, _STOP)

    def _translate_batch(self, items: list[object]) -> None:
        """Translate the sentences among ``items`` into phrases for the speaker, in order.

        The first sentence still to be decoded is streamed word by word, so its first phrase
        can be spoken before it is translated to the end; the ones after it are decoded
        together in one batch.
        """
        streamed = False
        for position, item in enumerate(items):
            if not isinstance(item, _Sentence):
                self._put(self._speech, item)
                continue
            job = item
            if job.inherited:  # its phrases came from an earlier job's decode
                continue
            if self._dropped(job):
                self._put(self._speech, _Phrase(job, "", last=True))
                continue
            if job.translated is None:
                text = self._mt_memo.get(_mt_key(job))
                if text is None and streamed:
                    self._decode_batch([j for j in items[position:] if self._needs_mt(j)])
                    text = self._mt_memo.get(_mt_key(job))
                if text is None:
                    streamed = True
                    self._stream(job, items[position + 1 :])
                    continue
                job.translated = str(text)
            self._put_phrases(job, job.translated.split())

    def _dropped(self, job: _Sentence) -> bool:
        """Nothing to translate (transcription only), or nobody will hear it."""
        return job.target is None or self._cancelled(job.utterance_id) or self._stale(job)

    def _needs_mt(self, job: object) -> bool:
        return (
            isinstance(job, _Sentence)
            and not self._dropped(job)
            and job.translated is None
            and self._mt_memo.get(_mt_key(job)) is None
        )

    def _decode_batch(self, jobs: list[_Sentence]) -> None:
        """Translate ``jobs`` into the memo, one decode call per language pair."""
        # A speculative job and the final one for the same sentence can share a batch (the
        # translator was busy when both arrived): decode each sentence once.
        unique = list({_mt_key(j): j for j in jobs}.values())
        groups: dict[tuple[str, str], list[_Sentence]] = {}
        for job in unique:
            assert job.target is not None
            groups.setdefault((job.lang, job.target), []).append(job)
        for (lang, target), group in groups.items():
            mt = self._mt_for(lang, target)
            t0 = time.perf_counter()
            if mt is None:  # same source and target language: nothing to translate
                outputs = [j.text for j in group]
            else:
                try:
                    outputs = mt.translate([j.text for j in group], lang, target)
                except EdgeError:
                    raise
                except Exception as exc:  # one failed batch must not end the session
                    log.exception("translation failed")
                    self._emit(StageError("mt", str(exc), group[0].utterance_id))
                    outputs = [""] * len(group)
            for job, out in zip(group, outputs, strict=True):
                self._mt_memo.put(_mt_key(job), out)
            self._count_mt(group, time.perf_counter() - t0)

    def _stream(self, job: _Sentence, pending: list[object] | None = None) -> None:
        """Translate one sentence, handing each phrase to the speaker as soon as it is decoded.

        A job that nobody will hear as it is (a warm-up from partials, or a speculation whose
        audio has since grown) hands its decode over to a job queued for the same sentence
        (``pending``: the rest of the batch, then the queue) instead of being abandoned and
        started over: the phrases cut so far become the new job's, the rest follow as decoded.
        """
        assert job.target is not None
        mt = self._mt_for(job.lang, job.target)
        if mt is None or not isinstance(mt, WordStreamingTranslator):
            self._decode_batch([job])
            job.translated = str(self._mt_memo.get(_mt_key(job)))
            self._put_phrases(job, job.translated.split())
            return
        cutter = self._cutter(job)
        words: list[str] = []
        phrases: list[str] = []
        owners = [job]  # the jobs this decode has been for, the current one last
        t0 = time.perf_counter()
        stream = mt.translate_words(job.text, job.lang, job.target)
        try:
            for word in stream:
                heir = None if self._stop.is_set() else self._heir(job, pending or [])
                if heir is not None:
                    heir.inherited = True
                    for text in phrases:
                        self._put(self._speech, _Phrase(heir, text, last=False))
                    owners.append(heir)
                    job = heir
                if self._dropped(job):  # an earlier owner may still want it (a warm-up)
                    job = next((o for o in reversed(owners) if not self._dropped(o)), job)
                if self._stop.is_set() or self._dropped(job):
                    # Abandoned: nobody will hear it, the cores have better things to do. The
                    # speaker still gets the sentence's end, to close a cancelled utterance.
                    self._put(self._speech, _Phrase(job, "", last=True))
                    return
                words.append(word)
                phrase = cutter.push(word)
                if phrase is not None:
                    phrases.append(phrase)
                    self._put(self._speech, _Phrase(job, phrase, last=False))
        except EdgeError:
            raise
        except Exception as exc:  # one failed sentence must not end the session
            log.exception("translation failed")
            self._emit(StageError("mt", str(exc), job.utterance_id))
        finally:
            stream.close()
            self._count_mt([job], time.perf_counter() - t0)
        job.translated = " ".join(words)
        self._mt_memo.put(_mt_key(job), job.translated)
        self._put(self._speech, _Phrase(job, cutter.finish() or "", last=True))

    def _heir(self, job: _Sentence, pending: list[object]) -> _Sentence | None:
        """A queued job for ``job``'s sentence to take its decode over, if ``job`` will not
        be heard as it is: one that may be spoken first, else another warm-up."""
        if not (job.warm_only or self._stale(job)):
            return None
        with self._sentences.mutex:
            queued = list(self._sentences.queue)
        same = [
            j
            for j in (*pending, *queued)
            if isinstance(j, _Sentence)
            and j is not job
            and not j.inherited
            and j.translated is None
            and (j.utterance_id, j.index, _mt_key(j)) == (job.utterance_id, job.index, _mt_key(job))
            and not self._dropped(j)
        ]
        spoken = [j for j in same if not j.warm_only]
        return (spoken or same or [None])[0]

    def _put_phrases(self, job: _Sentence, words: list[str]) -> None:
        cutter = self._cutter(job)
        for word in words:
            phrase = cutter.push(word)
            if phrase is not None:
                self._put(self._speech, _Phrase(job, phrase, last=False))
        self._put(self._speech, _Phrase(job, cutter.finish() or "", last=True))

    def _cutter(self, job: _Sentence) -> PhraseCutter:
        # Only the first sentence's first sound waits on its decode; later sentences are
        # ready while earlier ones play, and keep their phrasing whole.
        first = self.config.first_phrase_words if job.index == 0 else 0
        return PhraseCutter(first, expected_words=len(job.text.split()))

    def _count_mt(self, jobs: list[_Sentence], seconds: float) -> None:
        self._stage_seconds["mt"] += seconds
        with self._timings_lock:
            for utterance_id in {j.utterance_id for j in jobs if not self._stale(j)}:
                if utterance_id in self._timings:
                    self._timings[utterance_id].mt_ms += seconds * 1000

    def _mt_for(self, source: str, target: str) -> TextTranslator | None:
        if source == target:
            return None
        if self.config.languages is None:
            return self.stages.mt
        return self.stages.mt_for(source, target)

    def _speaker(self) -> None:
        # Speculative speech synthesized before the hangover confirmed its segment.
        held: dict[int, list[tuple[_Phrase, list[np.ndarray]]]] = {}
        while True:
            item = self._get(self._speech)
            if item is _STOP:
                break
            if isinstance(item, tuple):  # an utterance with nothing to say
                self._close_utterance(item[1])
                continue
            if isinstance(item, _Confirm):
                for phrase, chunks in held.pop(item.utterance_id, []):
                    self._speak(phrase, chunks)
                continue
            assert isinstance(item, _Phrase)
            job = item.job
            if self._live(job):
                # Confirmed while its marker was still queued: what was held goes first.
                for phrase, chunks in held.pop(job.utterance_id, []):
                    self._speak(phrase, chunks)
                self._speak(item, None)
            elif job.warm_only:
                if not self._stale(job):
                    self._synthesize_ahead(item)  # into the cache; never spoken as it is
            elif not self._stale(job):
                waiting = held.setdefault(job.utterance_id, [])
                waiting[:] = [(p, c) for p, c in waiting if not self._stale(p.job)]
                waiting.append((item, self._synthesize_ahead(item)))
                for old in [u for u in held if u < job.utterance_id - 8]:
                    del held[old]
        self._emit(_STOP)

    def _synthesize_ahead(self, phrase: _Phrase) -> list[np.ndarray]:
        voice = self.stages.voice_for(phrase.job.target)
        text = phrase.text.strip()
        if voice is None or not text or self._cancelled(phrase.job.utterance_id):
            return []
        key = (phrase.job.target, text)
        cached = self._tts_memo.get(key)
        if isinstance(cached, list):
            return cached
        t0 = time.perf_counter()
        chunks = list(voice.synthesize(text))
        self._stage_seconds["tts"] += time.perf_counter() - t0
        self._tts_memo.put(key, chunks)
        return chunks

    def _speak(self, phrase: _Phrase, chunks: list[np.ndarray] | None) -> None:
        """Emit a phrase of a live sentence: its translation once complete, then its audio."""
        job = phrase.job
        if self._stale(job):
            return
        if self._cancelled(job.utterance_id):
            if phrase.last and job.is_last:
                self._close_utterance(job.utterance_id)
            return
        if phrase.last:
            self._emit(
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
                cached = self._tts_memo.get((job.target, text))
                chunks = cached if isinstance(cached, list) else None
            t0 = time.perf_counter()
            timing = self._timing(job.utterance_id)
            for chunk in iter(chunks) if chunks is not None else voice.synthesize(text):
                if self._cancelled(job.utterance_id) or self._stop.is_set():
                    break
                now = time.perf_counter()
                if timing.first_audio_wall is None:
                    timing.first_audio_wall = now
                    timing.tts_first_chunk_ms = (now - t0) * 1000
                self._tts_audio_seconds += len(chunk) / voice.sample_rate
                self._emit(AudioOut(job.utterance_id, job.index, voice.sample_rate, chunk))
            seconds = time.perf_counter() - t0
            if chunks is None:
                self._stage_seconds["tts"] += seconds
            timing.tts_ms += seconds * 1000
        if phrase.last and job.is_last:
            self._close_utterance(job.utterance_id)

    def _close_utterance(self, utterance_id: int) -> None:
        with self._timings_lock:
            timing = self._timings.pop(utterance_id, None)
        if timing is None:
            return
        latency = None
        if timing.first_audio_wall is not None:
            latency = max(0.0, (timing.first_audio_wall - timing.speech_end_wall) * 1000)
            self._latencies.append(latency)
        self._emit(
            UtteranceMetrics(
                utterance_id,
                latency,
                timing.asr_ms,
                timing.mt_ms,
                timing.tts_first_chunk_ms,
                timing.tts_ms,
            )
        )

    def _summary(self, wall: float) -> Metrics:
        stage_ms = {k: round(v * 1000, 1) for k, v in self._stage_seconds.items()}
        rtf = {}
        if self._audio_seconds:
            rtf["vad"] = self._stage_seconds["vad"] / self._audio_seconds
        if self._speech_seconds:
            rtf["asr"] = self._stage_seconds["asr"] / self._speech_seconds
        if self._tts_audio_seconds:
            rtf["tts"] = self._stage_seconds["tts"] / self._tts_audio_seconds
        return Metrics(
            audio_s=self._audio_seconds,
            wall_s=wall,
            utterances=self._utterances,
            stage_ms=stage_ms,
            real_time_factor={k: round(v, 4) for k, v in rtf.items()},
            end_of_speech_to_first_audio_ms=[round(x, 1) for x in self._latencies],
            peak_rss_mb=peak_rss_mb(),
        )


def _segment_key(utterance_id: int, segment: SpeechSegment) -> tuple[int, float, float]:
    return (utterance_id, round(segment.start_s, 3), round(segment.end_s, 3))


def _mt_key(job: _Sentence) -> tuple[str, str | None, str]:
    return (job.lang, job.target, job.text)


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


@dataclass
class _Press:
    """The audio of one push-to-talk press, with where the VAD heard speech in it."""

    utterance_id: int
    start: int  # sample position of the first sample kept
    parts: list[np.ndarray]
    pad: int  # samples kept before the first speech
    committed: list[str] = field(default_factory=list)
    released_at: int | None = None  # sample position of the release
    release_wall: float = 0.0
    waited_for_tail: bool = False
    first_speech: int | None = None
    last_speech_end: int = 0
    speech_samples: int = 0
    _length: int = 0
    _analyzed: int = 0  # samples given to the VAD
    _pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    _last_partial: int = 0
    _speculated_at: int = -1

    def __post_init__(self) -> None:
        self._length = sum(len(p) for p in self.parts)
        self._last_partial = self.start

    @property
    def end(self) -> int:
        return self.start + self._length

    def add(self, samples: np.ndarray) -> None:
        self.parts.append(samples)
        self._length += len(samples)

    def analyze(self, vad: SileroVad, samples: np.ndarray, threshold: float) -> None:
        self._pending = np.concatenate([self._pending, samples])
        offset = 0
        while len(self._pending) - offset >= FRAME:
            frame_start = self.start + self._analyzed
            if vad(self._pending[offset : offset + FRAME]) >= threshold:
                if self.first_speech is None:
                    self.first_speech = frame_start
                self.last_speech_end = frame_start + FRAME
                self.speech_samples += FRAME
            offset += FRAME
            self._analyzed += FRAME
        self._pending = self._pending[offset:]

    def speaking_at_release(self) -> bool:
        assert self.released_at is not None
        return (
            self.first_speech is not None and self.last_speech_end >= self.released_at - 2 * FRAME
        )

    def paused(self, position: int, vad: VadConfig) -> bool:
        """True once per pause: enough speech, then ``speculate_after_s`` of quiet."""
        if self.speech_span(vad) is None or self.last_speech_end == self._speculated_at:
            return False
        if position - self.last_speech_end < vad.speculate_after_s * SAMPLE_RATE:
            return False
        self._speculated_at = self.last_speech_end
        return True

    def speech_span(self, vad: VadConfig) -> tuple[int, int] | None:
        if self.first_speech is None or self.speech_samples < vad.min_speech_s * SAMPLE_RATE:
            return None
        return self.first_speech, self.last_speech_end

    def due_partial(self, position: int, interval_s: float) -> bool:
        if position - self._last_partial < interval_s * SAMPLE_RATE:
            return False
        self._last_partial = position
        return True

    def segment(self, end: int) -> SpeechSegment:
        """The press from just before its first speech (or its start) up to ``end``."""
        start = self.start
        if self.first_speech is not None:
            start = max(self.start, self.first_speech - self.pad)
        audio = np.concatenate(self.parts) if self.parts else np.zeros(0, np.float32)
        return SpeechSegment(
            start / SAMPLE_RATE, end / SAMPLE_RATE, audio[start - self.start : end - self.start]
        )


def peak_rss_mb() -> float | None:
    """This process's own peak resident size (VmHWM).

    Not ``ru_maxrss``: on Linux a child started from a large parent inherits the parent's
    high-water mark there.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):
        return None


def file_blocks(
    blocks: Iterable[np.ndarray], *, realtime: bool = False, block_s: float = 0.032
) -> Iterator[AudioBlock]:
    """Audio blocks stamped with their arrival time; ``realtime`` paces them like a microphone."""
    start = time.perf_counter()
    sent = 0
    block = int(block_s * SAMPLE_RATE)
    for chunk in blocks:
        for offset in range(0, len(chunk), block):
            piece = chunk[offset : offset + block]
            sent += len(piece)
            if realtime:
                due = start + sent / SAMPLE_RATE
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            yield AudioBlock(piece, time.perf_counter())
