"""Conversation-like recordings with known speech spans, and the soak run over them.

A turn is one utterance followed by enough silence for the device to speak its translation
(half duplex mutes the microphone meanwhile), as in a real conversation. Used by the tests,
``tools/bench_live.py`` and the soak run (memory, threads and lost utterances over a long
session).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from ..asr.base import SAMPLE_RATE
from ..audio import resample
from ..engine import Stages
from ..events import Event, Transcript
from ..tts.base import Voice
from .config import LiveConfig
from .controller import LiveController
from .events import LiveStats, Playback


@dataclass
class Turn:
    start_s: float
    end_s: float  # true end of speech
    text: str


def speak(voice: Voice, text: str) -> np.ndarray:
    """``text`` spoken by ``voice`` at 16 kHz, without leading and trailing silence."""
    audio = resample(np.concatenate(list(voice.synthesize(text))), voice.sample_rate, SAMPLE_RATE)
    voiced = np.flatnonzero(np.abs(audio) > 0.02)
    return audio[voiced[0] : voiced[-1] + 1]


def conversation(
    voice: Voice,
    sentences: Sequence[str],
    *,
    reply_factor: float = 1.0,
    gap_s: float = 2.5,
    lead_s: float = 1.0,
    pauses: Sequence[float] = (),
) -> tuple[np.ndarray, list[Turn]]:
    """One turn per sentence: its speech, then silence for the reply (``reply_factor`` times
    the speech, plus ``gap_s``), plus ``pauses[i]`` more after turn i (idle periods)."""
    cache: dict[str, np.ndarray] = {}
    pieces = [np.zeros(int(lead_s * SAMPLE_RATE), np.float32)]
    position = len(pieces[0])
    turns: list[Turn] = []
    for index, text in enumerate(sentences):
        if text not in cache:
            cache[text] = speak(voice, text)
        speech = cache[text]
        silence = len(speech) * reply_factor + gap_s * SAMPLE_RATE
        if index < len(pauses):
            silence += pauses[index] * SAMPLE_RATE
        turns.append(Turn(position / SAMPLE_RATE, (position + len(speech)) / SAMPLE_RATE, text))
        pieces += [speech, np.zeros(int(silence), np.float32)]
        position += len(speech) + int(silence)
    return np.concatenate(pieces), turns


def write_wav(path: Path, audio: np.ndarray) -> Path:
    sf.write(path, audio, SAMPLE_RATE, subtype="PCM_16")
    return path


@dataclass
class SessionLog:
    """Everything a session emitted, with the wall time each event arrived."""

    events: list[tuple[float, Event]] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        self.events.append((time.perf_counter(), event))

    def of(self, kind: type) -> list:
        return [e for _t, e in self.events if isinstance(e, kind)]


def run_session(
    config: LiveConfig, load: Callable[[str, str], Stages], log: SessionLog | None = None
) -> tuple[SessionLog, LiveStats]:
    log = log or SessionLog()
    controller = LiveController(config, load, on_event=log)
    stats = controller.run()
    return log, stats


@dataclass
class SoakReport:
    media_s: float
    wall_s: float
    turns: int
    transcripts: int
    played: int
    lost: int
    lost_at_s: list[float]  # where the turns that were never transcribed start
    overruns: int
    gated_s: float
    rss_after_warmup_mb: float
    rss_peak_after_warmup_mb: float
    rss_growth_pct: float
    threads_before: int
    threads_during: int
    threads_after: int


def soak(
    config: LiveConfig,
    load: Callable[[str, str], Stages],
    turns: list[Turn],
    media_s: float,
    warmup_fraction: float = 0.1,
    sample_s: float = 0.5,
) -> SoakReport:
    """Run a session over a long recording; sample RSS and threads while it runs."""
    import psutil

    process = psutil.Process()
    threads_before = threading.active_count()
    samples: list[tuple[float, float, int]] = []  # (media-ish time, rss MB, threads)
    done = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not done.wait(sample_s):
            elapsed = (time.perf_counter() - started) * config.speed
            rss = process.memory_info().rss / 2**20
            samples.append((elapsed, rss, threading.active_count()))

    sampler = threading.Thread(target=sample, name="edge-soak-sampler", daemon=True)
    sampler.start()
    log, stats = run_session(config, load)
    done.set()
    sampler.join()
    deadline = time.monotonic() + 3.0
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    warm = [s for s in samples if s[0] >= warmup_fraction * media_s]
    rss_warm = warm[0][1] if warm else float("nan")
    rss_peak = max((s[1] for s in warm), default=float("nan"))
    transcripts = [e for e in log.of(Transcript) if e.text.strip()]
    lost_at = [
        t.start_s
        for t in turns
        if not any(t.start_s - 0.5 <= e.start_s <= t.end_s for e in transcripts)
    ]
    return SoakReport(
        media_s=media_s,
        wall_s=stats.wall_s,
        turns=len(turns),
        transcripts=len(transcripts),
        played=sum(1 for p in log.of(Playback) if not p.interrupted),
        lost=len(lost_at),
        lost_at_s=[round(x, 1) for x in lost_at],
        overruns=stats.overruns,
        gated_s=round(stats.gated_s, 1),
        rss_after_warmup_mb=round(rss_warm, 1),
        rss_peak_after_warmup_mb=round(rss_peak, 1),
        rss_growth_pct=round(100 * (rss_peak - rss_warm) / rss_warm, 2),
        threads_before=threads_before,
        threads_during=max((s[2] for s in samples), default=0),
        threads_after=threading.active_count(),
    )
