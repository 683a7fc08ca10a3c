"""Hostile input to the host decoder: nothing escapes, memory stays bounded, sync returns."""

from __future__ import annotations

import importlib.util
import os
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from cobs import cobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.protocol import (
    DEVICE_TO_HOST,
    HOST_TO_DEVICE,
    MAX_ENCODED,
    Button,
    ButtonId,
    FrameError,
    Gesture,
    MessageDecoder,
    MsgType,
    Received,
    crc16,
    encode_message,
)
from firmware_bridge.soak import soak

ROOT = Path(__file__).resolve().parents[1]
PROBE = Button(ButtonId.PTT, Gesture.DOWN, 4242)
PROBE_WIRE = encode_message(PROBE, 77)


def _framed(version: int, msg_type: int, seq: int, payload: bytes, length: int | None = None):
    head = bytes((version, msg_type, seq, len(payload) if length is None else length)) + payload
    return cobs.encode(head + struct.pack("<H", crc16(head))) + b"\x00"


def _check_resync(decoder: MessageDecoder, junk: bytes) -> None:
    results = decoder.feed_results(junk)
    assert all(isinstance(r, Received | FrameError) for r in results)
    assert decoder.framer.pending_bytes <= MAX_ENCODED
    # After a delimiter, the next valid frame always comes through.
    assert decoder.feed_results(b"\x00" + PROBE_WIRE)[-1] == Received(77, PROBE)


@given(st.binary(max_size=600))
def test_random_bytes(junk: bytes) -> None:
    _check_resync(MessageDecoder(DEVICE_TO_HOST), junk)


@given(st.lists(st.binary(max_size=80), max_size=20))
def test_random_bytes_in_pieces(pieces: list[bytes]) -> None:
    decoder = MessageDecoder(HOST_TO_DEVICE)
    for piece in pieces:
        decoder.feed_results(piece)
        assert decoder.framer.pending_bytes <= MAX_ENCODED
    _check_resync(MessageDecoder(DEVICE_TO_HOST), b"".join(pieces))


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255), st.binary(max_size=64))
def test_any_well_framed_body(version, msg_type, seq, payload) -> None:
    """Valid CRC and framing, arbitrary header and payload: the message parsers' turn."""
    decoder = MessageDecoder(DEVICE_TO_HOST)
    (result,) = decoder.feed_results(_framed(version, msg_type, seq, payload))
    if version != 1:
        assert result == FrameError.VERSION
    elif msg_type not in {int(t) for t in DEVICE_TO_HOST}:
        assert result == FrameError.TYPE
    else:
        assert isinstance(result, Received) or result == FrameError.PAYLOAD
    _check_resync(decoder, b"")


@given(st.integers(0, 255), st.binary(max_size=64), st.integers(0, 255))
def test_length_field_must_match(msg_type, payload, claimed) -> None:
    (result,) = MessageDecoder(DEVICE_TO_HOST).feed_results(
        _framed(1, msg_type, 0, payload, length=claimed)
    )
    if claimed != len(payload):
        assert result == FrameError.LENGTH


@given(st.data())
def test_every_single_bit_error_is_caught(data) -> None:
    body = bytearray(cobs.decode(PROBE_WIRE[:-1]))
    bit = data.draw(st.integers(0, len(body) * 8 - 1))
    body[bit // 8] ^= 1 << (bit % 8)
    (result,) = MessageDecoder(DEVICE_TO_HOST).feed_results(cobs.encode(bytes(body)) + b"\x00")
    assert result == FrameError.CRC


@given(st.integers(1, len(PROBE_WIRE) - 2), st.binary(max_size=40))
def test_truncated_frame_followed_by_garbage(cut: int, junk: bytes) -> None:
    _check_resync(MessageDecoder(DEVICE_TO_HOST), PROBE_WIRE[:cut] + junk)


@given(st.integers(MAX_ENCODED + 1, 2000))
def test_oversize_frames(size: int) -> None:
    decoder = MessageDecoder(DEVICE_TO_HOST)
    results = decoder.feed_results(b"\x7e" * size + b"\x00" + PROBE_WIRE)
    assert results == [FrameError.OVERSIZE, Received(77, PROBE)]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(MsgType)), max_size=10), st.binary(max_size=30))
def test_known_types_with_wrong_payloads(types, payload) -> None:
    decoder = MessageDecoder(DEVICE_TO_HOST)
    for msg_type in types:
        decoder.feed_results(_framed(1, msg_type, 1, payload))
    _check_resync(decoder, b"")


def test_soak_decodes_every_valid_frame() -> None:
    result = soak(frames=60_000, broken_ratio=0.2, seed=7)
    assert result.valid_decoded == result.valid_sent > 45_000
    assert set(result.dropped) >= {"crc", "version", "type", "payload", "oversize", "cobs"}
    assert result.max_pending_bytes <= MAX_ENCODED


def test_decoder_memory_does_not_grow() -> None:
    decoder = MessageDecoder(DEVICE_TO_HOST)
    frames = b"".join(encode_message(PROBE, i % 256) for i in range(1000))
    junk = b"\x13\x37" * 50 + b"\x00" + b"\x55" * 300 + b"\x00"

    def run(rounds: int) -> None:
        for _ in range(rounds):
            assert len(decoder.feed(frames + junk)) == 1000

    tracemalloc.start()
    try:
        run(10)
        before = tracemalloc.get_traced_memory()[0]
        run(40)  # 40,000 more frames
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 16_384


@pytest.mark.skipif(
    importlib.util.find_spec("atheris") is None, reason="atheris is optional and not installed"
)
def test_atheris_fuzzing_finds_nothing() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "firmware_bridge.fuzz", "-atheris_runs=30000", "-max_len=256"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Done 30000" in run.stderr
