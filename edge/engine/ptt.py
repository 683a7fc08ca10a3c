"""Push-to-talk segmentation: utterances from a key's press to its release.

The VAD does not cut utterances here; it only trims the press to its speech, spots empty
presses (a click), and finds the pauses to speculate at while the key is held.

Thread ownership: the listener thread alone; a ``Press`` lives inside ``PttListener.run``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..asr.base import SAMPLE_RATE
from ..vad import FRAME, SileroVad, SpeechSegment, VadConfig
from .config import PushToTalk
from .lifecycle import Lifecycle
from .messages import Stop


@dataclass
class Press:
    """The audio of one push-to-talk press, with where the VAD heard speech in it."""

    utterance_id: int
    start: int  # sample position of the first sample kept
    parts: list[np.ndarray]
    pad: int  # samples kept before the first speech
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


class PttListener:
    """Utterances from press to release; the VAD only trims them and spots empty presses."""

    def __init__(self, life: Lifecycle) -> None:
        self.life = life

    def run(self) -> None:
        life, cfg = self.life, self.life.config
        vad = SileroVad()
        pre_roll = np.zeros(0, np.float32)
        pre_roll_vad = np.zeros(0, np.float32)  # the same stretch as the VAD hears it
        keep = int(cfg.ptt_pre_roll_s * SAMPLE_RATE)
        pad = int(cfg.vad.speech_pad_s * SAMPLE_RATE)
        press: Press | None = None
        utterance_id = 0
        position = 0
        while True:
            item = life.channels.get(life.channels.audio)
            if isinstance(item, Stop):
                break
            if isinstance(item, PushToTalk):
                if item.pressed and press is not None and press.released_at is not None:
                    self._finish(press)  # pressed again before the tail was complete
                    press = None
                if item.pressed and press is None:
                    utterance_id += 1
                    vad.reset()
                    press = Press(utterance_id, position - len(pre_roll), [pre_roll], pad)
                    press.analyze(vad, pre_roll_vad, cfg.vad.threshold)
                    pre_roll = pre_roll_vad = np.zeros(0, np.float32)
                    life.begin(utterance_id, press.start / SAMPLE_RATE)
                elif not item.pressed and press is not None and press.released_at is None:
                    press.released_at, press.release_wall = position, item.at
                    if not press.speaking_at_release():
                        self._finish(press)
                        press = None
                        continue
                    # The key went up mid-word: keep a tail, and decode what there is while
                    # it arrives (the result stands if the tail is quiet).
                    press.waited_for_tail = True
                    if cfg.speculative:
                        life.speculate(press.segment(position), press.utterance_id, item.at)
                continue
            samples = item.samples
            position += len(samples)
            life.heard_audio(item)
            if press is None:
                if keep:
                    pre_roll = np.concatenate([pre_roll, samples])[-keep:]
                    pre_roll_vad = np.concatenate([pre_roll_vad, item.for_vad])[-keep:]
                continue
            press.add(samples)
            t0 = time.perf_counter()
            press.analyze(vad, item.for_vad, cfg.vad.threshold)
            life.meter.stage_seconds["vad"] += time.perf_counter() - t0
            if press.released_at is not None:
                if position - press.released_at >= int(cfg.ptt_tail_s * SAMPLE_RATE):
                    self._finish(press)
                    press = None
            elif cfg.speculative and press.paused(position, cfg.vad) and not life.is_behind(item):
                # Quiet while the key is still held: have the result ready for the release.
                end = min(press.end, press.last_speech_end + press.pad)
                life.speculate(press.segment(end), press.utterance_id, item.arrival)
            elif position - press.start >= int(cfg.vad.max_segment_s * SAMPLE_RATE):
                # Held past the maximum length: cut here and go on with a new utterance.
                press.released_at, press.release_wall = position, item.arrival
                self._finish(press)
                utterance_id += 1
                press = Press(utterance_id, position, [], pad)
                life.begin(utterance_id, position / SAMPLE_RATE)
            elif (
                cfg.partial_interval_s
                and press.due_partial(position, cfg.partial_interval_s)
                and not life.is_behind(item)
            ):
                life.partial(press.segment(position).audio, press.utterance_id, item.arrival)
        if press is not None:
            if press.released_at is None:
                press.released_at, press.release_wall = position, time.perf_counter()
            self._finish(press)

    def _finish(self, press: Press) -> None:
        assert press.released_at is not None
        life = self.life
        speech = press.speech_span(life.config.vad)
        if speech is None:  # an empty press, or a click
            life.discard(press.utterance_id, press.start / SAMPLE_RATE)
            return
        _first, last = speech
        if press.waited_for_tail and last <= press.released_at:
            end = press.released_at  # the tail was quiet: the speculative decode stands
        else:
            end = min(press.end, last + int(life.config.vad.speech_pad_s * SAMPLE_RATE))
        # In push-to-talk the release is the end of speech the user signals.
        speech_end_s = min(last, press.released_at) / SAMPLE_RATE
        life.finish(press.segment(end), press.utterance_id, speech_end_s, press.release_wall)
        life.ledger.end_partials(press.utterance_id)
