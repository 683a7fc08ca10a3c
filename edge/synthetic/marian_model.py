"""Random-weight Marian transformers in Marian's binary format (``model.*.bin``).

``write_marian`` writes the layout ``quantize.marian_bin.read_marian`` reads (marian-dev
``src/common/binary.cpp``, format version 1): float32 items, and ``intgemm8`` items whose int8
bytes are stored transposed (``[out, in]``; ``Wemb`` as is) followed by their float32
quantization multiplier. ``build_marian_transformer`` writes a small Firefox-Translations-style
model with a standard self-attention decoder (what CTranslate2 runs) next to its vocabulary.
Weights are random: these models prove plumbing and arithmetic, never quality.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Mapping
from pathlib import Path

import numpy as np

VERSION = 1
FLOAT32 = 0x0404
INT8 = 0x0101
INTGEMM8 = 0x4101
ALIGN = 256


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % ALIGN)


def quantize_intgemm8(w: np.ndarray) -> tuple[np.ndarray, float]:
    """Marian's intgemm8 quantization of a float matrix: ``q = round(w * 127 / max|w|)``."""
    quant_mult = 127.0 / max(float(np.abs(w).max()), 1e-12)
    q = np.clip(np.rint(w * quant_mult), -127, 127).astype(np.int8)
    return q, quant_mult


def write_marian(
    path: str | Path,
    params: Mapping[str, np.ndarray],
    config_yaml: str,
    *,
    intgemm: Collection[str] = (),
) -> Path:
    """Write ``params`` (Marian shapes, weights ``[in, out]``) and the model.yml text.

    Parameters named in ``intgemm`` are stored as intgemm8 (2-D only), the rest as float32.
    """
    path = Path(path)
    items: list[tuple[str, int, tuple[int, ...], bytes]] = []
    config = config_yaml.encode("utf-8") + b"\0"
    items.append(("special:model.yml", INT8, (len(config),), config))
    for name in sorted(params):
        value = np.asarray(params[name], dtype=np.float32)
        shape = tuple(int(d) for d in value.shape)
        if name in intgemm:
            if value.ndim != 2:
                raise ValueError(f"{name}: only matrices can be stored as intgemm8")
            q, quant_mult = quantize_intgemm8(value)
            # Marian stores intgemm matrices transposed, except the embeddings.
            stored = q if name == "Wemb" else q.T
            data = np.ascontiguousarray(stored).tobytes() + struct.pack("<f", quant_mult)
            items.append((name, INTGEMM8, shape, data))
        else:
            items.append((name, FLOAT32, shape, value.astype("<f4").tobytes()))
    names = [name.encode("utf-8") + b"\0" for name, *_ in items]
    datas = [_padded(data) for *_, data in items]
    out = bytearray(struct.pack("<QQ", VERSION, len(items)))
    for name, (_, kind, shape, _), data in zip(names, items, datas, strict=True):
        out += struct.pack("<4Q", len(name), kind, len(shape), len(data))
    for name in names:
        out += name
    for _, _, shape, _ in items:
        out += struct.pack(f"<{len(shape)}i", *shape)
    # Pad so that the data starts on a 256-byte boundary (after the uint64 pad count itself).
    next_pos = ((len(out) + 8) // ALIGN + 1) * ALIGN
    pad = next_pos - len(out) - 8
    out += struct.pack("<Q", pad) + b"\0" * pad
    for data in datas:
        out += data
    path.write_bytes(bytes(out))
    return path


def model_yml(
    *,
    dim: int,
    heads: int,
    enc_depth: int,
    dec_depth: int,
    ffn: int,
    vocab_size: int,
    decoder_autoreg: str = "self-attention",
    activation: str = "relu",
) -> str:
    """The ``special:model.yml`` a Firefox Translations transformer student carries."""
    lines = {
        "type": "transformer",
        "dim-emb": dim,
        "dim-vocabs": [vocab_size, vocab_size],
        "enc-depth": enc_depth,
        "dec-depth": dec_depth,
        "dec-cell": "ssru" if decoder_autoreg == "rnn" else "gru",
        "tied-embeddings": "false",
        "tied-embeddings-all": "true",
        "tied-embeddings-src": "false",
        "transformer-heads": heads,
        "transformer-dim-ffn": ffn,
        "transformer-ffn-depth": 2,
        "transformer-ffn-activation": activation,
        "transformer-decoder-autoreg": decoder_autoreg,
        "transformer-guided-alignment-layer": "last",
        "transformer-no-projection": "false",
        "transformer-postprocess": "dan",
        "transformer-postprocess-emb": "d",
        "transformer-postprocess-top": '""',
        "transformer-preprocess": '""',
        "transformer-train-position-embeddings": "false",
        "transformer-tied-layers": [],
        "version": "v1.12.14 synthetic",
    }
    text = []
    for key, value in lines.items():
        if isinstance(value, list):
            text.append(f"{key}:" if value else f"{key}: []")
            text.extend(f"  - {item}" for item in value)
        else:
            text.append(f"{key}: {value}")
    return "\n".join(text) + "\n"


def random_transformer(
    *,
    vocab_size: int,
    dim: int = 32,
    heads: int = 4,
    enc_depth: int = 2,
    dec_depth: int = 2,
    ffn: int = 64,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Random parameters of a post-norm Marian transformer with a self-attention decoder."""
    if dim % heads:
        raise ValueError("dim must be a multiple of heads")
    rng = np.random.default_rng(seed)

    def normal(*shape: int, scale: float) -> np.ndarray:
        return rng.normal(0.0, scale, shape).astype(np.float32)

    # Scales large enough that greedy decoding of the random model does not repeat one token.
    params: dict[str, np.ndarray] = {"Wemb": normal(vocab_size, dim, scale=0.5)}
    params["decoder_ff_logit_out_b"] = normal(1, vocab_size, scale=0.1)

    def attention(prefix: str) -> None:
        for w in ("q", "k", "v", "o"):
            params[f"{prefix}_W{w}"] = normal(dim, dim, scale=2 * dim**-0.5)
            params[f"{prefix}_b{w}"] = normal(1, dim, scale=0.1)
        params[f"{prefix}_Wo_ln_scale"] = 1.0 + normal(1, dim, scale=0.1)
        params[f"{prefix}_Wo_ln_bias"] = normal(1, dim, scale=0.1)

    def feed_forward(prefix: str) -> None:
        params[f"{prefix}_W1"] = normal(dim, ffn, scale=2 * dim**-0.5)
        params[f"{prefix}_b1"] = normal(1, ffn, scale=0.1)
        params[f"{prefix}_W2"] = normal(ffn, dim, scale=2 * ffn**-0.5)
        params[f"{prefix}_b2"] = normal(1, dim, scale=0.1)
        params[f"{prefix}_ffn_ln_scale"] = 1.0 + normal(1, dim, scale=0.1)
        params[f"{prefix}_ffn_ln_bias"] = normal(1, dim, scale=0.1)

    for layer in range(1, enc_depth + 1):
        attention(f"encoder_l{layer}_self")
        feed_forward(f"encoder_l{layer}_ffn")
    for layer in range(1, dec_depth + 1):
        attention(f"decoder_l{layer}_self")
        attention(f"decoder_l{layer}_context")
        feed_forward(f"decoder_l{layer}_ffn")
    return params


def intgemm_names(params: Mapping[str, np.ndarray]) -> list[str]:
    """The parameters Bergamot stores as intgemm8: every weight matrix and ``Wemb``."""
    return [name for name in params if name == "Wemb" or name.rsplit("_", 1)[-1][:1] == "W"]


def build_marian_transformer(
    out_dir: str | Path,
    vocab: str | Path,
    *,
    pair: str = "enxx",
    intgemm: bool = False,
    seed: int = 0,
    **sizes: int,
) -> Path:
    """A model directory like a Firefox Translations release: ``model.<pair>.{intgemm.alphas,
    float32}.bin`` and ``vocab.<pair>.spm`` (copied from ``vocab``). Returns the directory.

    ``sizes``: ``dim``, ``heads``, ``enc_depth``, ``dec_depth``, ``ffn`` (see
    :func:`random_transformer`); the vocabulary size is the SentencePiece model's.
    """
    import sentencepiece as spm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(vocab).read_bytes()
    vocab_size = spm.SentencePieceProcessor(model_proto=data).get_piece_size()
    params = random_transformer(vocab_size=vocab_size, seed=seed, **sizes)
    dims = {
        "dim": params["Wemb"].shape[1],
        "heads": sizes.get("heads", 4),
        "enc_depth": sizes.get("enc_depth", 2),
        "dec_depth": sizes.get("dec_depth", 2),
        "ffn": sizes.get("ffn", 64),
    }
    config = model_yml(vocab_size=vocab_size, **dims)
    name = f"model.{pair}.intgemm.alphas.bin" if intgemm else f"model.{pair}.float32.bin"
    write_marian(out / name, params, config, intgemm=intgemm_names(params) if intgemm else ())
    (out / f"vocab.{pair}.spm").write_bytes(data)
    return out
