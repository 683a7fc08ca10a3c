"""Hallucination guards: non-speech is never spoken, loops are cut, clean speech is untouched.

The guard test set is built here at test time, with no download: silence, white and pink
noise, music-like tones (chords, sine melodies with harmonics), clapping-like bursts, a 0.2 s
and a 25 s segment, espeak-ng speech in four languages (the speech Whisper base loops on) and
Piper joe English sentences (clean speech). ``tools/guard_eval.py`` prints the before/after
table from the same clips.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import jiwer
import numpy as np
import pytest

from edge.asr.base import Recognition
from edge.asr.guards import (
    OFF,
    GuardConfig,
    Loop,
    check_text,
    compression_ratio,
    find_loop,
    is_non_speech,
    max_tokens,
    token_key,
)
from edge.events import AudioOut, Event, Rejected, SpeechEnded, Transcript, Translation
from edge.vad import VadConfig

from .conftest import ENGLISH_SENTENCES, _installed
from .test_asr import normalized

SR = 16000

# --- the guard test set -------------------------------------------------------------------


def silence(seconds: float = 3.0) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


def white_noise(level: float, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(int(seconds * SR))
    return (noise * level).astype(np.float32)


def pink_noise(level: float, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """1/f noise of RMS ``level``."""
    n = int(seconds * SR)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.arange(len(spectrum), dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    return (noise / np.sqrt(np.mean(noise**2)) * level).astype(np.float32)


def _tone(freqs: tuple[float, ...], seconds: float, harmonics: int = 4) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    wave = sum(np.sin(2 * np.pi * f * h * t) / h for f in freqs for h in range(1, harmonics + 1))
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # 20 ms fades: no clicks
    return np.asarray(wave * envelope)


def chords(seconds: float = 4.0) -> np.ndarray:
    progression = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6)]
    music = np.concatenate([_tone(c, seconds / len(progression)) for c in progression])
    return (0.2 * music / np.abs(music).max()).astype(np.float32)


def melody(seconds: float = 4.0, seed: int = 1) -> np.ndarray:
    """Quarter-second notes of a random tune, six harmonics each (Silero VAD takes it for
    speech: this is what reaches the recognizer)."""
    notes = 440 * 2 ** (np.random.default_rng(seed).integers(-12, 12, int(seconds / 0.25)) / 12)
    music = np.concatenate([_tone((f,), 0.25, 6) for f in notes])
    return (0.3 * music / np.abs(music).max()).astype(np.float32)


def claps(seconds: float = 3.0, per_s: float = 3.0, seed: int = 2) -> np.ndarray:
    """Short decaying bursts of low-passed noise."""
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * SR))
    burst = int(0.06 * SR)
    for start in np.arange(0.1, seconds - 0.2, 1 / per_s):
        clap = rng.standard_normal(burst) * np.exp(-np.arange(burst) / (0.012 * SR))
        i = int((start + rng.uniform(0, 0.05)) * SR)
        out[i : i + burst] += np.convolve(clap, np.ones(3) / 3, "same")
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


# name -> (class of clip, builder)
NON_SPEECH: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    "silence": ("silence", silence),
    "white noise quiet": ("white noise", lambda: white_noise(0.003)),
    "white noise": ("white noise", lambda: white_noise(0.03)),
    "white noise loud": ("white noise", lambda: white_noise(0.3)),
    "pink noise quiet": ("pink noise", lambda: pink_noise(0.01)),
    "pink noise loud": ("pink noise", lambda: pink_noise(0.2)),
    "chords": ("music", chords),
    "melody": ("music", melody),
    "melody 2": ("music", lambda: melody(seed=5)),
    "claps": ("claps", claps),
    "claps fast": ("claps", lambda: claps(per_s=5.0, seed=7)),
    "burst 0.2 s": ("short 0.2 s", lambda: white_noise(0.05, 0.2)),
    "pink noise 25 s": ("long 25 s", lambda: pink_noise(0.05, 25.0)),
    "melody 25 s": ("long 25 s", lambda: melody(25.0)),
}

# Station phrases, spoken by espeak-ng: the speech Whisper base loops on.
ESPEAK_SPEECH = {
    "por_Latn": "Bom dia, onde fica a estação de comboios? Quero comprar um bilhete para Lisboa.",
    "deu_Latn": "Guten Morgen, wo ist der Bahnhof? Ich möchte eine Fahrkarte nach Berlin kaufen.",
    "spa_Latn": "Buenos días, ¿dónde está la estación? Quiero comprar un billete para Madrid.",
    "fra_Latn": "Bonjour, où est la gare? Je voudrais acheter un billet pour Paris.",
}

CLEAN_SENTENCES = [
    *ENGLISH_SENTENCES,
    "Could you tell me where the nearest pharmacy is?",
    "We arrived late because the bus broke down near the bridge.",
    "The restaurant on the corner serves fresh fish every Friday.",
    "Please speak more slowly, I am still learning.",
    "Is there a bank open on Sunday afternoon?",
    "I lost my passport and need to call the embassy.",
]


def espeak_speech(lang: str, rate_wpm: int = 175) -> np.ndarray:
    from edge.audio import resample
    from edge.tts.espeak_tts import EspeakTTS

    voice = EspeakTTS.load(lang, rate_wpm=rate_wpm)
    audio = np.concatenate(list(voice.synthesize(ESPEAK_SPEECH[lang])))
    return resample(audio, voice.sample_rate, SR)


def piper_speech(voice, text: str) -> np.ndarray:  # noqa: ANN001
    from edge.audio import resample

    return resample(np.concatenate(list(voice.synthesize(text))), voice.sample_rate, SR)


def padded(audio: np.ndarray, seconds: float = 0.5) -> np.ndarray:
    pad = np.zeros(int(seconds * SR), np.float32)
    return np.concatenate([pad, audio.astype(np.float32), pad])


def words_loop(text: str) -> Loop | None:
    """A loop in the words of a text (case and punctuation ignored) or in its characters
    ("6-6-8-8-8-8-8" has no spaces)."""
    words = normalized(text).split()
    return find_loop(words) or find_loop([c for c in text if not c.isspace()], 3)


@contextmanager
def guards(recognizer, config: GuardConfig) -> Iterator[None]:  # noqa: ANN001
    saved = recognizer.guards
    recognizer.guards = config
    try:
        yield
    finally:
        recognizer.guards = saved


# --- the pure functions ---------------------------------------------------------------------


def test_compression_ratio_separates_loops_from_speech() -> None:
    assert compression_ratio("") == 0.0
    assert compression_ratio("I would like a cup of coffee with milk, please.") < 1.5
    assert compression_ratio("I'm sorry, " * 30) > 2.4
    assert compression_ratio("6-6-8-" + "8-" * 60) > 2.4


def test_find_loop() -> None:
    sorry = [token_key(t) for t in ["I", "'m", "Ġsorry", ","] + ["ĠI", "'m", "Ġsorry", ","] * 29]
    assert find_loop(sorry) == Loop(0, 4, 30)  # "I" and " I" are the same token to a loop
    digits = list("6-6-8-" + "8-" * 20)
    loop = find_loop(digits)
    assert loop is not None and loop.size == 2 and "".join(digits[: loop.start + 2]) == "6-6-8"
    assert find_loop(["a", "a", "a", "a", "a", "a"]) == Loop(0, 1, 6)  # six "a", not three "a a"
    assert find_loop(["no", ",", "no", ",", "no"]) is None  # three times is speech
    assert find_loop(["no", "no", "no", "no"]) == Loop(0, 1, 4)  # the fourth is a loop
    assert find_loop(["the", "train", "to", "the", "airport", "leaves", "at", "nine"]) is None
    assert find_loop(list("abcdefgh" * 4)) is None  # an 8-gram is longer than max_ngram
    assert find_loop(list("abcdefgh" * 4), max_ngram=8) == Loop(0, 8, 4)


def _check(text: str, seconds: float, config: GuardConfig | None = None):  # noqa: ANN202
    words = text.split()
    return check_text(
        [token_key(w) for w in words],
        lambda k: " ".join(words[:k]),
        seconds,
        config or GuardConfig(),
    )


def test_a_short_loop_is_cut_a_long_one_rejects() -> None:
    good = "good morning where is the station I want a ticket to Lisbon please"
    cut = _check(good + " a ticket a ticket a ticket a ticket", 6.0)
    assert cut.rejected is None and cut.loop is not None
    assert cut.text == good + " a ticket"  # the text before the loop, and one occurrence
    loop = _check("I'm sorry, " * 30, 6.0)
    assert loop.rejected == "repetition loop"
    assert _check(good, 6.0) == (len(good.split()), good, None, None)


def test_the_token_rate_is_capped() -> None:
    assert max_tokens(0.0) == 10 and max_tokens(2.0) == 34 and max_tokens(25.0) == 310
    # A whole sentence in 0.8 s is still speech; 40 words in 2 s is a runaway decoder.
    assert _check("Thank you very much for your help.", 0.8).rejected is None
    many = " ".join(f"w{i}" for i in range(40))
    assert "too many tokens" in (_check(many, 2.0).rejected or "")
    assert _check(many, 3.0).rejected is None
    # Speech measured here: Piper at 1.7x speed reaches 8 tokens/s, espeak-ng French at 260
    # words/min 13 tokens/s in a 1.4 s transcript: under the cap, with room.
    assert max_tokens(1.4) > 8 * 1.4 and max_tokens(1.44) > 13 * 1.44


def test_non_speech_markers() -> None:
    for text in ("♪♪♪♪♪", "[Music]", "(applause)", "*cough*", "♪ [MUSIC PLAYING] ♪"):
        assert is_non_speech(text), text
        assert _check(text, 3.0).rejected == "non-speech"
    for text in ("", "Thank you.", "♪ la la la ♪", "[Music] Hello there."):
        assert not is_non_speech(text), text


def test_repetitive_text_is_rejected_even_without_a_short_loop() -> None:
    long_gram = "one two three four five six seven eight " * 6  # an 8-gram: no n-gram cut
    assert "compression ratio" in (_check(long_gram, 20.0).rejected or "")


def test_guards_off_pass_everything() -> None:
    verdict = _check("I'm sorry, " * 30, 1.0, OFF)
    assert verdict.rejected is None and verdict.loop is None


def test_bad_settings_are_refused() -> None:
    from edge.errors import EdgeError

    for bad in ({"max_repeats": 0}, {"loop_reject_fraction": 0.0}, {"max_tokens_per_s": 0.0}):
        with pytest.raises(EdgeError):
            GuardConfig(**bad)


# --- Whisper's temperature fallback, on a scripted model -----------------------------------


class _Tokenizer:
    def __init__(self) -> None:
        self.vocab: list[str] = []

    def ids(self, tokens: list[str]) -> list[int]:
        start = len(self.vocab)
        self.vocab += tokens
        return list(range(start, len(self.vocab)))

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(self.vocab[i] for i in ids).replace("Ġ", " ")


class _Result:
    def __init__(self, tokenizer: _Tokenizer, text: str, avg_logprob: float, nsp: float) -> None:
        tokens = ["Ġ" + w for w in text.split()]
        n = len(tokens)
        self.sequences = [tokens]
        self.sequences_ids = [tokenizer.ids(tokens)]
        self.scores = [avg_logprob * (n + 1) / n]  # as CTranslate2 reports it
        self.no_speech_prob = nsp


class _ScriptedWhisper:
    """Answers each generate() call with the next (text, avg log-prob, no-speech prob)."""

    is_multilingual = True

    def __init__(self, script: list[tuple[str, float, float]]) -> None:
        self.tokenizer = _Tokenizer()
        self.script = script
        self.calls: list[dict] = []

    def generate(self, _encoded, _prompts, **options) -> list[_Result]:  # noqa: ANN001
        self.calls.append(options)
        text, avg, nsp = self.script[min(len(self.calls), len(self.script)) - 1]
        return [_Result(self.tokenizer, text, avg, nsp)]


def _scripted(script: list[tuple[str, float, float]], config: GuardConfig | None = None):  # noqa: ANN202
    from edge.asr.whisper_ct2 import WhisperCT2

    model = _ScriptedWhisper(script)
    whisper = WhisperCT2(
        model,  # type: ignore[arg-type]
        model.tokenizer,  # type: ignore[arg-type]
        ("spa_Latn", "eng_Latn"),
        "translate",
        1,
        False,
        config or GuardConfig(),
    )
    return whisper, model


def _decode(whisper, seconds: float = 3.0) -> Recognition:  # noqa: ANN001
    return whisper._decode(None, "spa_Latn", "translate", seconds)


def test_no_speech_stops_at_once() -> None:
    whisper, model = _scripted([("I'll see you in the next video.", -1.8, 0.9)])
    result = _decode(whisper)
    assert result.text == "" and result.rejected == "no speech"
    assert result.rejected_text == "I'll see you in the next video."
    assert len(model.calls) == 1 and result.no_speech_prob == pytest.approx(0.9)


def test_a_loop_falls_back_to_a_hotter_decode() -> None:
    loop = ("I'm sorry, " * 4 + "I'm sorry.", -0.2, 0.1)
    whisper, model = _scripted([loop, ("Where is the station?", -0.4, 0.1)])
    result = _decode(whisper)
    assert result.text == "Where is the station?" and result.rejected is None
    assert result.temperature == 0.2
    assert model.calls[0]["beam_size"] == 1 and "sampling_temperature" not in model.calls[0]
    assert model.calls[1]["sampling_temperature"] == 0.2 and model.calls[1]["sampling_topk"] == 0
    # The decode is stopped one token past the cap: CTranslate2 halves max_length for Whisper.
    assert model.calls[0]["max_length"] == 2 * (max_tokens(3.0) + 1)


def test_when_every_temperature_fails_the_best_decode_is_a_guess_or_rejected() -> None:
    script = [("The end.", -1.6, 0.2), ("Bye bye.", -1.3, 0.2), ("Thanks.", -2.5, 0.2)]
    whisper, model = _scripted(script)
    result = _decode(whisper)
    assert len(model.calls) == 6
    # The best (-1.3) is between the two log-prob thresholds: passed on, marked a guess.
    assert result.text == "Bye bye." and result.rejected is None and result.temperature == 0.2
    assert "low confidence" in (result.failed or "")
    # Below the low threshold: rejected; every failed decode, when the thresholds meet.
    whisper, _ = _scripted([("The end.", -1.6, 0.2), ("Thanks.", -2.5, 0.2)])
    result = _decode(whisper)
    assert result.text == "" and "low confidence" in (result.rejected or "")
    assert result.rejected_text == "The end."
    whisper, _ = _scripted(script, GuardConfig(log_prob_low_threshold=-1.0))
    assert _decode(whisper).rejected_text == "Bye bye."
    # Failed at every temperature while Whisper leans to no speech: no speech.
    whisper, _ = _scripted([("Bye bye.", -1.3, 0.5)])
    assert _decode(whisper).rejected == "no speech"


def test_a_loop_after_good_text_is_cut_when_nothing_better_comes() -> None:
    good = "Good morning, where is the station? I want to buy a ticket to Lisbon, please"
    text = good + " to Lisbon, please" * 2  # three times: speech
    loop = good + ", a ticket" * 5
    whisper, _ = _scripted([(loop, -0.3, 0.1)])
    result = _decode(whisper, 8.0)
    assert result.rejected is None and result.cut == "repetition loop"
    assert result.text.rstrip(",") == good + ", a ticket"
    whisper, model = _scripted([(text, -0.3, 0.1)])
    assert _decode(whisper, 8.0).text == text and len(model.calls) == 1


def test_guards_off_decode_once_as_before() -> None:
    whisper, model = _scripted([("I'm sorry, " * 30, -0.2, 0.95)], OFF)
    assert _decode(whisper).text.startswith("I'm sorry, I'm sorry,")
    assert len(model.calls) == 1 and model.calls[0]["max_length"] == 224


# --- the real models ---------------------------------------------------------------------------

PERMISSIVE_VAD = VadConfig(threshold=0.02, min_speech_s=0.1, min_confident_s=0.0)
# The VAD fooled: noise gets through to the recognizer.


@pytest.fixture(scope="session")
def whisper_direct(whisper_base_dir, joe):  # noqa: ANN001, ANN201
    """Whisper base translating into English (direct), spoken by Piper joe."""
    from edge.asr.whisper_ct2 import WhisperCT2
    from edge.engine import Stages

    whisper = WhisperCT2.load(whisper_base_dir, task="translate", num_threads=2)
    return Stages(direct=whisper, tts=joe)


@pytest.fixture(scope="session")
def moonshine_cascade(moonshine, store):  # noqa: ANN001, ANN201
    """Moonshine tiny -> Bergamot en->pt -> espeak-ng Portuguese."""
    from edge.engine import Stages
    from edge.mt.bergamot_onnx import BergamotTranslator
    from edge.tts.espeak_tts import EspeakTTS

    mt = BergamotTranslator.load(_installed(store, "bergamot-en-pt-tiny"), intra_threads=2)
    return Stages(segment_asr=moonshine, mt=mt, tts=EspeakTTS.load("por_Latn"))


def _run(stages, source: str, target: str, audio: np.ndarray, vad: VadConfig | None = None):  # noqa: ANN001, ANN202
    from edge.translator import SpeechTranslator

    translator = SpeechTranslator(source, target, stages, vad or VadConfig())
    return list(translator.stream([padded(audio)]))


def _assert_silent(events: list[Event], name: str) -> None:
    spoken = [e for e in events if isinstance(e, (AudioOut, Translation))]
    assert not spoken, (name, [e.to_dict() for e in events if not isinstance(e, AudioOut)])
    ended = {e.utterance_id for e in events if isinstance(e, SpeechEnded)}
    rejected = {e.utterance_id for e in events if isinstance(e, Rejected)}
    empty = {e.utterance_id for e in events if isinstance(e, Transcript) and not e.text}
    assert ended == rejected | empty, name  # every utterance: rejected, or heard as nothing


def test_whisper_never_speaks_non_speech(whisper_direct) -> None:  # noqa: ANN001
    """Whisper base es->en, with the real VAD and with a VAD that lets noise through."""
    for name, (_kind, build) in NON_SPEECH.items():
        audio = build()
        _assert_silent(_run(whisper_direct, "spa_Latn", "eng_Latn", audio), name)
        if name in ("white noise", "pink noise loud", "chords", "burst 0.2 s", "pink noise 25 s"):
            events = _run(whisper_direct, "spa_Latn", "eng_Latn", audio, PERMISSIVE_VAD)
            assert any(isinstance(e, Rejected) for e in events), name  # the guards did it
            _assert_silent(events, name)


# Moonshine gives no scores: only loops, non-speech markers and runaway token rates can be
# caught in its text. Tunes the VAD half-believes ("melody") used to reach it and come out as
# fluent text ("So,", "I am the one who is in the world."); the VAD's confidence gate
# (VadConfig.min_confident_s) now stops them before recognition.
@pytest.mark.parametrize("name", list(NON_SPEECH))
def test_moonshine_cascade_never_speaks_non_speech(moonshine_cascade, name: str) -> None:  # noqa: ANN001
    _assert_silent(_run(moonshine_cascade, "eng_Latn", "por_Latn", NON_SPEECH[name][1]()), name)


def test_moonshine_guards_on_whole_clips(moonshine) -> None:  # noqa: ANN001
    """Without the VAD in front: the "♪♪♪" of chords and the loop of a long melody."""
    for build, reason in ((chords, "non-speech"), (lambda: melody(25.0), "too many tokens")):
        audio = build()
        with guards(moonshine, OFF):
            raw = moonshine.recognize(audio)
        assert raw.text and raw.rejected is None
        result = moonshine.recognize(audio)
        assert result.text == "" and (result.rejected or "").startswith(reason), result
        assert result.rejected_text == raw.text


def test_whisper_output_never_loops(whisper_direct) -> None:  # noqa: ANN001
    """espeak-ng speech in four languages, translated and transcribed; and speech with the
    wrong source language set, which sends Whisper base into loops."""
    whisper = whisper_direct.direct
    clips = [  # (language set, language spoken, words per minute)
        ("por_Latn", "por_Latn", 175),
        ("deu_Latn", "deu_Latn", 175),
        ("spa_Latn", "spa_Latn", 260),
        ("fra_Latn", "fra_Latn", 260),
        ("spa_Latn", "por_Latn", 175),
        ("por_Latn", "fra_Latn", 260),
    ]
    raw_loops = 0
    for lang, spoken, rate in clips:
        audio = espeak_speech(spoken, rate)  # one encoder pass serves all three decodes
        with guards(whisper, OFF):
            raw = whisper.recognize(audio, lang).text
        raw_loops += words_loop(raw) is not None
        result = whisper.recognize(audio, lang)
        transcript = whisper.transcribe(audio, lang)
        for text in (result.text, transcript):  # rejected_text may loop: it is not spoken
            assert words_loop(text) is None, (spoken, lang, text)
    assert raw_loops >= 2  # the set does make Whisper base loop without the guards


def test_a_loop_through_the_engine_is_not_spoken(whisper_direct) -> None:  # noqa: ANN001
    """Portuguese speech with the source set to Spanish: Whisper base loops ("I will not let
    you go, I will not let you go, ..."); nothing the engine reports or speaks loops."""
    events = _run(whisper_direct, "spa_Latn", "eng_Latn", espeak_speech("por_Latn"))
    texts = [e.text for e in events if isinstance(e, (Transcript, Translation))]
    assert all(words_loop(text) is None for text in texts), texts
    assert any(isinstance(e, (Rejected, Translation)) for e in events)


def test_the_cli_prints_a_rejection(whisper_direct, capsys) -> None:  # noqa: ANN001
    from edge.cli.printer import file_printer as _printer

    events = _run(whisper_direct, "spa_Latn", "eng_Latn", white_noise(0.03), PERMISSIVE_VAD)
    rejected = [e for e in events if isinstance(e, Rejected)]
    assert rejected and all(e.reason == "no speech" and e.text for e in rejected)
    for as_json in (False, True):
        show = _printer(as_json)
        for event in events:
            show(event)
        lines = capsys.readouterr().out.splitlines()
        if as_json:
            dicts = [json.loads(line) for line in lines]
            assert [d for d in dicts if d["event"] == "rejected"] == [e.to_dict() for e in rejected]
            first = next(d for d in dicts if d["event"] == "rejected")
            assert {"utterance_id", "reason", "text", "start_s", "end_s"} <= first.keys()
        else:  # one line per rejected segment, nothing else but the closing metrics
            assert len(lines) == len(rejected), lines
            for line, event in zip(lines, rejected, strict=True):
                assert line.startswith(f"[{event.start_s:7.2f} - {event.end_s:7.2f}]")
                assert '(not spoken: no speech: "' in line, line


def test_clean_english_is_untouched(whisper_direct, moonshine, joe) -> None:  # noqa: ANN001
    """WER of Piper joe sentences (and of all of them as one 25 s segment) with the guards is
    within 0.5 points of without them."""
    whisper = whisper_direct.direct
    clips = [piper_speech(joe, s) for s in CLEAN_SENTENCES]
    gap = np.zeros(int(0.25 * SR), np.float32)
    long = np.concatenate([x for c in clips for x in (c, gap)])[: 25 * SR]
    ends = np.cumsum([len(c) + len(gap) for c in clips])
    said = normalized(
        " ".join(s for s, end in zip(CLEAN_SENTENCES, ends, strict=True) if end <= len(long))
    )
    references = [normalized(s) for s in CLEAN_SENTENCES]
    for recognizer in (moonshine, whisper):
        heard: dict[bool, list[Recognition]] = {False: [], True: []}
        for clip in (*clips, long):  # off then on, on the same audio: one Whisper encoder pass
            for config in (OFF, GuardConfig()):
                with guards(recognizer, config):
                    heard[config.enabled].append(recognizer.recognize(clip, "eng_Latn"))
        scores = {}
        for enabled, results in heard.items():
            assert all(r.rejected is None for r in results)
            *sentences, whole = results
            scores[enabled] = jiwer.wer(references, [normalized(r.text) for r in sentences])
            # The 25 s segment is neither cut nor rejected by the token-rate cap.
            assert len(normalized(whole.text).split()) >= 0.8 * len(said.split()), whole.text
        assert scores[True] <= scores[False] + 0.005, scores
        assert scores[True] <= 0.10, scores


def test_music_the_vad_drops_is_reported_not_spoken(moonshine_cascade, capsys) -> None:  # noqa: ANN001
    """The confidence gate's discard says why, and both printers show it."""
    from edge.cli.printer import file_printer, live_printer
    from edge.events import SpeechDiscarded

    events = _run(moonshine_cascade, "eng_Latn", "por_Latn", melody())
    discarded = [
        e for e in events if isinstance(e, SpeechDiscarded) and e.reason.startswith("not speech")
    ]
    assert discarded
    for event in events:
        file_printer(False)(event)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(discarded) and all("(not spoken: not speech" in line for line in out)
    show = live_printer(False)
    for event in events:
        show(event)
    captured = capsys.readouterr()
    assert captured.out == "" and "(not spoken: not speech" in captured.err
