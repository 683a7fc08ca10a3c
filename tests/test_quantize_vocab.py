"""``quantize vocab``: per-language output vocabularies, as a vmap and as a trimmed model."""

from __future__ import annotations

import json
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
import sentencepiece as spm

from edge.errors import EdgeError, InputError
from edge.synthetic.ct2_transformer import build_marian_like, build_nllb_like
from quantize.ct2_model import read_model
from quantize.vocab import reduce_vocabulary, reduced_vocabulary

# French text without the letter "z": the reduced vocabulary must then lack every piece with it.
FRENCH = [
    "Où est la gare la plus proche, s'il vous plaît ?",
    "Je voudrais une tasse de café avec du lait.",
    "Le temps est beau aujourd'hui et nous allons à la gare.",
    "Merci beaucoup pour votre aide.",
]
SOURCES = ["Where is the nearest station, please?", "Thank you very much for your help."]


@pytest.fixture(scope="module")
def nllb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_nllb_like(tmp_path_factory.mktemp("nllb") / "model")


@pytest.fixture(scope="module")
def french_text(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("text") / "fra.txt"
    path.write_text("\n".join(FRENCH) + "\n", encoding="utf-8")
    return path


def _translate(model_dir: Path, use_vmap: bool) -> list[tuple[list[str], float]]:
    sp = spm.SentencePieceProcessor(model_file=str(model_dir / "sentencepiece.bpe.model"))
    source = [["eng_Latn", *sp.encode(s, out_type=str), "</s>"] for s in SOURCES]
    translator = ctranslate2.Translator(str(model_dir))
    results = translator.translate_batch(
        source,
        target_prefix=[["fra_Latn"]] * len(source),
        max_decoding_length=16,
        use_vmap=use_vmap,
        return_scores=True,
    )
    return [(r.hypotheses[0], r.scores[0]) for r in results]


def test_reduced_vocabulary_keeps_specials_language_and_text_pieces(
    nllb_dir: Path, french_text: Path
) -> None:
    tokens = reduced_vocabulary(nllb_dir, [french_text], ["fr"])
    sp = spm.SentencePieceProcessor(model_file=str(nllb_dir / "sentencepiece.bpe.model"))
    vocabulary = json.loads((nllb_dir / "shared_vocabulary.json").read_text())
    used = {piece for line in FRENCH for piece in sp.encode(line, out_type=str)}
    assert {"<s>", "</s>", "<unk>", "<pad>", "fra_Latn"} <= set(tokens)
    assert used & set(vocabulary) <= set(tokens)  # pieces outside it are <unk> to the model
    assert "deu_Latn" not in tokens and not any("z" in t for t in tokens)
    assert len(tokens) < 0.2 * len(vocabulary)
    assert tokens == [t for t in vocabulary if t in set(tokens)]  # model order


def test_vmap_and_trimmed_models_decode_identically_within_the_kept_tokens(
    nllb_dir: Path, french_text: Path, tmp_path: Path
) -> None:
    vmap = reduce_vocabulary(nllb_dir, tmp_path / "vmap", [french_text], ["fra_Latn"])
    trim = reduce_vocabulary(nllb_dir, tmp_path / "trim", [french_text], ["fra_Latn"], mode="trim")
    assert vmap["tokens"] == trim["tokens"] < vmap["full_vocabulary"]
    kept = set(json.loads((tmp_path / "trim" / "target_vocabulary.json").read_text()))
    full = _translate(nllb_dir, use_vmap=False)
    with_vmap = _translate(tmp_path / "vmap", use_vmap=True)
    trimmed = _translate(tmp_path / "trim", use_vmap=False)
    for (vmap_tokens, vmap_score), (trim_tokens, trim_score) in zip(
        with_vmap, trimmed, strict=True
    ):
        assert vmap_tokens == trim_tokens and vmap_score == pytest.approx(trim_score, abs=1e-3)
        assert vmap_tokens[0] == "fra_Latn" and set(vmap_tokens) <= kept
    # The random model's favourite pieces are not all French ones: the restriction bites.
    assert any(not set(tokens) <= kept for tokens, _ in full)
    assert [t for t, _ in full] != [t for t, _ in with_vmap]


def test_trimmed_model_cuts_only_the_decoder_side(
    nllb_dir: Path, french_text: Path, tmp_path: Path
) -> None:
    reduce_vocabulary(nllb_dir, tmp_path / "trim", [french_text], ["fra_Latn"], mode="trim")
    original = read_model(nllb_dir / "model.bin")
    trimmed = read_model(tmp_path / "trim" / "model.bin")
    kept = json.loads((tmp_path / "trim" / "target_vocabulary.json").read_text())
    source = json.loads((tmp_path / "trim" / "source_vocabulary.json").read_text())
    assert source == json.loads((nllb_dir / "shared_vocabulary.json").read_text())
    assert not (tmp_path / "trim" / "shared_vocabulary.json").exists()
    full_rows = original.resolve("decoder/embeddings/weight")
    assert trimmed.variables["encoder/embeddings_0/weight"].shape == full_rows.shape
    assert trimmed.variables["decoder/embeddings/weight"].shape == (len(kept), full_rows.shape[1])
    assert trimmed.aliases["decoder/projection/weight"] == "decoder/embeddings/weight"
    index = {t: i for i, t in enumerate(source)}
    rows = [index[t] for t in kept]
    np.testing.assert_array_equal(trimmed.variables["decoder/embeddings/weight"], full_rows[rows])
    record = json.loads((tmp_path / "trim" / "edge_model.json").read_text())
    assert record["options"]["target_languages"] == ["fra_Latn"]
    assert record["options"]["output_vocabulary"] == {"mode": "trim", "tokens": len(kept)}


def test_trimmed_model_translates_through_edge(
    nllb_dir: Path, french_text: Path, tmp_path: Path
) -> None:
    from edge.mt.ctranslate2_mt import CTranslate2Translator

    reduce_vocabulary(nllb_dir, tmp_path / "trim", [french_text], ["fra_Latn"], mode="trim")
    translator = CTranslate2Translator.load(tmp_path / "trim")
    assert len(translator.translate(SOURCES, "eng_Latn", "fra_Latn")) == len(SOURCES)


def test_marian_output_bias_is_trimmed_with_the_rows(tmp_path: Path, french_text: Path) -> None:
    model_dir = build_marian_like(tmp_path / "marian", target_lang="fra_Latn")
    reduce_vocabulary(model_dir, tmp_path / "trim", [french_text], ["fra_Latn"], mode="trim")
    trimmed = read_model(tmp_path / "trim" / "model.bin")
    kept = json.loads((tmp_path / "trim" / "target_vocabulary.json").read_text())
    assert trimmed.variables["decoder/projection/bias"].shape == (len(kept),)
    sp = spm.SentencePieceProcessor(model_file=str(model_dir / "source.spm"))
    result = ctranslate2.Translator(str(tmp_path / "trim")).translate_batch(
        [[*sp.encode(SOURCES[0], out_type=str), "</s>"]], max_decoding_length=10
    )
    assert set(result[0].hypotheses[0]) <= set(kept)


def test_vocab_errors(nllb_dir: Path, french_text: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--max-tokens 5 is below"):
        reduce_vocabulary(nllb_dir, tmp_path / "a", [french_text], ["fra_Latn"], max_tokens=5)
    with pytest.raises(InputError, match="not found"):
        reduce_vocabulary(nllb_dir, tmp_path / "b", [tmp_path / "none.txt"], ["fra_Latn"])
    (tmp_path / "c").mkdir()
    with pytest.raises(EdgeError, match="already exists"):
        reduce_vocabulary(nllb_dir, tmp_path / "c", [french_text], ["fra_Latn"])
    capped = reduced_vocabulary(nllb_dir, [french_text], ["fra_Latn"], max_tokens=150)
    assert len(capped) <= 150


def test_vmap_variant_speeds_only_its_target_language_through_edge(
    nllb_dir: Path, french_text: Path, tmp_path: Path
) -> None:
    from edge.mt.ctranslate2_mt import CTranslate2Translator

    reduce_vocabulary(nllb_dir, tmp_path / "vmap", [french_text], ["fr"])
    kept = set((tmp_path / "vmap" / "vmap.txt").read_text(encoding="utf-8").split())
    translator = CTranslate2Translator.load(tmp_path / "vmap")
    assert translator.vmap_targets == {"fra_Latn"}
    french = translator.translate_tokens(SOURCES, "eng_Latn", "fra_Latn")
    assert all(tokens[0] == "fra_Latn" and set(tokens) <= kept for tokens in french)
    # Other targets decode over the full vocabulary, as from the model it was made from.
    plain = CTranslate2Translator.load(nllb_dir)
    german = translator.translate_tokens(SOURCES, "eng_Latn", "deu_Latn")
    assert german == plain.translate_tokens(SOURCES, "eng_Latn", "deu_Latn")
    assert french != plain.translate_tokens(SOURCES, "eng_Latn", "fra_Latn")


def test_variant_records_that_do_not_match_their_files_are_refused(
    nllb_dir: Path, french_text: Path, tmp_path: Path
) -> None:
    from edge.errors import ModelError
    from edge.mt.ctranslate2_mt import CTranslate2Translator

    reduce_vocabulary(nllb_dir, tmp_path / "vmap", [french_text], ["fr"])
    (tmp_path / "vmap" / "vmap.txt").unlink()
    with pytest.raises(ModelError, match="vmap.txt"):
        CTranslate2Translator.load(tmp_path / "vmap")
    reduce_vocabulary(nllb_dir, tmp_path / "trim", [french_text], ["fr"], mode="trim")
    trimmed = CTranslate2Translator.load(tmp_path / "trim")
    assert trimmed.supports("eng_Latn", "fra_Latn")
    assert not trimmed.supports("eng_Latn", "deu_Latn")
