"""Framing, messages and press classification of the firmware bridge protocol."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cobs import cobs
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.press import (
    DOUBLE_GAP_MS,
    LONG_PRESS_MS,
    Edge,
    PressClassifier,
    PressMode,
)
from firmware_bridge.protocol import (
    DEVICE_TO_HOST,
    HOST_TO_DEVICE,
    MAX_ENCODED,
    MAX_PAYLOAD,
    Ack,
    Battery,
    Button,
    ButtonId,
    Charging,
    DeviceError,
    EngineState,
    FrameDecoder,
    FrameError,
    Gesture,
    Heartbeat,
    Hello,
    LangPair,
    LangSwap,
    MessageDecoder,
    Received,
    State,
    Volume,
    crc16,
    encode_frame,
    encode_message,
    sanitize_text,
)

printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E))
u8 = st.integers(0, 255)
u32 = st.integers(0, 2**32 - 1)

device_messages = st.one_of(
    st.builds(Hello, u8, u8, u8, u8, printable.map(lambda s: s[:16])),
    st.builds(Heartbeat, u32),
    st.builds(Ack, u8),
    st.builds(Button, st.sampled_from(ButtonId), st.sampled_from(Gesture), u32),
    st.just(LangSwap()),
    st.builds(Volume, st.integers(0, 100)),
    st.builds(
        Battery,
        st.integers(0, 65535),
        st.one_of(st.integers(0, 100), st.just(255)),
        st.sampled_from(Charging),
    ),
    st.builds(DeviceError, u8, printable.map(lambda s: s[:32])),
)
host_messages = st.one_of(
    st.builds(Heartbeat, u32),
    st.builds(Ack, u8),
    st.builds(Volume, st.integers(0, 100)),
    st.builds(State, st.sampled_from(EngineState)),
    st.builds(LangPair, printable.filter(bool).map(lambda s: s[:16])),
)


def test_crc_matches_the_catalogue_check_value() -> None:
    assert crc16(b"123456789") == 0x29B1


@given(device_messages, u8)
def test_device_messages_round_trip(message, seq) -> None:
    wire = encode_message(message, seq)
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    assert len(wire) <= MAX_ENCODED + 1
    assert MessageDecoder(DEVICE_TO_HOST).feed(wire) == [Received(seq, message)]


@given(host_messages, u8)
def test_host_messages_round_trip(message, seq) -> None:
    assert MessageDecoder(HOST_TO_DEVICE).feed(encode_message(message, seq)) == [
        Received(seq, message)
    ]


@given(st.lists(device_messages, min_size=1, max_size=20), st.data())
def test_decoding_does_not_depend_on_how_the_stream_is_chunked(messages, data) -> None:
    stream = b"".join(encode_message(m, i) for i, m in enumerate(messages))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    decoder = MessageDecoder(DEVICE_TO_HOST)
    received = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        received += decoder.feed(stream[start:end])
    assert received == [Received(i, m) for i, m in enumerate(messages)]


def test_host_only_messages_are_refused_from_a_device() -> None:
    decoder = MessageDecoder(DEVICE_TO_HOST)
    wire = encode_message(State(EngineState.LISTENING), 3) + encode_message(LangPair("X>Y"), 4)
    assert decoder.feed_results(wire) == [FrameError.TYPE, FrameError.TYPE]
    assert decoder.errors[FrameError.TYPE] == 2


def test_text_is_sanitized_and_limited() -> None:
    assert sanitize_text(b"\x1b]0;pwned\x07ok\n", 32) == "?]0;pwned?ok?"
    assert sanitize_text(b"A" * 40, 16) == "A" * 16
    assert sanitize_text("é".encode(), 16) == "??"
    # Host-side text is limited the same way before it is sent.
    assert LangPair("EN>ES\u202e" + "x" * 20).to_payload() == b"EN>ES?" + b"x" * 10
    assert LangPair("").to_payload() == b"?"


def test_payloads_over_the_limit_cannot_be_sent() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(0x10, 0, bytes(MAX_PAYLOAD + 1))


def test_a_long_run_without_delimiter_is_reported_once_and_memory_stays_bounded() -> None:
    decoder = FrameDecoder()
    results = []
    for _ in range(1000):
        results += decoder.feed(b"\x55" * 100)
        assert decoder.pending_bytes <= MAX_ENCODED
    assert results == [FrameError.OVERSIZE]
    frame = encode_message(Volume(5), 9)
    assert decoder.feed(b"\x00" + frame)[-1].seq == 9


def test_engine_state_names() -> None:
    assert EngineState.from_name("speaking") is EngineState.SPEAKING
    with pytest.raises(ValueError, match="unknown engine state"):
        EngineState.from_name("dancing")


# --- press classification (the shared vectors pin exact timings; these are properties) ---

edge_times = st.lists(st.integers(1, 1500), min_size=1, max_size=12)


def _run(classifier: PressClassifier, events: list[tuple[int, Edge]], tick_every: int | None):
    """Gestures for edges at the given times, ticking every ``tick_every`` ms or only at
    the classifier's own deadlines."""
    out: list[tuple[Gesture, int]] = []
    now = 0
    for at, edge in events:
        while True:
            deadline = classifier.next_deadline_ms()
            step = now + tick_every if tick_every else deadline
            if step is None or step >= at:
                break
            now = step
            out += [(g, now) for g in classifier.update(now)]
        now = at
        out += [(g, now) for g in classifier.update(now, edge)]
    now += 3000
    out += [(g, now) for g in classifier.update(now)]
    return out


def _edges(gaps: list[int]) -> list[tuple[int, Edge]]:
    events, now = [], 0
    for index, gap in enumerate(gaps):
        now += gap
        events.append((now, Edge.DOWN if index % 2 == 0 else Edge.UP))
    return events


@given(edge_times)
def test_classification_does_not_depend_on_tick_rate(gaps) -> None:
    events = _edges(gaps)
    coarse = _run(PressClassifier(PressMode.CLASSIFY), events, tick_every=5)
    at_deadlines = _run(PressClassifier(PressMode.CLASSIFY), events, tick_every=None)
    assert [g for g, _ in coarse] == [g for g, _ in at_deadlines]
    # Coarser ticks only delay a timeout until the next tick or edge.
    assert all(0 <= tc - td < 5 for (_, tc), (_, td) in zip(coarse, at_deadlines, strict=True))


@given(edge_times)
def test_each_press_gives_one_gesture(gaps) -> None:
    events = _edges(gaps)
    gestures = [g for g, _ in _run(PressClassifier(PressMode.CLASSIFY), events, tick_every=None)]
    presses = (len(events) + 1) // 2
    doubles = gestures.count(Gesture.DOUBLE)
    assert set(gestures) <= {Gesture.SHORT, Gesture.DOUBLE, Gesture.LONG}
    assert len(gestures) + doubles == presses  # a double press consumes two presses
    raw = [g for g, _ in _run(PressClassifier(PressMode.RAW), events, tick_every=None)]
    assert raw == [Gesture.DOWN, Gesture.UP] * (len(events) // 2) + [Gesture.DOWN] * (
        len(events) % 2
    )


def test_press_timings() -> None:
    classifier = PressClassifier(PressMode.CLASSIFY)
    classifier.update(0, Edge.DOWN)
    assert classifier.next_deadline_ms() == LONG_PRESS_MS
    classifier.update(100, Edge.UP)
    assert classifier.next_deadline_ms() == 100 + DOUBLE_GAP_MS
    assert classifier.update(100 + DOUBLE_GAP_MS - 1) == []
    assert classifier.update(100 + DOUBLE_GAP_MS) == [Gesture.SHORT]
    assert classifier.next_deadline_ms() is None


def test_the_worked_example_in_the_spec_is_right() -> None:
    spec = (Path(__file__).resolve().parents[1] / "firmware_bridge" / "PROTOCOL.md").read_text()
    body_line = re.search(r"^body  ([0-9a-f]{2} .*)$", spec, re.M).group(1)
    wire_line = re.search(r"^wire  ([0-9a-f]{2} .*)$", spec, re.M).group(1)
    body = bytes.fromhex(body_line.split("version")[0].replace("|", ""))
    wire = encode_message(Button(ButtonId.PTT, Gesture.DOWN, 1000), 1)
    assert bytes.fromhex(wire_line) == wire
    assert cobs.decode(wire[:-1]) == body
