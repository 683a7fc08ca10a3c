import jiwer
import numpy as np

from edge.audio import resample
from edge.tts.chunking import PhraseChunker, split_phrases

from .test_asr import normalized


def test_phrases_split_at_clauses_and_cap_the_first() -> None:
    assert split_phrases("I would like a cup of coffee with milk, and a glass of water.", 0) == [
        "I would like a cup of coffee with milk,",
        "and a glass of water.",
    ]
    assert split_phrases("The train to the airport leaves at nine.", 4) == [
        "The train to the",
        "airport leaves at nine.",
    ]
    # Too short to cut into natural phrases: left whole.
    assert split_phrases("Thank you very much.", 4) == ["Thank you very much."]
    assert split_phrases("Yes, of course, tomorrow at ten.", 0) == [
        "Yes, of course,",
        "tomorrow at ten.",
    ]
    assert split_phrases("   ", 4) == []


def test_voice_speaks_its_language_at_its_rate(joe) -> None:
    assert joe.language == "eng_Latn"
    assert joe.sample_rate == 22050
    chunks = list(joe.synthesize("Hello. How are you today?"))
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    assert len(chunks) == 2  # Piper yields one chunk per sentence
    assert all(np.max(np.abs(c)) <= 1.0 for c in chunks)


def test_chunked_voice_says_the_same_words(joe, moonshine) -> None:
    text = "The train to the airport leaves at nine, from platform four."
    chunked = PhraseChunker(joe, first_phrase_words=4)
    chunks = list(chunked.synthesize(text))
    assert len(chunks) == 3
    audio = resample(np.concatenate(chunks), joe.sample_rate, 16000)
    heard = normalized(moonshine.recognize(audio).text)
    # Piper adds random noise, and the cut costs a little at the seam: bound the error.
    assert jiwer.wer(normalized(text), heard) <= 0.3, heard
