"""Phrase chunking in front of a voice: the first sound comes out sooner.

A Piper voice synthesizes a sentence in one pass, so the first sample waits for the whole
sentence. Synthesizing clause by clause (at commas, semicolons, colons, dashes), and cutting
a long first clause after a few words, lets playback start after the first phrase while the
rest is synthesized, at a small cost in prosody at the cut.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from .base import Voice

_CLAUSE = re.compile(r"(?<=[,;:،、，；：])\s+|\s+(?=[–—]\s)")
# Phrases shorter than this are joined to the next: a one-word phrase sounds clipped.
MIN_PHRASE_WORDS = 3


def split_phrases(text: str, first_phrase_words: int) -> list[str]:
    """Clauses of ``text``; the first is at most ``first_phrase_words`` words (0: no cap)."""
    clauses = [c.strip() for c in _CLAUSE.split(text) if c and c.strip()]
    phrases: list[str] = []
    for clause in clauses:
        if phrases and len(phrases[-1].split()) < MIN_PHRASE_WORDS:
            phrases[-1] = f"{phrases[-1]} {clause}"
        else:
            phrases.append(clause)
    if not phrases:
        return []
    words = phrases[0].split()
    # Only cut when enough words remain after the cut to make a natural second phrase.
    if first_phrase_words and len(words) >= first_phrase_words + MIN_PHRASE_WORDS:
        phrases[0:1] = [" ".join(words[:first_phrase_words]), " ".join(words[first_phrase_words:])]
    return phrases


class PhraseChunker:
    """A :class:`Voice` that synthesizes phrase by phrase."""

    def __init__(self, voice: Voice, first_phrase_words: int = 5) -> None:
        self._voice = voice
        self.sample_rate = voice.sample_rate
        self.language = voice.language
        self.first_phrase_words = first_phrase_words

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for phrase in split_phrases(text, self.first_phrase_words):
            yield from self._voice.synthesize(phrase)
