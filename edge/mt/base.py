"""Machine translation interface: sentences in, sentences out, batched; optionally streamed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable


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
