"""The live session: audio in and out, the engine, and the state machine that LEDs follow.

States (published as ``StateChanged``; the first that holds wins):

    error      a device failed; recovery is being attempted
    listening  push-to-talk is held, or (VAD mode) the user is speaking
    speaking   translated speech is playing
    thinking   an utterance has ended and its translation is not played yet
    idle       waiting for speech or a press

Echo: in full duplex (the default with a microphone, a speaker and the AEC, edge.live.aec)
the microphone stays open. The session starts with the ready sound (``aec.ready_sound``),
so the cancellers have learned the room before the first reply; every rendered block is
the echo canceller's far-end reference, fed in wall-time order before the capture that
holds its echo, and VAD, ASR and barge-in hear only the cancelled signal. In half duplex
(no AEC, or asked for) the microphone is muted while the device speaks and for
``echo_guard_s`` after, and translated speech waits while the user is talking, so the
device never hears (and re-translates) itself.

Barge-in: a push-to-talk press, or in full duplex speech onset, drops the speech of every
earlier utterance; the playback callback goes silent within one device buffer (20 ms).
Speech that starts within ``grace_s`` of an utterance's confirmed end is the same speaker
going on after a pause: it holds that translation (silent, kept), instead, until they pause
for longer than ``grace_s`` past a confirmed end (not into their next words).

Real time: the capture callback only appends to a lock-free queue. If processing falls
behind, partial re-decoding and speculation are skipped first (``EngineConfig.behind_s``);
audio is dropped only past ``max_backlog_s``, oldest first, and every lost block is counted
as an overrun in the closing ``live_stats`` event.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import soxr

from ..asr.base import SAMPLE_RATE
from ..audio import resample
from ..engine import OWN_VOICE, AudioBlock, Engine, PushToTalk, SpeechDiscarded, Stages
from ..errors import EdgeError
from ..events import (
    AudioOut,
    Event,
    SpeechEnded,
    SpeechStarted,
    StageError,
    StateChanged,
    UtteranceMetrics,
)
from ..languages import to_flores, to_iso639_1
from . import aec
from .config import ConfigError, LiveConfig
from .devices import CALLBACK_S, DeviceCapture, DeviceError, DevicePlayback, PortAudio
from .events import (
    ControllerSnapshot,
    LanguagePairChanged,
    Listener,
    Listeners,
    LiveStats,
    Playback,
    SessionStarted,
    VolumeChanged,
)
from .filedev import (
    FILE_BLOCK_S,
    EchoPath,
    FileCapture,
    FilePlayback,
    MediaClock,
    Room,
    ptt_script_from_speech,
    read_ptt_script,
)
from .pipeline import engine_config
from .streams import SESSION_SOUND, CaptureQueue, PlaybackQueue

log = logging.getLogger(__name__)

STATES = ("idle", "listening", "thinking", "speaking", "error")
SENTENCE_GAP_S = 0.15  # pause between the sentences of one translation
STALL_S = 2.0  # a device silent this long is considered gone
RETRY_S = 1.0  # how often a lost device is looked for
REFERENCE_WAIT_S = 0.1  # longest wait for the echo reference of a capture block
_ENGINE_DONE = object()


@dataclass
class _Utterance:
    """What the controller tracks of one utterance until its speech has been played."""

    speech_end_wall: float | None = None
    engine_done: bool = False  # the engine emitted its metrics: all its audio was handed over
    first_played: float | None = None
    interrupted: bool = False
    has_audio: bool = False
    last_sentence: int = -1


@dataclass
class _Counters:
    utterances: int = 0
    played: int = 0
    barge_ins: int = 0
    recoveries: int = 0
    first_played_ms: list[float] = field(default_factory=list)


class LiveController:
    """Runs a live session; also the ``Controller`` the firmware bridge drives."""

    def __init__(
        self,
        config: LiveConfig,
        load_stages: Callable[[str, str], Stages],
        on_event: Listener | None = None,
    ) -> None:
        config.validate()
        self.config = config
        self.duplex = resolve_duplex(config)
        self._load_stages = load_stages
        self._on_event = on_event
        self._lock = threading.RLock()
        self._listeners = Listeners(self._lock)
        self._source, self._target = to_flores(config.source), to_flores(config.target)
        self._state = "idle"
        self._volume = config.volume
        self._ptt_held = False
        self._in_speech = False
        self._fault: str | None = None
        self._max_uid = 0
        self._dropped_through = SESSION_SOUND - 1  # the ready sound can be barged in on
        self._utterances: dict[int, _Utterance] = {}
        self._deferred: list[tuple[int, np.ndarray]] = []
        self._counters = _Counters()
        self._inbox: queue.Queue[object] = queue.Queue()
        self._stopping = threading.Event()
        self._deadline: float | None = None  # perf_counter time --max-seconds ends the run
        self._swap_to: tuple[str, str] | None = None
        self._engine: Engine | None = None
        self._engine_thread: threading.Thread | None = None
        block_s = FILE_BLOCK_S if config.input_is_file else CALLBACK_S
        self._capture_q = CaptureQueue(config.max_backlog_s, block_s)
        self._playback_q = PlaybackQueue()
        self._playback_q.gain = _gain(self._volume)
        self._capture_q.gate = self._gate_closed
        self.aec: aec.EchoCanceller | None = None
        self._reference: deque[tuple[float, np.ndarray, int]] = deque(
            maxlen=int(config.max_backlog_s / 0.01) + 64  # 10 ms blocks or longer
        )
        self._reference_resampler: tuple[int, soxr.ResampleStream | None] | None = None
        self._reference_until = 0.0  # wall time of the newest rendered block
        self._confirmed_end_s: float | None = None  # where the last utterance's end was confirmed
        self._holding = False
        self._release_at: float | None = None  # wall time a hold ends unless speech goes on
        self._holds = 0
        self._hold_onset: int | None = None  # the utterance whose onset started the hold
        # Full duplex: the utterance whose onset over the device's voice paused the output;
        # its end (or discard as too short / not speech) drops the paused speech: a barge-in;
        # its discard as the device's own voice resumes it (AEC3 leaked the echo).
        self._barge_pending: int | None = None
        self._resumed = 0
        self._own_voice = 0
        if self.duplex == "full":
            self.aec = aec.EchoCanceller()
            self._playback_q.monitor = self._on_rendered
            self._capture_q.processor = self._cancel_echo
        self._host: PortAudio | None = None
        self._capture: DeviceCapture | FileCapture | None = None
        self._playback: DevicePlayback | FilePlayback | None = None
        self._clock = MediaClock(config.speed)
        self._stages = load_stages(self._source, self._target)
        self._last_health_check = 0.0

    # --- the Controller protocol (firmware bridge, terminal key, GPIO) -------------------

    def ptt_down(self) -> None:
        self._press(True, time.perf_counter())

    def ptt_up(self) -> None:
        self._press(False, time.perf_counter())

    def swap_languages(self) -> None:
        with self._lock:
            if self.config.two_way:
                # Both directions are live already; the order only changes what is shown.
                self._source, self._target = self._target, self._source
                self._publish(LanguagePairChanged(self.language_pair))
                return
            self._swap_to = (self._target, self._source)

    def set_language_pair(self, source: str, target: str) -> None:
        """Another pair (the kiosk screen's picker): its models load, as a swap's do, once
        the current utterances are finished; a pair that fails to load is an ``error``."""
        wanted = (to_flores(source), to_flores(target))
        with self._lock:
            if wanted == (self._source, self._target):
                return
            if self.config.two_way and wanted == (self._target, self._source):
                self.swap_languages()
                return
            self._swap_to = wanted

    def set_volume(self, level: int) -> None:
        with self._lock:
            level = max(0, min(100, int(level)))
            if level != self._volume:
                self._volume = level
                self._playback_q.gain = _gain(level)
                self._publish(VolumeChanged(level))

    def snapshot(self) -> ControllerSnapshot:
        with self._lock:
            return ControllerSnapshot(self._state, self.language_pair, self._volume)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.subscribe(listener)

    # --- public --------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def language_pair(self) -> str:
        return f"{_short(self._source)}>{_short(self._target)}"

    def stop(self) -> None:
        """End the session from any thread; ``run`` returns within a second."""
        self._stopping.set()

    def run(self) -> LiveStats:
        """Open the devices and run until the input ends, ``stop()`` or Ctrl-C."""
        started = time.perf_counter()
        self._open_io()
        commit = interrupted = False
        try:
            self._clock.start()
            assert self._capture is not None and self._playback is not None
            if self.aec is not None and self.config.ready_sound:
                rate = self._playback_q.sample_rate
                self._playback_q.enqueue(SESSION_SOUND, aec.ready_sound(rate))
            self._playback.start()
            self._capture.start()
            self._engine_thread = threading.Thread(
                target=self._engine_loop, name="edge-live-engine", daemon=True
            )
            self._engine_thread.start()
            self._deliver(
                SessionStarted(
                    self.config.mode,
                    self.language_pair,
                    _describe(self._capture),
                    _describe(self._playback),
                    self.duplex,
                )
            )
            limit = self.config.max_seconds
            self._deadline = None if limit is None else started + limit
            self._dispatch()
            commit = True
        except KeyboardInterrupt:
            commit = interrupted = True  # a clean stop: the recording so far is complete
        finally:
            self._shutdown(commit)
        stats = self._stats(time.perf_counter() - started)
        self._deliver(stats)
        if interrupted:
            raise KeyboardInterrupt
        return stats

    # --- input and output --------------------------------------------------------------

    def _open_io(self) -> None:
        cfg = self.config
        voice_rate = _voice_rate(self._stages)
        echo = None
        if cfg.output_is_file and cfg.simulate_echo:
            room = Room(cfg.room_delay_s, cfg.room_rt60_s)
            echo = EchoPath(cfg.simulate_echo, cfg.output_rate or voice_rate, room)
        try:
            self._playback = self._open_playback(voice_rate, echo)
            self._capture = self._open_capture(echo)
        except BaseException:
            self._shutdown(commit=False)
            raise
        self._set_echo_delay()

    def _set_echo_delay(self) -> None:
        """The AEC's hint: the devices' latencies (AEC3 finds the room's part itself)."""
        if self.aec is None:
            return
        latency = self._playback_q.output_latency_s
        latency += getattr(self._capture, "input_latency_s", 0.0)
        self.aec.set_delay_ms(latency * 1000)

    def _on_rendered(self, samples: np.ndarray, wall: float) -> None:
        """From the playback callback: keep the far-end reference (an append, no work)."""
        self._reference.append((wall, samples, self._playback_q.sample_rate))
        self._reference_until = wall

    def _cancel_echo(self, samples: np.ndarray, wall: float) -> aec.Cancelled:
        """In the engine's thread: the reference rendered before this capture block ended
        goes in first (render leads its echo), then the block comes out without the echo
        (for the recognizer, and for the VAD)."""
        assert self.aec is not None
        # A playback thread that is late must not let the echo reach the canceller before
        # its reference does (a device's output latency leaves room; a file's may not).
        deadline = time.perf_counter() + REFERENCE_WAIT_S
        while self._reference_until < wall and time.perf_counter() < deadline:
            if self._stopping.is_set() or wall - self._reference_until > 0.5:
                break  # the playback is not running (not started yet, or its device is gone)
            time.sleep(0.002)
        while self._reference and self._reference[0][0] < wall:
            played_at, played, rate = self._reference.popleft()
            if self._reference_resampler is None or self._reference_resampler[0] != rate:
                # Quick cubic: no look-ahead. HQ holds back its first 20+ ms, and a reference
                # that late lets a near echo reach the canceller first (measured: no
                # cancellation at 20 ms of room delay); QQ cancels as well as HQ.
                stream = (
                    None
                    if rate == SAMPLE_RATE
                    else soxr.ResampleStream(rate, SAMPLE_RATE, 1, "float32", quality="QQ")
                )
                self._reference_resampler = (rate, stream)
            stream = self._reference_resampler[1]
            reference = played if stream is None else stream.resample_chunk(played)
            self.aec.process_render(reference, played_at)
        return self.aec.process_capture(samples, wall)

    def _open_capture(self, echo: EchoPath | None) -> DeviceCapture | FileCapture:
        cfg = self.config
        if cfg.input_is_file:
            assert cfg.input is not None
            script = None
            if cfg.ptt_script == "auto":
                script = ptt_script_from_speech(cfg.input)
            elif cfg.ptt_script:
                script = read_ptt_script(cfg.ptt_script)
            capture = FileCapture(cfg.input, self._capture_q, self._clock, script, echo)
            capture.press = self._press
            return capture
        host = self._portaudio()
        device = host.resolve(cfg.input, "input")
        return DeviceCapture(host, device, self._capture_q, cfg.input_rate)

    def _open_playback(
        self, voice_rate: int, echo: EchoPath | None
    ) -> DevicePlayback | FilePlayback:
        cfg = self.config
        if cfg.output_is_file:
            assert cfg.output is not None
            rate = cfg.output_rate or voice_rate
            return FilePlayback(cfg.output, self._playback_q, self._clock, rate, echo)
        host = self._portaudio()
        device = host.resolve(cfg.output, "output")
        return DevicePlayback(host, device, self._playback_q, cfg.output_rate)

    def _portaudio(self) -> PortAudio:
        if self._host is None:
            self._host = PortAudio()
        return self._host

    def _close_io(self, commit: bool) -> None:
        if isinstance(self._playback, FilePlayback):
            self._playback.close(commit)
        elif self._playback is not None:
            self._playback.close()
        if self._capture is not None:
            self._capture.close()
        if self._host is not None:
            self._host.close()
            self._host = None

    def _shutdown(self, commit: bool) -> None:
        self._stopping.set()
        self._clock.stopped.set()
        if self._engine is not None:
            self._engine.stop()
        if self._engine_thread is not None:
            self._engine_thread.join(timeout=0.7)
        self._close_io(commit)

    def _check_devices(self) -> None:
        """Notice a device that went away, and bring the session back when it returns."""
        now = time.perf_counter()
        if now - self._last_health_check < 0.25:
            return
        self._last_health_check = now
        for part in (self._capture, self._playback):
            failure = getattr(part, "failure", None)
            if failure is not None:
                raise failure
        devices = [
            d
            for d in (self._capture, self._playback)
            if isinstance(d, (DeviceCapture, DevicePlayback))
        ]
        if not devices or all(d.healthy(STALL_S) for d in devices):
            return
        lost = next(d for d in devices if not d.healthy(STALL_S))
        kind = "microphone" if isinstance(lost, DeviceCapture) else "speaker"
        self._recover(f"the {kind} {lost.device.name!r} stopped delivering audio (unplugged?)")

    def _recover(self, problem: str) -> None:
        log.warning("%s; waiting for it to come back", problem)
        with self._lock:
            self._fault = problem
            self._barge_in(self._max_uid)
            self._refresh_state()
        self._deliver(StageError("device", f"{problem}; retrying every {RETRY_S:.0f} s"))
        for device in (self._capture, self._playback):
            if isinstance(device, (DeviceCapture, DevicePlayback)):
                device.close()
        if self._host is not None:
            self._host.close()
            self._host = None  # a fresh PortAudio session sees devices plugged in since
        while not self._stopping.wait(self._retry_wait()):
            if self._past_deadline():
                log.warning("--max-seconds reached while waiting for the devices")
                return
            try:
                if isinstance(self._playback, DevicePlayback):
                    self._playback = self._open_playback(_voice_rate(self._stages), None)
                if isinstance(self._capture, DeviceCapture):
                    self._capture = self._open_capture(None)
                self._playback.start()  # type: ignore[union-attr]
                self._capture.start()  # type: ignore[union-attr]
            except DeviceError as exc:
                log.info("still no device: %s", exc)
                if self._host is not None:
                    self._host.close()
                    self._host = None
                continue
            self._set_echo_delay()
            log.warning("audio devices are back")
            with self._lock:
                self._fault = None
                self._counters.recoveries += 1
                self._refresh_state()
            return

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.perf_counter() >= self._deadline

    def _retry_wait(self) -> float:
        """Seconds until the next try at the devices: RETRY_S, or less if --max-seconds ends
        the run sooner (an unattended run must end on time, devices or not)."""
        if self._deadline is None:
            return RETRY_S
        return max(0.0, min(RETRY_S, self._deadline - time.perf_counter()))

    # --- the engine ------------------------------------------------------------------------

    def _engine_loop(self) -> None:
        try:
            while True:
                engine = Engine(
                    self._stages,
                    engine_config(self.config, self._source, self._target),
                    echo=self.aec,
                )
                self._engine = engine
                for event in engine.run(self._source_items()):
                    self._inbox.put(event)
                if self._stopping.is_set() or not self._switch_direction():
                    break
        except BaseException as exc:  # raised again in the caller's thread
            self._inbox.put(exc)
        finally:
            self._inbox.put(_ENGINE_DONE)

    def _switch_direction(self) -> bool:
        """After a swap request drained the engine: load the other direction, go on."""
        with self._lock:
            wanted, self._swap_to = self._swap_to, None
        if wanted is None:
            return False
        try:
            self._stages = self._load_stages(*wanted)
        except EdgeError as exc:
            self._inbox.put(StageError("live", f"cannot swap languages: {exc}"))
            return True
        with self._lock:
            self._source, self._target = wanted
            self._publish(LanguagePairChanged(self.language_pair))
        return True

    def _source_items(self) -> Iterator[AudioBlock | PushToTalk]:
        while not self._stopping.is_set() and self._swap_to is None:
            items = self._capture_q.take(0.05, self._stopping)
            if items is None:
                return
            yield from items

    # --- dispatch --------------------------------------------------------------------------

    def _dispatch(self) -> None:
        engine_done = False
        while not self._stopping.is_set():
            try:
                item = self._inbox.get(timeout=0.02)
            except queue.Empty:
                item = None
            if item is _ENGINE_DONE:
                engine_done = True
            elif isinstance(item, BaseException):
                raise item
            elif isinstance(item, Event):
                self._on_engine_event(item)
            self._check_devices()
            with self._lock:
                self._check_release()
                self._advance_playback()
                self._refresh_state()
                drained = not self._playback_q.busy and not self._deferred
            if engine_done and drained and self._inbox.empty():
                return
            if self._past_deadline():
                return

    def _on_engine_event(self, event: Event) -> None:
        with self._lock:
            uid = getattr(event, "utterance_id", None)
            if isinstance(uid, int):
                self._max_uid = max(self._max_uid, uid)
            if isinstance(event, SpeechStarted):
                self._utterances.setdefault(event.utterance_id, _Utterance())
                if self.config.mode == "vad":
                    self._in_speech = True
                    if self.duplex == "full":
                        self._talked_over(event)
            elif isinstance(event, SpeechEnded):
                self._in_speech = self._in_speech and uid != self._max_uid  # (a newer one speaks)
                if self._barge_pending is not None:
                    self._confirm_barge_in()
                utterance = self._utterances.setdefault(event.utterance_id, _Utterance())
                utterance.speech_end_wall = self._capture_q.wall_of(event.end_s)
                self._confirmed_end_s = event.end_s + self.config.min_silence_s
                self._schedule_release()
                self._counters.utterances += 1
            elif isinstance(event, SpeechDiscarded):
                self._in_speech = self._in_speech and uid != self._max_uid
                if event.reason == OWN_VOICE:
                    self._own_voice += 1
                if self._barge_pending == event.utterance_id:
                    if event.reason == OWN_VOICE:
                        self._resume_after_false_onset()
                    else:  # a cough, a short word: a barge-in, as before the echo check
                        self._confirm_barge_in()
                elif event.reason == OWN_VOICE and self._hold_onset == uid == self._max_uid:
                    self._end_false_hold()  # (no one spoke since: then the hold stays)
                self._schedule_release()
                self._utterances.pop(event.utterance_id, None)
            elif isinstance(event, AudioOut):
                self._on_audio(event)
            elif isinstance(event, UtteranceMetrics):
                utterance = self._utterances.get(event.utterance_id)
                if utterance is not None:
                    utterance.engine_done = True
            self._advance_playback()
            self._refresh_state()
        self._deliver(event)

    def _on_audio(self, event: AudioOut) -> None:
        uid = event.utterance_id
        if uid <= self._dropped_through:
            return
        utterance = self._utterances.setdefault(uid, _Utterance())
        samples = resample(event.samples, event.sample_rate, self._playback_q.sample_rate)
        if utterance.has_audio and event.sentence_index != utterance.last_sentence:
            gap = np.zeros(int(SENTENCE_GAP_S * self._playback_q.sample_rate), np.float32)
            samples = np.concatenate([gap, samples])
        utterance.has_audio = True
        utterance.last_sentence = event.sentence_index
        self._deferred.append((uid, samples))

    def _talked_over(self, event: SpeechStarted) -> None:
        """Full duplex, speech onset: the speaker going on after a pause holds the pending
        translation; anyone speaking later over the device's voice barges in."""
        ended = self._confirmed_end_s
        pending = (
            self._playback_q.busy
            or bool(self._deferred)
            or bool(self._utterances_before(event.utterance_id))
        )
        if pending and ended is not None and event.start_s <= ended + self.config.grace_s:
            self._release_at = None  # they go on: hold until the next pause ends
            if not self._holding:
                self._holding = True
                self._hold_onset = event.utterance_id
                self._holds += 1
                self._playback_q.hold()
        else:
            self._release_hold()  # past the window (a late engine): nothing stays held
            if self._playback_q.busy and self._barge_pending is None:
                # Silent at once, dropped once the segment ends as speech (a barge-in
                # that must never come from the device's own voice: the echo check
                # judges the segment first).
                self._barge_pending = event.utterance_id
                self._playback_q.hold()

    def _confirm_barge_in(self) -> None:
        assert self._barge_pending is not None
        through, self._barge_pending = self._barge_pending - 1, None
        self._barge_in(through)
        if not self._holding:
            self._playback_q.release()  # only the newer utterances' speech is left

    def _resume_after_false_onset(self) -> None:
        self._barge_pending = None
        self._resumed += 1
        if not self._holding:
            self._playback_q.release()  # the paused phrase goes on (PlaybackQueue.hold)

    def _end_false_hold(self) -> None:
        """The onset that held the reply in the grace window was the device's own voice: the
        speaker did not go on, so the reply goes on now (from the gap it paused in), not when
        the window ends."""
        if self._holding:
            self._resumed += 1
        self._release_hold(from_start=False)

    def _utterances_before(self, uid: int) -> list[int]:
        return [u for u, t in self._utterances.items() if u < uid and not t.interrupted]

    def _schedule_release(self) -> None:
        """The held speaker paused: play again once the pause has outlasted the grace window
        (``grace_s`` past the confirmed end), not at once. A speaker who paused and went on
        once is likely to do so again; playing into the window would talk over their next
        words, and AEC3 attenuates the user while the device speaks (measured: their first
        60-100 ms by 40-60 dB, until the output falls silent), clipping those words."""
        if not self._holding or self._in_speech:
            return  # (someone speaks: their segment's end schedules it)
        wall = None
        if self._confirmed_end_s is not None:
            wall = self._capture_q.wall_of(self._confirmed_end_s)
        self._release_at = time.perf_counter() if wall is None else wall + self.config.grace_s
        self._check_release()

    def _check_release(self) -> None:
        if self._release_at is not None and time.perf_counter() >= self._release_at:
            self._release_hold()

    def _release_hold(self, from_start: bool = True) -> None:
        self._release_at = self._hold_onset = None
        if self._holding:
            self._holding = False
            if self._barge_pending is None:
                self._playback_q.release(from_start=from_start)

    def _may_play(self) -> bool:
        # Half duplex: the device does not talk over the user (nor hear itself doing so).
        if self._fault is not None:
            return False
        return self.duplex == "full" or not (self._ptt_held or self._in_speech)

    def _advance_playback(self) -> None:
        """Hand deferred speech to the speaker, and close utterances that were played."""
        if self._deferred and self._may_play():
            for uid, samples in self._deferred:
                self._playback_q.enqueue(uid, samples)
            self._deferred.clear()
        while self._playback_q.started:
            uid, wall = self._playback_q.started.popleft()
            utterance = self._utterances.get(uid)
            if utterance is not None and utterance.first_played is None:
                utterance.first_played = wall
        pending_ids = {uid for uid, _s in self._deferred}
        for uid in sorted(self._utterances):
            utterance = self._utterances[uid]
            if not utterance.engine_done or uid in pending_ids:
                continue
            playing = self._playback_q.busy and self._playback_q.playing_id <= uid
            if playing and not utterance.interrupted:
                continue
            del self._utterances[uid]
            if utterance.has_audio:
                self._finish_playback(uid, utterance)

    def _finish_playback(self, uid: int, utterance: _Utterance) -> None:
        latency = None
        if utterance.first_played is not None and utterance.speech_end_wall is not None:
            latency = max(0.0, (utterance.first_played - utterance.speech_end_wall) * 1000)
            self._counters.first_played_ms.append(round(latency, 1))
        if not utterance.interrupted:
            self._counters.played += 1
        self._deliver(Playback(uid, latency, utterance.interrupted))

    def _barge_in(self, through: int) -> None:
        """Drop the speech of utterances up to ``through``: playing, waiting or in the engine."""
        if through <= self._dropped_through:
            return
        cut = self._playback_q.busy or any(uid <= through for uid, _s in self._deferred)
        self._dropped_through = through
        self._playback_q.drop_through(through)
        self._deferred = [(uid, s) for uid, s in self._deferred if uid > through]
        if self._engine is not None:
            self._engine.cancel_output(through)
        for uid, utterance in self._utterances.items():
            if uid <= through:
                utterance.interrupted = True
                utterance.engine_done = True
        if cut:
            self._counters.barge_ins += 1

    def _press(self, pressed: bool, at: float) -> None:
        """A push-to-talk press or release, from a key, the bridge, or a script."""
        with self._lock:
            if pressed == self._ptt_held:
                return
            self._ptt_held = pressed
            if pressed and (self._playback_q.busy or self._deferred):
                self._barge_in(self._max_uid)
            if self.config.mode == "ptt":
                self._capture_q.push_control(PushToTalk(pressed, at))
            self._refresh_state()

    def _gate_closed(self, wall: float) -> bool:
        """Called by the capture callback: mute the microphone while the device speaks."""
        if self.duplex == "full" or self._ptt_held:
            return False
        if self.config.input_is_file and not self.config.simulate_echo:
            # A recording hears no speaker: muting it would only lose the user's speech.
            return False
        playback = self._playback_q
        return playback.busy or wall < playback.audible_until + self.config.echo_guard_s

    # --- state and events ---------------------------------------------------------------

    def _refresh_state(self) -> None:
        if self._fault is not None:
            state = "error"
        elif self._ptt_held or self._in_speech:
            state = "listening"
        elif self._playback_q.speaking:  # the ready sound is not: the LEDs stay idle
            state = "speaking"
        elif self._deferred or self._utterances_waiting():
            state = "thinking"
        else:
            state = "idle"
        if state != self._state:
            previous, self._state = self._state, state
            self._publish(StateChanged(state=state, previous=previous))

    def _utterances_waiting(self) -> bool:
        # Started and not yet played nor discarded: after a release, until its speech plays.
        return bool(self._utterances)

    def _publish(self, event: Event) -> None:
        """To the bridge's listeners (under the lock, so they see changes in order) and on."""
        self._listeners.publish(event)
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)

    def _stats(self, wall: float) -> LiveStats:
        capture = self._capture
        overflows = capture.overflows if isinstance(capture, DeviceCapture) else 0
        c = self._counters
        return LiveStats(
            wall_s=wall,
            utterances=c.utterances,
            played=c.played,
            barge_ins=c.barge_ins,
            overruns=self._capture_q.dropped_blocks + overflows,
            dropped_audio_s=self._capture_q.dropped_s,
            gated_s=self._capture_q.gated_s,
            device_recoveries=c.recoveries,
            first_played_ms=list(c.first_played_ms),
            holds=self._holds,
            aec_cpu_s=(
                round(self.aec.cpu_s + self.aec.refine_cpu_s, 3) if self.aec is not None else 0.0
            ),
            aec_linear_s=round(self.aec.linear_seconds, 2) if self.aec is not None else 0.0,
            aec_slips=self.aec.slips if self.aec is not None else 0,
            aec_linear_erle_db=(
                round(float(self.aec.linear_erle_db), 1)
                if self.aec is not None and self.aec.linear_erle_db is not None
                else None
            ),
            own_voice_segments=self._own_voice,
            refined_segments=self.aec.refined_segments if self.aec is not None else 0,
            resumed=self._resumed,
        )


def resolve_duplex(config: LiveConfig) -> str:
    """full or half: ``auto`` is full only with a microphone, a speaker and an AEC; ``full``
    without an AEC is an error (an open microphone would translate the device's own voice)."""
    if config.duplex == "half":
        return "half"
    reason = aec.unavailable_reason()
    if config.duplex == "full":
        if reason is not None:
            raise ConfigError(f"full duplex needs echo cancellation: {reason}", aec.INSTALL_HINT)
        return "full"
    devices = not config.input_is_file and not config.output_is_file
    return "full" if devices and reason is None else "half"


def _describe(part: DeviceCapture | DevicePlayback | FileCapture | FilePlayback) -> str:
    if isinstance(part, (FileCapture, FilePlayback)):
        return str(part.path)
    return f"{part.device.name} ({part.rate} Hz, {part.channels} ch)"


def _voice_rate(stages: Stages) -> int:
    voices = [v for v in (stages.tts, *stages.voices.values()) if v is not None]
    return voices[0].sample_rate if voices else 22050


def _gain(volume: int) -> float:
    # Loudness follows the square of the level closer than the level itself.
    return (volume / 100.0) ** 2


def _short(code: str) -> str:
    return (to_iso639_1(code) or code.split("_")[0]).upper()
