"""The two queues between real-time audio callbacks and the engine.

``CaptureQueue``: the capture callback appends raw blocks without taking a lock (a deque
append is atomic) and never waits. Push-to-talk marks are recorded with the sequence
number of the next block, so the engine sees them exactly where they happened in the audio.
When the engine falls behind by more than the backlog limit, the oldest audio is dropped,
counted, and replaced by silence of the same length so the timeline stays true.

``PlaybackQueue``: the playback callback (or the file sink's clock) pulls rendered samples;
the controller appends speech per utterance. Barge-in drops every utterance up to an id
inside the next callback, so playback stops within one device buffer.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from ..asr.base import SAMPLE_RATE
from ..engine import AudioBlock, PushToTalk
from .aec import Cancelled

POLL_S = 0.005
REWIND_S = 0.5  # a paused phrase goes on from a gap between words at most this far back


class CaptureQueue:
    def __init__(self, max_backlog_s: float, block_s: float) -> None:
        self._capacity = max(4, int(max_backlog_s / block_s))
        self._audio: deque[tuple[int, object, float, bool]] = deque()
        self._controls: deque[tuple[int, PushToTalk]] = deque()
        self._next_seq = 0
        self._expected_seq = 0
        self._closed = False
        self._last_length = 0
        # Set by the capture device: raw block -> 16 kHz mono float32.
        self.converter: Callable[[object], np.ndarray] = lambda data: np.asarray(data, np.float32)
        # Set by the controller: True while the microphone must be muted (echo gate).
        self.gate: Callable[[float], bool] | None = None
        # Set by the controller in full duplex: (16 kHz block, wall) -> the block without the
        # echo, for the recognizer and for the VAD. It runs here, in the engine's thread,
        # never in the capture callback.
        self.processor: Callable[[np.ndarray, float], Cancelled] | None = None
        self.dropped_blocks = 0
        self.dropped_s = 0.0
        self.gated_s = 0.0
        self.position = 0  # 16 kHz samples handed to the engine
        self._timeline: deque[tuple[int, float]] = deque(maxlen=4096)  # (end position, wall)

    # --- producers ---------------------------------------------------------------------

    def push_audio(self, data: object, wall: float) -> None:
        """From the capture callback: never blocks, never allocates more than a tuple."""
        seq = self._next_seq
        gated = self.gate is not None and self.gate(wall)
        self._audio.append((seq, data, wall, gated))
        self._next_seq = seq + 1
        if len(self._audio) > self._capacity:
            try:
                self._audio.popleft()
                self.dropped_blocks += 1
            except IndexError:  # the reader took it meanwhile
                pass

    def push_control(self, control: PushToTalk) -> None:
        self._controls.append((self._next_seq, control))

    def close(self) -> None:
        """End of input (the file is over)."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    # --- consumer ------------------------------------------------------------------------

    def take(
        self, timeout: float, stop: threading.Event | None = None
    ) -> list[AudioBlock | PushToTalk] | None:
        """What arrived since the last call, in order; [] after ``timeout``; None at the end."""
        deadline = time.monotonic() + timeout
        while not self._audio and not self._controls:
            if self._closed:
                return None
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return []
            time.sleep(POLL_S)
        out: list[AudioBlock | PushToTalk] = []
        while True:
            try:
                seq, data, wall, gated = self._audio.popleft()
            except IndexError:
                break
            while self._controls and self._controls[0][0] <= seq:
                out.append(self._controls.popleft()[1])
            if seq > self._expected_seq:  # dropped while the engine was behind
                missing = (seq - self._expected_seq) * self._last_length
                self.dropped_s += missing / SAMPLE_RATE
                out.append(self._block(np.zeros(missing, np.float32), wall))
            self._expected_seq = seq + 1
            samples = self.converter(data)
            self._last_length = len(samples) or self._last_length
            detect = None
            if gated:
                self.gated_s += len(samples) / SAMPLE_RATE
                samples = np.zeros_like(samples)
            elif self.processor is not None:
                cancelled = self.processor(samples, wall)
                samples, detect = cancelled.heard, cancelled.detect
            out.append(self._block(samples, wall, detect))
        while self._controls and self._controls[0][0] <= self._next_seq:
            out.append(self._controls.popleft()[1])
        return out

    def _block(
        self, samples: np.ndarray, wall: float, detect: np.ndarray | None = None
    ) -> AudioBlock:
        self.position += len(samples)
        self._timeline.append((self.position, wall))
        return AudioBlock(samples, wall, detect)

    def wall_of(self, position_s: float) -> float | None:
        """When the sample at ``position_s`` of the engine's stream was captured."""
        target = int(position_s * SAMPLE_RATE)
        for end, wall in reversed(self._timeline):
            if end <= target:
                return wall + (target - end) / SAMPLE_RATE
        if self._timeline:
            end, wall = self._timeline[0]
            return wall - (end - target) / SAMPLE_RATE
        return None


SESSION_SOUND = 0  # the playback id of the session's own sounds (the ready sound)


class PlaybackQueue:
    def __init__(self) -> None:
        self.sample_rate = 0  # set by the sink that renders it
        self.output_latency_s = 0.0
        self.gain = 1.0
        self._chunks: deque[tuple[int, np.ndarray]] = deque()
        self._current: tuple[int, np.ndarray] | None = None
        self._offset = 0
        self._drop_through = -1  # nothing yet; id 0 is the session's own (SESSION_SOUND)
        self._last_started = 0
        self.started: deque[tuple[int, float]] = deque()  # (utterance id, wall of first sound)
        self.playing_id = 0  # utterance whose audio was rendered last
        self.audible_until = 0.0  # wall time when the last rendered sound leaves the speaker
        self.stopped_at: float | None = None  # wall time the last barge-in silenced the output
        # Set by the controller in full duplex: gets every rendered block (silence included)
        # with its wall time, the echo canceller's far-end reference. Must not block.
        self.monitor: Callable[[np.ndarray, float], None] | None = None
        self._held = False
        self._paused_at: int | None = None  # offset in the current chunk where a hold cut it
        self._resumed_from = 0  # offset of the current chunk its last resume started from
        self._restart = False  # release(from_start=True)

    def enqueue(self, utterance_id: int, samples: np.ndarray) -> None:
        """Speech of an utterance (ids from 1), or ``SESSION_SOUND``: any barge-in drops it."""
        if utterance_id > self._drop_through and len(samples):
            self._chunks.append((utterance_id, samples))

    def drop_through(self, utterance_id: int) -> None:
        """Barge-in: stop playing, and drop, everything of utterances up to this id."""
        self._drop_through = max(self._drop_through, utterance_id)

    def hold(self) -> None:
        """Fall silent within one callback, keeping what is queued; on ``release`` the
        interrupted chunk (a phrase) goes on from the quietest moment (a gap between words) in
        the ``REWIND_S`` before the cut, never before where it last went on: a pause, not a
        restart, so pauses over and over (AEC3 leaking the device's voice) cannot loop it."""
        self._held = True

    def release(self, from_start: bool = False) -> None:
        """Play on; ``from_start``: the interrupted phrase again from its start (after a hold
        of seconds, while the user went on talking)."""
        self._restart = from_start
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._chunks)

    @property
    def speaking(self) -> bool:
        """Whether an utterance's speech is playing or queued (not only the ready sound)."""
        current = self._current
        queued = list(self._chunks)  # one C call: the callback cannot change it meanwhile
        playing = [] if current is None else [current]
        return any(uid != SESSION_SOUND for uid, _s in [*playing, *queued])

    def render(self, frames: int, now: float) -> np.ndarray:
        """From the playback callback: the next ``frames`` samples, silence when idle."""
        out = np.zeros(frames, np.float32)
        filled = 0
        if self._current is not None and self._current[0] <= self._drop_through:
            self._current = None
            self.stopped_at = now
        if self._held:
            if self._current is not None and self._offset and self._paused_at is None:
                self._paused_at = self._offset
                self.stopped_at = now
            if self.monitor is not None:
                self.monitor(out, now)
            return out
        if self._paused_at is not None and self._current is not None:  # released
            if self._restart:
                self._offset = 0
            else:
                cut, floor = self._paused_at, self._resumed_from
                self._offset = _resume_point(self._current[1], cut, floor, self.sample_rate)
            self._resumed_from = self._offset
        self._paused_at = None
        while filled < frames:
            if self._current is None:
                try:
                    self._current = self._chunks.popleft()
                except IndexError:
                    break
                self._offset = self._resumed_from = 0
                if self._current[0] <= self._drop_through:
                    self._current = None
                    continue
                uid = self._current[0]
                if uid > self._last_started:
                    self._last_started = uid
                    start = now + filled / self.sample_rate + self.output_latency_s
                    self.started.append((uid, start))
            uid, samples = self._current
            take = min(frames - filled, len(samples) - self._offset)
            out[filled : filled + take] = samples[self._offset : self._offset + take]
            filled += take
            self._offset += take
            self.playing_id = uid
            if self._offset >= len(samples):
                self._current = None
        if filled:
            self.audible_until = now + filled / self.sample_rate + self.output_latency_s
            if self.gain != 1.0:
                out *= self.gain
        if self.monitor is not None:
            self.monitor(out, now)
        return out


def _resume_point(samples: np.ndarray, cut: int, floor: int, rate: int) -> int:
    """Where a phrase cut at ``cut`` goes on: the middle of its quietest 20 ms (a gap
    between words) in the ``REWIND_S`` before the cut, and not before ``floor``."""
    frame = max(1, rate // 50)
    start = max(floor, cut - int(REWIND_S * rate))
    frames = (cut - start) // frame
    if frames < 1:
        return cut
    power = np.mean(samples[start : start + frames * frame].reshape(frames, frame) ** 2, axis=1)
    latest = frames - 1 - int(np.argmin(power[::-1]))  # of a silent stretch, its end
    return start + latest * frame + frame // 2
