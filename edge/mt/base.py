"""Machine translation interface: sentences in, sentences out, batched; optionally streamed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from edge.errors import EdgeError


@runtime_checkable
class TextTranslator(Protocol):
    languages: tuple[str, ...]  # FLORES-200 codes it translates between

    def supports(self, source: str, target: str) -> bool: ...

    def translate(self, sentences: list[str], source: str, target: str) -> list[str]:
        """Translate a batch of sentences from ``source`` to ``target`` (FLORES-200 codes)."""
        ...


@runtime_checkable
class WordStreamingTranslator(TextTranslator, Protocol):
    """A translator that also yields one sentence's translation word by word as it decodes,
    so speech can start before the sentence is translated to the end."""

    def translate_words(self, sentence: str, source: str, target: str) -> Iterator[str]:
        """Words of the translation; the iterator's ``close()`` stops the decode."""
        ...


@dataclass(frozen=True)
class DecodingOptions:
    """Search settings; the defaults favour speed on small CPUs."""

    beam_size: int = 1
    max_decoding_length: int = 256  # hard bound on output tokens
    # Output is also bounded to this many times the source length (plus a little headroom),
    # which stops a model that loops from decoding the whole hard bound.
    max_length_ratio: float = 3.0
    repetition_penalty: float = 1.0  # > 1 discourages repeating tokens
    no_repeat_ngram_size: int = 0  # > 0 forbids repeating n-grams of this size
    max_input_length: int = 1024  # longer sources are truncated

    @classmethod
    def field_names(cls) -> frozenset[str]:
        return frozenset(f.name for f in dataclasses.fields(cls))

    @classmethod
    def merged(cls, *layers: Mapping[str, Any]) -> DecodingOptions:
        """Defaults overridden by each mapping in turn; unknown keys are errors."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for layer in layers:
            unknown = sorted(set(layer) - names)
            if unknown:
                raise EdgeError(
                    f"unknown decoding option '{unknown[0]}'",
                    f"use one of: {', '.join(sorted(names))}",
                )
            values.update(layer)
        return cls(**values)


@dataclass(frozen=True)
class TranslationStats:
    """Work done by the last ``translate`` call, for throughput reports."""

    sentences: int
    source_tokens: int
    decoded_tokens: int  # generated tokens, without forced language tokens
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.decoded_tokens / self.seconds if self.seconds > 0 else 0.0


def pieces_to_words(pieces: Iterable[str], detokenize: Callable[[list[str]], str]) -> Iterator[str]:
    """Words of a SentencePiece piece stream: a piece starting with ``▁`` begins a word."""
    word: list[str] = []
    for piece in pieces:
        if piece.startswith("▁") and word:
            text = detokenize(word)
            word = []
            if text:
                yield text
        word.append(piece)
    text = detokenize(word)
    if text:
        yield text
