"""Files as sound devices, paced by a shared clock: demos, tests and benchmarks without hardware.

``FileCapture`` plays a recording into the capture queue as a microphone would, block by
block at the pace of the clock (real time, or faster with ``speed``), and places scripted
push-to-talk presses at exact positions. ``FilePlayback`` records what a speaker would play:
every tick it writes the queued speech or silence, so the output has the input's timeline.
An ``EchoPath`` can feed the output back into the input, as a loudspeaker next to the
microphone does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from ..asr.base import SAMPLE_RATE
from ..audio import AtomicWavWriter, audio_duration, iter_audio
from ..engine import PushToTalk
from ..errors import InputError
from .streams import CaptureQueue, PlaybackQueue

log = logging.getLogger(__name__)

FILE_BLOCK_S = 0.032  # one VAD frame per block
FILE_TICK_S = 0.02


class MediaClock:
    """Maps media time (seconds of input audio) to wall time; ``speed`` > 1 runs faster."""

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise InputError(f"speed must be positive, got {speed}", "use 1 for real time")
        self.speed = speed
        self._t0 = time.perf_counter()
        self.stopped = threading.Event()

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def now(self) -> float:
        return (time.perf_counter() - self._t0) * self.speed

    def wall_of(self, media_s: float) -> float:
        return self._t0 + media_s / self.speed

    def sleep_until(self, media_s: float) -> bool:
        """Wait for a media time; False if the clock was stopped meanwhile."""
        delay = self.wall_of(media_s) - time.perf_counter()
        if delay > 0:
            return not self.stopped.wait(delay)
        return not self.stopped.is_set()


@dataclass(frozen=True)
class Room:
    """A synthetic loudspeaker-to-microphone path: a direct sound after ``delay_s``, then a
    reverberant tail that decays by 60 dB in ``rt60_s``, plus the room's noise floor."""

    delay_s: float = 0.04
    rt60_s: float = 0.3
    noise_dbfs: float = -60.0
    seed: int = 0

    def impulse_response(self) -> np.ndarray:
        """Unit energy, so the echo is about as loud as what was played times the gain."""
        delay = int(round(self.delay_s * SAMPLE_RATE))
        if self.rt60_s <= 0:
            h = np.zeros(delay + 1)
            h[delay] = 1.0
            return h
        tail = int(self.rt60_s * SAMPLE_RATE)
        t = np.arange(1, tail + 1) / SAMPLE_RATE
        reverb = np.random.default_rng(self.seed).normal(0, 1, tail) * np.exp(
            -6.9 * t / self.rt60_s
        )
        # Direct and reverberant sound equally strong: a small device in a furnished room.
        reverb /= np.sqrt(np.sum(reverb**2))
        h = np.concatenate([np.zeros(delay), [1.0], reverb])
        return h / np.sqrt(np.sum(h**2))


class EchoPath:
    """What the speaker plays, heard again by the microphone (at 16 kHz, scaled by ``gain``).

    Without a ``Room`` the echo is the played sound itself, at once; with one it is convolved
    with the room's impulse response and the room's noise is added. The played sound is kept
    by media position (the playback starts at media time 0), so each capture block gets the
    echo of exactly its own stretch of time, whatever the threads' timing.
    """

    def __init__(self, gain: float, output_rate: int, room: Room | None = None) -> None:
        self.gain = gain
        self.room = room
        self._resampler = (
            None
            if output_rate == SAMPLE_RATE
            else soxr.ResampleStream(output_rate, SAMPLE_RATE, 1, "float32")
        )
        self._h = room.impulse_response() if room is not None else np.ones(1)
        self._spectra: dict[int, np.ndarray] = {}
        self._played = np.zeros(0, np.float32)  # the played sound from media sample _base on
        self._base = 0
        self._noise = np.random.default_rng(room.seed + 1 if room else 0)
        self._lock = threading.Lock()

    def feed(self, played: np.ndarray) -> None:
        at_16k = played if self._resampler is None else self._resampler.resample_chunk(played)
        with self._lock:
            self._played = np.concatenate([self._played, at_16k.astype(np.float32)])

    def take(self, position: int, count: int) -> np.ndarray:
        """The echo in media samples ``[position, position + count)`` (16 kHz)."""
        taps = len(self._h)
        start = position - taps + 1
        with self._lock:
            segment = np.zeros(taps - 1 + count, np.float32)
            lo, hi = max(start, self._base), min(position + count, self._base + len(self._played))
            if hi > lo:
                segment[lo - start : hi - start] = self._played[lo - self._base : hi - self._base]
            # Later blocks never look further back (and a base never passes what was fed).
            keep = min(max(0, start - self._base), len(self._played))
            self._played, self._base = self._played[keep:], self._base + keep
        if taps == 1:
            echo = segment * self._h[0]
        else:  # linear convolution by FFT: the last `count` samples are the valid part
            size = 1 << int(np.ceil(np.log2(len(segment))))
            if size not in self._spectra:
                self._spectra[size] = np.fft.rfft(self._h, size)
            full = np.fft.irfft(np.fft.rfft(segment, size) * self._spectra[size], size)
            echo = full[taps - 1 : taps - 1 + count]
        echo = echo.astype(np.float32) * self.gain
        if self.room is not None:
            noise = self._noise.normal(0, 10 ** (self.room.noise_dbfs / 20), count)
            echo += noise.astype(np.float32)
        return echo


def read_ptt_script(path: str | Path) -> list[tuple[float, float]]:
    """Press and release times (seconds into the input), one ``PRESS RELEASE`` pair a line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"push-to-talk script not found: {path}", "check the path")
    presses: list[tuple[float, float]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            press, release = (float(x) for x in text.replace(",", " ").split())
        except ValueError:
            raise InputError(
                f"{path}:{number}: expected two times in seconds, got {line.strip()!r}",
                "write one 'PRESS RELEASE' pair per line, e.g. '1.2 3.4'",
            ) from None
        if release <= press or press < 0:
            raise InputError(
                f"{path}:{number}: the release must come after the press",
                "write one 'PRESS RELEASE' pair per line, e.g. '1.2 3.4'",
            )
        presses.append((press, release))
    return _checked(presses, str(path))


def _checked(presses: list[tuple[float, float]], where: str) -> list[tuple[float, float]]:
    presses.sort()
    for (_a, release), (press, _b) in zip(presses, presses[1:], strict=False):
        if press < release:
            raise InputError(f"{where}: presses overlap at {press} s", "release before pressing")
    return presses


def ptt_script_from_speech(
    path: str | Path, lead_s: float = 0.2, lag_s: float = 0.1
) -> list[tuple[float, float]]:
    """Presses around each utterance the VAD finds: as a person would press and release."""
    from ..vad import VadConfig, VadSegmenter

    segmenter = VadSegmenter(VadConfig(min_silence_s=0.5, speech_pad_s=0.0))
    spans: list[tuple[float, float]] = []
    for block in iter_audio(path):
        spans += [(u.ended.start_s, u.ended.end_s) for u in segmenter.accept(block) if u.ended]
    tail = segmenter.flush()
    if tail is not None:
        spans.append((tail.start_s, tail.end_s))
    presses: list[tuple[float, float]] = []
    for start, end in spans:
        press = max(0.0, start - lead_s)
        if presses and press < presses[-1][1]:
            press = presses[-1][1] + 0.01
        presses.append((press, end + lag_s))
    return presses


class FileCapture:
    """A recording played into the capture queue at the clock's pace."""

    def __init__(
        self,
        path: str | Path,
        queue: CaptureQueue,
        clock: MediaClock,
        ptt_script: list[tuple[float, float]] | None = None,
        echo: EchoPath | None = None,
    ) -> None:
        self.path = Path(path)
        self.duration_s = audio_duration(self.path)  # a bad file fails here
        self.queue = queue
        self.clock = clock
        self.echo = echo
        self._marks = sorted(
            [(p, True) for p, _r in ptt_script or []] + [(r, False) for _p, r in ptt_script or []]
        )
        self._thread = threading.Thread(target=self._run, name="edge-file-capture", daemon=True)
        self.failure: BaseException | None = None
        # How a scripted press reaches the session (the controller replaces this).
        self.press: Callable[[bool, float], None] = lambda pressed, at: queue.push_control(
            PushToTalk(pressed, at)
        )

    def start(self) -> None:
        self._thread.start()

    def healthy(self, stall_s: float) -> bool:
        return self.failure is None

    def close(self) -> None:
        self.clock.stopped.set()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        try:
            self._play()
        except BaseException as exc:  # reported by the controller, which owns the session
            self.failure = exc
        finally:
            self.queue.close()

    def _play(self) -> None:
        block = int(FILE_BLOCK_S * SAMPLE_RATE)
        marks = deque(self._marks)
        position = 0
        pending = np.zeros(0, np.float32)
        for chunk in iter_audio(self.path):
            pending = np.concatenate([pending, chunk])
            while len(pending) >= block:
                if not self._push(pending[:block], position, marks):
                    return
                position += block
                pending = pending[block:]
        if len(pending) and not self._push(pending, position, marks):
            return
        position += len(pending)
        while marks:  # a release scripted after the end of the audio
            when, pressed = marks.popleft()
            self.press(pressed, self.clock.wall_of(when))

    def _push(self, samples: np.ndarray, position: int, marks: deque[tuple[float, bool]]) -> bool:
        end = position + len(samples)
        if not self.clock.sleep_until(end / SAMPLE_RATE):
            return False
        if self.echo is not None:
            samples = samples + self.echo.take(position, len(samples))
        cut = 0
        while marks and marks[0][0] * SAMPLE_RATE < end:
            when, pressed = marks.popleft()
            at = max(cut, int(when * SAMPLE_RATE) - position)
            if at > cut:
                wall = self.clock.wall_of((position + at) / SAMPLE_RATE)
                self.queue.push_audio(samples[cut:at], wall)
                cut = at
            self.press(pressed, self.clock.wall_of(when))
        if cut < len(samples):
            self.queue.push_audio(samples[cut:], self.clock.wall_of(end / SAMPLE_RATE))
        return True


class FilePlayback:
    """Records what would be played, with silence in between, at the clock's pace."""

    def __init__(
        self,
        path: str | Path,
        queue: PlaybackQueue,
        clock: MediaClock,
        rate: int,
        echo: EchoPath | None = None,
    ) -> None:
        self.path = Path(path)
        self.rate = rate
        self.queue = queue
        self.queue.sample_rate = rate
        self.clock = clock
        self.echo = echo
        self.failure: BaseException | None = None
        self._writer = AtomicWavWriter(self.path, rate)  # a bad directory fails here
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edge-file-playback", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def healthy(self, stall_s: float) -> bool:
        return self.failure is None

    def _run(self) -> None:
        frames = int(FILE_TICK_S * self.rate)
        written = 0
        try:
            while not self._stop.is_set():
                media_s = written / self.rate
                if not self.clock.sleep_until(media_s):
                    break  # the session is ending
                out = self.queue.render(frames, self.clock.wall_of(media_s))
                self._writer.write(out)
                if self.echo is not None:
                    self.echo.feed(out)
                written += frames
        except BaseException as exc:
            self.failure = exc

    def close(self, commit: bool = True) -> None:
        """Finish the file: it appears complete at its path, or (``commit=False``) not at all."""
        self._stop.set()
        self._thread.join(timeout=1.0)
        if commit and self.failure is None:
            self._writer.commit()
        else:
            self._writer.abort()
