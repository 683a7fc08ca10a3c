"""The ``edge translate`` handle program: a ``transcript`` in, its translation ``handled``.

The source language is the transcript's ``language``. The target is, in this order: the
transcript's context ``{"target_language": "pt"}``, the server's ``--target``, or the only
language an installed model translates the source into. A pair no served model covers is
``not-handled`` with a text saying so (Home Assistant speaks that text to the user); a
transcript over the length limit is an ``error``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wyoming.event import Event
from wyoming.handle import Handled, NotHandled

from ..errors import LanguageError
from ..languages import language_name
from ..text import split_sentences
from . import errors
from .config import flores_or_none
from .info import mt_pairs, wire_language
from .pool import ModelPool, Served

Send = Callable[[Event], Awaitable[None]]
CONTEXT_TARGET = "target_language"


class NotTranslatable(Exception):
    """The request is understood, but no served model can answer it."""


def _name(flores: str) -> str:
    try:
        return language_name(flores)
    except LanguageError:
        return flores


def choose_translator(pool: ModelPool, source: str, target: str) -> Served:
    # A one-way model for the pair (smaller) before a many-to-many one.
    fitting = [s for s in pool.mt if s.record.translates(source, target)]
    if not fitting:
        pairs = ", ".join(
            f"{wire_language(a)}->{wire_language(b)}"
            for s in pool.mt
            for a, b in mt_pairs(s.record)[:12]
        )
        raise NotTranslatable(
            f"cannot translate {_name(source)} to {_name(target)}: no installed model covers it "
            f"(installed pairs: {pairs or 'none'})"
        )
    return min(fitting, key=lambda s: (len(s.record.languages), s.record.ram_mb or 0.0))


def _target(pool: ModelPool, source: str, context: dict[str, Any] | None) -> str:
    asked = (context or {}).get(CONTEXT_TARGET)
    if asked is not None:
        return flores_or_none(asked) or _target(pool, source, None)
    if pool.config.target:
        return pool.config.target
    targets = sorted({b for s in pool.mt for a, b in mt_pairs(s.record) if a == source})
    if len(targets) == 1:
        return targets[0]
    options = ", ".join(wire_language(t) for t in targets) or "none"
    raise NotTranslatable(
        f"no target language for {_name(source)}: start the server with --target, or send "
        f'context {{"{CONTEXT_TARGET}": ...}} (possible: {options})'
    )


def _source(pool: ModelPool, language: object) -> str:
    if language is not None:
        source = flores_or_none(language)  # type: ignore[arg-type]
        if source is not None:
            return source
    sources = sorted({a for s in pool.mt for a, _b in mt_pairs(s.record)})
    if len(sources) == 1:
        return sources[0]
    raise NotTranslatable("the transcript has no language: send its language (such as en)")


class Translation:
    """Answers ``transcript`` events."""

    def __init__(self, pool: ModelPool, send: Send) -> None:
        self.pool = pool
        self.send = send

    async def transcript(self, data: dict[str, Any]) -> None:
        text = data.get("text")
        if not isinstance(text, str):
            raise errors.RequestError(errors.MALFORMED, "a transcript needs a 'text' string")
        limit = self.pool.config.max_text_chars
        if len(text) > limit:
            raise errors.RequestError(
                errors.TEXT_TOO_LONG, f"text of {len(text)} characters is over the limit of {limit}"
            )
        context = data.get("context")
        context = context if isinstance(context, dict) else None
        try:
            source = _source(self.pool, data.get("language"))
            target = _target(self.pool, source, context)
            answer = {
                "source_language": wire_language(source),
                CONTEXT_TARGET: wire_language(target),
            }
            sentences = split_sentences(text)
            if source == target or not sentences:
                # Nothing to translate: the same language in and out, or no words.
                await self.send(Handled(text=" ".join(sentences), context=answer).event())
                return
            served = choose_translator(self.pool, source, target)
        except (NotTranslatable, LanguageError) as exc:
            await self.send(NotHandled(text=str(exc)).event())
            return
        translated = await self.pool.call(
            served, lambda model: model.translate(sentences, source, target)
        )
        await self.send(
            Handled(
                text=" ".join(t.strip() for t in translated if t.strip()), context=answer
            ).event()
        )
