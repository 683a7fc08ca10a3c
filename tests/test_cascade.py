"""The engine end to end on real models (and a synthetic NLLB model for the MT stage)."""

from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf

from edge.events import AudioOut, Metrics, SpeechEnded, SpeechStarted, Transcript, Translation
from edge.translator import SpeechTranslator

from .test_asr import normalized


def test_one_transcript_per_sentence(moonshine_dir, english_recording) -> None:
    path, texts, spans = english_recording
    translator = SpeechTranslator.load("en", None, asr=moonshine_dir)
    result = translator.translate_file(path)
    assert len(result.transcripts) == len(texts)
    error = jiwer.wer(
        [normalized(t) for t in texts], [normalized(t.text) for t in result.transcripts]
    )
    assert error <= 0.10
    for transcript, (start, end) in zip(result.transcripts, spans, strict=True):
        assert transcript.start_s <= start + 0.1
        assert abs(transcript.end_s - end) < 0.3
    assert result.metrics.utterances == len(texts)


def test_cascade_with_nllb_format_model(
    tmp_path: Path, moonshine_dir, joe_dir, english_recording
) -> None:
    from edge.synthetic.ct2_transformer import build_nllb_like

    mt_dir = build_nllb_like(tmp_path / "nllb", languages=("eng_Latn", "spa_Latn", "deu_Latn"))
    path, texts, _ = english_recording
    translator = SpeechTranslator.load("en", "es", asr=moonshine_dir, mt=mt_dir, tts=joe_dir)
    output = tmp_path / "out.wav"
    result = translator.translate_file(path, output)
    # A random model guarantees the plumbing, not the words: one translation per sentence,
    # in the target language, each spoken.
    assert len(result.translations) >= len(texts)
    assert all(t.lang == "spa_Latn" and t.source_lang == "eng_Latn" for t in result.translations)
    assert {t.source_text for t in result.translations} >= {t.text for t in result.transcripts}
    audio, rate = sf.read(output)
    assert rate == translator.stages.tts.sample_rate
    spoken = [t for t in result.translations if t.text.strip()]
    assert len(audio) > 0.2 * rate * len(spoken)
    assert len(result.utterances) == len(texts)


def test_direct_speech_translation_to_english_speech(
    tmp_path: Path, whisper_base_dir, joe_dir, moonshine
) -> None:
    from edge.audio import read_audio
    from tests.conftest import SAMPLES

    translator = SpeechTranslator.load("es", "en", direct=whisper_base_dir, tts=joe_dir)
    output = tmp_path / "en.wav"
    result = translator.translate_file(SAMPLES / "es_station.flac", output)
    assert result.translations and all(t.lang == "eng_Latn" for t in result.translations)
    assert all(t.lang == "spa_Latn" for t in result.transcripts)
    heard = normalized(moonshine.recognize(read_audio(output)).text)
    said = normalized(" ".join(t.text for t in result.translations))
    assert jiwer.wer(said, heard) <= 0.35, (said, heard)
    assert {"station", "madrid", "morning", "ticket"} & set(heard.split()), heard


def test_stages_overlap_in_real_time(moonshine_dir, joe_dir, english_recording) -> None:
    """Sentence 1 is spoken while later sentences are still being recognized."""
    path, texts, _ = english_recording
    translator = SpeechTranslator.load("en", "en", asr=moonshine_dir, tts=joe_dir)
    order = [type(e).__name__ for e in translator.stream(path, realtime=True)]
    first_audio = order.index(AudioOut.__name__)
    last_transcript = len(order) - 1 - order[::-1].index(Transcript.__name__)
    assert first_audio < last_transcript
    assert order[-1] == Metrics.__name__


def test_event_order_per_utterance(moonshine_dir, joe_dir, english_recording) -> None:
    path, texts, _ = english_recording
    translator = SpeechTranslator.load("en", "en", asr=moonshine_dir, tts=joe_dir)
    events = list(translator.stream(path))
    for uid in range(1, len(texts) + 1):
        kinds = [type(e) for e in events if getattr(e, "utterance_id", None) == uid]
        assert kinds.index(SpeechStarted) < kinds.index(SpeechEnded) < kinds.index(Transcript)
        assert kinds.index(Transcript) < kinds.index(AudioOut)
    metrics = events[-1]
    assert isinstance(metrics, Metrics)
    assert len(metrics.end_of_speech_to_first_audio_ms) == len(texts)
    assert not any(isinstance(e, Translation) and not e.text for e in events)


def test_silence_gives_no_speech_and_a_clean_end(tmp_path: Path, moonshine_dir, joe_dir) -> None:
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros(16000 * 3, np.float32), 16000)
    translator = SpeechTranslator.load("en", "en", asr=moonshine_dir, tts=joe_dir)
    result = translator.translate_file(silent, tmp_path / "out.wav")
    assert result.transcripts == [] and result.translations == []
    assert result.audio_seconds_written == 0
