import jiwer
import numpy as np

from edge.audio import resample
from edge.tts.chunking import PhraseCutter, split_phrases

from .test_asr import normalized


def test_phrases_split_at_clauses_and_cap_the_first() -> None:
    assert split_phrases("I would like a cup of coffee with milk, and a glass of water.", 0) == [
        "I would like a cup of coffee with milk,",
        "and a glass of water.",
    ]
    # The count cut waits for a word longer than an article or a preposition.
    assert split_phrases("The train to the airport leaves at nine.", 4) == [
        "The train to the airport",
        "leaves at nine.",
    ]
    # Too short to cut into natural phrases: left whole.
    assert split_phrases("Thank you very much.", 4) == ["Thank you very much."]
    assert split_phrases("Yes, of course, tomorrow at ten.", 0) == [
        "Yes, of course,",
        "tomorrow at ten.",
    ]
    assert split_phrases("We go now — the bus is here.", 0) == ["We go now", "— the bus is here."]
    assert split_phrases("   ", 4) == []


def test_streamed_words_cut_like_the_whole_text() -> None:
    """Cuts depend only on the words so far and the expected length, never on what follows."""
    text = "El tren al aeropuerto sale a las nueve, desde el andén cuatro, sin retraso."
    for first in (0, 3, 5):
        for expected in (8, 14, 20):
            cutter = PhraseCutter(first, expected_words=expected)
            streamed = [p for p in map(cutter.push, text.split()) if p is not None]
            streamed += [cutter.finish()]
            assert streamed == split_phrases(text, first, expected_words=expected)
            assert " ".join(streamed) == text
    # A shorter expectation than the real text stops the cuts near its end.
    assert split_phrases(text, 4, expected_words=6) == [text]


def test_voice_speaks_its_language_at_its_rate(joe) -> None:
    assert joe.language == "eng_Latn"
    assert joe.sample_rate == 22050
    chunks = list(joe.synthesize("Hello. How are you today?"))
    assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
    assert len(chunks) == 2  # Piper yields one chunk per sentence
    assert all(np.max(np.abs(c)) <= 1.0 for c in chunks)


def test_phrase_by_phrase_speech_says_the_same_words(joe, moonshine) -> None:
    text = "The train to the airport leaves at nine, from platform four."
    phrases = split_phrases(text, 4)
    assert phrases == ["The train to the airport", "leaves at nine,", "from platform four."]
    chunks = [c for phrase in phrases for c in joe.synthesize(phrase)]
    audio = resample(np.concatenate(chunks), joe.sample_rate, 16000)
    heard = normalized(moonshine.recognize(audio).text)
    # The cuts cost a little at the seams: bound the error.
    assert jiwer.wer(normalized(text), heard) <= 0.3, heard


def test_seams_trim_only_the_pads_at_a_cut() -> None:
    from edge.tts.chunking import SEAM_KEEP_S, seamed, trim_seam

    rate = 16000
    pad, keep = np.zeros(3200, np.float32), int(SEAM_KEEP_S * rate)
    tone = 0.3 * np.sin(np.arange(4000) * 0.2).astype(np.float32)
    audio = np.concatenate([pad, tone, pad])
    loud = np.flatnonzero(np.abs(audio) > 10 ** (-45 / 20))
    assert len(trim_seam(audio, rate, lead=False, trail=False)) == len(audio)
    trailing = trim_seam(audio, rate, lead=False, trail=True)
    assert len(trailing) == loud[-1] + 1 + keep  # the leading pad is kept whole
    both = trim_seam(audio, rate, lead=True, trail=True)
    assert len(both) == loud[-1] - loud[0] + 1 + 2 * keep
    assert len(trim_seam(pad, rate, lead=True, trail=True)) == len(pad)  # silence stays
    # Over chunks: the lead of the first chunk, the trail of the last, nothing between.
    chunks = list(seamed([audio, audio, audio], rate, lead=True, trail=True))
    assert [len(c) for c in chunks] == [len(audio) - loud[0] + keep, len(audio), len(trailing)]
    assert PhraseCutter(4, expected_words=12, cut=False).push("word") is None
    cutter = PhraseCutter(cut=False)
    assert [cutter.push(w) for w in ["one,", "two,", "three,", "four,", "five,", "six"]] == [
        None
    ] * 6
    assert cutter.finish() == "one, two, three, four, five, six"
