"""Voice matching on real speech: Piper joe and espeak-ng voices, checked with Praat's tracker.

The feature tracks F0 with its own YIN; the reference here is Praat (parselmouth, x86_64
wheels only: skipped elsewhere), so a shift is judged by a tracker it was not built on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.voice_match import (
    MAX_SHIFT_ST,
    OutputMatcher,
    Profiles,
    VoiceTarget,
    count_syllables,
    measure,
    shift_pitch,
)

parselmouth = pytest.importorskip("parselmouth")

TEXT = "The train to the airport leaves at nine, please do not be late."


def praat_median(audio: np.ndarray, sample_rate: int) -> float:
    pitch = parselmouth.Sound(audio.astype(np.float64), sample_rate).to_pitch(
        time_step=0.01, pitch_floor=60, pitch_ceiling=500
    )
    f0 = pitch.selected_array["frequency"]
    return float(np.median(f0[f0 > 0]))


def semitones(a: float, b: float) -> float:
    return 12 * math.log2(a / b)


@pytest.fixture(scope="module")
def joe_speech(joe) -> np.ndarray:  # noqa: ANN001
    return np.concatenate(list(joe.synthesize(TEXT)))


@pytest.fixture(scope="module")
def espeak_female() -> tuple[np.ndarray, int]:
    from edge.tts.espeak_tts import EspeakTTS

    base = EspeakTTS.load("en")
    voice = EspeakTTS(base.language, base.voice + "+f3", base.sample_rate, base.rate_wpm)
    return np.concatenate(list(voice.synthesize(TEXT))), voice.sample_rate


def test_tracker_agrees_with_praat(joe, joe_speech, espeak_female) -> None:  # noqa: ANN001
    for audio, sr in ((joe_speech, joe.sample_rate), espeak_female):
        m = measure(audio, sr, TEXT)
        assert m.median_hz is not None
        assert abs(semitones(m.median_hz, praat_median(audio, sr))) < 1.0


def test_shift_up_four_semitones_reaches_the_speaker(joe, joe_speech) -> None:  # noqa: ANN001
    sr = joe.sample_rate
    speaker_hz = praat_median(joe_speech, sr) * 2 ** (4 / 12)
    out = shift_pitch(joe_speech, sr, speaker_hz)
    assert len(out) == len(joe_speech)  # PSOLA keeps the duration
    assert abs(semitones(praat_median(out, sr), speaker_hz)) < 2.0
    down = shift_pitch(joe_speech, sr, praat_median(joe_speech, sr) * 2 ** (-4 / 12))
    assert semitones(praat_median(down, sr), praat_median(joe_speech, sr)) < -2.0


def test_extreme_shift_is_capped(joe, joe_speech) -> None:  # noqa: ANN001
    sr = joe.sample_rate
    own = praat_median(joe_speech, sr)
    out = shift_pitch(joe_speech, sr, own * 2 ** (14 / 12))  # a child's voice: 14 st up
    moved = semitones(praat_median(out, sr), own)
    assert 3.0 < moved < MAX_SHIFT_ST + 1.5


def test_female_espeak_speaker_raises_joe(joe, espeak_female) -> None:  # noqa: ANN001
    audio, sr = espeak_female
    profiles = Profiles("full")
    target = profiles.target(_to_16k(audio, sr), TEXT, "eng_Latn")
    assert target is not None and target.pitch
    out = np.concatenate(list(OutputMatcher().synthesize(joe, TEXT, target)))
    joe_hz = praat_median(np.concatenate(list(joe.synthesize(TEXT))), joe.sample_rate)
    # espeak f3 is about 2 octaves above joe: the shift stops at the cap.
    assert semitones(praat_median(out, joe.sample_rate), joe_hz) > MAX_SHIFT_ST - 2.5


def test_fast_speaker_gives_shorter_output(joe) -> None:  # noqa: ANN001
    fast = np.concatenate(list(joe.synthesize_at(TEXT, speed=1.4)))
    slow = np.concatenate(list(joe.synthesize_at(TEXT, speed=0.75)))
    matcher = OutputMatcher()
    lengths = {}
    for name, audio in (("fast", fast), ("slow", slow)):
        target = Profiles("rate").target(_to_16k(audio, joe.sample_rate), TEXT, "eng_Latn")
        assert target is not None and target.rate and not target.pitch
        out = np.concatenate(list(matcher.synthesize(joe, TEXT, target)))
        lengths[name] = len(out)
        assert abs(len(out) / len(audio) - 1) < 0.2  # close to the speaker's own length
    assert lengths["fast"] < 0.85 * lengths["slow"]


class _Recording:
    """A voice that notes the speed of each phrase it is asked for."""

    def __init__(self, voice) -> None:  # noqa: ANN001
        self.voice, self.speeds = voice, []
        self.sample_rate, self.language = voice.sample_rate, voice.language
        self.speakers = voice.speakers

    def synthesize(self, text: str):  # noqa: ANN201
        return self.voice.synthesize(text)

    def synthesize_at(self, text: str, *, speed: float = 1.0, speaker=None):  # noqa: ANN001, ANN201
        self.speeds.append(speed)
        return self.voice.synthesize_at(text, speed=speed, speaker=speaker)


def test_voice_answering_itself_keeps_its_own_speed(joe) -> None:  # noqa: ANN001
    """The live test's case: Piper joe speaking, joe replying. One short sentence's rate
    scatters (this one measured 0.90 of joe's calibrated rate, and the reply was slowed to
    0.88, its second phrase to 0.91 after the first taught the voice's curve): joe must stay
    at speed 1, the same for every phrase of the utterance."""
    from edge.live.soak import speak

    voice = _Recording(joe)
    matcher = OutputMatcher()
    matcher.calibrate(voice)
    profiles = Profiles("rate")
    for sentence, phrases in (
        (
            "The train to the airport leaves at nine.",
            ("The train to the airport", "leaves at nine,"),
        ),
        ("Please show me the way to the museum.", ("Please show me the way to the museum.",)),
        ("I would like a cup of coffee with milk.", ("I would like", "a cup of coffee with milk,")),
    ):
        target = profiles.target(speak(joe, sentence), sentence, "eng_Latn")
        assert target is not None and target.rate
        voice.speeds.clear()
        for phrase in phrases:
            for _chunk in matcher.synthesize(voice, phrase, target):
                pass
        assert voice.speeds == [1.0] * len(phrases), (sentence, voice.speeds)


def test_off_leaves_output_untouched(joe) -> None:  # noqa: ANN001
    plain = np.concatenate(list(joe.synthesize(TEXT)))
    assert Profiles("off").target(plain[::2], TEXT, "eng_Latn") is None
    same = np.concatenate(list(OutputMatcher().synthesize(joe, TEXT, None)))
    np.testing.assert_array_equal(plain, same)


def test_rate_mode_keeps_pitch(joe) -> None:  # noqa: ANN001
    target = VoiceTarget("rate", 300.0, 3.0, 6.0)  # a high speaker: rate only ignores it
    out = np.concatenate(list(OutputMatcher().synthesize(joe, TEXT, target)))
    plain = np.concatenate(list(joe.synthesize(TEXT)))
    own = praat_median(plain, joe.sample_rate)
    assert abs(semitones(praat_median(out, joe.sample_rate), own)) < 1.0


def test_profile_is_per_side_and_running() -> None:
    sr = 16000
    t = np.arange(sr * 2) / sr
    low = (0.3 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    high = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    profiles = Profiles({"eng_Latn": "full", "por_Latn": "pitch"})
    a = profiles.target(low, "one two three four", "eng_Latn")
    b = profiles.target(high, "um dois três quatro", "por_Latn")
    assert a is not None and b is not None and a.mode == "full" and b.mode == "pitch"
    assert abs(semitones(a.median_hz or 0, 110)) < 0.5
    assert abs(semitones(b.median_hz or 0, 220)) < 0.5
    c = profiles.target(high, "one two three four", "eng_Latn")  # the same side, higher
    assert c is not None and 110 < (c.median_hz or 0) < 220
    preview = profiles.target(low, "one two", "eng_Latn", commit=False)
    assert preview is not None and len(profiles.by_lang["eng_Latn"].history) == 2


def test_syllables() -> None:
    assert 8 <= count_syllables("The train to the airport leaves at nine.") <= 10  # 9
    assert count_syllables("O comboio para o aeroporto parte às nove.", "por_Latn") >= 11


def test_setting_in_flags_and_toml(tmp_path) -> None:  # noqa: ANN001
    from edge.cli import build_parser
    from edge.live.config import load_config

    parser = build_parser()
    args = parser.parse_args(["translate", "x.wav", "--from", "en", "--to", "pt"])
    assert args.voice_match is None  # not given: the setting's default applies
    args = parser.parse_args(["live", "--voice-match", "full"])
    assert args.voice_match == "full"
    config = tmp_path / "live.toml"
    config.write_text('from = "en"\nto = "pt"\nvoice_match = { en = "full", pt = "off" }\n')
    assert load_config(config).voice_match == {"en": "full", "pt": "off"}
    from edge.settings import SpeechSettings

    assert SpeechSettings().voice_match == "rate"  # the CLI's default; see the docs
    from edge.engine.config import EngineConfig

    assert EngineConfig("eng_Latn", "por_Latn").voice_match == "off"  # the library stays off


def _to_16k(audio: np.ndarray, sr: int) -> np.ndarray:
    import soxr

    return soxr.resample(audio, sr, 16000).astype(np.float32)
