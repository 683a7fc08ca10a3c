import jiwer
import numpy as np
import pytest

from edge.asr.sherpa_offline import SherpaSegmentRecognizer
from edge.asr.whisper_ct2 import WhisperCT2
from edge.audio import read_audio
from edge.errors import LanguageError, ModelError

BECKETT = "ever tried ever failed no matter try again fail again fail better"


CONTRACTIONS = {
    "where's": "where is",
    "it's": "it is",
    "what's": "what is",
    "i'm": "i am",
    "that's": "that is",
}


def normalized(text: str) -> str:
    """Lower case, contractions expanded, punctuation removed: WER counts words, not style."""
    words = [CONTRACTIONS.get(w, w) for w in text.lower().replace("’", "'").split()]
    return " ".join(jiwer.RemovePunctuation()(" ".join(words)).split())


def test_moonshine_on_a_real_recording(moonshine, beckett_wav) -> None:
    result = moonshine.recognize(read_audio(beckett_wav))
    assert result.lang == "eng_Latn"
    assert jiwer.wer(BECKETT, normalized(result.text)) <= 0.10


def test_moonshine_on_synthesized_sentences(moonshine, english_recording) -> None:
    path, texts, spans = english_recording
    audio = read_audio(path)
    hypotheses = [
        normalized(moonshine.recognize(audio[int(a * 16000) - 1600 : int(b * 16000) + 1600]).text)
        for a, b in spans
    ]
    error = jiwer.wer([normalized(t) for t in texts], hypotheses)
    assert error <= 0.10, hypotheses


def test_tts_round_trip(moonshine, joe) -> None:
    from edge.audio import resample

    texts = [
        "Where is the nearest pharmacy?",
        "The museum opens at ten in the morning.",
        "Could you call a taxi for me, please?",
    ]
    heard = []
    for text in texts:
        audio = np.concatenate(list(joe.synthesize(text)))
        heard.append(normalized(moonshine.recognize(resample(audio, joe.sample_rate, 16000)).text))
    # Piper adds random noise, and Moonshine tiny now and then drops a few leading words of
    # one sentence: the bound catches a broken voice or recognizer, not a slip.
    assert jiwer.wer([normalized(t) for t in texts], heard) <= 0.3, heard


def test_whisper_transcribes_and_identifies_languages(whisper_base_dir, beckett_wav) -> None:
    from tests.conftest import SAMPLES

    whisper = WhisperCT2.load(whisper_base_dir, task="transcribe")
    english = whisper.recognize(read_audio(beckett_wav))
    assert english.lang == "eng_Latn"
    assert jiwer.wer(BECKETT, normalized(english.text)) <= 0.25
    assert whisper.detect_language(read_audio(SAMPLES / "es_station.flac"))[0] == "spa_Latn"
    assert whisper.detect_language(read_audio(SAMPLES / "de_station.flac"))[0] == "deu_Latn"
    # Restricting to a language pair (two-way conversation) picks the better of the two.
    lang, _p = whisper.detect_language(
        read_audio(SAMPLES / "de_station.flac"), ("eng_Latn", "fra_Latn")
    )
    assert lang in ("eng_Latn", "fra_Latn")


def test_whisper_translates_speech_to_english(whisper_base_dir) -> None:
    from tests.conftest import SAMPLES

    whisper = WhisperCT2.load(whisper_base_dir, task="translate", with_source_transcript=True)
    result = whisper.recognize(read_audio(SAMPLES / "es_station.flac"))
    assert result.lang == "eng_Latn"
    assert result.source_lang == "spa_Latn"
    words = set(normalized(result.text).split())
    assert {"station", "madrid"} & words, result.text
    assert "estación" in result.source_text.lower() or "madrid" in result.source_text.lower()


def test_english_only_whisper_cannot_translate(tmp_path, whisper_base_dir) -> None:
    with pytest.raises(ModelError):
        WhisperCT2.load(tmp_path, task="translate")
    whisper = WhisperCT2.load(whisper_base_dir, task="transcribe")
    with pytest.raises(LanguageError):
        whisper.recognize(np.zeros(16000, np.float32), "xx_Unknown")


def test_missing_model_files_are_named(tmp_path, moonshine_dir) -> None:
    broken = tmp_path / "moonshine"
    broken.mkdir()
    for f in moonshine_dir.iterdir():
        if "decoder" not in f.name:
            (broken / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ModelError, match="decoder"):
        SherpaSegmentRecognizer.load(broken)
