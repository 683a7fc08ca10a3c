"""Wire format of the firmware link, as specified in PROTOCOL.md (the single source of truth).

A frame is ``COBS(body) 0x00`` with ``body = version type seq len payload crc16``. Every
constant, field layout and validation rule here mirrors PROTOCOL.md and the C code in
``firmware/core``; ``test_vectors.txt`` pins both implementations to the same bytes.
"""

from __future__ import annotations

import binascii
import struct
from collections import Counter
from dataclasses import dataclass, fields
from enum import Enum, IntEnum
from typing import ClassVar, TypeVar

from cobs import cobs

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 64
HEADER_SIZE = 4  # version, type, seq, payload length
CRC_SIZE = 2
MAX_BODY = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
# COBS adds one code byte per started block of 254 bytes; a body never exceeds one block.
MAX_ENCODED = MAX_BODY + 1
DELIMITER = 0x00

HEARTBEAT_INTERVAL_S = 0.5
LINK_TIMEOUT_S = 2.0
RETRANSMIT_INTERVAL_S = 0.2
MAX_TRIES = 5
DEDUP_WINDOW_S = 2.0

NAME_MAX = 16
ERROR_TEXT_MAX = 32
LANG_PAIR_MAX = 16
VOLUME_MAX = 100
BATTERY_PERCENT_UNKNOWN = 255


class MsgType(IntEnum):
    HELLO = 0x01
    HEARTBEAT = 0x02
    ACK = 0x03
    BUTTON = 0x10
    LANG_SWAP = 0x11
    VOLUME = 0x12
    BATTERY = 0x13
    ERROR = 0x14
    STATE = 0x20
    LANG_PAIR = 0x21


DEVICE_TO_HOST = frozenset(
    {
        MsgType.HELLO,
        MsgType.HEARTBEAT,
        MsgType.ACK,
        MsgType.BUTTON,
        MsgType.LANG_SWAP,
        MsgType.VOLUME,
        MsgType.BATTERY,
        MsgType.ERROR,
    }
)
HOST_TO_DEVICE = frozenset(
    {MsgType.HEARTBEAT, MsgType.ACK, MsgType.VOLUME, MsgType.STATE, MsgType.LANG_PAIR}
)
# Link-keeping frames are neither acknowledged nor deduplicated.
UNACKED_TYPES = frozenset({MsgType.HEARTBEAT, MsgType.ACK})


class EngineState(IntEnum):
    IDLE = 0
    LISTENING = 1
    THINKING = 2
    SPEAKING = 3
    ERROR = 4

    @classmethod
    def from_name(cls, name: str) -> EngineState:
        """Map an ``edge.events.StateChanged.state`` string; raises ValueError if unknown."""
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown engine state {name!r}") from None


class ButtonId(IntEnum):
    PTT = 0
    FUNC = 1


class Gesture(IntEnum):
    DOWN = 0
    UP = 1
    SHORT = 2
    DOUBLE = 3
    LONG = 4


class Charging(IntEnum):
    DISCHARGING = 0
    CHARGING = 1
    FULL = 2
    EXTERNAL_POWER = 3


class DeviceErrorCode(IntEnum):
    UNSPECIFIED = 0
    HARDWARE = 1
    LOW_BATTERY = 2
    RX_ERRORS = 3
    WATCHDOG_RESET = 4


class FrameError(str, Enum):
    """Why a received frame was dropped; the decoder counts these and carries on."""

    OVERSIZE = "oversize"
    COBS = "cobs"
    SHORT = "short"
    CRC = "crc"
    VERSION = "version"
    LENGTH = "length"
    TYPE = "type"
    PAYLOAD = "payload"


EnumT = TypeVar("EnumT", bound=IntEnum)


class PayloadError(ValueError):
    """A payload does not match the layout of its message type."""


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final XOR."""
    return binascii.crc_hqx(data, 0xFFFF)


def sanitize_text(raw: bytes, limit: int) -> str:
    """Printable ASCII only, at most ``limit`` characters: device text is shown, never run."""
    return "".join(chr(b) if 0x20 <= b <= 0x7E else "?" for b in raw[:limit])


def _text_bytes(text: str, limit: int) -> bytes:
    return sanitize_text(text.encode("ascii", "replace"), limit).encode("ascii")


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


def encode_frame(msg_type: int, seq: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    head = bytes((PROTOCOL_VERSION, msg_type, seq & 0xFF, len(payload))) + payload
    return cobs.encode(head + struct.pack("<H", crc16(head))) + b"\x00"


def decode_body(encoded: bytes) -> Frame | FrameError:
    """Check one delimiter-free encoded frame; the order of checks is part of the spec."""
    if len(encoded) > MAX_ENCODED:
        return FrameError.OVERSIZE
    try:
        body = cobs.decode(encoded)
    except cobs.DecodeError:
        return FrameError.COBS
    if len(body) < HEADER_SIZE + CRC_SIZE:
        return FrameError.SHORT
    (crc,) = struct.unpack_from("<H", body, len(body) - CRC_SIZE)
    if crc16(body[:-CRC_SIZE]) != crc:
        return FrameError.CRC
    if body[0] != PROTOCOL_VERSION:
        return FrameError.VERSION
    if body[3] != len(body) - HEADER_SIZE - CRC_SIZE:
        return FrameError.LENGTH
    return Frame(body[1], body[2], body[HEADER_SIZE:-CRC_SIZE])


class FrameDecoder:
    """Splits a byte stream on 0x00 and validates each frame, resynchronizing after garbage.

    Memory is bounded: at most ``MAX_ENCODED`` bytes are buffered; a longer run without a
    delimiter is reported once as oversize and skipped up to the next delimiter.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._discarding = False
        self.errors: Counter[FrameError] = Counter()
        self.frames = 0

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out: list[Frame | FrameError] = []
        *complete, tail = bytes(data).split(b"\x00")
        for index, part in enumerate(complete):
            if index == 0:
                discarding = self._discarding
                encoded = bytes(self._pending) + part
                self._pending.clear()
                self._discarding = False
                if discarding:
                    continue
            else:
                encoded = part
            if not encoded:
                continue  # back-to-back delimiters: a sender flushing the line
            self._record(out, decode_body(encoded))
        if not self._discarding:
            self._pending += tail
            if len(self._pending) > MAX_ENCODED:
                self._pending.clear()
                self._discarding = True
                self._record(out, FrameError.OVERSIZE)
        return out

    @property
    def pending_bytes(self) -> int:
        """Bytes held for an unfinished frame; never more than MAX_ENCODED."""
        return len(self._pending)

    def _record(self, out: list[Frame | FrameError], result: Frame | FrameError) -> None:
        if isinstance(result, FrameError):
            self.errors[result] += 1
        else:
            self.frames += 1
        out.append(result)


# --- messages -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hello:
    TYPE: ClassVar[MsgType] = MsgType.HELLO
    major: int
    minor: int
    patch: int
    caps: int  # bit 0 display, bit 1 battery, bit 2 volume control, bit 3 LEDs
    name: str

    def to_payload(self) -> bytes:
        head = bytes((self.major, self.minor, self.patch, self.caps))
        return head + _text_bytes(self.name, NAME_MAX)

    @classmethod
    def from_payload(cls, p: bytes) -> Hello:
        _expect_size(p, 4, 4 + NAME_MAX)
        return cls(p[0], p[1], p[2], p[3], sanitize_text(p[4:], NAME_MAX))


@dataclass(frozen=True)
class Heartbeat:
    TYPE: ClassVar[MsgType] = MsgType.HEARTBEAT
    uptime_ms: int

    def to_payload(self) -> bytes:
        return struct.pack("<I", self.uptime_ms & 0xFFFFFFFF)

    @classmethod
    def from_payload(cls, p: bytes) -> Heartbeat:
        _expect_size(p, 4, 4)
        return cls(*struct.unpack("<I", p))


@dataclass(frozen=True)
class Ack:
    TYPE: ClassVar[MsgType] = MsgType.ACK
    acked_seq: int

    def to_payload(self) -> bytes:
        return bytes((self.acked_seq,))

    @classmethod
    def from_payload(cls, p: bytes) -> Ack:
        _expect_size(p, 1, 1)
        return cls(p[0])


@dataclass(frozen=True)
class Button:
    TYPE: ClassVar[MsgType] = MsgType.BUTTON
    button: ButtonId
    gesture: Gesture
    t_ms: int  # device uptime at the edge or timeout that decided the gesture

    def to_payload(self) -> bytes:
        return struct.pack("<BBI", self.button, self.gesture, self.t_ms & 0xFFFFFFFF)

    @classmethod
    def from_payload(cls, p: bytes) -> Button:
        _expect_size(p, 6, 6)
        button, gesture, t_ms = struct.unpack("<BBI", p)
        return cls(_enum(ButtonId, button), _enum(Gesture, gesture), t_ms)


@dataclass(frozen=True)
class LangSwap:
    TYPE: ClassVar[MsgType] = MsgType.LANG_SWAP

    def to_payload(self) -> bytes:
        return b""

    @classmethod
    def from_payload(cls, p: bytes) -> LangSwap:
        _expect_size(p, 0, 0)
        return cls()


@dataclass(frozen=True)
class Volume:
    TYPE: ClassVar[MsgType] = MsgType.VOLUME
    level: int  # 0..100

    def to_payload(self) -> bytes:
        return bytes((self.level,))

    @classmethod
    def from_payload(cls, p: bytes) -> Volume:
        _expect_size(p, 1, 1)
        if p[0] > VOLUME_MAX:
            raise PayloadError(f"volume {p[0]} > {VOLUME_MAX}")
        return cls(p[0])


@dataclass(frozen=True)
class Battery:
    TYPE: ClassVar[MsgType] = MsgType.BATTERY
    millivolts: int
    percent: int  # 0..100, or 255 when unknown
    charging: Charging

    def to_payload(self) -> bytes:
        return struct.pack("<HBB", self.millivolts, self.percent, self.charging)

    @classmethod
    def from_payload(cls, p: bytes) -> Battery:
        _expect_size(p, 4, 4)
        millivolts, percent, charging = struct.unpack("<HBB", p)
        if percent > 100 and percent != BATTERY_PERCENT_UNKNOWN:
            raise PayloadError(f"battery percent {percent}")
        return cls(millivolts, percent, _enum(Charging, charging))


@dataclass(frozen=True)
class DeviceError:
    TYPE: ClassVar[MsgType] = MsgType.ERROR
    code: int  # DeviceErrorCode values; unknown codes are passed on as numbers
    text: str

    def to_payload(self) -> bytes:
        return bytes((self.code,)) + _text_bytes(self.text, ERROR_TEXT_MAX)

    @classmethod
    def from_payload(cls, p: bytes) -> DeviceError:
        _expect_size(p, 1, 1 + ERROR_TEXT_MAX)
        return cls(p[0], sanitize_text(p[1:], ERROR_TEXT_MAX))


@dataclass(frozen=True)
class State:
    TYPE: ClassVar[MsgType] = MsgType.STATE
    state: EngineState

    def to_payload(self) -> bytes:
        return bytes((self.state,))

    @classmethod
    def from_payload(cls, p: bytes) -> State:
        _expect_size(p, 1, 1)
        return cls(_enum(EngineState, p[0]))


@dataclass(frozen=True)
class LangPair:
    TYPE: ClassVar[MsgType] = MsgType.LANG_PAIR
    text: str  # e.g. "EN>ES", 1..16 printable ASCII characters

    def to_payload(self) -> bytes:
        return _text_bytes(self.text, LANG_PAIR_MAX) or b"?"

    @classmethod
    def from_payload(cls, p: bytes) -> LangPair:
        _expect_size(p, 1, LANG_PAIR_MAX)
        return cls(sanitize_text(p, LANG_PAIR_MAX))


Message = (
    Hello | Heartbeat | Ack | Button | LangSwap | Volume | Battery | DeviceError | State | LangPair
)
MESSAGE_CLASSES: dict[MsgType, type[Message]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Heartbeat,
        Ack,
        Button,
        LangSwap,
        Volume,
        Battery,
        DeviceError,
        State,
        LangPair,
    )
}


def _expect_size(payload: bytes, low: int, high: int) -> None:
    if not low <= len(payload) <= high:
        raise PayloadError(f"payload of {len(payload)} bytes, expected {low}..{high}")


def _enum(kind: type[EnumT], value: int) -> EnumT:
    try:
        return kind(value)
    except ValueError:
        raise PayloadError(f"{kind.__name__} {value} is not defined") from None


def encode_message(message: Message, seq: int) -> bytes:
    return encode_frame(message.TYPE, seq, message.to_payload())


def message_fields(message: Message) -> dict[str, int | str]:
    """Field values as plain ints and strings, for logs and test vectors."""
    return {
        f.name: (int(v) if isinstance(v, IntEnum) else v)
        for f in fields(message)
        for v in (getattr(message, f.name),)
    }


@dataclass(frozen=True)
class Received:
    seq: int
    message: Message


def parse_frame(frame: Frame, accepted: frozenset[MsgType]) -> Message | FrameError:
    """Typed message of a valid frame, or TYPE/PAYLOAD if it is not one the receiver takes."""
    if frame.type not in accepted:
        return FrameError.TYPE
    try:
        return MESSAGE_CLASSES[MsgType(frame.type)].from_payload(frame.payload)
    except PayloadError:
        return FrameError.PAYLOAD


class MessageDecoder:
    """Byte stream in, typed messages out; malformed input is counted, never raised."""

    def __init__(self, accepted: frozenset[MsgType]) -> None:
        self.accepted = accepted
        self.framer = FrameDecoder()
        self.errors = self.framer.errors  # one counter for frame- and message-level errors

    def feed_results(self, data: bytes) -> list[Received | FrameError]:
        out: list[Received | FrameError] = []
        for result in self.framer.feed(data):
            if isinstance(result, FrameError):
                out.append(result)
                continue
            parsed = parse_frame(result, self.accepted)
            if isinstance(parsed, FrameError):
                self.errors[parsed] += 1
                out.append(parsed)
            else:
                out.append(Received(result.seq, parsed))
        return out

    def feed(self, data: bytes) -> list[Received]:
        return [r for r in self.feed_results(data) if isinstance(r, Received)]
