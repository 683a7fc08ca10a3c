"""Random-weight translation models in CTranslate2's on-disk format, built without torch.

``build_nllb_like`` writes what ``ct2-transformers-converter --model
facebook/nllb-200-distilled-600M --quantization int8`` writes (plus the SentencePiece model
users copy next to it); ``build_marian_like`` writes a converted Helsinki-NLP OPUS-MT model
with its ``source.spm``/``target.spm`` and a model record. The specification is filled
from numpy arrays and saved by ``ctranslate2.specs``; a small SentencePiece model is trained at
build time on generated multilingual text so that real tokenization runs, and the vocabulary
is padded with unused tokens up to the size asked for.

Int8 weights are drawn and quantized in row blocks with CTranslate2's own per-row scheme, so
building the 600M preset needs little memory beyond the model itself.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import sentencepiece as spm
from ctranslate2.specs import common_spec, transformer_spec

from edge.languages import FLORES200_CODES, opus_mt_code, to_flores
from edge.models.record import write_record

Quantization = Literal["int8", "float16", "float32"]

# Architecture-faithful presets: pass as keyword arguments, e.g. build_nllb_like(d, **NLLB_600M).
NLLB_600M: dict[str, Any] = {
    "num_layers": (12, 12),
    "d_model": 1024,
    "heads": 16,
    "ffn": 4096,
    "vocab_size": 256206,  # facebook/nllb-200-distilled-600M, embeddings shared
}
OPUS_MT: dict[str, Any] = {
    "num_layers": (6, 6),
    "d_model": 512,
    "heads": 8,
    "ffn": 2048,
    "vocab_size": 58101,  # Helsinki-NLP/opus-mt-en-de after conversion, embeddings shared
}

NLLB_MAX_POSITIONS = 1024
MARIAN_MAX_POSITIONS = 512
WEIGHT_STD = 0.02
FILLER_EMBEDDING_SCALE = 0.05
# Row blocks of about this many values bound the float32 scratch memory while quantizing.
_BLOCK_VALUES = 1 << 22
_SPM_VOCAB_SIZE = 3000


def build_nllb_like(
    out_dir: str | Path,
    *,
    num_layers: tuple[int, int] = (2, 2),
    d_model: int = 64,
    heads: int = 4,
    ffn: int = 128,
    vocab_size: int | None = None,
    languages: Sequence[str] = FLORES200_CODES,
    seed: int = 0,
    quantization: Quantization = "int8",
) -> Path:
    """Write a random NLLB-200 (M2M100 architecture) model and return its directory.

    Vocabulary layout as converted NLLB: ``<s> <pad> </s> <unk>``, the SentencePiece pieces,
    unused fillers up to ``vocab_size``, the language tokens, ``<mask>`` and two
    ``madeupword`` tokens; with the 202 languages and ``vocab_size=256206`` every language
    token has the id it has in the real model.
    """
    languages = [to_flores(code) for code in languages]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sp_model = _train_sentencepiece(seed)
    sp = spm.SentencePieceProcessor(model_proto=sp_model)

    tokens = ["<s>", "<pad>", "</s>", "<unk>"] + _pieces(sp)
    tail = [*languages, "<mask>", "madeupword0", "madeupword1"]
    fillers = _fillers(vocab_size, len(tokens) + len(tail))
    filler_rows = slice(len(tokens), len(tokens) + len(fillers))
    tokens += fillers + tail

    spec = transformer_spec.TransformerSpec.from_config(
        num_layers, heads, pre_norm=True, activation=common_spec.Activation.RELU
    )
    weights = _RandomWeights(seed, quantization)
    weights.fill_transformer(
        spec, d_model, ffn, len(tokens), _m2m100_positions(d_model), filler_rows
    )
    spec.config.bos_token = "<s>"
    spec.config.eos_token = "</s>"
    spec.config.unk_token = "<unk>"
    spec.config.decoder_start_token = "</s>"
    _save(spec, tokens, out)
    (out / "sentencepiece.bpe.model").write_bytes(sp_model)
    return out


def build_marian_like(
    out_dir: str | Path,
    *,
    source_lang: str = "eng_Latn",
    target_lang: str | Sequence[str] = "spa_Latn",
    num_layers: tuple[int, int] = (2, 2),
    d_model: int = 64,
    heads: int = 4,
    ffn: int = 128,
    vocab_size: int | None = None,
    seed: int = 0,
    quantization: Quantization = "int8",
) -> Path:
    """Write a random OPUS-MT (Marian) model and return its directory.

    Several target languages make a multilingual model: its vocabulary then holds the
    ``>>spa<<``-style target tokens that are put in front of the source sentence.
    """
    source = to_flores(source_lang)
    targets = [
        to_flores(code) for code in ([target_lang] if isinstance(target_lang, str) else target_lang)
    ]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sp_model = _train_sentencepiece(seed)
    sp = spm.SentencePieceProcessor(model_proto=sp_model)

    target_tokens = (
        [opus_mt_code(t, target_token=True) for t in targets] if len(targets) > 1 else []
    )
    tokens = ["</s>", "<unk>", *target_tokens] + _pieces(sp)
    fillers = _fillers(vocab_size, len(tokens))
    filler_rows = slice(len(tokens), len(tokens) + len(fillers))
    tokens += fillers

    spec = transformer_spec.TransformerSpec.from_config(
        num_layers, heads, pre_norm=False, activation=common_spec.Activation.SWISH
    )
    weights = _RandomWeights(seed, quantization)
    weights.fill_transformer(
        spec, d_model, ffn, len(tokens), _marian_positions(d_model), filler_rows
    )
    spec.decoder.projection.bias = weights.vector(len(tokens))  # Marian's final_logits_bias
    spec.decoder.start_from_zero_embedding = True
    spec.config.eos_token = "</s>"
    spec.config.unk_token = "<unk>"
    spec.config.decoder_start_token = "</s>"
    _save(spec, tokens, out)
    (out / "source.spm").write_bytes(sp_model)
    (out / "target.spm").write_bytes(sp_model)
    metadata = {
        "id": f"synthetic-opus-mt-{opus_mt_code(source)}-{'-'.join(map(opus_mt_code, targets))}",
        "kinds": ["mt"],
        "backend": "ct2-marian",
        "languages": [source, *targets],
        "options": {"source_languages": [source], "target_languages": targets},
    }
    write_record(out, metadata)
    return out


class _RandomWeights:
    """Fills layer specs with N(0, std) weights, quantized like CTranslate2 when int8."""

    def __init__(self, seed: int, quantization: Quantization) -> None:
        self._rng = np.random.default_rng(seed)
        self._quantization = quantization
        # Weights that are never quantized stay float32 in an int8 model, as CTranslate2 saves.
        self._float = np.float16 if quantization == "float16" else np.float32

    def fill_transformer(
        self,
        spec: transformer_spec.TransformerSpec,
        d_model: int,
        ffn: int,
        vocab_size: int,
        positions: np.ndarray,
        filler_rows: slice,
    ) -> None:
        # One embedding matrix shared by the encoder, the decoder and the output projection:
        # the same array objects become aliases in model.bin, as in converted NLLB and OPUS-MT.
        # Only the first alias in name order carries the scale; CTranslate2 aliases it too.
        embedding, scale = self.matrix(vocab_size, d_model, std=d_model**-0.5)
        # Shrunk filler rows get low logits: the decoder then writes text SentencePiece can
        # decode, as a trained model rarely predicts its rarest tokens.
        if scale is not None:
            scale[filler_rows] /= FILLER_EMBEDDING_SCALE
        else:
            embedding[filler_rows] *= FILLER_EMBEDDING_SCALE
        spec.decoder.embeddings.weight = embedding
        if scale is not None:
            spec.decoder.embeddings.weight_scale = scale
        spec.decoder.projection.weight = embedding
        spec.encoder.embeddings[0].weight = embedding

        for stack in (spec.encoder, spec.decoder):
            stack.scale_embeddings = math.sqrt(d_model)
            stack.position_encodings.encodings = positions.astype(self._float)
            if hasattr(stack, "layer_norm"):
                self._layer_norm(stack.layer_norm, d_model)
            for layer in stack.layer:
                self._attention(layer.self_attention, d_model, fused=[3 * d_model])
                if hasattr(layer, "attention"):
                    self._attention(layer.attention, d_model, fused=[d_model, 2 * d_model])
                self._layer_norm(layer.ffn.layer_norm, d_model)
                self._linear(layer.ffn.linear_0, ffn, d_model)
                self._linear(layer.ffn.linear_1, d_model, ffn)

    def matrix(self, rows: int, cols: int, std: float = WEIGHT_STD) -> tuple[np.ndarray, Any]:
        """A (rows, cols) weight and its int8 scale (None unless quantizing to int8)."""
        if self._quantization != "int8":
            return self._normal((rows, cols), std).astype(self._float, copy=False), None
        weight = np.empty((rows, cols), dtype=np.int8)
        scale = np.empty(rows, dtype=np.float32)
        block = max(1, _BLOCK_VALUES // cols)
        for start in range(0, rows, block):
            values = self._normal((min(block, rows - start), cols), std)
            # Same arithmetic as ctranslate2.specs.model_spec.LayerSpec._quantize.
            amax = np.maximum(
                np.abs(values).max(axis=1), np.float32(127) / np.finfo(np.float32).max
            )
            row_scale = np.float32(127.0) / amax
            values *= row_scale[:, None]
            weight[start : start + len(values)] = np.rint(values)
            scale[start : start + len(values)] = row_scale
        return weight, scale

    def vector(self, size: int) -> np.ndarray:
        return self._normal((size,), WEIGHT_STD).astype(self._float, copy=False)

    def _normal(self, shape: tuple[int, ...], std: float) -> np.ndarray:
        values = self._rng.standard_normal(shape, dtype=np.float32)
        values *= np.float32(std)
        return values

    def _linear(self, spec: common_spec.LinearSpec, out_dim: int, in_dim: int) -> None:
        # Variance-preserving std: each sublayer then moves the residual stream as much as the
        # token embedding does, so the tied output projection does not just echo its input.
        spec.weight, scale = self.matrix(out_dim, in_dim, std=in_dim**-0.5)
        if scale is not None:
            spec.weight_scale = scale
        spec.bias = self.vector(out_dim)

    def _layer_norm(self, spec: common_spec.LayerNormSpec, dim: int) -> None:
        # Zero-mean gains: with gains near 1 the residual stream stays aligned with the input
        # token's embedding and the tied output projection predicts that token forever.
        spec.gamma = self._normal((dim,), 1.0).astype(self._float, copy=False)
        spec.beta = self.vector(dim)

    def _attention(self, spec: Any, d_model: int, fused: list[int]) -> None:
        """Self-attention has one fused QKV projection, cross-attention Q and fused KV."""
        self._layer_norm(spec.layer_norm, d_model)
        for linear, out_dim in zip(spec.linear, fused, strict=False):
            self._linear(linear, out_dim, d_model)
        self._linear(spec.linear[-1], d_model, d_model)


def _save(spec: transformer_spec.TransformerSpec, tokens: list[str], out: Path) -> None:
    spec.register_source_vocabulary(tokens)
    spec.register_target_vocabulary(tokens)
    spec.validate()
    spec.optimize(quantization=None)  # aliases shared weights; they are already quantized
    spec.save(str(out))


def _fillers(vocab_size: int | None, other_tokens: int) -> list[str]:
    if vocab_size is None:
        return []
    if vocab_size < other_tokens:
        raise ValueError(f"vocab_size {vocab_size} is below the {other_tokens} tokens needed")
    return [f"<unused{i}>" for i in range(vocab_size - other_tokens)]


def _pieces(sp: spm.SentencePieceProcessor) -> list[str]:
    """SentencePiece pieces without <unk>, <s> and </s> (ids 0-2), which vocabularies respell."""
    return [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())]


def _m2m100_positions(dim: int) -> np.ndarray:
    """M2M100's sinusoidal table as CTranslate2 stores it: positions start at 2 (after pad)."""
    half = dim // 2
    rates = np.exp(np.arange(half, dtype=np.float64) * -(math.log(10000.0) / (half - 1)))
    angles = np.arange(2, NLLB_MAX_POSITIONS + 2, dtype=np.float64)[:, None] * rates[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def _marian_positions(dim: int) -> np.ndarray:
    """Marian's sinusoidal table: sines in the first half of each row, cosines in the second."""
    position = np.arange(MARIAN_MAX_POSITIONS, dtype=np.float64)[:, None]
    angles = position / np.power(10000.0, 2 * (np.arange(dim) // 2) / dim)[None, :]
    return np.concatenate([np.sin(angles[:, 0::2]), np.cos(angles[:, 1::2])], axis=1).astype(
        np.float32
    )


_SENTENCES = (
    "The weather is nice today and we are going to the station.",
    "Where is the nearest hospital, please?",
    "I would like a cup of coffee with milk.",
    "El tiempo es agradable hoy y vamos a la estación.",
    "¿Dónde está el hospital más cercano, por favor?",
    "Me gustaría una taza de café con leche.",
    "Das Wetter ist heute schön und wir gehen zum Bahnhof.",
    "Wo ist das nächste Krankenhaus, bitte?",
    "Il fait beau aujourd'hui et nous allons à la gare.",
    "Où est l'hôpital le plus proche, s'il vous plaît ?",
    "O tempo está bom hoje e vamos para a estação.",
    "Oggi il tempo è bello e andiamo alla stazione.",
)

# Code point ranges of the scripts FLORES-200 languages are written in, sampled into pseudo
# words so that every script has pieces; CJK and Hangul are cut to a few hundred characters.
_SCRIPT_RANGES = (
    (0x0430, 0x044F),  # Cyrillic
    (0x03B1, 0x03C9),  # Greek
    (0x0621, 0x064A),  # Arabic
    (0x05D0, 0x05EA),  # Hebrew
    (0x0905, 0x094C),  # Devanagari
    (0x0985, 0x09CC),  # Bengali
    (0x0A05, 0x0A4C),  # Gurmukhi
    (0x0A85, 0x0ACC),  # Gujarati
    (0x0B05, 0x0B4C),  # Oriya
    (0x0B85, 0x0BCC),  # Tamil
    (0x0C05, 0x0C4C),  # Telugu
    (0x0C85, 0x0CCC),  # Kannada
    (0x0D05, 0x0D4C),  # Malayalam
    (0x0D85, 0x0DC6),  # Sinhala
    (0x0E01, 0x0E2E),  # Thai
    (0x0E81, 0x0EAE),  # Lao
    (0x0F40, 0x0F6C),  # Tibetan
    (0x1000, 0x102A),  # Myanmar
    (0x10D0, 0x10F0),  # Georgian
    (0x0561, 0x0586),  # Armenian
    (0x1200, 0x1250),  # Ethiopic
    (0x1780, 0x17B3),  # Khmer
    (0x2D30, 0x2D67),  # Tifinagh
    (0x3041, 0x3093),  # Hiragana
    (0x30A1, 0x30F3),  # Katakana
    (0xAC00, 0xAC00 + 200),  # Hangul syllables
    (0x4E00, 0x4E00 + 300),  # CJK ideographs
)


def _corpus(seed: int, lines: int = 3000) -> Iterator[str]:
    rng = random.Random(seed)
    words = " ".join(_SENTENCES).split()
    for i in range(lines):
        if i % 2 == 0:
            yield " ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
        else:
            low, high = rng.choice(_SCRIPT_RANGES)
            yield " ".join(
                "".join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 6)))
                for _ in range(rng.randint(3, 8))
            )


def _train_sentencepiece(seed: int) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=_corpus(seed),
        model_writer=model,
        model_type="bpe",
        vocab_size=_SPM_VOCAB_SIZE,
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    return model.getvalue()
