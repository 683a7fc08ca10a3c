"""`edge bench`'s measuring code, on a fake pipeline whose stages sleep for known times.

The recording is real speech (samples/en_station.flac, three sentences) so the shipped
Silero VAD cuts it as it cuts the benchmark's input; the recognizer, translator and voice
are stand-ins that sleep. So every latency the bench reports is known in advance: the VAD's
confirmation (computed here from the same VAD, block by block) plus the sleeps.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edge import bench
from edge.asr.base import SAMPLE_RATE, Recognition
from edge.engine import Stages
from edge.live.filedev import FILE_TICK_S
from edge.text import split_sentences
from edge.vad import VadConfig, VadSegmenter

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "en_station.flac"
TEXTS = [
    "Good morning.",
    "Where is the train station?",
    "I would like to buy a ticket to Lisbon, please.",
]
# A second sentence after each transcript: every turn is a two-sentence one.
SECOND = "Then we can talk."
ASR_S, MT_S, TTS_S = 0.06, 0.05, 0.08  # per call; MT and TTS per sentence
TOLERANCE_MS = 5.0


class SleepyASR:
    """Knows what each segment says (the true text nearest its duration) after ``ASR_S``;
    hears nothing in the ``drop``ped one."""

    languages = ("eng_Latn",)

    def __init__(self, truth: list[bench.Utterance], drop: str = "") -> None:
        self._truth = truth
        self._drop = drop

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Recognition:
        time.sleep(ASR_S)
        seconds = len(audio) / SAMPLE_RATE
        said = min(self._truth, key=lambda u: abs(u.end_s - u.start_s - seconds))
        if self._drop and said.text == self._drop:
            return Recognition(text="", lang="eng_Latn")
        return Recognition(text=f"{said.text} {SECOND}", lang="eng_Latn")


class SleepyMT:
    languages = ("eng_Latn", "spa_Latn")

    def supports(self, source: str, target: str) -> bool:
        return True

    def translate(self, sentences: list[str], source: str, target: str) -> list[str]:
        time.sleep(MT_S * len(sentences))
        return list(sentences)


class SleepyVoice:
    """One chunk per sentence, each ``TTS_S`` after the last."""

    sample_rate = 16000
    language = "spa_Latn"

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for _sentence in split_sentences(text):
            time.sleep(TTS_S)
            yield np.full(1600, 0.1, np.float32)


def _setup(drop: str = "") -> tuple[Stages, np.ndarray, list[bench.Utterance]]:
    audio, truth = bench.sample_recording(SAMPLE, 1, TEXTS)
    assert [u.text for u in truth] == TEXTS
    stages = Stages(segment_asr=SleepyASR(truth, drop), mt=SleepyMT(), tts=SleepyVoice())  # type: ignore[arg-type]
    return stages, audio, truth


def _confirm_lag_ms(audio: np.ndarray, truth: list[bench.Utterance]) -> list[float]:
    """True end -> the block on which the VAD confirms the end, per true utterance."""
    vad = VadSegmenter(VadConfig())
    lags = []
    for offset in range(0, len(audio), 512):
        for update in vad.accept(audio[offset : offset + 512]):
            if update.ended is not None:
                u = min(truth, key=lambda u: abs(u.end_s - update.ended.end_s))
                lags.append(((offset + 512) / SAMPLE_RATE - u.end_s) * 1000)
    assert len(lags) == len(truth)
    return lags


def _median_error(measured: list[float], lags: list[float], work_s: float) -> float:
    return statistics.median(m - lag - work_s * 1000 for m, lag in zip(measured, lags, strict=True))


def test_reports_known_delays_within_5_ms() -> None:
    stages, audio, truth = _setup()
    lags = _confirm_lag_ms(audio, truth)
    base = bench.measure_baselines(
        stages, audio, truth, "eng_Latn", "spa_Latn", VadSegmenter(VadConfig())
    )
    # Naive: ASR, MT of both sentences, TTS of both. Sentence-streaming: ASR, MT and TTS of
    # the first sentence.
    assert (
        abs(_median_error(base.naive_ready_ms, lags, ASR_S + 2 * MT_S + 2 * TTS_S)) < TOLERANCE_MS
    )
    first = ASR_S + MT_S + TTS_S
    assert abs(_median_error(base.streaming_ready_ms, lags, first)) < TOLERANCE_MS
    # Both play through a sink ticking every FILE_TICK_S: never earlier, at most a tick later.
    for ready, sound in zip(base.streaming_ready_ms, base.streaming_ms, strict=True):
        assert ready - 1e-6 <= sound <= ready + FILE_TICK_S * 1000 + 1e-6
    # The engine without speculation does the same work after the confirmation, through its
    # threads and queues, fed in real time: the paced measurement reports the same delays.
    run = bench.measure_paced(stages, audio, truth, "eng_Latn", "spa_Latn", speculative=False)
    assert run.spoken == len(truth)
    assert abs(_median_error(run.event_latency_ms, lags, first)) < TOLERANCE_MS
    # The first sample reaches the sink after the event, within a tick (and thread wake-up).
    assert all(0 <= d <= FILE_TICK_S * 1000 + TOLERANCE_MS for d in run.sink_delay_ms)
    assert len(run.sink_delay_ms) == len(truth)


def test_dropped_utterance_is_a_miss_and_baselines_are_ordered() -> None:
    stages, audio, truth = _setup(drop=TEXTS[0])  # the first utterance gets no audio
    run = bench.measure_paced(stages, audio, truth, "eng_Latn", "spa_Latn")
    base = bench.measure_baselines(
        stages, audio, truth, "eng_Latn", "spa_Latn", VadSegmenter(VadConfig())
    )
    for latencies in (run.latency_ms, base.naive_ms, base.streaming_ms):
        assert latencies[0] == bench.MISS and all(x != bench.MISS for x in latencies[1:])
    assert run.spoken == 2
    # Two-sentence turns: naive pays for both sentences, sentence-streaming for the first,
    # the engine (speculating at the pause) for less than that.
    for engine, streaming, naive in zip(
        run.latency_ms[1:], base.streaming_ms[1:], base.naive_ms[1:], strict=True
    ):
        assert naive >= streaming + (MT_S + TTS_S) * 1000 - FILE_TICK_S * 1000
        assert streaming >= engine
    result = bench.ConfigResult(
        config="fake",
        models={},
        utterances=len(truth),
        latency_ms=run.latency_ms,
        naive_latency_ms=base.naive_ms,
        stream_latency_ms=base.streaming_ms,
        stage_ms={},
        real_time_factor={},
        peak_rss_mb=0.0,
    )
    row = bench.markdown_table([result]).splitlines()[-1]
    assert row.startswith("| fake | 2/3 | ")
    assert result.p95 == bench.MISS or result.p95 > result.p50  # a miss is the slowest


def test_audio_for_the_wrong_text_is_a_miss() -> None:
    truth = [bench.Utterance(0.0, 1.0, "Where is the train station?")]
    right = bench.Heard(0.0, 1.05, "where is the train station", 10.0, 10.01)
    wrong = bench.Heard(0.0, 1.05, "completely different words", 10.0, 10.01)
    assert bench.latencies_ms(truth, [right], 9.0) == [pytest.approx(10.0)]
    assert bench.latencies_ms(truth, [wrong], 9.0) == [bench.MISS]
    assert bench.latencies_ms(truth, [], 9.0) == [bench.MISS]
    # An utterance the VAD cut in two: timed from the part that holds the end, checked on both.
    parts = [
        bench.Heard(0.0, 0.4, "where is the", 9.6, 9.6),
        bench.Heard(0.5, 1.05, "train station", 10.2, 10.2),
    ]
    assert bench.latencies_ms(truth, parts, 9.0) == [pytest.approx(200.0)]


def test_percentiles_count_misses_as_infinite() -> None:
    assert bench.percentile([100.0, 200.0, 300.0, bench.MISS], 50) == 250.0
    assert bench.percentile([100.0, 200.0, bench.MISS, bench.MISS], 50) == bench.MISS
    assert bench.percentile([100.0] * 19 + [bench.MISS], 95) == bench.MISS
    assert bench.percentile([100.0] * 20 + [bench.MISS], 90) == 100.0
    assert np.isnan(bench.percentile([], 50))
    assert bench.percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(
        np.percentile([1, 2, 3, 4], 90)
    )
    assert bench._ms(bench.MISS) == "miss" and bench._ratio(bench.MISS, 400.0) == "inf"


def test_schedule_queues_replies_behind_the_worker_and_the_sink() -> None:
    def span(start: float, end: float) -> SimpleNamespace:
        return SimpleNamespace(start_s=start, end_s=end)

    replies = [
        # Two sentences: 3 s and 2 s of audio, ready 0.1 s and 0.2 s into the work.
        bench.Reply(span(0.0, 1.0), "a", 1.5, 0.2, [(0.1, 3.0), (0.2, 2.0)]),
        # Confirmed while the sink still plays the first reply (until 6.6 s).
        bench.Reply(span(2.0, 3.0), "b", 3.5, 0.5, [(0.1, 1.0)]),
        # Confirmed while the worker is still busy with the second (until 4.0 s).
        bench.Reply(span(3.2, 3.7), "c", 3.8, 0.3, [(0.1, 0.5)]),
        bench.Reply(span(9.0, 9.5), "", 10.0, 0.1, []),  # heard nothing: no audio
    ]
    heard = bench.schedule(replies)
    assert [h.first_audio for h in heard] == pytest.approx([1.6, 3.6, 4.1, None])
    # The second piece of the first reply plays right after the first (1.6 + 3.0 s).
    assert [h.first_sound for h in heard] == pytest.approx([1.6, 6.6, 7.6, None])


class LongVoice(SleepyVoice):
    """Replies longer than the gaps between utterances: 2 s of audio per sentence."""

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for _sentence in split_sentences(text):
            time.sleep(TTS_S)
            yield np.full(2 * self.sample_rate, 0.1, np.float32)


def test_replies_queue_at_the_sink_alike_for_engine_and_baselines() -> None:
    # Each reply (two sentences, 4 s) outlasts the gap to the next utterance, so every later
    # reply waits for the one before to finish playing. The engine without speculation does
    # the baselines' sentence-streaming work: the queue must charge both the same.
    stages, audio, truth = _setup()
    stages.tts = LongVoice()  # type: ignore[assignment]
    run = bench.measure_paced(stages, audio, truth, "eng_Latn", "spa_Latn", speculative=False)
    base = bench.measure_baselines(
        stages, audio, truth, "eng_Latn", "spa_Latn", VadSegmenter(VadConfig())
    )
    assert run.spoken == len(truth)  # the last reply starts after the input ends: still timed
    lags = _confirm_lag_ms(audio, truth)
    for later in (1, 2):
        # Queued: far later than the work alone (the confirmation plus ASR, MT, TTS).
        assert base.streaming_ms[later] > lags[later] + 1000
        assert abs(run.latency_ms[later] - base.streaming_ms[later]) < FILE_TICK_S * 1000 + 15
    # What each waited for is the sink, not the work: the events came on time.
    assert abs(_median_error(run.event_latency_ms, lags, ASR_S + MT_S + TTS_S)) < TOLERANCE_MS
