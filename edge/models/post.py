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


def marian_onnx(model_dir: Path) -> dict:
    """``encoder.onnx`` and ``decoder.onnx`` converted from the Marian ``model.*.bin`` in
    ``model_dir`` (a Bergamot / Firefox Translations student); returns the record options.

    The .bin stays: the store removes it afterwards only when the catalog entry does not
    list it among its files.
    """
    try:
        from quantize.marian_onnx import convert_dir

        return convert_dir(model_dir)
    except ImportError as exc:  # the graphs are built with the onnx package
        raise ModelError(
            f"marian-onnx cannot convert the model: {exc}",
            "install the onnx package (pip install 'onnx>=1.16') and pull again",
        ) from None


def run_post_step(step: str, model_dir: Path) -> None:
    if step == "moonshine-tokens":
        source = model_dir / "tokenizer.bin"
        if not source.is_file():
            raise ModelError("moonshine-tokens needs tokenizer.bin", "fix the catalog entry")
        (model_dir / "tokens.txt").write_text(moonshine_tokens(source.read_bytes()), "utf-8")
    elif step == "marian-onnx":
        marian_onnx(model_dir)
    else:
        raise ModelError(f"unknown post step {step!r}", "fix the catalog entry")
