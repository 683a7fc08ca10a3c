"""Soak test of the host decoder: a long stream of valid and broken frames, fed in random
chunks, must decode every valid frame and keep memory flat.

    python -m firmware_bridge.soak --frames 1000000

Broken frames (bad CRC, wrong version, unknown type, bad payload, oversize runs, truncated
frames, random bytes) are each followed by a delimiter, as a sender's flush would do, so
the exact number of valid frames that must come out is known.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import struct
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass

from cobs import cobs

from firmware_bridge.protocol import (
    DEVICE_TO_HOST,
    MAX_ENCODED,
    Battery,
    Button,
    ButtonId,
    Charging,
    DeviceError,
    Gesture,
    Heartbeat,
    Hello,
    LangSwap,
    Message,
    MessageDecoder,
    Volume,
    crc16,
    encode_message,
)

CHUNK_FRAMES = 10_000


@dataclass
class SoakResult:
    frames: int
    valid_sent: int
    valid_decoded: int
    dropped: dict[str, int]
    seconds: float
    frames_per_s: float
    rss_mib_after_warmup: float  # after the first tenth of the frames
    rss_mib_at_end: float
    rss_mib_max: float
    rss_growth_mib: float
    max_pending_bytes: int

    @property
    def ok(self) -> bool:
        return self.valid_decoded == self.valid_sent and self.rss_growth_mib < 2.0


def _rss_mib() -> float:
    """Current resident memory where /proc has it, else the peak (a peak that stops rising
    shows no growth just as well)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, else KiB
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _random_message(rng: random.Random) -> Message:
    kind = rng.randrange(7)
    if kind == 0:
        return Button(ButtonId(rng.randrange(2)), Gesture(rng.randrange(5)), rng.getrandbits(32))
    if kind == 1:
        return Heartbeat(rng.getrandbits(32))
    if kind == 2:
        return Volume(rng.randrange(101))
    if kind == 3:
        return Battery(rng.randrange(65536), rng.randrange(101), Charging(rng.randrange(4)))
    if kind == 4:
        return LangSwap()
    if kind == 5:
        text = "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(33)))
        return DeviceError(rng.randrange(256), text)
    return Hello(1, rng.randrange(256), rng.randrange(256), rng.randrange(16), "soak")


def _raw_frame(version: int, msg_type: int, seq: int, payload: bytes) -> bytes:
    head = bytes((version, msg_type, seq, len(payload))) + payload
    return cobs.encode(head + struct.pack("<H", crc16(head))) + b"\x00"


def _broken_frame(rng: random.Random, valid: bytes) -> bytes:
    kind = rng.randrange(7)
    if kind == 0:  # one flipped bit
        body = bytearray(cobs.decode(valid[:-1]))
        body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
        return cobs.encode(bytes(body)) + b"\x00"
    if kind == 1:
        return _raw_frame(rng.choice((0, 2, 255)), 0x11, 0, b"")
    if kind == 2:
        return _raw_frame(1, rng.choice((0x00, 0x20, 0x21, 0x7F, 0xFF)), 0, b"\x01")
    if kind == 3:
        return _raw_frame(1, 0x12, 0, bytes((rng.randrange(101, 256),)))  # volume > 100
    if kind == 4:
        run = bytes(rng.randrange(1, 256) for _ in range(MAX_ENCODED + rng.randrange(1, 300)))
        return run + b"\x00"
    if kind == 5:  # truncated, then the sender's flush
        return valid[: rng.randrange(1, len(valid) - 1)] + b"\x00"
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40))) + b"\x00"


def soak(frames: int, broken_ratio: float = 0.1, seed: int = 1) -> SoakResult:
    rng = random.Random(seed)
    decoder = MessageDecoder(DEVICE_TO_HOST)
    valid_sent = valid_decoded = 0
    max_pending = 0
    rss_samples: list[float] = []
    start = time.perf_counter()
    done = 0
    while done < frames:
        count = min(CHUNK_FRAMES, frames - done)
        parts = []
        for i in range(count):
            wire = encode_message(_random_message(rng), (done + i) & 0xFF)
            if rng.random() < broken_ratio:
                parts.append(_broken_frame(rng, wire))
            else:
                parts.append(wire)
                valid_sent += 1
        stream = b"".join(parts)
        pos = 0
        while pos < len(stream):
            size = rng.randrange(1, 512)
            valid_decoded += len(decoder.feed(stream[pos : pos + size]))
            max_pending = max(max_pending, decoder.framer.pending_bytes)
            pos += size
        done += count
        del parts, stream  # measure what the decoder keeps, not the last chunk
        rss_samples.append(_rss_mib())
    seconds = time.perf_counter() - start
    warm = rss_samples[len(rss_samples) // 10]  # the allocator's arenas fill up first
    return SoakResult(
        frames=frames,
        valid_sent=valid_sent,
        valid_decoded=valid_decoded,
        dropped={kind.value: n for kind, n in sorted(Counter(decoder.errors).items())},
        seconds=round(seconds, 2),
        frames_per_s=round(frames / seconds),
        rss_mib_after_warmup=round(warm, 2),
        rss_mib_at_end=round(rss_samples[-1], 2),
        rss_mib_max=round(max(rss_samples), 2),
        rss_growth_mib=round(rss_samples[-1] - warm, 2),
        max_pending_bytes=max_pending,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m firmware_bridge.soak", description=__doc__)
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--broken-ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    result = soak(args.frames, args.broken_ratio, args.seed)
    print(json.dumps({**asdict(result), "ok": result.ok}, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
