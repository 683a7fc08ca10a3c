"""The listener thread's segmentation modes: when an utterance begins and when it ends.

One small strategy per mode, all reading the audio queue and driving the same
``Lifecycle`` (begin / partial / speculate / finish / discard):

* ``VadListener``: the VAD cuts utterances; speculation at its pauses, partials at an interval;
* ``PttListener`` (``ptt``): a key's press and release cut them, the VAD only trims;
* ``StreamingListener``: a streaming recognizer's endpoints cut them;
* ``StreamingPttListener``: a streaming recognizer fed only while the key is down.

Thread ownership: everything here runs on the listener thread and its state is local to
``run``; models with per-stream state (the VAD, a recognizer's stream) are created there too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from ..asr.base import SAMPLE_RATE, StreamingRecognizer
from ..events import PartialTranscript
from ..vad import SpeechSegment, VadSegmenter
from .config import AudioBlock, PushToTalk
from .lifecycle import Lifecycle
from .messages import Stop
from .ptt import PttListener

OWN_VOICE = "the device's own voice"  # why a segment the echo check refused is discarded


class Listener(Protocol):
    def run(self) -> None:
        """Listen until the audio queue's ``Stop``."""


def make_listener(life: Lifecycle) -> Listener:
    ptt = life.config.segmentation == "ptt"
    streaming = life.stages.streaming_asr
    if streaming is not None:
        return StreamingPttListener(life, streaming) if ptt else StreamingListener(life, streaming)
    return PttListener(life) if ptt else VadListener(life)


class VadListener:
    def __init__(self, life: Lifecycle) -> None:
        self.life = life

    def run(self) -> None:
        life, config = self.life, self.life.config
        segmenter = VadSegmenter(config.vad)
        utterance_id = 0
        open_start: float | None = None  # start of the utterance the VAD has open
        position = 0  # samples received
        last_partial = 0
        last_wall_of: Callable[[float], float] | None = None
        while True:
            item = life.channels.get(life.channels.audio)
            if isinstance(item, Stop):
                break
            if isinstance(item, PushToTalk):  # the VAD cuts utterances here
                continue
            block_end = position + len(item.samples)
            position = block_end
            life.heard_audio(item)
            optional = not life.is_behind(item)

            def wall_of(seconds: float, block: AudioBlock = item, end: int = block_end) -> float:
                return block.arrival - max(0, end - int(seconds * SAMPLE_RATE)) / SAMPLE_RATE

            last_wall_of = wall_of

            t0 = time.perf_counter()
            updates = segmenter.accept(item.samples, item.for_vad)
            life.meter.stage_seconds["vad"] += time.perf_counter() - t0
            ended = False
            for update in updates:
                if update.started_at_s is not None:
                    utterance_id += 1
                    last_partial = position
                    open_start = update.started_at_s
                    life.begin(utterance_id, update.started_at_s)
                elif update.paused is not None and config.speculative and optional:
                    paused = life.refine(update.paused, utterance_id, wall_of(update.paused.end_s))
                    if paused is not None:
                        life.speculate(paused, utterance_id, wall_of(paused.end_s))
                elif update.ended is not None:
                    ended = True
                    segment = life.refine(update.ended, utterance_id, wall_of(update.ended.end_s))
                    if segment is None:
                        life.discard(utterance_id, update.ended.start_s, OWN_VOICE)
                    else:
                        self._finish(segment, utterance_id, wall_of)
                    open_start = None
                    if update.ended.split:  # the rest of the speech goes on as a new utterance
                        utterance_id += 1
                        open_start = update.ended.end_s
                        life.begin(utterance_id, update.ended.end_s)
            if open_start is not None and not segmenter.in_speech and not ended:
                # The VAD closed the segment without a result: too short, or not speech.
                now = position / SAMPLE_RATE
                life.discard(
                    utterance_id, open_start, self._why(open_start, now, wall_of(now), segmenter)
                )
                open_start = None
            interval = int(config.partial_interval_s * SAMPLE_RATE)
            if interval and segmenter.in_speech and position - last_partial >= interval:
                last_partial = position
                if optional:
                    audio = segmenter.current_audio()
                    life.partial(audio, utterance_id, wall_of(position / SAMPLE_RATE))
        tail = segmenter.flush()
        if tail is not None and last_wall_of is not None:
            refined = life.refine(tail, utterance_id, last_wall_of(tail.end_s))
            if refined is None:
                life.discard(utterance_id, tail.start_s, OWN_VOICE)
                return
            tail = refined
        if tail is not None:
            self._finish(tail, utterance_id, lambda _s: time.perf_counter())
        elif open_start is not None:
            assert last_wall_of is not None  # an onset came with audio
            now = position / SAMPLE_RATE
            why = self._why(open_start, now, last_wall_of(now), segmenter)
            life.discard(utterance_id, open_start, why)

    def _why(self, start_s: float, now_s: float, now_wall: float, segmenter: VadSegmenter) -> str:
        """Why an onset the VAD closed without a segment is discarded. Over the device's
        voice, the echo check looks from the onset to now (through the silence that closed
        it): its own voice leaking past AEC3 lets playback resume; anything else there (a
        cough, a short word, a turn AEC3 crushed in double talk) stays a barge-in."""
        if self.life.own_voice(start_s, now_s, now_wall):
            return OWN_VOICE
        return segmenter.discarded or "too short"

    def _finish(
        self, segment: SpeechSegment, utterance_id: int, wall_of: Callable[[float], float]
    ) -> None:
        # The segment ends with the VAD's padding after the speech (none when it was split).
        pad = 0.0 if segment.split else self.life.config.vad.speech_pad_s
        speech_end_s = max(segment.start_s, segment.end_s - pad)
        speech_end_wall = wall_of(segment.end_s) - (segment.end_s - speech_end_s)
        self.life.finish(segment, utterance_id, speech_end_s, speech_end_wall)
        self.life.ledger.end_partials(utterance_id)  # after: the final jobs are queued to take over


class _Streaming:
    """A streaming recognizer's listener: one stream, transcripts in its first language.

    The recognizer's own endpoints cut utterances, so it hears what a VAD would
    (``AudioBlock.for_vad``): in full duplex, the signal with the device's voice suppressed."""

    def __init__(self, life: Lifecycle, recognizer: StreamingRecognizer) -> None:
        self.life = life
        self.recognizer = recognizer
        self.lang = recognizer.languages[0] if recognizer.languages else life.config.source


class StreamingListener(_Streaming):
    def run(self) -> None:
        life, lang = self.life, self.lang
        stream = self.recognizer.create_stream()
        utterance_id = 0
        position = 0
        utterance_start = 0
        last_text = ""
        in_speech = False
        while True:
            item = life.channels.get(life.channels.audio)
            if isinstance(item, PushToTalk):  # the recognizer's endpoints cut utterances here
                continue
            done = isinstance(item, Stop)
            endpoint = False
            if not isinstance(item, Stop):
                position += len(item.samples)
                life.heard_audio(item)
                t0 = time.perf_counter()
                stream.accept(item.for_vad)
                text = stream.partial()
                life.meter.stage_seconds["asr"] += time.perf_counter() - t0
                if text and not in_speech:
                    in_speech = True
                    utterance_id += 1
                    life.begin(utterance_id, utterance_start / SAMPLE_RATE)
                if text != last_text and text:
                    life.channels.emit(PartialTranscript(utterance_id, text, lang))
                last_text = text
                endpoint = stream.is_endpoint()
            if done or endpoint:
                t0 = time.perf_counter()
                final = stream.finish() if done else stream.partial()
                seconds = time.perf_counter() - t0
                life.meter.stage_seconds["asr"] += seconds
                if final.strip():
                    if not in_speech:
                        utterance_id += 1
                        life.begin(utterance_id, utterance_start / SAMPLE_RATE)
                    span = (utterance_start / SAMPLE_RATE, position / SAMPLE_RATE)
                    wall = item.arrival if isinstance(item, AudioBlock) else time.perf_counter()
                    life.finish_text(utterance_id, final, lang, span, wall, seconds)
                if done:
                    break
                stream.reset()
                utterance_start = position
                in_speech = False
                last_text = ""


class StreamingPttListener(_Streaming):
    """A streaming recognizer fed only while the key is down; the release ends the text."""

    def run(self) -> None:
        life, lang = self.life, self.lang
        stream = self.recognizer.create_stream()
        utterance_id = 0
        position = 0
        start: int | None = None  # where the open press began
        last_text = ""
        while True:
            item = life.channels.get(life.channels.audio)
            released = isinstance(item, Stop) or (isinstance(item, PushToTalk) and not item.pressed)
            if released and start is not None:
                t0 = time.perf_counter()
                final = stream.finish().strip()
                seconds = time.perf_counter() - t0
                life.meter.stage_seconds["asr"] += seconds
                wall = item.at if isinstance(item, PushToTalk) else time.perf_counter()
                if final:
                    span = (start / SAMPLE_RATE, position / SAMPLE_RATE)
                    life.finish_text(utterance_id, final, lang, span, wall, seconds)
                else:
                    life.discard(utterance_id, start / SAMPLE_RATE)
                stream.reset()
                start = None
            if isinstance(item, Stop):
                break
            if isinstance(item, PushToTalk):
                if item.pressed and start is None:
                    utterance_id += 1
                    start, last_text = position, ""
                    life.begin(utterance_id, position / SAMPLE_RATE)
                continue
            position += len(item.samples)
            life.heard_audio(item)
            if start is None:
                continue
            t0 = time.perf_counter()
            stream.accept(item.for_vad)
            text = stream.partial()
            life.meter.stage_seconds["asr"] += time.perf_counter() - t0
            if text and text != last_text:
                life.channels.emit(PartialTranscript(utterance_id, text, lang))
            last_text = text
