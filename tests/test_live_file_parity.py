"""Live mode loses nothing against file mode.

The same recording, the same models and the same settings: a live session with files as
devices (paced like a microphone, ``edge.live.soak.run_session``) and file mode
(``SpeechTranslator.stream``) must cut the same utterances and produce the same texts,
also when recognition runs slower than real time (the session then falls behind and
catches up: later, not broken). Partial re-decoding must never make a sentence be spoken
that the final decode of its utterance did not produce.

Real recordings (Piper joe, espeak-ng German) and real models (Moonshine tiny, Whisper base
direct German -> English, Piper joe); comparisons are exact: both modes decode identical
audio with deterministic greedy decoders.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.asr.base import SAMPLE_RATE
from edge.audio import file_blocks
from edge.engine import Engine, EngineConfig, Stages
from edge.events import (
    Event,
    PartialTranscript,
    SpeechEnded,
    Transcript,
    Translation,
)
from edge.languages import to_flores
from edge.live import LiveConfig, ModelLoader
from edge.live.pipeline import engine_config
from edge.live.soak import SessionLog, run_session, speak, write_wav
from edge.text import split_sentences
from edge.translator import SpeechTranslator
from edge.vad import VadConfig

from .conftest import ENGLISH_SENTENCES

# What must agree between the modes, per utterance ("rejected": the recognizer's guards).
COMPARED = ("speech_end", "transcript", "translation", "rejected")


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), np.float32)


@pytest.fixture(scope="session")
def english_wav(tmp_path_factory: pytest.TempPathFactory, joe) -> Path:  # noqa: ANN001
    """Three utterances 1.5 s apart (no room for replies); the second holds two sentences."""
    s = [speak(joe, text) for text in ENGLISH_SENTENCES[:4]]
    gap = _silence(1.5)
    audio = np.concatenate(
        [_silence(0.8), s[0], gap, s[1], _silence(0.3), s[2], gap, s[3], _silence(1.0)]
    )
    return write_wav(tmp_path_factory.mktemp("parity") / "english.wav", audio)


@pytest.fixture(scope="session")
def german_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's recording, shortened: German sentences with 1.5 s of silence between."""
    from edge.tts.espeak_tts import EspeakTTS

    voice = EspeakTTS.load("deu_Latn", rate_wpm=150)
    sentences = ["Guten Morgen.", "Wo ist der Bahnhof?", "Ich möchte eine Fahrkarte kaufen."]
    pieces = [_silence(0.8)]
    for text in sentences:
        pieces += [speak(voice, text), _silence(1.5)]
    return write_wav(tmp_path_factory.mktemp("parity") / "german.wav", np.concatenate(pieces))


@pytest.fixture(scope="session")
def moonshine_en(moonshine_dir: Path, joe_dir: Path) -> Stages:
    config = LiveConfig(source="en", target="en", asr=str(moonshine_dir), tts=str(joe_dir))
    return ModelLoader(config).stages("en", "en")


@pytest.fixture(scope="session")
def whisper_en(whisper_base_dir: Path, joe_dir: Path) -> Stages:
    config = LiveConfig(source="en", target="en", asr=str(whisper_base_dir), tts=str(joe_dir))
    return ModelLoader(config).stages("en", "en")


@pytest.fixture(scope="session")
def whisper_de_en(whisper_base_dir: Path, joe_dir: Path) -> Stages:
    config = LiveConfig(source="de", target="en", direct=str(whisper_base_dir), tts=str(joe_dir))
    return ModelLoader(config).stages("de", "en")


def _live_config(wav: Path, tmp_path: Path, source: str, target: str, **values: Any) -> LiveConfig:
    # Default live settings: VAD mode, half duplex, hangover 0.6 s; files as devices.
    return LiveConfig(
        source=source, target=target, input=str(wav), output=str(tmp_path / "out.wav"), **values
    )


def _file_mode(config: LiveConfig, stages: Stages) -> list[Event]:
    """``edge translate`` on the live session's recording, with the session's settings."""
    settings = engine_config(config, to_flores(config.source), to_flores(config.target))
    translator = SpeechTranslator(
        settings.source,
        settings.target,
        stages,
        vad=settings.vad,
        partial_interval_s=settings.partial_interval_s,
    )
    assert config.input is not None
    return list(translator.stream(config.input))


def _record(events: list[Event]) -> dict[int, list[dict[str, Any]]]:
    """Per utterance, what both modes must agree on (sorted: the stages run in threads, so
    an utterance's transcript and translations may interleave differently)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        if event.name in COMPARED:
            fields = event.to_dict()
            out.setdefault(fields.pop("utterance_id"), []).append(fields)
    return {uid: sorted(items, key=repr) for uid, items in out.items()}


def _events(log: SessionLog) -> list[Event]:
    return [event for _wall, event in log.events]


def test_moonshine_live_session_matches_file_mode(
    tmp_path: Path, english_wav: Path, moonshine_en: Stages
) -> None:
    config = _live_config(english_wav, tmp_path, "en", "en", speed=2.0)
    expected = _record(_file_mode(config, moonshine_en))
    log, stats = run_session(config, lambda _s, _t: moonshine_en)
    assert len(expected) == 3  # the recording's three utterances, the second two sentences
    assert _record(_events(log)) == expected
    assert len(log.of(Translation)) == 4
    # Half duplex, and the recording's next turn started while a reply played: a file hears
    # no speaker, so nothing of it was muted, dropped or lost.
    assert stats.gated_s == 0 and stats.overruns == 0 and stats.dropped_audio_s == 0
    assert stats.utterances == 3 and stats.played == 3


def test_whisper_base_live_session_matches_file_mode(
    tmp_path: Path, english_wav: Path, whisper_en: Stages
) -> None:
    config = _live_config(english_wav, tmp_path, "en", "en")  # in real time
    expected = _record(_file_mode(config, whisper_en))
    log, stats = run_session(config, lambda _s, _t: whisper_en)
    assert len(expected) == 3
    assert _record(_events(log)) == expected
    assert stats.gated_s == 0 and stats.overruns == 0 and stats.played == 3


def test_whisper_base_direct_german_live_session_cuts_what_file_mode_cuts(
    tmp_path: Path, german_wav: Path, whisper_de_en: Stages
) -> None:
    """The issue's case: German -> English, Whisper base translating directly (two decodes
    per utterance: slower than real time at this speed on two cores).

    Only the cuts and the outcome count are compared: when Whisper's greedy decode fails the
    hallucination guards, the decode is retried by sampling at higher temperatures, and that
    is not reproducible (the same 2 s of this recording gave "I hope you enjoyed it." and
    "I'm sorry, I'm sorry." on two consecutive calls), so its text differs from run to run in
    either mode.
    """
    config = _live_config(german_wav, tmp_path, "de", "en", speed=1.5)
    expected = [e for e in _file_mode(config, whisper_de_en) if isinstance(e, SpeechEnded)]
    log, stats = run_session(config, lambda _s, _t: whisper_de_en)
    assert len(expected) == 3
    assert [e.to_dict() for e in log.of(SpeechEnded)] == [e.to_dict() for e in expected]
    # One outcome per utterance: a translation with its transcript, or a rejection.
    outcomes = {e.utterance_id for _w, e in log.events if e.name in ("transcript", "rejected")}
    assert outcomes == {e.utterance_id for e in expected}
    assert stats.gated_s == 0 and stats.overruns == 0 and stats.dropped_audio_s == 0


class _SlowRecognizer:
    """A recognizer that takes ``factor`` times as long as the audio it decodes."""

    def __init__(self, inner: Any, factor: float) -> None:
        self._inner = inner
        self._factor = factor

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Any:
        t0 = time.perf_counter()
        result = self._inner.recognize(audio, lang)
        remaining = self._factor * len(audio) / SAMPLE_RATE - (time.perf_counter() - t0)
        time.sleep(max(0.0, remaining))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_slower_than_real_time_asr_falls_behind_and_catches_up(
    tmp_path: Path, english_wav: Path, moonshine_en: Stages
) -> None:
    """Recognition 1.5 times slower than the audio arrives: the session falls behind (and
    skips speculation on old audio), cuts and says the same, only later."""
    recognizer = _SlowRecognizer(moonshine_en.segment_asr, 1.5 / 2.0)  # x 2.0: the pace
    slow = Stages(segment_asr=recognizer, tts=moonshine_en.tts)  # type: ignore[arg-type]
    config = _live_config(english_wav, tmp_path, "en", "en", speed=2.0)
    expected = _record(_file_mode(config, moonshine_en))  # the same decodes, at full speed
    started = time.perf_counter()
    log, stats = run_session(config, lambda _s, _t: slow)
    assert _record(_events(log)) == expected
    # Later, not broken: the end of the last utterance was known well after it was heard,
    # every utterance was still cut and spoken as in file mode, and nothing was dropped.
    ended = [wall - started for wall, e in log.events if isinstance(e, SpeechEnded)]
    heard = [e.end_s / config.speed for e in log.of(SpeechEnded)]
    assert ended[-1] - heard[-1] > 1.0, (ended, heard)
    assert stats.overruns == 0 and stats.dropped_audio_s == 0 and stats.played == 3


def test_partial_redecoding_never_speaks_what_the_final_decode_did_not_say(
    tmp_path: Path, english_wav: Path, moonshine_en: Stages
) -> None:
    config = _live_config(english_wav, tmp_path, "en", "en", speed=2.0, partial_interval_s=0.4)
    without = _live_config(english_wav, tmp_path, "en", "en")
    expected = _record(_file_mode(without, moonshine_en))
    log, _stats = run_session(config, lambda _s, _t: moonshine_en)
    assert len(log.of(PartialTranscript)) >= 6  # the partials ran
    # Re-decoding while speaking changes nothing that is said, only how early it is ready.
    assert _record(_events(log)) == expected
    for transcript in log.of(Transcript):
        spoken = [
            t.source_text for t in log.of(Translation) if t.utterance_id == transcript.utterance_id
        ]
        assert spoken == split_sentences(transcript.text)


class _ScriptedRecognizer:
    """Decodes any audio shorter than ``full_s`` as ``partial``, longer audio as ``final``:
    a partial hypothesis with a complete, stable first sentence the final decode may rewrite."""

    languages = ("eng_Latn",)

    def __init__(self, partial: str, final: str, full_s: float) -> None:
        self.partial, self.final, self.full_s = partial, final, full_s

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Any:
        from edge.asr.base import Recognition

        time.sleep(0.03)  # as long as a small model takes: the translator keeps up
        text = self.final if len(audio) / SAMPLE_RATE >= self.full_s else self.partial
        return Recognition(text=text, lang="eng_Latn")


class _RecordingMT:
    languages = ("eng_Latn", "spa_Latn")

    def __init__(self) -> None:
        self.sentences: list[str] = []

    def supports(self, source: str, target: str) -> bool:
        return (source, target) == ("eng_Latn", "spa_Latn")

    def translate(self, sentences: list[str], source: str, target: str) -> list[str]:
        self.sentences += sentences
        return [s.upper() for s in sentences]


class _StreamingMT(_RecordingMT):
    """Decodes word by word, slowly: the final decode arrives while a warm-up still runs."""

    def translate_words(self, sentence: str, source: str, target: str) -> Iterator[str]:
        self.sentences.append(sentence)
        for word in sentence.upper().split():
            time.sleep(0.12)
            yield word


class _RecordingVoice:
    sample_rate = 16000

    def __init__(self) -> None:
        self.texts: list[str] = []

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        self.texts.append(text)
        yield np.zeros(160, np.float32)


@pytest.mark.parametrize(
    ("final_agrees", "streaming"), [(True, False), (True, True), (False, False), (False, True)]
)
def test_partial_sentences_only_warm_the_caches(joe, final_agrees: bool, streaming: bool) -> None:  # noqa: ANN001
    """Partials translate and synthesize a complete, stable sentence ahead, into the caches
    only: what is spoken is the final decode's text, found ready when the two agree (and a
    decode still running is taken over by the final decode's job, not started again)."""
    speech = np.concatenate(
        [speak(joe, ENGLISH_SENTENCES[1]), _silence(0.3), speak(joe, ENGLISH_SENTENCES[2])]
    )
    audio = np.concatenate([_silence(0.5), speech, _silence(1.0)])
    warmed = "Please show me the way to the museum."
    first = warmed if final_agrees else "Please, show me the way."
    final = f"{first} I would like a cup of coffee with milk."
    recognizer = _ScriptedRecognizer(f"{warmed} I would like", final, len(speech) / SAMPLE_RATE)
    mt, voice = (_StreamingMT() if streaming else _RecordingMT()), _RecordingVoice()
    stages = Stages(segment_asr=recognizer, mt=mt, tts=voice)  # type: ignore[arg-type]
    # No speculation at pauses: what is ready early is the partials' doing.
    config = EngineConfig(
        "eng_Latn",
        "spa_Latn",
        vad=VadConfig(min_silence_s=0.6),
        partial_interval_s=0.3,
        speculative=False,
    )
    events = list(Engine(stages, config).run(file_blocks([audio])))
    assert any(isinstance(e, PartialTranscript) for e in events)
    translations = [e for e in events if isinstance(e, Translation)]
    assert [t.source_text for t in translations] == split_sentences(final)
    assert [t.text for t in translations] == [s.upper() for s in split_sentences(final)]
    assert mt.sentences[0] == warmed  # translated while the second sentence was spoken
    assert len(voice.texts) == len(set(voice.texts))  # no phrase synthesized twice
    if final_agrees:
        assert mt.sentences.count(warmed) == 1  # the final decode found it, or took it over
        assert warmed.upper().split()[0] in voice.texts[0]  # and its speech synthesized
    else:
        spoken = " ".join(t.text for t in translations)
        assert "MUSEUM" not in spoken  # the final decode said something else
