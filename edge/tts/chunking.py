"""Phrase cutting: the first sound need not wait for the whole sentence.

A Piper voice synthesizes a sentence in one pass, so its first sample waits for the whole
sentence, and the sentence waits for its whole translation. The engine cuts translations
into phrases word by word as the MT decodes them: at clause punctuation, and in the first
sentence of an utterance also after a few words, so playback starts once the first phrase
is decoded and synthesized while the rest is still being decoded.

Every cut is decided from the words so far and the expected length (the source sentence's
word count), never from words after it: a streamed translation and the same text cut at
once give the same phrases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import numpy as np

_CLAUSE_END = re.compile(r"[,;:،、，；：]$")
_DASHES = frozenset("–—")
# Words of a first phrase spoken while the MT decodes the rest of the sentence (by default).
FIRST_PHRASE_WORDS = 3
# Phrases shorter than this are joined to the next: a one-word phrase sounds clipped.
MIN_PHRASE_WORDS = 3
# A voice pads what it synthesizes with silence at both ends (Piper joe: 30-50 ms before,
# 120-220 ms after). At a cut inside a sentence the two pads meet in a pause the whole
# sentence would not have, and every cut made the reply longer (a backlog of replies grows
# by it); each side of a cut keeps this much of its pad.
SEAM_KEEP_S = 0.04
SEAM_FLOOR = 10 ** (-45 / 20)  # a sample below -45 dBFS counts as silence
# A cut after a word this short would mostly end a phrase on an article or a preposition
# ("the", "to", "de", "la", "zu"): the count cut waits for a longer word.
_FUNCTION_WORD_CHARS = 3


class PhraseCutter:
    """Turns a stream of words into phrases.

    ``cut=False`` keeps the text whole (nothing to gain while earlier audio still plays).
    ``first_phrase_words``: cut the first phrase after at least this many words even without
    punctuation (0: only at clauses). ``expected_words``: how long the text is likely to be;
    no cut leaves fewer than :data:`MIN_PHRASE_WORDS` words expected after it.
    """

    def __init__(
        self, first_phrase_words: int = 0, expected_words: int | None = None, *, cut: bool = True
    ) -> None:
        self.first_phrase_words = first_phrase_words
        self.expected_words = expected_words
        self.cut = cut  # False: the whole text is one phrase
        self._words: list[str] = []  # of the open phrase
        self._seen = 0
        self._cut_before = False

    def push(self, word: str) -> str | None:
        """Add the next word; returns a phrase when one is complete."""
        done = None
        if word in _DASHES and self._cuttable():
            done = self._take()
        self._words.append(word)
        self._seen += 1
        if done is None and self._cuttable():
            clause = _CLAUSE_END.search(word) is not None
            capped = (
                not self._cut_before
                and self.first_phrase_words > 0
                and len(self._words) >= self.first_phrase_words
                and len(word.strip(".,;:!?\"'")) > _FUNCTION_WORD_CHARS
            )
            if clause or capped:
                done = self._take()
        return done

    def finish(self) -> str | None:
        """The rest, if any words are left."""
        return self._take() if self._words else None

    def _cuttable(self) -> bool:
        if not self.cut or len(self._words) < MIN_PHRASE_WORDS:
            return False
        return self.expected_words is None or self.expected_words - self._seen >= MIN_PHRASE_WORDS

    def _take(self) -> str:
        phrase = " ".join(self._words)
        self._words = []
        self._cut_before = True
        return phrase


def split_phrases(
    text: str, first_phrase_words: int = 0, expected_words: int | None = None
) -> list[str]:
    """``text`` cut as :class:`PhraseCutter` cuts it (expected length: its own word count)."""
    words = text.split()
    cutter = PhraseCutter(
        first_phrase_words, len(words) if expected_words is None else expected_words
    )
    phrases = [p for p in map(cutter.push, words) if p is not None]
    rest = cutter.finish()
    return phrases + ([rest] if rest else [])


def trim_seam(audio: np.ndarray, sample_rate: int, *, lead: bool, trail: bool) -> np.ndarray:
    """``audio`` with its silent pad cut to :data:`SEAM_KEEP_S` at the ``lead``ing and/or
    ``trail``ing side of a phrase cut; all-silent audio is left as it is."""
    loud = np.flatnonzero(np.abs(audio) > SEAM_FLOOR)
    if not len(loud) or not (lead or trail):
        return audio
    keep = int(SEAM_KEEP_S * sample_rate)
    start = max(0, int(loud[0]) - keep) if lead else 0
    end = min(len(audio), int(loud[-1]) + 1 + keep) if trail else len(audio)
    return audio[start:end]


def seamed(
    chunks: Iterable[np.ndarray], sample_rate: int, *, lead: bool, trail: bool
) -> Iterator[np.ndarray]:
    """A phrase's chunks with :func:`trim_seam` applied to its first (``lead``) and last
    (``trail``) chunk. For ``trail`` each chunk waits for the next, to know it is not the
    last: a phrase is mostly one chunk, so its first sound waits for nothing more."""
    previous: np.ndarray | None = None
    first = True
    for chunk in chunks:
        if not trail:
            yield trim_seam(chunk, sample_rate, lead=lead and first, trail=False)
            first = False
            continue
        if previous is not None:
            yield trim_seam(previous, sample_rate, lead=lead and first, trail=False)
            first = False
        previous = chunk
    if previous is not None:
        yield trim_seam(previous, sample_rate, lead=lead and first, trail=True)
