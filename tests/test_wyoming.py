"""edge as a Wyoming server, over 127.0.0.1 with the wyoming client library and real models.

Moonshine tiny (ASR) and the Piper voice joe (TTS) are the conftest's session models, shared
with the server; Bergamot en->pt (translate) and the espeak-ng Portuguese voice (no Piper voice
speaks Portuguese here) are loaded by the server on first use. Every
bad-input test ends by checking that the server still answers a normal request.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncClient
from wyoming.event import Event, read_event
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from edge.wyoming import ServerConfig, WyomingServer
from edge.wyoming.config import DEFAULT_URI, endpoint

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
MAX_CLIENTS = 4
TIMEOUT = 30.0


class ServerThread:
    """A WyomingServer on its own event loop in a background thread."""

    def __init__(self, server: WyomingServer) -> None:
        self.server = server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(TIMEOUT)

    def __enter__(self) -> str:
        self.thread.start()
        self.call(self.server.start())
        return f"tcp://127.0.0.1:{self.server.port}"

    def __exit__(self, *_exc: object) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)


@pytest.fixture(scope="module")
def served(store, moonshine, joe) -> Iterator[tuple[str, WyomingServer]]:  # noqa: ANN001
    config = ServerConfig(uri="tcp://127.0.0.1:0", models_dir=store.root, max_clients=MAX_CLIENTS)
    loaded = {"moonshine-tiny-en": moonshine, "piper-en_US-joe-medium": joe}
    server = WyomingServer(config, store=store, loaded=loaded)
    with ServerThread(server) as uri:
        yield uri, server


@pytest.fixture(scope="module")
def uri(served: tuple[str, WyomingServer]) -> str:
    return served[0]


@pytest.fixture(scope="module")
def station() -> np.ndarray:
    audio, rate = sf.read(SAMPLES / "en_station.flac", dtype="float32")
    assert rate == 16000
    return audio


def _pcm(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


# -- client helpers ------------------------------------------------------------------------


async def _read_until(client: AsyncClient, *types: str) -> list[Event]:
    events = []
    while True:
        event = await asyncio.wait_for(client.read_event(), TIMEOUT)
        assert event is not None, f"connection closed; got {[e.type for e in events]}"
        events.append(event)
        if event.type in types or event.type == "error":
            return events


async def _send_audio(
    client: AsyncClient, pcm: bytes, rate: int = 16000, channels: int = 1, step: int = 2048
) -> None:
    await client.write_event(AudioStart(rate=rate, width=2, channels=channels).event())
    for offset in range(0, len(pcm), step):
        chunk = pcm[offset : offset + step]
        await client.write_event(
            AudioChunk(rate=rate, width=2, channels=channels, audio=chunk).event()
        )
    await client.write_event(AudioStop().event())


async def transcribe(
    uri: str, pcm: bytes, language: str | None = "en", **audio: Any
) -> list[Event]:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcribe(language=language).event())
        await _send_audio(client, pcm, **audio)
        return await _read_until(client, "transcript")


async def synthesize(
    uri: str, text: str, voice: SynthesizeVoice | None = None
) -> tuple[int, bytes, list[Event]]:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Synthesize(text=text, voice=voice).event())
        events = await _read_until(client, "audio-stop")
    assert events[0].type == "audio-start", events[-1].data
    pcm = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
    return events[0].data["rate"], pcm, events


async def translate(
    uri: str, text: str, language: str | None = "en", context: dict[str, Any] | None = None
) -> Event:
    async with AsyncClient.from_uri(uri) as client:
        await client.write_event(Transcript(text=text, language=language, context=context).event())
        events = await _read_until(client, "handled", "not-handled")
    return events[-1]


def assert_serving(uri: str) -> None:
    """The server still answers a normal request."""
    answer = asyncio.run(translate(uri, "Where is the train station?"))
    assert answer.type == "handled" and "estação" in answer.data["text"].lower()


def raw_exchange(uri: str, data: bytes, *, close_write: bool = False) -> list[dict[str, Any]]:
    """Send raw bytes; the events the server answers with until it closes."""
    address = endpoint(uri)
    with socket.create_connection((address.host, address.port), timeout=TIMEOUT) as sock:
        sock.sendall(data)
        if close_write:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # closed with bytes of ours unread: what came before still counts
    stream, events = io.BytesIO(received), []
    while (event := read_event(stream)) is not None:
        events.append({"type": event.type, "data": event.data})
    return events


def _error_of(headers: list[dict[str, Any]]) -> str:
    errors = [h for h in headers if h.get("type") == "error"]
    assert errors, headers
    return str(errors[0].get("data", {}).get("code", ""))


# -- the programs ----------------------------------------------------------------------------


def test_describe_lists_exactly_the_installed_models(uri: str, store) -> None:  # noqa: ANN001
    async def describe() -> Info:
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Describe().event())
            return Info.from_event((await _read_until(client, "info"))[-1])

    info = asyncio.run(describe())
    installed = store.installed()

    def ids(*kinds: str) -> set[str]:
        return {m.id for m in installed if any(m.has_kind(k) for k in kinds)}

    assert [p.name for p in info.asr] == ["edge asr"]
    assert {m.name for m in info.asr[0].models} == ids("asr-segment", "asr-streaming")
    # Every Piper voice, and espeak-ng for Portuguese: Bergamot translates into it, no Piper
    # voice here speaks it. English has a Piper voice (joe), so espeak-ng does not stand in.
    assert {v.name for v in info.tts[0].voices} == ids("tts") | {"espeak-ng-por_Latn"}
    assert [p.name for p in info.handle] == ["edge translate"]
    assert {m.name for m in info.handle[0].models} == ids("mt")
    assert info.tts[0].supports_synthesize_streaming
    # Only Moonshine and Whisper (segment models) are installed: nothing streams.
    assert not info.asr[0].supports_transcript_streaming
    models = {m.name: m for m in [*info.asr[0].models, *info.tts[0].voices, *info.handle[0].models]}
    assert models["moonshine-tiny-en"].languages == ["en"]
    assert (
        models["moonshine-tiny-en"].attribution.url == "https://github.com/moonshine-ai/moonshine"
    )
    assert "licence MIT" in (models["moonshine-tiny-en"].description or "")
    assert "licence CC0-1.0" in (models["piper-en_US-joe-medium"].description or "")
    assert models["bergamot-en-pt-tiny"].languages == ["en"]
    espeak = models["espeak-ng-por_Latn"]
    assert espeak.languages == ["pt"] and espeak.attribution.name == "espeak-ng"
    assert espeak.attribution.url == "https://github.com/espeak-ng/espeak-ng"
    assert "licence GPL-3.0-or-later" in (espeak.description or "")
    assert "robotic" in (espeak.description or "")
    assert info.tts[0].voices[0].name == "piper-en_US-joe-medium"  # Piper before espeak-ng
    assert "en->pt" in (models["bergamot-en-pt-tiny"].description or "")
    for model in models.values():
        assert model.attribution.name and model.attribution.url.startswith("https://")
        assert model.installed and "licence" in (model.description or "")


def test_transcribes_speech(uri: str, station: np.ndarray) -> None:
    events = asyncio.run(transcribe(uri, _pcm(station)))
    assert [e.type for e in events] == ["transcript"]  # no streaming frame from Moonshine
    text = events[0].data["text"].lower()
    assert "train station" in text and "lisbon" in text
    assert events[0].data["language"] == "en"


def test_resamples_48k_stereo_sent_in_odd_pieces(uri: str, station: np.ndarray) -> None:
    loud = soxr.resample(station, 16000, 48000)
    stereo = np.stack([loud, 0.5 * loud], axis=1)
    # 1001 bytes: chunks end inside a frame, as a client may split bytes anywhere.
    events = asyncio.run(transcribe(uri, _pcm(stereo), rate=48000, channels=2, step=1001))
    text = events[-1].data["text"].lower()
    assert "train station" in text and "lisbon" in text


def test_synthesizes_speech_the_recognizer_understands(uri: str) -> None:
    rate, pcm, events = asyncio.run(synthesize(uri, "Where is the train station?"))
    seconds = len(pcm) / 2 / rate
    assert rate == 22050 and events[-1].type == "audio-stop"
    assert 0.8 < seconds < 4.0, seconds
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32767
    assert np.sqrt(np.mean(samples**2)) > 0.02  # speech, not silence
    heard = asyncio.run(transcribe(uri, _pcm(soxr.resample(samples, rate, 16000))))
    assert "train station" in heard[-1].data["text"].lower()


def test_portuguese_translation_is_spoken_by_espeak(uri: str) -> None:
    """The translator pipeline with the demo models: en text -> Bergamot -> espeak-ng pt."""
    answer = asyncio.run(translate(uri, "Where is the train station?"))
    assert answer.type == "handled" and "estação" in answer.data["text"].lower()
    text = answer.data["text"]
    by_language = asyncio.run(synthesize(uri, text, SynthesizeVoice(language="pt")))
    by_name = asyncio.run(synthesize(uri, text, SynthesizeVoice(name="espeak-ng-por_Latn")))
    rate, pcm, events = by_language
    assert rate == 22050 and events[-1].type == "audio-stop"
    seconds = len(pcm) / 2 / rate
    assert 0.8 < seconds < 5.0, (text, seconds)  # five or six words
    samples = np.frombuffer(pcm, "<i2").astype(np.float32) / 32767
    assert np.sqrt(np.mean(samples**2)) > 0.02  # speech, not silence
    assert by_name[:2] == by_language[:2]  # the same voice (espeak-ng is deterministic)
    # English still goes to the Piper voice.
    english_rate, _, _ = asyncio.run(synthesize(uri, "Hello.", SynthesizeVoice(language="en")))
    assert english_rate == 22050


def test_streams_synthesis_sentence_by_sentence(uri: str) -> None:
    async def stream() -> tuple[list[Event], list[Event]]:
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk(text="Good morning. Where is").event())
            # The first sentence is spoken before the rest of the text is sent.
            first = await _read_until(client, "audio-stop")
            for text in (" the train", " station? Thank you"):
                await client.write_event(SynthesizeChunk(text=text).event())
            full = "Good morning. Where is the train station? Thank you"
            await client.write_event(Synthesize(text=full).event())  # compatibility copy: ignored
            await client.write_event(SynthesizeStop().event())
            rest = await _read_until(client, "synthesize-stopped")
            return first, rest

    first, rest = asyncio.run(stream())
    assert first[0].type == "audio-start" and first[-1].type == "audio-stop"
    types = [e.type for e in rest]
    assert types[-1] == "synthesize-stopped"
    assert types.count("audio-start") == 2 == types.count("audio-stop")  # two more sentences
    assert "error" not in types


def test_translates_transcripts_to_portuguese(uri: str) -> None:
    answer = asyncio.run(translate(uri, "Good morning. Where is the train station?"))
    assert answer.type == "handled"
    text = answer.data["text"].lower()
    assert "estação" in text and "bom dia" in text
    assert answer.data["context"] == {"source_language": "en", "target_language": "pt"}


def test_context_chooses_the_target_and_unknown_pairs_are_not_handled(uri: str) -> None:
    back = asyncio.run(
        translate(uri, "Onde fica a estação de trem?", "pt", {"target_language": "en"})
    )
    assert back.type == "handled" and "station" in back.data["text"].lower()
    german = asyncio.run(translate(uri, "Hello.", "en", {"target_language": "de"}))
    assert german.type == "not-handled"
    assert "cannot translate English to German" in german.data["text"]
    unknown = asyncio.run(translate(uri, "Hello.", "klingon"))
    assert unknown.type == "not-handled" and "unknown language code" in unknown.data["text"]
    assert_serving(uri)


def test_clients_at_once_each_get_their_own_answer(uri: str, station: np.ndarray) -> None:
    beckett, _ = sf.read(SAMPLES / "beckett.flac", dtype="float32")

    async def together() -> list[Any]:
        return await asyncio.gather(
            transcribe(uri, _pcm(station)),
            transcribe(uri, _pcm(beckett)),
            synthesize(uri, "Thank you very much for your help."),
            translate(uri, "I would like a cup of coffee."),
        )

    started = time.perf_counter()
    station_text, beckett_text, (rate, pcm, _), coffee = asyncio.run(together())
    assert time.perf_counter() - started < TIMEOUT
    assert "lisbon" in station_text[-1].data["text"].lower()
    assert "fail" in beckett_text[-1].data["text"].lower()
    assert "lisbon" not in beckett_text[-1].data["text"].lower()
    assert len(pcm) / 2 / rate > 1.0
    assert coffee.type == "handled" and "café" in coffee.data["text"].lower()


def test_event_loop_answers_while_a_model_works(uri: str, station: np.ndarray) -> None:
    long_speech = np.concatenate([station] * 5)  # 36 s: over a second of decoding

    async def both() -> tuple[float, float]:
        started = time.perf_counter()
        decoding = asyncio.create_task(transcribe(uri, _pcm(long_speech)))
        await asyncio.sleep(0.3)  # the audio is sent and decoding has begun
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Ping(text="still there?").event())
            pong = await _read_until(client, "pong")
        answered = time.perf_counter() - started
        assert pong[-1].data["text"] == "still there?"
        transcript = await decoding
        assert transcript[-1].data["text"].lower().count("lisbon") == 5
        return answered, time.perf_counter() - started

    answered, transcribed = asyncio.run(both())
    assert answered < transcribed


# -- limits and bad input ------------------------------------------------------------------


def test_extra_clients_get_an_error_and_are_closed(served: tuple[str, WyomingServer]) -> None:
    uri, server = served

    async def crowd() -> list[Event | None]:
        clients = [AsyncClient.from_uri(uri) for _ in range(MAX_CLIENTS)]
        for client in clients:
            await client.connect()
            await client.write_event(Describe().event())
            await _read_until(client, "info")  # served: the slot is taken
        extra = AsyncClient.from_uri(uri)
        await extra.connect()
        answers = [await asyncio.wait_for(extra.read_event(), TIMEOUT) for _ in range(2)]
        for client in [*clients, extra]:
            await client.disconnect()
        return answers

    refused, closed = asyncio.run(crowd())
    assert refused is not None and refused.type == "error"
    assert refused.data["code"] == "too-many-clients"
    assert closed is None
    deadline = time.monotonic() + 5
    while server.clients and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.clients == 0
    assert_serving(uri)


def test_idle_client_is_closed(store) -> None:  # noqa: ANN001
    config = ServerConfig(uri="tcp://127.0.0.1:0", idle_timeout_s=0.5)  # loads nothing
    with ServerThread(WyomingServer(config, store=store)) as idle_uri:
        started = time.monotonic()
        assert _error_of(raw_exchange(idle_uri, b"")) == "idle-timeout"
        assert 0.5 <= time.monotonic() - started < 5


def test_garbage_header_is_an_error_and_closes_only_that_client(uri: str) -> None:
    assert _error_of(raw_exchange(uri, b"GET / HTTP/1.1\r\n\r\n")) == "malformed-event"
    assert _error_of(raw_exchange(uri, b"[1, 2, 3]\n")) == "malformed-event"
    assert _error_of(raw_exchange(uri, b'{"data": {}}\n')) == "malformed-event"
    # Framing intact, data not an object: an error, and the connection stays usable.
    not_an_object = b'{"type": "transcript", "data": "x"}\n'
    assert _error_of(raw_exchange(uri, not_an_object, close_write=True)) == "malformed-event"
    assert_serving(uri)


def test_payload_longer_than_declared(uri: str) -> None:
    header = {"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}}
    header["payload_length"] = 100
    start = AudioStart(rate=16000, width=2, channels=1).event()
    lines = json.dumps({"type": start.type, "data": start.data}).encode() + b"\n"
    lines += json.dumps(header).encode() + b"\n" + b"\x01" * 150  # 50 bytes too many
    lines += json.dumps({"type": "audio-stop"}).encode() + b"\n"
    assert _error_of(raw_exchange(uri, lines)) == "malformed-event"
    assert_serving(uri)


def test_declared_size_over_the_limit_is_refused_before_reading(uri: str) -> None:
    header = {"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}}
    header["payload_length"] = 10**12
    assert _error_of(raw_exchange(uri, json.dumps(header).encode() + b"\n")) == "event-too-large"
    assert_serving(uri)


def test_client_disconnecting_mid_stream(
    served: tuple[str, WyomingServer], station: np.ndarray
) -> None:
    uri, server = served
    address = endpoint(uri)
    pcm = _pcm(station[:16000])
    with socket.create_connection((address.host, address.port), timeout=TIMEOUT) as sock:
        for event in (
            Transcribe(language="en").event(),
            AudioStart(rate=16000, width=2, channels=1).event(),
            AudioChunk(rate=16000, width=2, channels=1, audio=pcm).event(),
        ):
            sock.sendall(json.dumps(event.to_dict() | _lengths(event)).encode() + b"\n")
            sock.sendall(event.payload or b"")
        # Half an event: a header that promises 4000 bytes, then 10 of them, then gone.
        header = {"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}}
        sock.sendall(json.dumps(header | {"payload_length": 4000}).encode() + b"\n" + b"\0" * 10)
    assert_serving(uri)
    deadline = time.monotonic() + 5
    while server.clients and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.clients == 0


def _lengths(event: Event) -> dict[str, int]:
    return {"payload_length": len(event.payload)} if event.payload else {}


def test_unknown_language_is_an_error_and_the_connection_goes_on(
    uri: str, station: np.ndarray
) -> None:
    async def requests() -> tuple[list[Event], list[Event], list[Event]]:
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Transcribe(language="klingon").event())
            unknown = await _read_until(client, "transcript")
            await _send_audio(client, _pcm(station[:8000]))  # ignored: its request was refused
            # Acehnese is a FLORES-200 language that no installed model recognizes.
            await client.write_event(Transcribe(language="ace_Latn").event())
            uncovered = await _read_until(client, "transcript")
            await _send_audio(client, _pcm(station[:8000]))
            await client.write_event(Transcribe(language="en").event())
            await _send_audio(client, _pcm(station))
            return unknown, uncovered, await _read_until(client, "transcript")

    unknown, uncovered, normal = asyncio.run(requests())
    assert unknown[-1].data["code"] == "unsupported-language"
    assert "unknown language code 'klingon'" in unknown[-1].data["text"]
    assert uncovered[-1].data["code"] == "unsupported-language"
    assert "no installed model recognizes ace_Latn" in uncovered[-1].data["text"]
    assert [e.type for e in normal] == ["transcript"]
    assert "lisbon" in normal[-1].data["text"].lower()


def test_over_limit_audio_and_text(uri: str, station: np.ndarray) -> None:
    async def requests() -> tuple[list[Event], list[Event], list[Event]]:
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Transcribe(language="en").event())
            # 61 s of audio: refused at the chunk that crosses 60 s; the rest is ignored.
            await _send_audio(client, b"\0" * (2 * 16000 * 61), step=32000)
            too_long = await _read_until(client, "transcript")
            await client.write_event(Synthesize(text="word " * 401).event())  # 2005 characters
            too_much = await _read_until(client, "audio-stop")
            await client.write_event(Transcribe(language="en").event())
            await _send_audio(client, _pcm(station))
            return too_long, too_much, await _read_until(client, "transcript")

    too_long, too_much, normal = asyncio.run(requests())
    assert [e.type for e in too_long] == ["error"]
    assert too_long[0].data["code"] == "audio-too-long" and "60 s" in too_long[0].data["text"]
    assert too_much[-1].data["code"] == "text-too-long"
    assert [e.type for e in normal] == ["transcript"]
    assert "lisbon" in normal[-1].data["text"].lower()


# -- transcript streaming (the event frame, with a stand-in streaming model) -----------------


class _StubStream:
    """A stand-in for a sherpa-onnx online stream: one word per 0.5 s of audio heard.

    No streaming recognizer is among the installed demo models; this checks the event frame
    the server wraps around one, not recognition.
    """

    WORDS = ["one", "two", "three", "four", "five", "six"]

    def __init__(self) -> None:
        self.samples = 0

    def accept(self, audio: np.ndarray) -> None:
        self.samples += len(audio)

    def partial(self) -> str:
        return " ".join(self.WORDS[: self.samples // 8000])

    def finish(self) -> str:
        return " ".join(self.WORDS)


class _StubRecognizer:
    languages = ("eng_Latn",)

    def create_stream(self) -> _StubStream:
        return _StubStream()


def test_streaming_model_sends_transcript_chunks(store, moonshine) -> None:  # noqa: ANN001
    from edge.models.store import InstalledModel
    from edge.wyoming.asr import Recognition
    from edge.wyoming.pool import ModelPool, Served

    config = ServerConfig(asr=("moonshine-tiny-en",), voices=(), mt=())
    pool = ModelPool(config, store, {"moonshine-tiny-en": moonshine})
    record = InstalledModel(
        "stub-streaming", "asr-streaming", "stub", ("eng_Latn",), Path("."), "MIT", False, {}
    )
    pool.asr.insert(0, Served(record, "asr", instance=_StubRecognizer()))
    station = sf.read(SAMPLES / "en_station.flac", dtype="float32")[0]

    async def request(name: str | None) -> list[Event]:
        sent: list[Event] = []

        async def send(event: Event) -> None:
            sent.append(event)

        recognition = Recognition(pool, send)
        await recognition.transcribe({"language": "en", **({"name": name} if name else {})})
        await recognition.audio_start({"rate": 16000, "width": 2, "channels": 1})
        pcm = _pcm(station[: 16000 * 2])
        for offset in range(0, len(pcm), 2048):
            chunk = {"rate": 16000, "width": 2, "channels": 1}
            await recognition.audio_chunk(chunk, pcm[offset : offset + 2048])
        await recognition.audio_stop()
        return sent

    try:
        streamed = asyncio.run(request(None))
        types = [e.type for e in streamed]
        assert types[0] == "transcript-start" and types[-2:] == ["transcript", "transcript-stop"]
        chunks = [e.data["text"] for e in streamed if e.type == "transcript-chunk"]
        assert len(chunks) >= 3  # partials went out while the audio was arriving
        assert "".join(chunks).split() == _StubStream.WORDS
        assert streamed[-2].data["text"] == "one two three four five six"
        # A segment model in a streaming server: the same frame around one chunk.
        segment = asyncio.run(request("moonshine-tiny-en"))
        types = [e.type for e in segment]
        assert types == ["transcript-start", "transcript-chunk", "transcript", "transcript-stop"]
        assert "good morning" in segment[1].data["text"].lower()
    finally:
        pool.close()


# -- the command line ----------------------------------------------------------------------


def test_listens_on_loopback_unless_asked() -> None:
    assert endpoint(DEFAULT_URI).loopback and endpoint(DEFAULT_URI).exposure_warning() is None
    assert endpoint("unix:///tmp/edge.sock").exposure_warning() is None
    warning = endpoint("tcp://0.0.0.0:10300").exposure_warning()
    assert warning is not None and "all interfaces" in warning and "\n" not in warning
    assert endpoint("tcp://192.168.1.20:10300").exposure_warning() is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--uri", "http://127.0.0.1:10300"], "the scheme must be tcp or unix"),
        (["--uri", "tcp://127.0.0.1"], "needs a host and a port"),
        (["--uri", "tcp://127.0.0.1:99999"], "bad --uri"),
        (["--target", "klingon"], "unknown language code 'klingon'"),
        (["--target", "de"], "no installed translation model translates into deu_Latn"),
        (["--asr", "no-such-model"], "model 'no-such-model' is not installed"),
        (["--voice", "moonshine-tiny-en"], "is not a tts model"),
        (["--voice", "espeak-ng-jpn_Jpan"], "espeak-ng has no voice for Japanese"),
    ],
)
def test_bad_command_line_is_one_error_line(
    argv: list[str], message: str, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.wyoming.__main__ import main

    code = main([*argv, "--models-dir", str(models_dir)])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("edge: error: ") and message in err, err
    assert "Traceback" not in err


def test_busy_port_is_one_error_line_after_the_exposure_warning(
    uri: str, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.wyoming.__main__ import main

    port = endpoint(uri).port
    code = main(["--uri", f"tcp://0.0.0.0:{port}", "--models-dir", str(models_dir)])
    lines = capsys.readouterr().err.splitlines()
    assert code != 0
    assert "listening on all interfaces" in lines[0]
    assert lines[-1].startswith(f"edge: error: cannot listen on tcp://0.0.0.0:{port}")
    assert not any("Traceback" in line for line in lines)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--max-clients", "0"],
            "edge wyoming: error: argument --max-clients: must be between 1 and 10000, not 0",
        ),
        (
            ["--max-audio", "0"],
            "edge wyoming: error: argument --max-audio: must be between 0 and 86400",
        ),
        (
            ["--idle-timeout", "-1"],
            "edge wyoming: error: argument --idle-timeout: must be between 0 and 86400",
        ),
        (
            ["--max-text-chars", "many"],
            "edge wyoming: error: argument --max-text-chars: 'many' is not a whole number",
        ),
        (
            ["--threads", "0"],
            "edge wyoming: error: argument --threads: must be between 1 and 256, not 0",
        ),
        (["--max-audio-s", "30"], "edge: error: unrecognized arguments: --max-audio-s"),
    ],
)
def test_out_of_range_flag_is_one_usage_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["wyoming", *argv])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and err.startswith(message) and "(see edge" in err, err


def test_flags_come_from_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    from edge.cli import build_parser
    from edge.wyoming.cli import config_from

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["wyoming", "--help"])
    help_text = capsys.readouterr().out
    for shown in ("--max-audio S", "--idle-timeout S", "--max-clients N", "--models-dir DIR"):
        assert shown in help_text
    assert "-s S" not in help_text  # no flag keeps the field's _s
    # Nothing given: exactly the dataclass defaults (no default is repeated in the parser).
    assert config_from(parser.parse_args(["wyoming"])) == ServerConfig().validate()
    given = config_from(
        parser.parse_args(
            ["wyoming", "--max-audio", "30", "--idle-timeout", "5", "--threads", "2"]
            + ["--target", "pt", "--voice", "espeak-ng-pt", "--voice", "joe", "--preload"]
        )
    )
    assert (given.max_audio_s, given.idle_timeout_s, given.threads) == (30.0, 5.0, 2)
    assert given.target == "por_Latn" and given.preload
    assert given.voices == ("espeak-ng-pt", "joe")
    # A config built in code is held to the same bounds.
    from edge.errors import EdgeError

    with pytest.raises(EdgeError, match="--max-clients must be between 1 and 10000, not 0"):
        ServerConfig(max_clients=0).validate()
