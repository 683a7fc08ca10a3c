"""Speech recognition: ``transcribe`` + ``audio-start/-chunk/-stop`` -> ``transcript``.

The audio is converted to 16 kHz mono as it arrives (any rate, 8/16/32-bit, any channel
count). A segment model (Moonshine, Whisper) decodes when ``audio-stop`` comes: the Silero
VAD cuts the audio into speech segments first, as ``edge transcribe`` does, because these
models lose words (or loop) on long audio, and silence alone then gives an empty text
instead of a hallucination. A streaming model (sherpa-onnx online) is fed as the audio
arrives and its growing text goes out as ``transcript-chunk`` events.

Transcript streaming (advertised only when a streaming model is served):
``transcript-start`` at the first audio, ``transcript-chunk`` with each stable addition to
the text, then at ``audio-stop`` the final ``transcript`` and ``transcript-stop``. A request
that lands on a segment model in such a server gets the same frame around one chunk that
holds the whole text, so a client can rely on the frame.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.event import Event

from ..errors import LanguageError
from . import errors
from .audio import AudioFormatError, PcmTo16k
from .config import flores_or_none
from .info import wire_language
from .pool import ModelPool, Served

log = logging.getLogger(__name__)
Send = Callable[[Event], Awaitable[None]]
# Audio a streaming model is fed at once: fewer executor round trips than per 64 ms chunk.
STREAM_BLOCK_S = 0.2


def choose_recognizer(pool: ModelPool, name: str | None, language: str | None) -> Served:
    """The served recognizer a request names, or the preferred one for its language."""
    if not pool.asr:
        raise errors.RequestError(
            errors.UNKNOWN_MODEL, "no speech recognition model is installed on this server"
        )
    if name:
        found = pool.find("asr", name)
        if found is None:
            names = ", ".join(s.id for s in pool.asr)
            raise errors.RequestError(
                errors.UNKNOWN_MODEL,
                f"no speech recognition model named {name!r} here (models: {names})",
            )
        if language and not found.record.covers(language):
            raise errors.RequestError(errors.LANGUAGE, f"{found.id} does not recognize {language}")
        return found
    if language is None:
        return pool.asr[0]
    for served in pool.asr:  # already in order of preference
        if served.record.covers(language):
            return served
    heard = ", ".join(
        sorted({wire_language(lang) for s in pool.asr for lang in s.record.languages})
    )
    raise errors.RequestError(
        errors.LANGUAGE, f"no installed model recognizes {language} (languages: {heard})"
    )


class Recognition:
    """One client's transcription requests (one at a time, as the protocol has it)."""

    def __init__(self, pool: ModelPool, send: Send) -> None:
        self.pool = pool
        self.send = send
        self.streams = any(s.streaming for s in pool.asr)  # what info advertised
        self.reset()

    def reset(self) -> None:
        self.name: str | None = None
        self.language: str | None = None  # FLORES, as asked for
        self.context: dict[str, Any] | None = None
        self.decoder: PcmTo16k | None = None
        self.blocks: list[np.ndarray] = []
        self.pending: list[np.ndarray] = []  # streaming: audio not fed yet
        self.served: Served | None = None
        self.stream: Any = None  # streaming: the recognizer's stream of this request
        self.sent_text = ""  # streaming: text already sent as chunks
        self.started = False  # transcript-start sent
        self.refused = False  # over a limit: ignore audio to the audio-stop

    async def transcribe(self, data: dict[str, Any]) -> None:
        self.reset()
        name = data.get("name")
        self.name = name if isinstance(name, str) else None
        try:
            self.language = flores_or_none(data.get("language"))
        except LanguageError as exc:
            self.refused = True
            raise errors.RequestError(errors.LANGUAGE, str(exc)) from None
        context = data.get("context")
        self.context = context if isinstance(context, dict) else None
        try:
            self.served = choose_recognizer(self.pool, self.name, self.language)
        except errors.RequestError:
            self.refused = True
            raise

    async def audio_start(self, data: dict[str, Any]) -> None:
        if self.refused:
            return  # the audio of a refused request: ignored up to its audio-stop
        if self.decoder is not None:
            # A new stream without audio-stop: start over, keep the transcribe settings.
            keep = (self.name, self.language, self.context, self.served)
            self.reset()
            self.name, self.language, self.context, self.served = keep
        try:
            self.decoder = PcmTo16k(data.get("rate"), data.get("width"), data.get("channels"))  # type: ignore[arg-type]
        except AudioFormatError as exc:
            self.refused = True
            raise errors.RequestError(errors.BAD_AUDIO, str(exc)) from None
        if self.served is None:
            self.served = choose_recognizer(self.pool, None, None)

    async def audio_chunk(self, data: dict[str, Any], payload: bytes | None) -> None:
        if self.refused:
            return
        rate, width, channels = data.get("rate"), data.get("width"), data.get("channels")
        if self.decoder is None:
            await self.audio_start(data)  # audio without audio-start: the chunk says its format
        assert self.decoder is not None
        if not self.decoder.same_format(rate, width, channels):
            self.refused = True
            raise errors.RequestError(
                errors.BAD_AUDIO, "the audio format changed within one stream"
            )
        payload = payload or b""
        limit = self.pool.config.max_audio_s
        if self.decoder.seconds_after(len(payload)) > limit:
            self.refused = True
            self.blocks, self.pending = [], []
            raise errors.RequestError(
                errors.AUDIO_TOO_LONG, f"audio over the limit of {limit:g} s per request"
            )
        samples = self.decoder.decode(payload)
        await self._take(samples)

    async def _take(self, samples: np.ndarray) -> None:
        assert self.served is not None
        if self.streams and not self.started:
            self.started = True
            await self.send(
                TranscriptStart(language=self._wire_language(), context=self.context).event()
            )
        if not self.served.streaming:
            if len(samples):
                self.blocks.append(samples)
            return
        self.pending.append(samples)
        if sum(len(p) for p in self.pending) >= STREAM_BLOCK_S * 16000:
            await self._feed(final=False)

    async def _feed(self, final: bool) -> str:
        """Feed the pending audio to the streaming model; send what the text gained."""
        assert self.served is not None
        audio = np.concatenate(self.pending) if self.pending else np.zeros(0, np.float32)
        self.pending = []

        def work(model: Any) -> str:
            if self.stream is None:
                self.stream = model.create_stream()
            if len(audio):
                self.stream.accept(audio)
            return str(self.stream.finish() if final else self.stream.partial())

        text = " ".join((await self.pool.call(self.served, work)).split())
        # A chunk adds to what was sent; a revision of sent words waits for the final text.
        if text.startswith(self.sent_text) and len(text) > len(self.sent_text):
            await self.send(TranscriptChunk(text=text[len(self.sent_text) :]).event())
            self.sent_text = text
        return text

    async def audio_stop(self) -> None:
        if self.refused:
            self.reset()
            return  # the error was the answer
        if self.decoder is None:
            self.reset()
            raise errors.RequestError(errors.UNEXPECTED, "audio-stop without audio")
        try:
            await self._take(self.decoder.finish())
            if self.served is not None and self.served.streaming:
                text = await self._feed(final=True)
                language = self.language or _first(self.served)
            else:
                text, language = await self._decode_segments()
                if self.streams and text:
                    await self.send(TranscriptChunk(text=text).event())
            await self.send(
                Transcript(
                    text=text,
                    language=wire_language(language) if language else None,
                    context=self.context,
                ).event()
            )
            if self.streams:
                await self.send(TranscriptStop().event())
        finally:
            self.reset()

    async def _decode_segments(self) -> tuple[str, str | None]:
        """VAD segments of the request's audio, each decoded; (text, FLORES language)."""
        assert self.served is not None
        audio = np.concatenate(self.blocks) if self.blocks else np.zeros(0, np.float32)
        self.blocks = []
        segments = await self.pool.run(lambda: _segments(self.pool, audio))
        language = self.language

        def work(model: Any) -> tuple[list[str], str | None]:
            texts, lang = [], language
            for segment in segments:
                result = model.recognize(segment, language)
                if result.text.strip():
                    texts.append(result.text.strip())
                    lang = lang or result.lang
            return texts, lang

        texts, heard = await self.pool.call(self.served, work) if segments else ([], language)
        return " ".join(texts), heard or _first(self.served)

    def _wire_language(self) -> str | None:
        return wire_language(self.language) if self.language else None


def _first(served: Served) -> str | None:
    languages = served.record.languages
    return languages[0] if len(languages) == 1 else None


def _segments(pool: ModelPool, audio: np.ndarray) -> list[np.ndarray]:
    from ..vad import VadSegmenter

    vad = pool.borrow_vad()
    try:
        segmenter = VadSegmenter(vad=vad)
        found = [u.ended.audio for u in segmenter.accept(audio) if u.ended is not None]
        last = segmenter.flush()
        if last is not None:
            found.append(last.audio)
        return found
    finally:
        pool.return_vad(vad)
