"""Coverage-guided fuzzing of the host decoder with atheris (optional: ``pip install atheris``).

    python -m firmware_bridge.fuzz -atheris_runs=1000000 -max_len=256

Inputs starting with 0x01 are framed with a valid CRC first, to reach the message parsers;
others go in raw. Any input must decode without an exception escaping, keep at most MAX_ENCODED bytes
pending, and leave the decoder able to read the next valid frame after a delimiter.
"""

from __future__ import annotations

import struct
import sys

import atheris
from cobs import cobs

with atheris.instrument_imports(include=["firmware_bridge"]):
    from firmware_bridge.protocol import (
        DEVICE_TO_HOST,
        MAX_ENCODED,
        Button,
        ButtonId,
        Gesture,
        MessageDecoder,
        Received,
        crc16,
        encode_message,
    )

PROBE = Button(ButtonId.PTT, Gesture.DOWN, 123456)
PROBE_WIRE = b"\x00" + encode_message(PROBE, 42)


def _framed(body: bytes) -> bytes:
    """A correctly framed and checksummed body, so fuzzing reaches the message parsers."""
    return cobs.encode(body + struct.pack("<H", crc16(body))) + b"\x00"


def test_one_input(data: bytes) -> None:
    decoder = MessageDecoder(DEVICE_TO_HOST)
    decoder.feed_results(_framed(data[1:]) if data[:1] == b"\x01" else data)
    if decoder.framer.pending_bytes > MAX_ENCODED:
        raise AssertionError(f"{decoder.framer.pending_bytes} bytes pending")
    results = decoder.feed_results(PROBE_WIRE)
    if not results or results[-1] != Received(42, PROBE):
        raise AssertionError(f"no resync after {data!r}: {results}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
