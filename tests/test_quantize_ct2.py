"""``quantize ct2``: CTranslate2 conversion and re-quantization.

Real Whisper (tiny.en, base) files are re-quantized from float16; tiny random NLLB
(M2M100 with NLLB's tokenizer conventions) and Marian checkpoints are made with transformers
at test time and converted with CTranslate2's converter (marked ``quantize_heavy``: torch).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
import sentencepiece as spm

from edge.errors import EdgeError, ModelError
from edge.synthetic.ct2_transformer import build_marian_like, build_nllb_like
from quantize.catalog import catalog_entry
from quantize.convert import convert_ct2
from quantize.ct2_model import quantize_int8, read_model, requantize, write_model

ROOT = Path(__file__).resolve().parent.parent
BECKETT_TEXT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quantize", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.fixture(scope="session")
def whisper_tiny_dir(store) -> Path:  # noqa: ANN001
    try:
        return store.get("whisper-tiny-en-ct2").path
    except ModelError:
        return store.pull("whisper-tiny-en-ct2", progress=False).path


def test_model_bin_round_trips_byte_for_byte(tmp_path: Path) -> None:
    model_dir = build_nllb_like(tmp_path / "nllb")
    original = (model_dir / "model.bin").read_bytes()
    write_model(read_model(model_dir / "model.bin"), tmp_path / "copy.bin")
    assert (tmp_path / "copy.bin").read_bytes() == original


def test_int8_matches_ctranslate2_runtime_quantization(tmp_path: Path) -> None:
    """A float32 model quantized on disk decodes exactly as CTranslate2 quantizing at load."""
    float_dir = build_nllb_like(tmp_path / "f32", quantization="float32")
    record = convert_ct2(float_dir, tmp_path / "int8", "int8")
    assert record["backend"] == "ct2-nllb" and record["quantization"] == "int8"
    assert (tmp_path / "int8" / "sentencepiece.bpe.model").is_file()
    sp = spm.SentencePieceProcessor(model_file=str(float_dir / "sentencepiece.bpe.model"))
    source = [
        ["eng_Latn", *sp.encode(s, out_type=str), "</s>"]
        for s in ("Where is the station?", "I would like a coffee with milk.")
    ]
    results = []
    for model_dir in (float_dir, tmp_path / "int8"):
        translator = ctranslate2.Translator(str(model_dir), compute_type="int8")
        out = translator.translate_batch(
            source, target_prefix=[["spa_Latn"]] * 2, max_decoding_length=12, return_scores=True
        )
        results.append([(r.hypotheses[0], round(r.scores[0], 4)) for r in out])
    assert results[0] == results[1]
    int8 = read_model(tmp_path / "int8" / "model.bin")
    assert int8.variables["decoder/embeddings/weight"].dtype == np.int8
    assert (tmp_path / "int8" / "model.bin").stat().st_size < 0.4 * (
        float_dir / "model.bin"
    ).stat().st_size


def test_quantize_int8_is_per_row_symmetric() -> None:
    weight = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [2.0, 1.0, -0.5]], np.float32)
    quantized, scale = quantize_int8(weight)
    assert quantized[0].tolist() == [64, -127, 32] and quantized[1].tolist() == [0, 0, 0]
    np.testing.assert_allclose(quantized / scale[:, None], weight, atol=0.01)


def test_each_quantization_stores_its_types(tmp_path: Path) -> None:
    model = read_model(build_nllb_like(tmp_path / "f32", quantization="float32") / "model.bin")
    expected = {
        "int8": ("int8", "float32"),
        "int8_float16": ("int8", "float16"),
        "float16": ("float16", "float16"),
        "float32": ("float32", "float32"),
    }
    for quantization, (weight_type, other_type) in expected.items():
        converted, _ = requantize(model, quantization)
        linear = converted.variables["encoder/layer_0/ffn/linear_0/weight"]
        norm = converted.variables["encoder/layer_0/ffn/layer_norm/gamma"]
        assert (linear.dtype.name, norm.dtype.name) == (weight_type, other_type), quantization
    converted, bfloat16 = requantize(model, "int8_bfloat16")
    assert "encoder/layer_0/ffn/layer_norm/gamma" in bfloat16
    write_model(converted, tmp_path / "bf16.bin", bfloat16)
    again = read_model(tmp_path / "bf16.bin")
    np.testing.assert_allclose(
        again.variables["encoder/layer_0/ffn/layer_norm/gamma"],
        model.variables["encoder/layer_0/ffn/layer_norm/gamma"],
        rtol=1e-2,
    )


def test_already_quantized_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="already quantized"):
        convert_ct2(build_nllb_like(tmp_path / "int8"), tmp_path / "again", "int8")
    assert not (tmp_path / "again").exists()


def test_whisper_float16_to_int8_transcribes_a_real_recording(
    whisper_tiny_dir: Path, beckett_wav: Path, tmp_path: Path
) -> None:
    from edge.asr.whisper_ct2 import WhisperCT2
    from edge.audio import read_audio
    from quantize.metrics import word_error_rate

    record = convert_ct2(whisper_tiny_dir, tmp_path / "int8", "int8")
    assert record["backend"] == "ct2-whisper" and record["kind"] == "asr"
    assert record["languages"] == ["eng_Latn"]
    assert (tmp_path / "int8" / "tokenizer.json").is_file()
    ratio = (tmp_path / "int8" / "model.bin").stat().st_size / (
        whisper_tiny_dir / "model.bin"
    ).stat().st_size
    assert 0.5 < ratio < 0.6  # int8 weights are half of float16 ones; norms stay float32
    recognizer = WhisperCT2.load(tmp_path / "int8", compute_type="default")
    text = recognizer.recognize(read_audio(beckett_wav), "eng_Latn").text
    assert word_error_rate([BECKETT_TEXT], [text]) < 20.0, text


def test_multilingual_whisper_lists_its_languages(whisper_base_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(whisper_base_dir, src)
    (src / "edge_model.json").unlink(missing_ok=True)
    record = convert_ct2(src, tmp_path / "int8", "int8", model_id="whisper-base-int8")
    assert record["id"] == "whisper-base-int8"
    assert {"eng_Latn", "deu_Latn", "spa_Latn", "zho_Hans"} <= set(record["languages"])
    assert len(record["languages"]) > 90
    entry = catalog_entry(tmp_path / "int8", license="MIT", measure_ram=False)
    assert entry["kinds"] == ["asr-segment", "direct-st"] and entry["backend"] == "ct2-whisper"
    assert entry["quantization"] == "int8" and entry["id"] == "whisper-base-int8"


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    unknown = tmp_path / "bert"
    unknown.mkdir()
    (unknown / "config.json").write_text(json.dumps({"model_type": "bert"}))
    marian = tmp_path / "marian"
    marian.mkdir()
    (marian / "config.json").write_text(json.dumps({"model_type": "marian"}))
    (marian / "source.spm").write_bytes(b"x")
    existing = tmp_path / "exists"
    existing.mkdir()
    cases = [
        (["ct2", str(unknown), str(tmp_path / "o1")], "unsupported architecture 'bert'"),
        (["ct2", str(marian), str(tmp_path / "o2")], "target.spm"),
        (["ct2", str(marian), str(existing)], "already exists"),
        (["ct2", str(tmp_path / "missing"), str(tmp_path / "o3")], "not found"),
    ]
    for args, message in cases:
        completed = run_cli(*args)
        assert completed.returncode != 0, args
        lines = completed.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], completed.stderr
        assert "Traceback" not in completed.stderr
    assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()


def test_ct2_translation_model_without_tokenizer_is_refused(tmp_path: Path) -> None:
    model_dir = build_marian_like(tmp_path / "marian", quantization="float32")
    (model_dir / "source.spm").unlink()
    (model_dir / "target.spm").unlink()
    with pytest.raises(EdgeError, match="without tokenizer files"):
        convert_ct2(model_dir, tmp_path / "out", "int8")


# --- Hugging Face checkpoints (transformers and torch) ----------------------------------------

_TEXT = [
    "Hello world, this is a small test sentence.",
    "Where is the nearest station, please?",
    "Bonjour le monde, ceci est une petite phrase.",
    "Où est la gare la plus proche, s'il vous plaît ?",
    "Hallo Welt, das ist ein kleiner Testsatz.",
]


def _train_spm(path: Path, vocab_size: int) -> None:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_TEXT * 20),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="bpe",
        hard_vocab_limit=False,
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())


# Transformer sizes of the random Hugging Face models: small enough to build in a second.
_TINY_TRANSFORMER = {
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_position_embeddings": 512,
}


@pytest.fixture(scope="session")
def hf_nllb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random M2M100 model with an NLLB tokenizer (sentencepiece.bpe.model + 202 languages)."""
    from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    out = tmp_path_factory.mktemp("hf") / "nllb"
    out.mkdir()
    _train_spm(out / "sentencepiece.bpe.model", 120)
    tokenizer = NllbTokenizer.from_pretrained(
        str(out), extra_special_tokens=FAIRSEQ_LANGUAGE_CODES, src_lang="eng_Latn"
    )
    tokenizer.save_pretrained(str(out))
    config = M2M100Config(
        vocab_size=len(tokenizer),
        **_TINY_TRANSFORMER,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
        scale_embedding=True,
    )
    M2M100ForConditionalGeneration(config).save_pretrained(str(out))
    return out


@pytest.fixture(scope="session")
def hf_marian(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random opus-mt-en-de shaped Marian model with its two SentencePiece models."""
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    out = tmp_path_factory.mktemp("hf") / "marian"
    out.mkdir()
    _train_spm(out / "source.spm", 60)
    _train_spm(out / "target.spm", 60)
    pieces = ["</s>", "<unk>"]
    for name in ("source.spm", "target.spm"):
        sp = spm.SentencePieceProcessor(model_file=str(out / name))
        pieces += [sp.id_to_piece(i) for i in range(3, sp.get_piece_size())]
    vocab = {p: i for i, p in enumerate(dict.fromkeys([*pieces, "<pad>"]))}
    (out / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = MarianTokenizer(
        source_spm=str(out / "source.spm"),
        target_spm=str(out / "target.spm"),
        vocab=str(out / "vocab.json"),
        source_lang="en",
        target_lang="de",
    )
    tokenizer.save_pretrained(str(out))
    config = MarianConfig(
        vocab_size=len(tokenizer),
        **_TINY_TRANSFORMER,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    MarianMTModel(config).save_pretrained(str(out))
    return out


@pytest.mark.quantize_heavy
def test_hf_nllb_converts_to_int8_and_forces_the_target_language(
    hf_nllb: Path, tmp_path: Path
) -> None:
    from edge.mt.ctranslate2_mt import CTranslate2Translator

    out = tmp_path / "nllb-int8"
    completed = run_cli("ct2", str(hf_nllb), str(out), "--quantization", "int8", "--id", "tiny")
    assert completed.returncode == 0, completed.stderr
    record = json.loads((out / "edge_model.json").read_text())
    assert record["id"] == "tiny" and record["backend"] == "ct2-nllb"
    assert len(record["languages"]) == 202 and "fra_Latn" in record["languages"]
    assert (out / "sentencepiece.bpe.model").read_bytes() == (
        hf_nllb / "sentencepiece.bpe.model"
    ).read_bytes()
    assert read_model(out / "model.bin").variables["decoder/embeddings/weight"].dtype == np.int8
    sp = spm.SentencePieceProcessor(model_file=str(out / "sentencepiece.bpe.model"))
    translator = ctranslate2.Translator(str(out))
    for target in ("fra_Latn", "deu_Latn"):
        result = translator.translate_batch(
            [["eng_Latn", *sp.encode("Hello world", out_type=str), "</s>"]],
            target_prefix=[[target]],
            max_decoding_length=8,
        )
        assert result[0].hypotheses[0][0] == target
    edge_translator = CTranslate2Translator.load(out)
    assert edge_translator.supports("eng_Latn", "fra_Latn")
    assert len(edge_translator.translate(["Hello world."], "eng_Latn", "fra_Latn")) == 1


@pytest.mark.quantize_heavy
def test_hf_marian_converts_with_its_spm_files_and_direction(
    hf_marian: Path, tmp_path: Path
) -> None:
    from edge.mt.ctranslate2_mt import CTranslate2Translator

    record = convert_ct2(hf_marian, tmp_path / "marian-int8", "int8")
    out = tmp_path / "marian-int8"
    assert record["backend"] == "ct2-marian"
    assert record["languages"] == ["eng_Latn", "deu_Latn"]
    assert record["options"] == {"source_languages": ["eng_Latn"], "target_languages": ["deu_Latn"]}
    for name in ("source.spm", "target.spm"):
        assert (out / name).read_bytes() == (hf_marian / name).read_bytes()
    vocabulary = json.loads((out / "shared_vocabulary.json").read_text())
    assert "<pad>" not in vocabulary  # Marian starts decoding from a zero embedding instead
    translator = CTranslate2Translator.load(out)
    assert translator.supports("eng_Latn", "deu_Latn")
    assert not translator.supports("deu_Latn", "eng_Latn")
    assert len(translator.translate(["Hello world."], "eng_Latn", "deu_Latn")) == 1


@pytest.mark.quantize_heavy
def test_hf_conversion_in_every_quantization_loads(hf_marian: Path, tmp_path: Path) -> None:
    sizes = {}
    for quantization in ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "float16"):
        out = tmp_path / quantization
        convert_ct2(hf_marian, out, quantization)
        ctranslate2.Translator(str(out), compute_type="default")
        sizes[quantization] = (out / "model.bin").stat().st_size
    assert sizes["int8"] < sizes["float16"]


@pytest.mark.quantize_heavy
def test_hf_whisper_converts_with_its_tokenizer(whisper_tiny_dir: Path, tmp_path: Path) -> None:
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizerFast

    from edge.asr.whisper_ct2 import WhisperCT2

    src = tmp_path / "hf-whisper"
    tokenizer = WhisperTokenizerFast(tokenizer_file=str(whisper_tiny_dir / "tokenizer.json"))
    config = WhisperConfig(
        vocab_size=51864,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
    )
    WhisperForConditionalGeneration(config).save_pretrained(str(src))
    tokenizer.save_pretrained(str(src))
    record = convert_ct2(src, tmp_path / "int8", "int8")
    assert record["backend"] == "ct2-whisper" and record["languages"] == ["eng_Latn"]
    assert (tmp_path / "int8" / "tokenizer.json").is_file()
    model = read_model(tmp_path / "int8" / "model.bin")
    assert model.spec_name == "WhisperSpec"
    assert model.variables["encoder/conv1/weight"].dtype == np.int8
    recognizer = WhisperCT2.load(tmp_path / "int8")
    assert not recognizer.is_multilingual
    assert isinstance(recognizer.recognize(np.zeros(16000, np.float32)).text, str)
