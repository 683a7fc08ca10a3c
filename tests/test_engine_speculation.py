"""Speculation at pauses and phrase streaming: superseded speculative work is skipped, not
done in full; confirmed work is spoken as it is, phrase by phrase, while MT still decodes.

Real Moonshine on Piper speech; the MT and the voice are recorders, so what each stage was
asked to do is exact. The audio is fed faster than real time, so later pauses and the end of
the utterance are queued while the (slow) translator is still busy with the first pause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from edge.audio import file_blocks, resample
from edge.engine import AudioBlock, Engine, EngineConfig, Stages
from edge.events import AudioOut, SpeechEnded, Transcript, Translation, UtteranceMetrics
from edge.vad import VadConfig

from .conftest import ENGLISH_SENTENCES


class SlowRecordingMT:
    languages = ("eng_Latn", "spa_Latn")

    def __init__(self, seconds: float) -> None:
        self.calls: list[list[str]] = []
        self._seconds = seconds
        self._lock = threading.Lock()

    def supports(self, source: str, target: str) -> bool:
        return (source, target) == ("eng_Latn", "spa_Latn")

    def translate(self, sentences: list[str], source: str, target: str) -> list[str]:
        with self._lock:
            self.calls.append(list(sentences))
        time.sleep(self._seconds)
        return [s.upper() for s in sentences]


class SlowWordMT(SlowRecordingMT):
    """Streams each word ``seconds`` after the previous one, like a slow decoder."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.finished: list[float] = []

    def translate_words(self, sentence: str, source: str, target: str) -> Iterator[str]:
        with self._lock:
            self.calls.append([sentence])
        for word in sentence.upper().split():
            time.sleep(self._seconds)
            yield word
        self.finished.append(time.perf_counter())


class RecordingVoice:
    language = "spa_Latn"
    sample_rate = 16000

    def __init__(self) -> None:
        self.spoken: list[str] = []

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.spoken.append(text)
        yield np.zeros(1600, np.float32)


def _one_utterance_with_pauses(joe, sentences: list[str], pause_s: float) -> np.ndarray:  # noqa: ANN001
    pieces = [np.zeros(8000, np.float32)]
    for text in sentences:
        audio = resample(np.concatenate(list(joe.synthesize(text))), joe.sample_rate, 16000)
        voiced = np.flatnonzero(np.abs(audio) > 0.02)
        pieces += [audio[voiced[0] : voiced[-1] + 1], np.zeros(int(pause_s * 16000), np.float32)]
    pieces.append(np.zeros(16000, np.float32))
    return np.concatenate(pieces)


def _english_to_spanish(moonshine, mt, voice, **config: Any) -> Engine:  # noqa: ANN001
    return Engine(
        Stages(segment_asr=moonshine, mt=mt, tts=voice),
        EngineConfig(source="eng_Latn", target="spa_Latn", **config),
    )


def _run(engine: Engine, audio: np.ndarray, realtime: bool = False) -> list[tuple[float, object]]:
    blocks = file_blocks([audio], realtime=realtime)
    return [(time.perf_counter(), event) for event in engine.run(blocks)]


def test_first_phrase_is_spoken_while_the_sentence_is_still_decoding(moonshine, joe) -> None:  # noqa: ANN001
    audio = _one_utterance_with_pauses(joe, ["The train to the airport leaves at nine."], 1.0)
    mt, voice = SlowWordMT(seconds=0.15), RecordingVoice()
    engine = _english_to_spanish(moonshine, mt, voice, first_phrase_words=4)
    timed = _run(engine, audio)

    [transcript] = [e for _t, e in timed if isinstance(e, Transcript)]
    # The speculation at the pause was confirmed by the hangover and became the final job:
    # the sentence was decoded once, not again after the confirmation.
    assert mt.calls == [[transcript.text]]
    first_audio = next(t for t, e in timed if isinstance(e, AudioOut))
    assert first_audio < mt.finished[0]  # spoken before the decode ended
    assert len(voice.spoken) >= 2 and " ".join(voice.spoken) == transcript.text.upper()
    [translation] = [e for _t, e in timed if isinstance(e, Translation)]
    assert translation.text == transcript.text.upper()


def test_barge_in_during_the_decode_still_closes_the_utterance(moonshine, joe) -> None:  # noqa: ANN001
    audio = _one_utterance_with_pauses(joe, ["The train to the airport leaves at nine."], 1.0)
    mt, voice = SlowWordMT(seconds=0.15), RecordingVoice()
    engine = _english_to_spanish(moonshine, mt, voice, first_phrase_words=4)
    events = []
    for event in engine.run(file_blocks([audio])):
        events.append(event)
        if isinstance(event, AudioOut):
            engine.cancel_output(event.utterance_id)  # the user speaks over the first phrase
    spoken = {e.utterance_id for e in events if isinstance(e, AudioOut)}
    assert len(spoken) == 1 and not mt.finished  # the decode was abandoned mid-sentence
    closed = [e for e in events if isinstance(e, UtteranceMetrics)]
    assert [m.utterance_id for m in closed] == list(spoken)
    assert not any(isinstance(e, Translation) for e in events)


def test_speculative_speech_waits_for_the_hangover(moonshine, joe) -> None:  # noqa: ANN001
    audio = _one_utterance_with_pauses(joe, ["Thank you very much for your help."], 2.0)
    mt, voice = SlowWordMT(seconds=0.0), RecordingVoice()
    engine = _english_to_spanish(moonshine, mt, voice, vad=VadConfig(min_silence_s=1.5))
    events = [e for _t, e in _run(engine, audio, realtime=True)]
    ended = next(i for i, e in enumerate(events) if isinstance(e, SpeechEnded))
    spoken = [i for i, e in enumerate(events) if isinstance(e, AudioOut)]
    # Synthesized long before the 1.5 s hangover was over, released only when it was.
    assert voice.spoken and spoken and min(spoken) > ended
    assert len(mt.calls) == 1


def test_superseded_speculation_is_neither_translated_nor_spoken(moonshine, joe) -> None:  # noqa: ANN001
    sentences = ENGLISH_SENTENCES[:3]
    # Pauses longer than the speculation delay (0.12 s), shorter than the hangover (0.35 s).
    audio = _one_utterance_with_pauses(joe, sentences, pause_s=0.22)
    mt, voice = SlowRecordingMT(seconds=1.0), RecordingVoice()
    engine = _english_to_spanish(moonshine, mt, voice)
    blocks = (
        AudioBlock(audio[i : i + 512], time.perf_counter()) for i in range(0, len(audio), 512)
    )
    events = list(engine.run(blocks))

    transcripts = [e for e in events if isinstance(e, Transcript)]
    assert len(transcripts) == 1
    final = transcripts[0].text
    translated = [s for call in mt.calls for s in call]
    # Each sentence is translated once: speculative copies queued behind the busy translator
    # were dropped when the utterance grew, and the final decode reused what was done.
    assert len(translated) == len(set(translated)), mt.calls
    assert len(mt.calls) >= 2  # the first pause was speculated on while the rest arrived
    # Only the final text is spoken, each sentence once (the first one phrase by phrase).
    spoken = " ".join(voice.spoken)
    assert spoken == " ".join(s.upper() for s in _sentences(final)), (voice.spoken, final)
    assert sum(isinstance(e, AudioOut) for e in events) == len(voice.spoken)


def _sentences(text: str) -> list[str]:
    from edge.text import split_sentences

    return split_sentences(text)


class PaddedVoice(RecordingVoice):
    """Pads each phrase as Piper does: 0.2 s of silence, 0.5 s of tone, 0.2 s of silence."""

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.spoken.append(text)
        pad = np.zeros(3200, np.float32)
        tone = 0.3 * np.sin(np.arange(8000) * 0.2).astype(np.float32)
        yield np.concatenate([pad, tone, pad])


def test_a_phrase_cut_adds_no_pause_and_a_backlog_keeps_sentences_whole(moonshine, joe) -> None:  # noqa: ANN001
    # Two utterances, fed faster than real time: the second is translated while the first
    # one's audio (far longer than BACKLOG_S) would still be playing.
    first = _one_utterance_with_pauses(joe, ["The train to the airport leaves at nine."], 1.2)
    second = _one_utterance_with_pauses(joe, ["I would like a cup of coffee with milk."], 1.0)
    mt, voice = SlowWordMT(seconds=0.05), PaddedVoice()
    engine = _english_to_spanish(moonshine, mt, voice, first_phrase_words=4)
    events = [e for _t, e in _run(engine, np.concatenate([first, second]))]
    audio: dict[int, float] = {}
    for e in events:
        if isinstance(e, AudioOut):
            audio[e.utterance_id] = audio.get(e.utterance_id, 0.0) + len(e.samples) / 16000
    (one, two) = sorted(audio)
    phrases = [e for e in events if isinstance(e, AudioOut) and e.utterance_id == one]
    # The first reply started with nothing queued: cut into phrases, and at each cut the
    # pads that meet keep 40 ms a side, so the cut costs 0.08 s, not 0.4 s.
    assert len(phrases) >= 2
    cuts = len(phrases) - 1
    assert audio[one] == pytest.approx(len(phrases) * 0.5 + 0.4 + cuts * 0.08, abs=0.002)
    # The second was translated with the first still playing: one phrase, pads whole.
    assert sum(isinstance(e, AudioOut) and e.utterance_id == two for e in events) == 1
    assert audio[two] == pytest.approx(0.9, abs=0.002)
