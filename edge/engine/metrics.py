"""Where the time goes: per-utterance timings and the run's summary.

Thread ownership (unchanged from the single-class engine; the GIL makes each ``+=`` on a
float or dict entry safe because only one thread ever writes it):

* ``stage_seconds``: one key per writer: "vad" and "asr" the listener, "mt" the
  translator, "tts" the speaker;
* ``audio_seconds``, ``speech_seconds``, ``utterances``: the listener;
* ``tts_audio_seconds``, ``latencies``, ``audio_until``: the speaker (the translator reads
  ``audio_until``; a barge-in resets it);
* the per-utterance timings table: any stage, under ``_lock`` (the listener creates and
  discards entries, the translator adds MT time, the speaker closes them). The fields of one
  ``UtteranceTiming`` are each written by one stage.

``summary`` reads it all once the threads have ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..events import Metrics, UtteranceMetrics
from ..hardware import peak_rss_mb


@dataclass
class UtteranceTiming:
    speech_end_wall: float
    asr_ms: float = 0.0
    mt_ms: float = 0.0
    tts_ms: float = 0.0
    tts_first_chunk_ms: float | None = None
    first_audio_wall: float | None = None
    # Set once the utterance's first audio is out, or it closed without any: work that can
    # wait (direct mode's source transcript) waits for it rather than slowing the reply.
    voiced: threading.Event = field(default_factory=threading.Event)


class Meter:
    def __init__(self) -> None:
        self.stage_seconds = {"vad": 0.0, "asr": 0.0, "mt": 0.0, "tts": 0.0}
        self.audio_seconds = 0.0
        self.speech_seconds = 0.0
        self.tts_audio_seconds = 0.0
        # Wall time the audio emitted so far would have played out, if played from its
        # emission in real time: the output's backlog, as the speaker sees it.
        self.audio_until = 0.0
        self.latencies: list[float] = []
        self.utterances = 0
        self._timings: dict[int, UtteranceTiming] = {}
        self._lock = threading.Lock()

    def timing(self, utterance_id: int) -> UtteranceTiming:
        """The utterance's timing, started now if it has none yet."""
        with self._lock:
            return self._timings.setdefault(utterance_id, UtteranceTiming(time.perf_counter()))

    def forget(self, utterance_id: int) -> None:
        with self._lock:
            self._timings.pop(utterance_id, None)

    def add_mt(self, utterance_ids: Iterable[int], seconds: float) -> None:
        """One MT decode of ``seconds``, counted in each of these utterances' timings."""
        self.stage_seconds["mt"] += seconds
        with self._lock:
            for utterance_id in utterance_ids:
                if utterance_id in self._timings:
                    self._timings[utterance_id].mt_ms += seconds * 1000

    def close(self, utterance_id: int) -> UtteranceMetrics | None:
        """The utterance is over: its metrics, once (None if closed before or discarded)."""
        with self._lock:
            timing = self._timings.pop(utterance_id, None)
        if timing is None:
            return None
        timing.voiced.set()
        latency = None
        if timing.first_audio_wall is not None:
            latency = max(0.0, (timing.first_audio_wall - timing.speech_end_wall) * 1000)
            self.latencies.append(latency)
        return UtteranceMetrics(
            utterance_id,
            latency,
            timing.asr_ms,
            timing.mt_ms,
            timing.tts_first_chunk_ms,
            timing.tts_ms,
        )

    def summary(self, wall: float) -> Metrics:
        stage_ms = {k: round(v * 1000, 1) for k, v in self.stage_seconds.items()}
        rtf = {}
        if self.audio_seconds:
            rtf["vad"] = self.stage_seconds["vad"] / self.audio_seconds
        if self.speech_seconds:
            rtf["asr"] = self.stage_seconds["asr"] / self.speech_seconds
        if self.tts_audio_seconds:
            rtf["tts"] = self.stage_seconds["tts"] / self.tts_audio_seconds
        return Metrics(
            audio_s=self.audio_seconds,
            wall_s=wall,
            utterances=self.utterances,
            stage_ms=stage_ms,
            real_time_factor={k: round(v, 4) for k, v in rtf.items()},
            end_of_speech_to_first_audio_ms=[round(x, 1) for x in self.latencies],
            peak_rss_mb=peak_rss_mb(),
        )
