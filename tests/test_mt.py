"""CTranslate2 translation of NLLB-200 and OPUS-MT (Marian) models, on random-weight models.

The synthetic models are in the exact on-disk format of converted real ones and tokenize with
a real SentencePiece model; they guarantee plumbing (tokens, language tokens, lengths), never
words.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import sentencepiece as spm

from edge.errors import EdgeError, LanguageError, ModelError
from edge.languages import FLORES200_CODES
from edge.mt.base import TextTranslator
from edge.mt.ctranslate2_mt import CTranslate2Translator
from edge.mt.loader import load_text_translator
from edge.synthetic.ct2_transformer import OPUS_MT, build_marian_like, build_nllb_like

SENTENCES = [
    "Where is the nearest hospital, please?",
    "Das Wetter ist heute schön.",
    "I would like a cup of coffee with milk.",
]


@pytest.fixture(scope="session")
def nllb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_nllb_like(tmp_path_factory.mktemp("nllb") / "model")


@pytest.fixture(scope="session")
def nllb(nllb_dir: Path) -> CTranslate2Translator:
    return CTranslate2Translator.load(nllb_dir, intra_threads=2)


@pytest.fixture(scope="session")
def marian_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_marian_like(tmp_path_factory.mktemp("marian") / "model")


def _copy_without(model_dir: Path, tmp_path: Path, name: str) -> Path:
    copy = Path(shutil.copytree(model_dir, tmp_path / "model"))
    (copy / name).unlink()
    return copy


def test_nllb_like_directory_matches_a_converted_nllb(nllb_dir: Path) -> None:
    config = json.loads((nllb_dir / "config.json").read_text())
    assert config["add_source_bos"] is False and config["add_source_eos"] is False
    assert config["decoder_start_token"] == "</s>" and config["unk_token"] == "<unk>"
    vocabulary = json.loads((nllb_dir / "shared_vocabulary.json").read_text())
    assert vocabulary[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert set(FLORES200_CODES) <= set(vocabulary)
    assert (nllb_dir / "sentencepiece.bpe.model").is_file()


def test_full_size_vocabulary_puts_language_tokens_at_nllbs_ids(tmp_path: Path) -> None:
    model = build_nllb_like(tmp_path / "m", d_model=16, heads=2, ffn=32, vocab_size=256206)
    vocabulary = json.loads((model / "shared_vocabulary.json").read_text())
    assert len(vocabulary) == 256206
    # Ids of facebook/nllb-200-distilled-600M's tokenizer.
    assert vocabulary.index("eng_Latn") == 256047
    assert vocabulary.index("zul_Latn") == 256202


def test_nllb_loads_as_a_text_translator_for_all_languages(nllb_dir: Path) -> None:
    translator = load_text_translator(nllb_dir)
    assert isinstance(translator, TextTranslator)
    assert translator.flavour == "nllb"
    assert translator.languages == FLORES200_CODES
    assert translator.supports("eng_Latn", "spa_Latn") and translator.supports("es", "de")
    assert not translator.supports("eng_Latn", "eng_Latn")
    assert not translator.supports("eng_Latn", "xx")


def test_nllb_translates_a_batch_with_the_target_token_forced_and_stripped(
    nllb: CTranslate2Translator,
) -> None:
    batch = [*SENTENCES, "  "]
    outputs = nllb.translate(batch, "eng_Latn", "spa_Latn")
    assert len(outputs) == len(batch) and all(isinstance(text, str) for text in outputs)
    assert outputs[-1] == ""  # blank in, nothing out
    assert not any("spa_Latn" in text or "eng_Latn" in text for text in outputs)

    tokens = nllb.translate_tokens(SENTENCES, "en", "fr")
    assert all(hypothesis[0] == "fra_Latn" for hypothesis in tokens)
    assert nllb.last_stats is not None
    assert nllb.last_stats.decoded_tokens == sum(len(t) - 1 for t in tokens)
    assert nllb.last_stats.sentences == 3 and nllb.last_stats.seconds > 0


def test_nllb_source_is_language_token_pieces_and_eos(
    nllb: CTranslate2Translator, nllb_dir: Path
) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(nllb_dir / "sentencepiece.bpe.model"))
    for sentence in SENTENCES:
        pieces = sp.encode(sentence, out_type=str)
        assert nllb.count_tokens(sentence, "eng_Latn") == len(pieces) + 2
        assert nllb.source_tokens(sentence, "eng_Latn", "spa_Latn") == [
            "eng_Latn",
            *pieces,
            "</s>",
        ]


def test_decode_lengths_force_exact_output_lengths(nllb: CTranslate2Translator) -> None:
    lengths = [1, 16, 5]
    tokens = nllb.translate_tokens(SENTENCES, "eng_Latn", "deu_Latn", decode_lengths=lengths)
    assert [len(t) - 1 for t in tokens] == lengths  # after the forced language token
    assert nllb.last_stats is not None and nllb.last_stats.decoded_tokens == sum(lengths)
    with pytest.raises(ValueError):
        nllb.translate(SENTENCES, "eng_Latn", "deu_Latn", decode_lengths=[4])


@pytest.mark.parametrize("flavour", ["nllb", "marian"])
def test_streamed_decode_is_the_batch_decode_token_by_token(
    flavour: str, nllb: CTranslate2Translator, marian_dir: Path
) -> None:
    mt = nllb if flavour == "nllb" else CTranslate2Translator.load(marian_dir)
    target = "deu_Latn" if flavour == "nllb" else "spa_Latn"
    for sentence in SENTENCES:
        [batch] = mt.translate_tokens([sentence], "eng_Latn", target, decode_lengths=[9])
        streamed = list(mt.generate(sentence, "eng_Latn", target, decode_length=9))
        assert streamed == (batch[1:] if flavour == "nllb" else batch)  # no language token
        # Unforced: the same greedy hypothesis, word by word.
        words = list(mt.translate_words(sentence, "eng_Latn", target))
        assert " ".join(words) == mt.translate([sentence], "eng_Latn", target)[0]
    assert list(mt.translate_words("  ", "eng_Latn", target)) == []


def test_beam_search_streams_its_finished_hypothesis(nllb_dir: Path) -> None:
    mt = CTranslate2Translator.load(nllb_dir, decoding={"beam_size": 3})
    for sentence in SENTENCES:
        words = list(mt.translate_words(sentence, "eng_Latn", "deu_Latn"))
        assert " ".join(words) == mt.translate([sentence], "eng_Latn", "deu_Latn")[0]
        [batch] = mt.translate_tokens([sentence], "eng_Latn", "deu_Latn", decode_lengths=[6])
        assert list(mt.generate(sentence, "eng_Latn", "deu_Latn", decode_length=6)) == batch[1:]


def test_unknown_or_uncovered_languages_are_language_errors(tmp_path: Path) -> None:
    model = build_nllb_like(tmp_path / "m", languages=("eng_Latn", "spa_Latn", "deu_Latn"))
    translator = CTranslate2Translator.load(model)
    assert set(translator.languages) == {"eng_Latn", "spa_Latn", "deu_Latn"}
    with pytest.raises(LanguageError, match="unknown language code 'xx'"):
        translator.translate(SENTENCES, "xx", "spa_Latn")
    with pytest.raises(LanguageError, match="French"):
        translator.translate(SENTENCES, "eng_Latn", "fra_Latn")
    with pytest.raises(LanguageError, match="French"):
        CTranslate2Translator.load(model, languages=("en", "fr"))
    restricted = CTranslate2Translator.load(model, languages=("en", "es"))
    assert restricted.languages == ("eng_Latn", "spa_Latn")
    assert not restricted.supports("eng_Latn", "deu_Latn")


def test_m2m100_language_tokens_are_recognized(tmp_path: Path) -> None:
    model = build_nllb_like(tmp_path / "m", languages=("eng_Latn", "spa_Latn", "deu_Latn"))
    # M2M-100 differs from NLLB only in its language tokens: __en__ instead of eng_Latn.
    m2m_tokens = {"eng_Latn": "__en__", "spa_Latn": "__es__", "deu_Latn": "__de__"}
    vocabulary_file = model / "shared_vocabulary.json"
    vocabulary = json.loads(vocabulary_file.read_text())
    vocabulary_file.write_text(json.dumps([m2m_tokens.get(t, t) for t in vocabulary]))
    translator = load_text_translator(model)
    assert translator.flavour == "m2m"
    assert set(translator.languages) == set(m2m_tokens)
    assert translator.source_tokens("Hello", "en", "es")[0] == "__en__"
    tokens = translator.translate_tokens(SENTENCES, "en", "es", decode_lengths=[2, 2, 2])
    assert all(t[0] == "__es__" and len(t) == 3 for t in tokens)


@pytest.mark.parametrize(
    "missing", ["sentencepiece.bpe.model", "model.bin", "config.json", "shared_vocabulary.json"]
)
def test_missing_file_is_a_model_error_naming_it(
    nllb_dir: Path, tmp_path: Path, missing: str
) -> None:
    model = _copy_without(nllb_dir, tmp_path, missing)
    if missing == "sentencepiece.bpe.model":  # without a tokenizer only the metadata says NLLB
        (model / "edge_model.json").write_text(json.dumps({"kinds": ["mt"], "backend": "ct2-nllb"}))
    with pytest.raises(ModelError) as caught:
        load_text_translator(model)
    assert missing in caught.value.problem
    assert caught.value.fix


def test_directory_without_a_model_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_text_translator(tmp_path / "absent")
    with pytest.raises(ModelError, match="no translation model"):
        load_text_translator(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no tokenizer"):
        load_text_translator(tmp_path)


def test_metadata_backend_and_kind_are_checked(nllb_dir: Path, tmp_path: Path) -> None:
    model = Path(shutil.copytree(nllb_dir, tmp_path / "model"))
    metadata = model / "edge_model.json"
    metadata.write_text(json.dumps({"kinds": ["tts"], "backend": "piper"}))
    with pytest.raises(ModelError, match="not a translation model"):
        load_text_translator(model)
    metadata.write_text(json.dumps({"kinds": ["mt"], "backend": "ct9-future"}))
    with pytest.raises(ModelError, match="ct9-future"):
        load_text_translator(model)
    metadata.write_text("{not json")
    with pytest.raises(ModelError, match="edge_model.json"):
        load_text_translator(model)


def test_decoding_options_come_from_metadata_and_arguments(nllb_dir: Path, tmp_path: Path) -> None:
    model = Path(shutil.copytree(nllb_dir, tmp_path / "model"))
    (model / "edge_model.json").write_text(
        json.dumps(
            {"kinds": ["mt"], "backend": "ct2-nllb", "options": {"beam_size": 2, "license": "x"}}
        )
    )
    translator = CTranslate2Translator.load(model, decoding={"no_repeat_ngram_size": 3})
    assert translator.decoding.beam_size == 2
    assert translator.decoding.no_repeat_ngram_size == 3
    assert len(translator.translate(SENTENCES, "eng_Latn", "spa_Latn")) == 3
    with pytest.raises(EdgeError, match="unknown decoding option 'beams'"):
        CTranslate2Translator.load(model, decoding={"beams": 4})


def test_unbounded_decoding_stays_within_the_length_guard(nllb_dir: Path) -> None:
    translator = CTranslate2Translator.load(nllb_dir, decoding={"max_length_ratio": 1.0})
    tokens = translator.translate_tokens(SENTENCES, "eng_Latn", "spa_Latn")
    # A batch shares one bound, from its longest source.
    longest = max(translator.count_tokens(sentence, "eng_Latn") for sentence in SENTENCES)
    assert max(len(hypothesis) - 1 for hypothesis in tokens) <= longest + 16


def test_marian_pair_loads_and_translates_one_direction(marian_dir: Path) -> None:
    translator = load_text_translator(marian_dir)
    assert isinstance(translator, CTranslate2Translator) and translator.flavour == "marian"
    assert translator.languages == ("eng_Latn", "spa_Latn")
    assert translator.supports("en", "es") and not translator.supports("es", "en")
    outputs = translator.translate(SENTENCES, "eng_Latn", "spa_Latn")
    assert len(outputs) == 3 and all(isinstance(text, str) for text in outputs)
    tokens = translator.translate_tokens(SENTENCES, "en", "es", decode_lengths=[3, 3, 7])
    assert [len(t) for t in tokens] == [3, 3, 7]  # no forced prefix in Marian
    sp = spm.SentencePieceProcessor(model_file=str(marian_dir / "source.spm"))
    assert translator.count_tokens(SENTENCES[0], "en") == len(sp.encode(SENTENCES[0])) + 1
    with pytest.raises(LanguageError, match="Spanish"):
        translator.translate(SENTENCES, "spa_Latn", "eng_Latn")


def test_marian_without_languages_needs_metadata(marian_dir: Path, tmp_path: Path) -> None:
    model = _copy_without(marian_dir, tmp_path, "edge_model.json")
    with pytest.raises(ModelError) as caught:
        load_text_translator(model)
    assert "edge_model.json" in caught.value.fix
    translator = load_text_translator(model, languages=("en", "es"))
    assert translator.supports("eng_Latn", "spa_Latn")


def test_marian_missing_target_spm_is_a_model_error(marian_dir: Path, tmp_path: Path) -> None:
    model = _copy_without(marian_dir, tmp_path, "target.spm")
    with pytest.raises(ModelError, match="target.spm"):
        load_text_translator(model)


def test_multilingual_marian_prefixes_the_target_token(tmp_path: Path) -> None:
    model = build_marian_like(tmp_path / "m", target_lang=("spa_Latn", "fra_Latn"))
    translator = CTranslate2Translator.load(model)
    assert translator.targets == ("spa_Latn", "fra_Latn")
    for target, token in (("spa_Latn", ">>spa<<"), ("fra_Latn", ">>fra<<")):
        assert translator.source_tokens(SENTENCES[0], "eng_Latn", target)[0] == token
        assert len(translator.translate(SENTENCES, "eng_Latn", target)) == 3
    with pytest.raises(LanguageError):
        translator.translate(SENTENCES, "eng_Latn", "deu_Latn")


def test_float_models_load_too(tmp_path: Path) -> None:
    int8 = build_nllb_like(tmp_path / "int8", languages=("eng_Latn", "spa_Latn"))
    float32 = build_nllb_like(
        tmp_path / "f32", languages=("eng_Latn", "spa_Latn"), quantization="float32"
    )
    assert (float32 / "model.bin").stat().st_size > 2 * (int8 / "model.bin").stat().st_size
    translator = CTranslate2Translator.load(float32, compute_type="float32")
    assert len(translator.translate(SENTENCES, "eng_Latn", "spa_Latn")) == 3


def test_opus_mt_preset_is_int8_with_shared_embeddings_on_disk(tmp_path: Path) -> None:
    model = build_marian_like(tmp_path / "opus", **OPUS_MT)
    d, ffn, vocab = OPUS_MT["d_model"], OPUS_MT["ffn"], OPUS_MT["vocab_size"]
    encoder, decoder = OPUS_MT["num_layers"]
    weights = vocab * d + encoder * (4 * d * d + 2 * d * ffn) + decoder * (8 * d * d + 2 * d * ffn)
    # One byte per weight (int8) plus float32 scales, biases, norms and positions; a float32
    # model or unshared embeddings would be far larger.
    assert weights < (model / "model.bin").stat().st_size < 1.1 * weights
    assert len(json.loads((model / "shared_vocabulary.json").read_text())) == vocab
    translator = CTranslate2Translator.load(model, intra_threads=2)
    tokens = translator.translate_tokens(SENTENCES[:1], "en", "es", decode_lengths=[16])
    assert len(tokens[0]) == 16


def test_builds_are_reproducible_from_the_seed(tmp_path: Path) -> None:
    first = build_marian_like(tmp_path / "a", seed=3)
    second = build_marian_like(tmp_path / "b", seed=3)
    other = build_marian_like(tmp_path / "c", seed=4)
    for name in ("model.bin", "source.spm", "shared_vocabulary.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert (first / "model.bin").read_bytes() != (other / "model.bin").read_bytes()
