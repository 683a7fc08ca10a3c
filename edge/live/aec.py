"""Acoustic echo cancellation for full duplex: WebRTC AEC3 for the VAD, a linear filter for
the recognizer.

The speaker's sound reaches the microphone again, delayed and smeared by the room. Two
cancellers learn that path from the far-end reference (what was played) and remove it from
the capture, each for the listener it suits:

* ``detect``: WebRTC's audio processing module (AEC3 + noise suppression + high-pass; the
  ``livekit`` wheel, Apache-2.0, manylinux x86_64 and aarch64: ``pip install
  'edge-translator[aec]'``). Its echo suppressor removes about 50 dB of echo, so the VAD and
  barge-in never hear the device's own voice; but during double talk it also takes 5-60 dB
  off the user's first syllables (measured; the module exposes no suppression level).
* ``heard``: speexdsp's linear filter (``speexdsp.LinearCanceller``). It only subtracts the
  echo it models (20-35 dB in the simulated rooms): the user's onset over the device's voice
  comes through whole, and the recognizer does not mind the quiet residue. Used once it has
  shown it cancels (``CONVERGED_DB`` on stretches of echo alone); until then, or without
  ``libspeexdsp``, ``heard`` is AEC3's signal too.

Neither is perfect early in a session: AEC3 can let a stretch of the device's voice through,
and the linear filter needs a second of echo to converge. A session starts with
``ready_sound`` for that (the controller plays it). So ``refine`` looks again at every
finished segment the device may have echoed into, with a batch fit of the echo path over it
(``echo_fit``): the device's own voice is discarded, the user's words get the echo fitted out.

Both streams are 16 kHz mono float32 here, cut into the 10 ms frames AEC3 takes. The capture
side is delayed by one frame (10 ms) so every call returns as many samples as it was given:
the engine's timeline stays exact. The linear filter needs the reference sample-aligned with
the capture (AEC3 finds the delay itself): both streams are counted from an anchor wall time,
so callback jitter does not move them, and re-anchored when they slip by more than ``SLIP_S``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..asr.base import SAMPLE_RATE
from . import echo_fit, speexdsp

FRAME = SAMPLE_RATE // 100  # 10 ms: the only frame length AEC3 accepts
ADDED_LATENCY_S = FRAME / SAMPLE_RATE
INSTALL_HINT = "pip install 'edge-translator[aec]' (the livekit wheel), or use --duplex half"
LINEAR_TAIL_S = 0.25  # echoes the linear filter covers, from LEAD_S before the expected delay
LEAD_S = 0.02  # the devices' reported latency may be this much too long
SLIP_S = 0.05  # a stream whose wall time drifts this far from its sample count is re-anchored
CATCH_UP_S = 1.0  # until it converges, the linear filter learns this much history again ...
CATCH_UP_EVERY_S = 0.25  # ... every this much echo
CATCH_UP_FOR_S = 3.0  # ... and through the first this much echo of a session (later replays
# measured worse: each jump back costs a little, 36 -> 16 dB after 10 s of them)
CONVERGED_DB = 10.0  # echo the linear filter must remove before the recognizer hears it
_ECHO_ALONE = 10 ** (30 / 10)  # AEC3 removed 30 dB of a frame: it was echo, not the user
_REFERENCE_KEEP = 5 * SAMPLE_RATE  # reference kept for the linear filter, at most
_EXPLAINED = 1.25  # a frame within 1 dB of the linear filter's echo estimate is echo alone
# Mean square (int16 units) of a reference frame that can make an audible echo (-50 dBFS).
_REFERENCE_FLOOR = 1e-5 * 32768.0**2
RECENT_S = 8.0  # microphone and aligned reference kept for ``refine``
REFINE_CONTEXT_S = 2.0  # audio before a segment that the batch fit learns the path on too
OWN_VOICE_S = 0.15  # a segment with less than this of anything but the device's echo in
# it (``echo_fit.user_seconds``) is the device's own voice
FIT_TRUSTED_DB = CONVERGED_DB  # the fit must remove this much of the echo to be used, on
FIT_CHECKED_S = 0.25  # at least this much of it (anywhere in its window)
READY_SOUND_S = 0.5  # measured: docs/live.md (The ready sound)


def unavailable_reason() -> str | None:
    """None when echo cancellation can run here, else why not (for errors and doctor)."""
    try:
        from livekit import rtc
    except ImportError as exc:
        return f"the livekit package is not installed ({exc})"
    except Exception as exc:  # a wheel whose native library does not load on this machine
        return f"the livekit package does not load: {exc}"
    if not hasattr(rtc, "AudioProcessingModule"):
        return "this livekit version has no AudioProcessingModule (needs livekit>=1.0)"
    return None


def available() -> bool:
    return unavailable_reason() is None


def ready_sound(rate: int) -> np.ndarray:
    """The sound a full-duplex session starts with: ``READY_SOUND_S`` of noise (a radio's
    squelch burst; the same every time), -10 dBFS peak, with 20/50 ms fades. Every frequency
    at once on purpose: AEC3 learns the room from it, so a user talking over the first reply
    loses less of their onset. Measured in ``docs/live.md`` (The ready sound), as the sweep
    and the tune of three notes it was chosen over (both left the first reply's echo leaking
    to the VAD: AEC3 had heard the room one frequency at a time)."""
    n = int(READY_SOUND_S * rate)
    t = np.arange(n) / rate
    noise = np.random.default_rng(0).standard_normal(n)
    fade = np.minimum(1.0, np.minimum(t / 0.02, (READY_SOUND_S - t) / 0.05))
    return (0.3 * noise / np.max(np.abs(noise)) * fade).astype(np.float32)


@dataclass(frozen=True)
class _Fit:
    """``EchoCanceller._fit``: the window it fitted the echo path on, and what it found."""

    mic: np.ndarray
    cleaned: np.ndarray  # the microphone with the fitted echo removed
    echoing: np.ndarray  # per sample: whether an echo of the device's sound can be in it
    segment: slice  # the samples asked about, within the window
    floor: float  # the residual's noise power (``echo_fit.noise_floor``)
    user_seconds: float  # of the segment: frames with something besides the echo


@dataclass(frozen=True)
class Cancelled:
    """One capture block without the echo, as each listener needs it (same length)."""

    heard: np.ndarray
    """For the recognizer: the user kept whole (the linear filter), or ``detect`` while the
    filter has not converged or is not installed."""
    detect: np.ndarray
    """For the VAD and barge-in: the echo suppressed (AEC3), the device's voice never in it.
    (Silencing it where the converged linear filter found echo alone was tried and dropped:
    a gate flickering near its threshold started onsets of its own, as one on AEC3's own
    attenuation did.)"""


class _Timeline:
    """Sample counts of one stream, anchored to wall time: a block's wall time only moves the
    anchor when it disagrees with the count by more than ``SLIP_S`` (a gap, or clock drift)."""

    def __init__(self) -> None:
        self.wall0: float | None = None  # wall time of sample 0
        self.count = 0
        self.slips = 0

    def place(self, start_wall: float | None, n: int) -> int:
        """Count ``n`` samples that started at ``start_wall``; returns the first's index."""
        if start_wall is not None:
            if self.wall0 is None:
                self.wall0 = start_wall
            elif abs(start_wall - (self.wall0 + self.count / SAMPLE_RATE)) > SLIP_S:
                self.wall0 = start_wall - self.count / SAMPLE_RATE
                self.slips += 1
        first = self.count
        self.count += n
        return first

    def wall(self, index: int) -> float:
        return (self.wall0 or 0.0) + index / SAMPLE_RATE


class EchoCanceller:
    """AEC3 (+ noise suppression, high-pass) and speexdsp's linear filter on 16 kHz mono
    float32, any block length.

    ``process_render`` takes what the speaker plays, ``process_capture`` returns the
    microphone signal without it (``Cancelled``). Render must be fed before the capture that
    holds its echo (the controller interleaves both by wall time). Without wall times both
    streams are taken as sample-synchronous. ``cpu_s`` counts the time spent in both, for the
    measurements.
    """

    def __init__(self, delay_ms: int = 0, noise_suppression: bool = True) -> None:
        from livekit import rtc

        self._rtc = rtc
        self._apm: Any = rtc.AudioProcessingModule(
            echo_cancellation=True, noise_suppression=noise_suppression, high_pass_filter=True
        )
        self._linear = (
            speexdsp.LinearCanceller(FRAME, LINEAR_TAIL_S)
            if speexdsp.unavailable_reason() is None
            else None
        )
        self._render_pending = np.zeros(0, np.int16)
        # One frame of zeros primes the capture side: output length == input length.
        self._out_heard = np.zeros(FRAME, np.float32)
        self._out_detect = np.zeros(FRAME, np.float32)
        self._capture_pending = np.zeros(0, np.int16)
        self._render_time = _Timeline()
        self._capture_time = _Timeline()
        # The newest rendered samples (the last one is render sample _render_time.count - 1).
        self._reference = np.zeros(0, np.int16)
        self._extra_lag = 0  # samples: see _aligned_reference
        self._echo_until = -1  # reference index after which no echo can come any more
        self.linear_erle_db: float | None = None  # on frames of echo alone, smoothed
        self._echo_power = self._left_power = 0.0
        self._low_frames = 0
        # (microphone, aligned reference) frames up to capture index _recent_end: the linear
        # filter's catch-up replays its tail, refine() all of it. Written by the capture
        # thread (which alone reads it unlocked), read by the listener's.
        self._recent: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=int(RECENT_S * 100))
        self._recent_end = 0
        self._lock = threading.Lock()
        self.refined_segments = 0  # heard through the batch fit (speculative previews too)
        self.refine_cpu_s = 0.0  # refine()'s time, on the listener thread
        self._echo_frames = 0  # frames whose reference could make an echo
        self.converged = False  # the recognizer hears the linear filter while echo may come
        self.delay_ms = 0
        self.set_delay_ms(delay_ms)
        self.cpu_s = 0.0
        self.frames = 0
        self.heard_linear_frames = 0

    @property
    def linear(self) -> bool:
        """Whether the linear filter runs (libspeexdsp is installed)."""
        return self._linear is not None

    @property
    def linear_seconds(self) -> float:
        """Audio the recognizer heard through the linear filter."""
        return self.heard_linear_frames * FRAME / SAMPLE_RATE

    @property
    def slips(self) -> int:
        return self._render_time.slips + self._capture_time.slips

    def set_delay_ms(self, delay_ms: float) -> None:
        """The expected delay from playing a frame to capturing its echo: a hint for AEC3
        (it estimates the true delay itself), the delay line for the linear filter."""
        self.delay_ms = max(0, min(500, int(round(delay_ms))))
        self._apm.set_stream_delay_ms(self.delay_ms)

    def process_render(self, samples: np.ndarray, wall: float | None = None) -> None:
        """The far-end reference: 16 kHz mono, as played (silence included); ``wall`` is
        when its first sample was played."""
        started = time.perf_counter()
        pcm = _to_int16(samples)
        first = self._render_time.place(wall, len(pcm))
        if self._linear is not None:
            loud = np.flatnonzero(
                [_power(pcm[i : i + FRAME]) > _REFERENCE_FLOOR for i in range(0, len(pcm), FRAME)]
            )
            if len(loud):  # echo of this block may come until the filter's reach past its end
                last = first + min(len(pcm), (int(loud[-1]) + 1) * FRAME)
                self._echo_until = last + int((LINEAR_TAIL_S + LEAD_S) * SAMPLE_RATE)
        # Bounded: a capture that stops being processed must not make this grow.
        self._reference = np.concatenate([self._reference, pcm])[-_REFERENCE_KEEP:]
        pending = np.concatenate([self._render_pending, pcm])
        whole = len(pending) - len(pending) % FRAME
        for i in range(0, whole, FRAME):
            self._apm.process_reverse_stream(self._frame(pending[i : i + FRAME]))
        self._render_pending = pending[whole:]
        self.cpu_s += time.perf_counter() - started

    def process_capture(self, samples: np.ndarray, wall: float | None = None) -> Cancelled:
        """The microphone block without the echo, as many samples, 10 ms later; ``wall`` is
        when its last sample was captured."""
        started = time.perf_counter()
        pcm = _to_int16(samples)
        start_wall = None if wall is None else wall - len(pcm) / SAMPLE_RATE
        first = self._capture_time.place(start_wall, len(pcm)) - len(self._capture_pending)
        pending = np.concatenate([self._capture_pending, pcm])
        whole = len(pending) - len(pending) % FRAME
        heard, detect = [], []
        for i in range(0, whole, FRAME):
            mic = pending[i : i + FRAME]
            frame = self._frame(mic)
            self._apm.set_stream_delay_ms(self.delay_ms)  # required before every frame
            self._apm.process_stream(frame)
            suppressed = np.frombuffer(frame.data, np.int16)
            detect_frame = suppressed.astype(np.float32)
            reference = self._aligned_reference(first + i)
            with self._lock:
                self._recent.append((mic, reference))
                self._recent_end = first + i + FRAME
            if self._linear is None:
                heard_frame = detect_frame
            else:
                heard_frame = self._with_linear(mic, suppressed, reference, first + i)
            heard.append(heard_frame / 32768.0)
            detect.append(detect_frame / 32768.0)
            self.frames += 1
        self._capture_pending = pending[whole:]
        n = len(samples)
        out_heard = np.concatenate([self._out_heard, *heard])
        out_detect = np.concatenate([self._out_detect, *detect])
        result = Cancelled(out_heard[:n], out_detect[:n])
        self._out_heard, self._out_detect = out_heard[n:], out_detect[n:]
        self.cpu_s += time.perf_counter() - started
        return result

    def refine(self, start_wall: float, end_wall: float, audio: np.ndarray) -> np.ndarray | None:
        """A finished segment for the recognizer (``edge.engine.EchoCheck``): None when the
        device's own voice explains it (``OWN_VOICE_S``: AEC3 let a stretch of echo through
        and the VAD took it for speech); the batch fit's residual when the device played
        during it and the fit removes its echo (``edge.live.echo_fit``: the user's words over
        a reply neither live canceller has learned yet); else ``audio`` unchanged.

        ``start_wall``/``end_wall``: when the segment's first and (after its) last sample
        came out of ``process_capture``, as the capture blocks' wall times count.
        """
        started = time.perf_counter()
        try:
            return self._refine(end_wall, audio)
        finally:
            self.refine_cpu_s += time.perf_counter() - started

    def own_voice(self, start_wall: float, end_wall: float) -> bool:
        """Whether the device's own voice explains what the microphone caught between these
        wall times (``edge.engine.EchoCheck``): an onset the VAD closed as too short is a
        leak of the echo, or the user (a short word, or a turn AEC3 crushed in double talk:
        the window reaches past the onset for that)."""
        started = time.perf_counter()
        try:
            n = int(round((end_wall - start_wall) * SAMPLE_RATE))
            fit = self._fit(end_wall, n)
            return fit is not None and fit.user_seconds < OWN_VOICE_S
        finally:
            self.refine_cpu_s += time.perf_counter() - started

    def _refine(self, end_wall: float, audio: np.ndarray) -> np.ndarray | None:
        fit = self._fit(end_wall, len(audio))
        if fit is None:
            return audio
        if fit.user_seconds < OWN_VOICE_S:
            return None
        # Trusted where it shows it removes the device's voice (it cannot explain the user's);
        # a path it cannot follow leaves the live cancellers' signal.
        shown = echo_fit.explained_seconds(
            fit.mic, fit.cleaned, fit.echoing, FIT_TRUSTED_DB, fit.floor
        )
        if shown < FIT_CHECKED_S:
            return audio
        self.refined_segments += 1
        return fit.cleaned[fit.segment].astype(np.float32)

    def _fit(self, end_wall: float, n: int) -> _Fit | None:
        """The batch fit of the echo path over the ``n`` samples captured up to ``end_wall``
        and ``REFINE_CONTEXT_S`` before them; None when the device was silent through them,
        or they are not (all) kept."""
        with self._lock:
            frames = list(self._recent)
            recent_end = self._recent_end
        wall0 = self._capture_time.wall0
        if wall0 is None or not frames or n <= 0:
            return None
        # The output runs one frame behind the microphone (see process_capture).
        end = int(round((end_wall - wall0) * SAMPLE_RATE)) - FRAME
        start = end - n
        kept_from = recent_end - len(frames) * FRAME
        if start < kept_from or end > recent_end:
            return None  # longer than what is kept, or not captured here
        window = max(0, start - kept_from - int(REFINE_CONTEXT_S * SAMPLE_RATE))  # in the ring
        # Only the frames from the one holding the window's first sample (the ring keeps 8 s).
        first = window // FRAME
        taken_from = kept_from + first * FRAME  # capture index of the first sample taken
        taken = list(itertools.islice(frames, first, None))
        mic = np.concatenate([f[0] for f in taken]).astype(np.float32) / 32768.0
        reference = np.concatenate([f[1] for f in taken]).astype(np.float32) / 32768.0
        reach = int(LINEAR_TAIL_S * SAMPLE_RATE)  # the echo of a sound lasts this long
        played = _loud_samples(reference)
        if not played[max(0, start - taken_from - reach) : end - taken_from].any():
            return None  # the device was silent: nothing of it can be in the segment
        lo = window - first * FRAME
        cleaned = echo_fit.remove_echo(mic[lo:], reference[lo:])
        if cleaned is None:
            return None
        seg = slice(start - taken_from - lo, end - taken_from - lo)
        floor = echo_fit.noise_floor(cleaned)
        heard = echo_fit.user_seconds(mic[lo:][seg], cleaned[seg], floor)
        echoing = np.convolve(played[lo:], np.ones(reach))[: len(cleaned)] > 0  # causal
        return _Fit(mic[lo:], cleaned, echoing, seg, floor, heard)

    def _with_linear(
        self, mic: np.ndarray, suppressed: np.ndarray, reference: np.ndarray, index: int
    ) -> np.ndarray:
        """The frame for the recognizer: the linear filter's, once it has shown it cancels."""
        assert self._linear is not None
        echo_possible = self._reference_index(index) <= self._echo_until
        linear = self._linear.cancel(mic, reference)
        mic_power = _power(mic)
        if _power(reference) > _REFERENCE_FLOOR:
            self._catch_up()
            left_power = _power(linear)
            # Echo alone: AEC3 removed nearly all of the frame, and the linear filter's echo
            # estimate explains it (with the user speaking too it does not, so double talk,
            # which AEC3 crushes as well, does not count against the filter).
            if (
                mic_power > 0
                and _power(suppressed) * _ECHO_ALONE < mic_power
                and mic_power <= _EXPLAINED * _power(mic.astype(np.float64) - linear)
            ):
                self._track_convergence(mic_power, left_power)
        if echo_possible and not self.converged:
            return suppressed.astype(np.float32)
        self.heard_linear_frames += 1
        return linear.astype(np.float32)

    def _catch_up(self) -> None:
        """For its first ``CATCH_UP_FOR_S`` of echo, and whenever it has not converged, every
        ``CATCH_UP_EVERY_S`` of echo the filter learns the last ``CATCH_UP_S`` again (outputs
        discarded; the replay ends at the present, so its state lines up with the live stream
        again). The first reply's echo is all it has heard when the user first speaks over
        it; measured: 11-15 dB after 0.75-1 s of echo instead of 2-5 dB, and 20-30 dB later
        instead of 15-20, for about 4 ms of CPU per replay."""
        assert self._linear is not None
        self._echo_frames += 1
        learning = not self.converged or self._echo_frames < CATCH_UP_FOR_S * 100
        if not learning or self._echo_frames % int(CATCH_UP_EVERY_S * 100):
            return
        replay = int(CATCH_UP_S * 100)
        for mic, reference in itertools.islice(
            self._recent, max(0, len(self._recent) - replay), None
        ):
            self._linear.cancel(mic, reference)

    def _track_convergence(self, mic_power: float, left_power: float) -> None:
        """Powers smoothed over about 200 ms of echo alone, then their ratio (loud frames
        count for more than the quiet ends of words). Converged at ``CONVERGED_DB``; lost only
        after a second below it by 3 dB (a filter re-learning a changed room)."""
        self._echo_power = 0.95 * self._echo_power + 0.05 * mic_power
        self._left_power = 0.95 * self._left_power + 0.05 * left_power
        self.linear_erle_db = 10 * np.log10(self._echo_power / max(self._left_power, 1e-3))
        if self.linear_erle_db >= CONVERGED_DB:
            self.converged, self._low_frames = True, 0
        elif self.linear_erle_db < CONVERGED_DB - 3:
            self._low_frames += 1
            if self._low_frames >= 100:
                self.converged = False

    def _reference_index(self, capture_index: int) -> int:
        """The reference sample played when capture sample ``capture_index`` was taken, less
        the devices' latency (the echo comes that much later) and ``LEAD_S``."""
        lag = max(0.0, self.delay_ms / 1000 - LEAD_S)
        if self._capture_time.wall0 is None or self._render_time.wall0 is None:
            index = capture_index - int(round(lag * SAMPLE_RATE))  # sample-synchronous
        else:
            wall = self._capture_time.wall(capture_index) - lag
            index = int(round((wall - self._render_time.wall0) * SAMPLE_RATE))
        return index - self._extra_lag

    def _aligned_reference(self, capture_index: int) -> np.ndarray:
        start = self._reference_index(capture_index)
        rendered = self._render_time.count
        kept_from = rendered - len(self._reference)  # render index of _reference[0]
        short = start + FRAME - rendered
        if 0 < short < SLIP_S * SAMPLE_RATE and rendered:
            # The mapping asks for reference not played yet (the anchors' jitter): look that
            # much further back from now on. Zeros instead would teach the filter a wrong echo.
            self._extra_lag += short
            start -= short
        out = np.zeros(FRAME, np.int16)
        lo, hi = max(start, kept_from), min(start + FRAME, rendered)
        if hi > lo:
            out[lo - start : hi - start] = self._reference[lo - kept_from : hi - kept_from]
        # Later frames never need what came before this one.
        self._reference = self._reference[min(max(0, start - kept_from), len(self._reference)) :]
        return out

    def _frame(self, samples: np.ndarray) -> Any:
        return self._rtc.AudioFrame(bytearray(samples.tobytes()), SAMPLE_RATE, 1, FRAME)


def _power(pcm: np.ndarray) -> float:
    return float(np.mean(pcm.astype(np.float64) ** 2))


def _to_int16(samples: np.ndarray) -> np.ndarray:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


def _loud_samples(reference: np.ndarray) -> np.ndarray:
    """Per sample: whether its 10 ms frame of reference could make an audible echo."""
    frames = len(reference) // FRAME
    power = np.mean(reference[: frames * FRAME].reshape(frames, FRAME) ** 2, axis=1)
    loud = np.repeat(power * 32768.0**2 > _REFERENCE_FLOOR, FRAME)
    return np.concatenate([loud, np.zeros(len(reference) - len(loud), bool)])
