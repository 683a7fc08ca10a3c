"""Checks ``test_vectors.txt`` against the Python implementation.

The C implementation checks the same file (``firmware/tests/test_vectors.c``), so the two
agree byte for byte on everything the file lists. Run ``python -m firmware_bridge.vectors``
to check it by hand; a failing ``msg`` line prints the bytes Python produces, which is how
new lines are written. Line formats are described at the top of the file.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from cobs import cobs

from firmware_bridge.press import Edge, PressClassifier, PressMode
from firmware_bridge.protocol import (
    DEVICE_TO_HOST,
    HOST_TO_DEVICE,
    MESSAGE_CLASSES,
    FrameError,
    Message,
    MessageDecoder,
    MsgType,
    Received,
    crc16,
    encode_message,
)

VECTORS_PATH = Path(__file__).with_name("test_vectors.txt")
DIRECTIONS = {"d2h": DEVICE_TO_HOST, "h2d": HOST_TO_DEVICE}
EDGES = {"d": Edge.DOWN, "u": Edge.UP, "t": Edge.NONE}


def _hex(token: str) -> bytes:
    return b"" if token == "-" else bytes.fromhex(token)


def _split(line: str) -> tuple[list[str], list[str]]:
    left, _, right = line.partition("=>")
    return left.split(), right.split()


def format_message(seq: int, message: Message) -> list[str]:
    """``TYPE seq key=value...``; text fields in hex so the file needs no quoting."""
    out = [MsgType(message.TYPE).name, str(seq)]
    for f in fields(message):
        value = getattr(message, f.name)
        out.append(f"{f.name}={value.encode('ascii').hex() if f.type == 'str' else int(value)}")
    return out


def build_message(type_name: str, assignments: list[str]) -> Message:
    cls = MESSAGE_CLASSES[MsgType[type_name]]
    kinds = {f.name: f.type for f in fields(cls)}
    values: dict[str, int | str] = {}
    for assignment in assignments:
        key, _, raw = assignment.partition("=")
        values[key] = bytes.fromhex(raw).decode("latin-1") if kinds[key] == "str" else int(raw)
    return cls(**values)


def _outcome(result: Received | FrameError) -> str:
    if isinstance(result, FrameError):
        return f"err:{result.value}"
    return f"{MsgType(result.message.TYPE).name}@{result.seq}"


def check_line(line: str) -> str | None:
    """None if the Python implementation agrees with the line, else what it produced."""
    kind, *rest = line.split(maxsplit=1)
    left, right = _split(rest[0] if rest else "")
    if kind == "crc":
        got = f"{crc16(_hex(left[0])):04x}"
        return None if got == left[1] else f"crc {got}"
    if kind == "cobs":
        raw, encoded = _hex(left[0]), _hex(left[1])
        got = cobs.encode(raw)
        if got != encoded:
            return f"encoded {got.hex()}"
        return None if cobs.decode(encoded) == raw else "decode differs"
    if kind == "msg":
        direction, seq, type_name, *assignments = left
        message = build_message(type_name, assignments)
        wire = encode_message(message, int(seq)).hex()
        if wire != right[0]:
            return f"wire {wire}"
        decoded = MessageDecoder(DIRECTIONS[direction]).feed_results(bytes.fromhex(wire))
        expected = [type_name, seq, *assignments]
        got = [format_message(r.seq, r.message) if isinstance(r, Received) else r for r in decoded]
        return None if got == [expected] else f"decoded {got}"
    if kind == "decode":
        direction, wire = left
        results = MessageDecoder(DIRECTIONS[direction]).feed_results(_hex(wire))
        if len(results) != 1:
            return f"{len(results)} outcomes"
        result = results[0]
        got = [_outcome(result)] if isinstance(result, FrameError) else []
        if isinstance(result, Received):
            got = format_message(result.seq, result.message)
        return None if got == right else f"decoded {' '.join(got)}"
    if kind == "stream":
        direction, data = left
        results = MessageDecoder(DIRECTIONS[direction]).feed_results(_hex(data))
        got = [_outcome(r) for r in results]
        return None if got == right else f"outcomes {' '.join(got)}"
    if kind == "press":
        mode, *inputs = left
        classifier = PressClassifier(PressMode[mode.upper()])
        produced = [
            f"{gesture.name}@{token[1:]}"
            for token in inputs
            for gesture in classifier.update(int(token[1:]), EDGES[token[0]])
        ]
        return None if produced == right else f"gestures {' '.join(produced)}"
    return f"unknown vector kind {kind!r}"


def check_file(path: Path = VECTORS_PATH) -> tuple[int, list[str]]:
    """Number of vectors checked and a description of each disagreement."""
    checked, failures = 0, []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        checked += 1
        problem = check_line(line)
        if problem is not None:
            failures.append(f"{path.name}:{number}: {problem}\n    {line}")
    return checked, failures


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else VECTORS_PATH
    checked, failures = check_file(path)
    for failure in failures:
        print(failure)
    print(f"{checked - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
