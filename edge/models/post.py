"""Steps that turn fetched files into what a runtime loads."""

from __future__ import annotations

import base64
from pathlib import Path

from ..errors import ModelError


def moonshine_tokens(tokenizer_bin: bytes) -> str:
    """sherpa-onnx ``tokens.txt`` from a Moonshine ``tokenizer.bin``.

    The binary is a sequence of records: a length (one byte if below 128, else two bytes,
    ``b0 - 128 + 128 * b1``; a zero byte is an empty token) followed by the token's bytes.
    sherpa-onnx reads one ``base64(token) index`` line per token.
    """
    lines = []
    pos = 0
    index = 0
    while pos < len(tokenizer_bin):
        first = tokenizer_bin[pos]
        pos += 1
        if first < 128:
            length = first
        else:
            if pos >= len(tokenizer_bin):
                raise ModelError("tokenizer.bin ends inside a length field", "fetch it again")
            length = first - 128 + 128 * tokenizer_bin[pos]
            pos += 1
        if pos + length > len(tokenizer_bin):
            raise ModelError("tokenizer.bin ends inside a token", "fetch it again")
        token = tokenizer_bin[pos : pos + length]
        pos += length
        lines.append(f"{base64.b64encode(token).decode('ascii')} {index}\n")
        index += 1
    return "".join(lines)


def run_post_step(step: str, model_dir: Path) -> None:
    if step == "moonshine-tokens":
        source = model_dir / "tokenizer.bin"
        if not source.is_file():
            raise ModelError("moonshine-tokens needs tokenizer.bin", "fix the catalog entry")
        (model_dir / "tokens.txt").write_text(moonshine_tokens(source.read_bytes()), "utf-8")
    else:
        raise ModelError(f"unknown post step {step!r}", "fix the catalog entry")
