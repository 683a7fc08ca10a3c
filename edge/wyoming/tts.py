"""Speech synthesis: ``synthesize`` and the streaming ``synthesize-start/-chunk/-stop``.

A one-shot ``synthesize`` is answered with one ``audio-start``, the chunks of every
sentence as each is synthesized, and one ``audio-stop``. A stream is spoken sentence by
sentence as its text arrives: each complete sentence gets its own ``audio-start``, chunks
and ``audio-stop`` at once (as wyoming-piper does), the rest when ``synthesize-stop``
comes, and then ``synthesize-stopped``. The ``synthesize`` a streaming client also sends
(for servers without streaming) is ignored while a stream is open.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.tts import SynthesizeVoice

from ..errors import LanguageError
from ..models.record import read_record
from ..text import complete_sentences
from . import errors
from .audio import to_pcm16
from .config import flores_or_none
from .pool import ModelPool, Served

log = logging.getLogger(__name__)
Send = Callable[[Event], Awaitable[None]]
WIDTH, CHANNELS = 2, 1


def speakers_of(voice_dir: Path) -> list[str]:
    """Speaker names of a multi-speaker Piper voice (its config's ``speaker_id_map``)."""
    record = read_record(voice_dir)
    name = record.options.get("config") if record is not None else None
    configs = [voice_dir / name] if name else sorted(voice_dir.glob("*.onnx.json"))
    for path in configs:
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        speakers = config.get("speaker_id_map") or {}
        if isinstance(speakers, dict) and len(speakers) > 1:
            return sorted(speakers, key=lambda s: speakers[s])
    return []


def choose_voice(pool: ModelPool, voice: SynthesizeVoice | None) -> Served:
    """The served voice a request names, or one speaking its language, or the first."""
    if not pool.tts:
        raise errors.RequestError(errors.UNKNOWN_MODEL, "no voice is installed on this server")
    if voice is not None and voice.name:
        found = pool.find("tts", voice.name)
        if found is None:
            names = ", ".join(s.id for s in pool.tts)
            raise errors.RequestError(
                errors.UNKNOWN_MODEL, f"no voice named {voice.name!r} here (voices: {names})"
            )
        if voice.speaker:
            # The Piper wrapper fixes the speaker at load; the voice's default one speaks.
            log.warning(
                "speaker %r of %s not selectable; default speaker used", voice.speaker, found.id
            )
        return found
    if voice is not None and voice.language:
        try:
            language = flores_or_none(voice.language)
        except LanguageError as exc:
            raise errors.RequestError(errors.LANGUAGE, str(exc)) from None
        for served in pool.tts:
            if served.record.covers(language or ""):
                return served
        spoken = ", ".join(sorted({lang for s in pool.tts for lang in s.record.languages}))
        raise errors.RequestError(
            errors.LANGUAGE, f"no installed voice speaks {voice.language} (voices speak: {spoken})"
        )
    return pool.tts[0]


def _text_of(data: dict[str, Any], key: str = "text") -> str:
    text = data.get(key, "")
    if not isinstance(text, str):
        raise errors.RequestError(errors.MALFORMED, f"'{key}' must be a string")
    return text


class Synthesis:
    """One client's synthesis requests (at most one stream open at a time)."""

    def __init__(self, pool: ModelPool, send: Send) -> None:
        self.pool = pool
        self.send = send
        self.stream_voice: Served | None = None
        self._buffer = ""
        self._streamed_chars = 0
        self._refused = False  # the open stream went over a limit: ignore it to its stop

    @property
    def streaming(self) -> bool:
        return self.stream_voice is not None or self._refused

    def _check_length(self, chars: int) -> None:
        limit = self.pool.config.max_text_chars
        if chars > limit:
            raise errors.RequestError(
                errors.TEXT_TOO_LONG, f"text of {chars} characters is over the limit of {limit}"
            )

    async def synthesize(self, data: dict[str, Any]) -> None:
        if self.streaming:
            return  # the compatibility copy of an open stream's text
        text = _text_of(data)
        self._check_length(len(text))
        voice = choose_voice(self.pool, SynthesizeVoice.from_dict(_voice_dict(data)))
        await self._speak(voice, text)

    async def start(self, data: dict[str, Any]) -> None:
        self.stream_voice = choose_voice(self.pool, SynthesizeVoice.from_dict(_voice_dict(data)))
        self._buffer = ""
        self._streamed_chars = 0
        self._refused = False

    async def chunk(self, data: dict[str, Any]) -> None:
        if self._refused:
            return
        if self.stream_voice is None:
            raise errors.RequestError(
                errors.UNEXPECTED, "synthesize-chunk without synthesize-start"
            )
        text = _text_of(data)
        self._streamed_chars += len(text)
        try:
            self._check_length(self._streamed_chars)
        except errors.RequestError:
            self.stream_voice, self._buffer, self._refused = None, "", True
            raise
        self._buffer += text
        done, rest = complete_sentences(self._buffer)
        if not done:
            return
        # complete_sentences normalizes spaces: keep the one that separates the next chunk.
        self._buffer = rest + (" " if rest and self._buffer[-1:].isspace() else "")
        await self._speak(self.stream_voice, " ".join(done))

    async def stop(self) -> None:
        from wyoming.tts import SynthesizeStopped

        if self._refused:
            self._refused = False
            return  # the error was the answer
        if self.stream_voice is None:
            raise errors.RequestError(errors.UNEXPECTED, "synthesize-stop without synthesize-start")
        voice, rest = self.stream_voice, self._buffer.strip()
        self.stream_voice, self._buffer = None, ""
        if rest:
            await self._speak(voice, rest)
        await self.send(SynthesizeStopped().event())

    async def _speak(self, voice: Served, text: str) -> None:
        """audio-start, the audio of ``text`` chunk by chunk as it is synthesized, audio-stop.

        audio-start goes out with the first sentence's audio, not before: a client timing
        the first event, or a synthesis that fails, sees no empty stream.
        """
        chunk = self.pool.config.samples_per_chunk
        pieces: Iterator[np.ndarray] | None = None

        def first(model: Any) -> tuple[int, Iterator[np.ndarray], np.ndarray | None]:
            synthesized = iter(model.synthesize(" ".join(text.split())))
            return int(model.sample_rate), synthesized, next(synthesized, None)

        def step(_model: Any) -> np.ndarray | None:
            assert pieces is not None
            return next(pieces, None)

        try:
            rate, pieces, samples = await self.pool.call(voice, first)
            await self.send(AudioStart(rate=rate, width=WIDTH, channels=CHANNELS).event())
            while samples is not None:
                pcm = to_pcm16(samples)
                for offset in range(0, len(pcm), chunk * WIDTH):
                    audio = pcm[offset : offset + chunk * WIDTH]
                    await self.send(
                        AudioChunk(rate=rate, width=WIDTH, channels=CHANNELS, audio=audio).event()
                    )
                # One sentence per call under the voice's lock: other clients' sentences
                # are synthesized in between.
                samples = await self.pool.call(voice, step)
            await self.send(AudioStop().event())
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                with contextlib.suppress(ValueError):  # still running in a worker thread
                    close()


def _voice_dict(data: dict[str, Any]) -> dict[str, Any]:
    voice = data.get("voice") or {}
    if not isinstance(voice, dict):
        raise errors.RequestError(errors.MALFORMED, "'voice' must be an object")
    return voice
