"""espeak-ng voices (the real library from espeakng-loader) and the fallback to them."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf

from edge.audio import resample
from edge.errors import LanguageError, ModelError
from edge.models import ModelStore
from edge.models.plan import plan_pipeline
from edge.translator import RuntimeOptions, SpeechTranslator
from edge.tts import espeak_tts
from edge.tts.base import Voice
from edge.tts.espeak_tts import EspeakTTS, espeak_voices, fallback_message, fallback_voice
from edge.tts.piper_tts import PiperTTS
from edge.voices import VoicePool

from .test_asr import normalized

PORTUGUESE = "Eu gostaria de um café com leite, por favor."
GERMAN = "Der Zug zum Flughafen fährt um neun Uhr ab."
PORTUGUESE_WARNING = (
    "no Piper voice for Portuguese is installed: speaking with espeak-ng (robotic); "
    "for a natural voice: edge models pull piper-pt_BR-faber-medium"
)


def speak(voice: EspeakTTS, text: str) -> np.ndarray:
    return np.concatenate(list(voice.synthesize(text)))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which languages were already reported: the warning comes once per process."""
    monkeypatch.setattr(espeak_tts, "_warned", set())


@pytest.mark.parametrize(("language", "text"), [("pt", PORTUGUESE), ("de", GERMAN)])
def test_speech_at_the_reported_rate(language: str, text: str) -> None:
    voice = EspeakTTS.load(language)
    assert isinstance(voice, Voice)
    assert voice.sample_rate == 22050
    chunks = list(voice.synthesize(text))
    assert len(chunks) == 1
    audio = chunks[0]
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.5 < len(audio) / voice.sample_rate < 6.0
    assert np.sqrt(np.mean(audio**2)) > 0.02 and np.max(np.abs(audio)) <= 1.0


def test_voices_cover_the_translation_languages() -> None:
    voices = espeak_voices()
    assert len(voices) >= 90
    assert EspeakTTS.load("por_Latn").voice == "roa/pt-BR"
    assert EspeakTTS.load("en").voice == "gmw/en-US"
    assert (voices["spa_Latn"], voices["deu_Latn"], voices["fra_Latn"]) == (
        "roa/es",
        "gmw/de",
        "roa/fr",
    )
    # Varieties share their language's voice in the same script, never another script's.
    assert voices["arz_Arab"] == voices["arb_Arab"] == "sem/ar"
    assert "ckb_Arab" not in voices and "jpn_Jpan" not in voices


def test_one_chunk_per_sentence_and_nothing_for_silence() -> None:
    voice = EspeakTTS.load("pt")
    assert len(list(voice.synthesize("Olá. Tudo bem? Sim, obrigado."))) == 3
    for text in ("", "   \n\t", "...", "?!"):
        assert list(voice.synthesize(text)) == []


def test_same_text_same_samples_whatever_came_before() -> None:
    portuguese, german = EspeakTTS.load("pt"), EspeakTTS.load("de")
    first = speak(portuguese, PORTUGUESE)
    speak(german, GERMAN)
    assert np.array_equal(speak(portuguese, PORTUGUESE), first)
    assert np.array_equal(speak(portuguese, PORTUGUESE), first)


def test_rate_control() -> None:
    normal = len(speak(EspeakTTS.load("pt"), PORTUGUESE))
    fast = len(speak(EspeakTTS.load("pt", rate_wpm=300), PORTUGUESE))
    slow = len(speak(EspeakTTS.load("pt", length_scale=1.5), PORTUGUESE))
    assert fast < 0.8 * normal and slow > 1.2 * normal
    with pytest.raises(ValueError):
        EspeakTTS.load("pt", rate_wpm=1000)


def test_unknown_language_is_one_clear_line() -> None:
    with pytest.raises(LanguageError) as missing:
        EspeakTTS.load("yor_Latn")
    assert "espeak-ng has no voice for Yoruba (yor_Latn)" in str(missing.value)
    assert "\n" not in str(missing.value) and missing.value.fix
    with pytest.raises(LanguageError):
        EspeakTTS.load("klingon")


def test_threads_share_the_library_safely() -> None:
    """Each thread gets its own language's exact audio while the other switches voices."""
    texts = {"pt": f"{PORTUGUESE} Obrigado.", "de": f"{GERMAN} Danke."}
    voices = {lang: EspeakTTS.load(lang) for lang in texts}
    expected = {lang: speak(voices[lang], text) for lang, text in texts.items()}
    heard: dict[str, list[np.ndarray]] = {lang: [] for lang in texts}

    def run(lang: str) -> None:
        for _ in range(8):
            heard[lang].append(speak(voices[lang], texts[lang]))

    threads = [threading.Thread(target=run, args=(lang,)) for lang in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for lang, runs in heard.items():
        assert len(runs) == 8 and all(np.array_equal(a, expected[lang]) for a in runs)


def test_english_round_trip_is_speech(moonshine) -> None:  # noqa: ANN001
    text = "The train to the airport leaves at nine."
    voice = EspeakTTS.load("en")
    heard = normalized(moonshine.recognize(resample(speak(voice, text), 22050, 16000)).text)
    assert jiwer.wer(normalized(text), heard) <= 0.5, heard


def test_fallback_warns_once_naming_the_voice_to_pull(
    fresh_warnings: None, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(fallback_voice("pt"), EspeakTTS)
    fallback_voice("por_Latn")
    assert warnings(caplog) == [PORTUGUESE_WARNING]
    # The catalog has no Korean Piper voice.
    assert (
        fallback_message("ko")
        == "no Piper voice exists for Korean: speaking with espeak-ng (robotic)"
    )


def test_voice_pool_speaks_portuguese_with_espeak_and_english_with_piper(
    store, joe_dir: Path, fresh_warnings: None, caplog: pytest.LogCaptureFixture
) -> None:  # noqa: ANN001
    if store.find("tts", "por_Latn"):
        pytest.skip("a Portuguese Piper voice is installed")
    options = RuntimeOptions(device="cpu", tts_threads=1)
    pool = VoicePool.from_store(store, options)
    assert isinstance(pool.get("pt"), EspeakTTS)
    assert options.placements["tts"].device == "cpu"
    assert isinstance(pool.get("en"), PiperTTS)
    assert warnings(caplog) == [PORTUGUESE_WARNING]
    explicit = VoicePool.from_store(store, options, voices={"en": "espeak"})
    assert isinstance(explicit.get("en"), EspeakTTS)
    with pytest.raises(LanguageError, match="no voice for"):
        pool.get("yor_Latn")  # neither Piper nor espeak-ng speaks it


@pytest.fixture
def english_to_portuguese_store(tmp_path: Path, moonshine_dir: Path, joe_dir: Path) -> Path:
    """Moonshine, the English Piper voice and a random en->pt Marian model: no pt voice."""
    from edge.synthetic.ct2_transformer import build_marian_like

    root = tmp_path / "models"
    root.mkdir()
    for model in (moonshine_dir, joe_dir):
        (root / model.name).symlink_to(model, target_is_directory=True)
    mt = build_marian_like(root / "toy-mt-en-pt", source_lang="en", target_lang="pt")
    record = json.loads((mt / "edge_model.json").read_text(encoding="utf-8"))
    record.update(id=mt.name, files=[], directions=["eng_Latn>por_Latn"])
    (mt / "edge_model.json").write_text(json.dumps(record), encoding="utf-8")
    return root


def test_translation_into_portuguese_speaks_with_espeak(
    english_to_portuguese_store: Path,
    english_recording,  # noqa: ANN001
    tmp_path: Path,
    fresh_warnings: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = english_to_portuguese_store
    # Without the fallback the plan still names the Piper voice to pull.
    with pytest.raises(ModelError, match="edge models pull piper-pt_BR-faber-medium"):
        plan_pipeline("en", "pt", ModelStore(root))
    options = RuntimeOptions(device="cpu")
    translator = SpeechTranslator.load("en", "pt", models_dir=root, options=options)
    assert isinstance(translator.stages.tts, EspeakTTS)
    assert translator.stages.tts.language == "por_Latn"
    assert warnings(caplog) == [PORTUGUESE_WARNING]
    path, texts, _ = english_recording
    result = translator.translate_file(path, tmp_path / "pt.wav")
    assert {t.lang for t in result.translations} == {"por_Latn"}
    audio, rate = sf.read(tmp_path / "pt.wav")
    assert rate == 22050
    if any(any(c.isalnum() for c in t.text) for t in result.translations):
        assert np.sqrt(np.mean(audio**2)) > 0.01  # random MT words, but spoken


def test_english_keeps_its_piper_voice_and_espeak_can_be_forced(
    english_to_portuguese_store: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = english_to_portuguese_store
    assert isinstance(SpeechTranslator.load("en", "en", models_dir=root).stages.tts, PiperTTS)
    forced = SpeechTranslator.load("en", "en", models_dir=root, tts="espeak")
    assert isinstance(forced.stages.tts, EspeakTTS) and forced.stages.tts.voice == "gmw/en-US"
    assert warnings(caplog) == []  # an explicit choice is not a fallback
