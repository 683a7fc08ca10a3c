"""Machine translation interface: sentences in, sentences out, batched."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class TextTranslator(Protocol):
    languages: tuple[str, ...]  # FLORES-200 codes it translates between

    def supports(self, source: str, target: str) -> bool: ...

    def translate(self, sentences: list[str], source: str, target: str) -> list[str]:
        """Translate a batch of sentences from ``source`` to ``target`` (FLORES-200 codes)."""
        ...
