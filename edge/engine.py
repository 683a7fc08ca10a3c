"""The cascade engine: audio -> VAD -> ASR -> MT -> TTS as concurrent stages.

Four threads joined by bounded queues, so sentence 1 is synthesized while sentence 2 is
translated and the next utterance is recognized:

    source ──audio──▶ listener (VAD + ASR) ──sentences──▶ translator (MT) ──▶ speaker (TTS)
                          │                                   │                  │
                          └───────────────── events ──────────┴──────────────────┘

Every stage reports through typed events (``edge.events``) on one queue that the caller
iterates. Sentences are handed to MT one by one as soon as the transcript is final; when
the VAD reports a pause the open segment is decoded, translated and synthesized
speculatively, and the result is released the moment the hangover confirms the end of the
utterance (or thrown away if speech resumes).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .asr.base import SAMPLE_RATE, SegmentRecognizer, StreamingRecognizer
from .asr.whisper_ct2 import WhisperCT2
from .errors import EdgeError
from .events import (
    AudioOut,
    Event,
    Metrics,
    PartialTranscript,
    SpeechEnded,
    SpeechStarted,
    StageError,
    Transcript,
    Translation,
    UtteranceMetrics,
)
from .mt.base import TextTranslator
from .text import complete_sentences, split_sentences
from .tts.base import Voice
from .vad import SpeechSegment, VadConfig, VadSegmenter

log = logging.getLogger(__name__)

_STOP = object()


@dataclass
class Stages:
    """The loaded models of one pipeline; unused stages are None."""

    segment_asr: SegmentRecognizer | None = None
    streaming_asr: StreamingRecognizer | None = None
    direct: WhisperCT2 | None = None  # speech -> English text, replaces ASR + MT
    mt: TextTranslator | None = None
    tts: Voice | None = None


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
    # Also transcribe the source language in direct mode (a second, cheaper decode).
    direct_transcript: bool = True


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
    translated: str | None = None  # set when no MT is needed (direct mode)
    speculative: bool = False
    spoken_lang: str | None = None  # direct mode: the language that was spoken


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
        if stages.segment_asr is None and stages.streaming_asr is None and stages.direct is None:
            raise EdgeError(
                "no speech recognition model loaded", "pull an ASR model: edge models list"
            )
        needs_mt = config.target is not None and config.target != config.source
        if needs_mt and stages.direct is None and stages.mt is None:
            raise EdgeError("no translation model loaded", "pull an MT model: edge models list")
        self.stages = stages
        self.config = config
        self._events: queue.Queue[object] = queue.Queue(maxsize=1024)
        self._audio: queue.Queue[object] = queue.Queue(maxsize=64)
        self._sentences: queue.Queue[object] = queue.Queue(maxsize=config.queue_size)
        self._speech: queue.Queue[object] = queue.Queue(maxsize=config.queue_size)
        self._stop = threading.Event()
        self._timings: dict[int, _UtteranceTiming] = {}
        self._timings_lock = threading.Lock()
        self._mt_memo = _Memo()
        self._tts_memo = _Memo(8)
        self._asr_memo = _Memo(4)
        self._stage_seconds = {"vad": 0.0, "asr": 0.0, "mt": 0.0, "tts": 0.0}
        self._audio_seconds = 0.0
        self._speech_seconds = 0.0
        self._tts_audio_seconds = 0.0
        self._latencies: list[float] = []
        self._utterances = 0

    # --- public ------------------------------------------------------------------------

    def run(self, blocks: Iterable[AudioBlock]) -> Iterator[Event]:
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
            for thread in threads:
                thread.join(timeout=5)
        if failure is not None:
            raise failure
        yield self._summary(time.perf_counter() - started)

    def stop(self) -> None:
        self._stop.set()

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
        self._events.put(item)

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

    # --- stages ------------------------------------------------------------------------

    def _source(self, blocks: Iterable[AudioBlock]) -> None:
        for block in blocks:
            if not self._put(self._audio, block):
                return
        self._put(self._audio, _STOP)

    def _listener(self) -> None:
        if self.stages.streaming_asr is not None:
            self._listen_streaming(self.stages.streaming_asr)
        else:
            self._listen_segments()
        self._put(self._sentences, _STOP)

    def _listen_segments(self) -> None:
        segmenter = VadSegmenter(self.config.vad)
        utterance_id = 0
        position = 0  # samples received
        last_partial = 0
        committed: list[str] = []  # sentences of the open utterance already sent on
        while True:
            item = self._get(self._audio)
            if item is _STOP:
                break
            assert isinstance(item, AudioBlock)
            block_end = position + len(item.samples)
            position = block_end
            self._audio_seconds += len(item.samples) / SAMPLE_RATE

            def wall_of(seconds: float, block: AudioBlock = item, end: int = block_end) -> float:
                return block.arrival - max(0, end - int(seconds * SAMPLE_RATE)) / SAMPLE_RATE

            t0 = time.perf_counter()
            updates = segmenter.accept(item.samples)
            self._stage_seconds["vad"] += time.perf_counter() - t0
            for update in updates:
                if update.started_at_s is not None:
                    utterance_id += 1
                    committed = []
                    last_partial = position
                    self._begin_utterance(utterance_id, update.started_at_s)
                elif update.paused is not None and self.config.speculative:
                    self._speculate(update.paused, utterance_id, wall_of(update.paused.end_s))
                elif update.ended is not None:
                    self._finish_segment(update.ended, utterance_id, committed, wall_of)
                    committed = []
                    if update.ended.split:  # the rest of the speech goes on as a new utterance
                        utterance_id += 1
                        self._begin_utterance(utterance_id, update.ended.end_s)
            interval = int(self.config.partial_interval_s * SAMPLE_RATE)
            if interval and segmenter.in_speech and position - last_partial >= interval:
                last_partial = position
                self._partial(
                    segmenter.current_audio(),
                    utterance_id,
                    committed,
                    wall_of(position / SAMPLE_RATE),
                )
        tail = segmenter.flush()
        if tail is not None:
            self._finish_segment(tail, utterance_id, committed, lambda _s: time.perf_counter())

    def _recognize(self, audio: np.ndarray) -> tuple[str, str, str | None, float]:
        """(text, its language, spoken language if translated directly, seconds spent)."""
        t0 = time.perf_counter()
        if self.stages.direct is not None:
            rec = self.stages.direct.recognize(audio, self.config.source)
            return rec.text, rec.lang, rec.source_lang, time.perf_counter() - t0
        assert self.stages.segment_asr is not None
        rec = self.stages.segment_asr.recognize(audio, self.config.source)
        return rec.text, rec.lang, None, time.perf_counter() - t0

    def _speculate(self, segment: SpeechSegment, utterance_id: int, speech_end_wall: float) -> None:
        key = (utterance_id, round(segment.end_s, 3))
        text, lang, spoken, seconds = self._recognize(segment.audio)
        self._stage_seconds["asr"] += seconds
        self._asr_memo.put(key, (text, lang, spoken, seconds))
        if self.config.target is None:
            return
        for index, sentence in enumerate(split_sentences(text)):
            job = _Sentence(
                utterance_id, index, sentence, lang, False, speech_end_wall, speculative=True
            )
            if spoken is not None:
                job.translated, job.spoken_lang = sentence, spoken
            self._put(self._sentences, job)

    def _partial(
        self, audio: np.ndarray, utterance_id: int, committed: list[str], wall: float
    ) -> None:
        text, lang, _spoken, seconds = self._recognize(audio)
        self._stage_seconds["asr"] += seconds
        self._emit(PartialTranscript(utterance_id, text, lang))
        done, _rest = complete_sentences(text)
        # A sentence followed by more speech will not change: start translating it now.
        for sentence in done[len(committed) :]:
            if self.stages.direct is None and self.config.target is not None:
                committed.append(sentence)
                self._put(
                    self._sentences,
                    _Sentence(utterance_id, len(committed) - 1, sentence, lang, False, wall),
                )

    def _finish_segment(
        self,
        segment: SpeechSegment,
        utterance_id: int,
        committed: list[str],
        wall_of: Callable[[float], float],
    ) -> None:
        speech_end_s = segment.end_s - (0.0 if segment.split else self.config.vad.speech_pad_s)
        speech_end_s = max(segment.start_s, speech_end_s)
        speech_end_wall = wall_of(segment.end_s) - (segment.end_s - speech_end_s)
        self._emit(SpeechEnded(utterance_id, segment.start_s, speech_end_s))
        self._speech_seconds += len(segment.audio) / SAMPLE_RATE
        cached = self._asr_memo.get((utterance_id, round(segment.end_s, 3)))
        if cached is not None:
            text, lang, spoken, seconds = cached  # type: ignore[misc]
        else:
            text, lang, spoken, seconds = self._recognize(segment.audio)
            self._stage_seconds["asr"] += seconds
        timing = self._timing(utterance_id)
        timing.speech_end_wall = speech_end_wall
        timing.asr_ms += seconds * 1000
        self._utterances += 1
        if spoken is None:
            self._emit(Transcript(utterance_id, text, lang, segment.start_s, speech_end_s))
        # Sentences committed from partials were already sent on; the final text replaces
        # only what follows them.
        fresh = split_sentences(text)[len(committed) :] if self.config.target else []
        for offset, sentence in enumerate(fresh):
            last = offset == len(fresh) - 1
            job = _Sentence(
                utterance_id, len(committed) + offset, sentence, lang, last, speech_end_wall
            )
            if spoken is not None:
                job.translated, job.spoken_lang = sentence, spoken
            self._put(self._sentences, job)
        if not fresh:
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
                    self._emit(SpeechEnded(utterance_id, start_s, end_s))
                    timing = self._timing(utterance_id)
                    timing.speech_end_wall = wall
                    timing.asr_ms += seconds * 1000
                    self._utterances += 1
                    self._emit(Transcript(utterance_id, final.strip(), lang, start_s, end_s))
                    sentences = split_sentences(final) if self.config.target else []
                    if not sentences:
                        self._put(self._sentences, ("done", utterance_id))
                    for index, sentence in enumerate(sentences):
                        last = index == len(sentences) - 1
                        self._put(
                            self._sentences,
                            _Sentence(utterance_id, index, sentence, lang, last, wall),
                        )
                if done:
                    break
                stream.reset()
                utterance_start = position
                in_speech = False
                last_text = ""

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
        """Translate the sentences among ``items``; everything goes on to the speaker in order."""
        target = self.config.target
        jobs = [j for j in items if isinstance(j, _Sentence)]
        if target is None:
            jobs = []
        pending = [
            j for j in jobs if j.translated is None and self._mt_memo.get((j.lang, j.text)) is None
        ]
        if pending and self.stages.mt is None:
            for job in pending:  # same source and target language: nothing to translate
                job.translated = job.text
            pending = []
        if pending:
            assert self.stages.mt is not None
            t0 = time.perf_counter()
            try:
                by_lang: dict[str, list[_Sentence]] = {}
                for job in pending:
                    by_lang.setdefault(job.lang, []).append(job)
                for lang, group in by_lang.items():
                    outputs = self.stages.mt.translate([j.text for j in group], lang, target)
                    for job, out in zip(group, outputs, strict=True):
                        self._mt_memo.put((job.lang, job.text), out)
            except EdgeError:
                raise
            except Exception as exc:  # one failed batch must not end the session
                log.exception("translation failed")
                self._emit(StageError("mt", str(exc), pending[0].utterance_id))
                for job in pending:
                    self._mt_memo.put((job.lang, job.text), "")
            seconds = time.perf_counter() - t0
            self._stage_seconds["mt"] += seconds
            final_ids = {j.utterance_id for j in pending if not j.speculative}
            for utterance_id in final_ids:
                with self._timings_lock:
                    if utterance_id in self._timings:
                        self._timings[utterance_id].mt_ms += seconds * 1000
        for item in items:
            if isinstance(item, _Sentence) and target is not None:
                if item.translated is None:
                    item.translated = str(self._mt_memo.get((item.lang, item.text)))
                if not item.speculative:
                    direct = item.spoken_lang is not None
                    self._emit(
                        Translation(
                            item.utterance_id,
                            item.index,
                            item.translated,
                            target,
                            "" if direct else item.text,
                            item.spoken_lang or item.lang,
                        )
                    )
            self._put(self._speech, item)

    def _speaker(self) -> None:
        voice = self.stages.tts
        while True:
            item = self._get(self._speech)
            if item is _STOP:
                break
            if isinstance(item, tuple):  # an utterance with nothing to say
                self._close_utterance(item[1])
                continue
            assert isinstance(item, _Sentence)
            if voice is None or not (item.translated or "").strip():
                if item.is_last:
                    self._close_utterance(item.utterance_id)
                continue
            key = item.translated or ""
            if item.speculative:
                if self._tts_memo.get(key) is None:
                    t0 = time.perf_counter()
                    chunks = list(voice.synthesize(key))
                    self._stage_seconds["tts"] += time.perf_counter() - t0
                    self._tts_memo.put(key, chunks)
                continue
            cached = self._tts_memo.get(key)
            t0 = time.perf_counter()
            chunk_iter = iter(cached) if isinstance(cached, list) else voice.synthesize(key)
            timing = self._timing(item.utterance_id)
            for chunk in chunk_iter:
                now = time.perf_counter()
                if timing.first_audio_wall is None:
                    timing.first_audio_wall = now
                    timing.tts_first_chunk_ms = (now - t0) * 1000
                self._tts_audio_seconds += len(chunk) / voice.sample_rate
                self._emit(AudioOut(item.utterance_id, item.index, voice.sample_rate, chunk))
            seconds = time.perf_counter() - t0
            if not isinstance(cached, list):
                self._stage_seconds["tts"] += seconds
            timing.tts_ms += seconds * 1000
            if item.is_last:
                self._close_utterance(item.utterance_id)
        self._emit(_STOP)

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
            peak_rss_mb=_peak_rss_mb(),
        )


def _peak_rss_mb() -> float | None:
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
