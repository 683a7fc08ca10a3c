"""Language codes: FLORES-200 list, aliases, Whisper and OPUS-MT codes."""

from __future__ import annotations

import re

import pytest

from edge.errors import LanguageError
from edge.languages import (
    FLORES200_CODES,
    from_whisper_code,
    language_name,
    opus_mt_code,
    to_flores,
    to_iso639_1,
    whisper_code,
)


def test_flores_list_is_nllbs_202_codes_in_tokenizer_order() -> None:
    assert len(FLORES200_CODES) == 202
    assert len(set(FLORES200_CODES)) == 202
    assert all(re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", code) for code in FLORES200_CODES)
    # Ends of transformers' FAIRSEQ_LANGUAGE_CODES; the order fixes token ids in NLLB.
    assert FLORES200_CODES[:3] == ("ace_Arab", "ace_Latn", "acm_Arab")
    assert FLORES200_CODES[-3:] == ("zho_Hans", "zho_Hant", "zul_Latn")
    assert FLORES200_CODES.index("eng_Latn") == 46


@pytest.mark.parametrize(
    ("code", "flores"),
    [
        ("en", "eng_Latn"),
        ("eng", "eng_Latn"),
        ("ENG_LATN", "eng_Latn"),
        ("es", "spa_Latn"),
        ("spa", "spa_Latn"),
        ("es-MX", "spa_Latn"),
        ("es_419", "spa_Latn"),
        ("de", "deu_Latn"),
        ("ger", "deu_Latn"),
        ("fr", "fra_Latn"),
        ("it", "ita_Latn"),
        ("pt", "por_Latn"),
        ("pt_BR", "por_Latn"),
        ("ru", "rus_Cyrl"),
        ("zh", "zho_Hans"),
        ("zh-CN", "zho_Hans"),
        ("zh-TW", "zho_Hant"),
        ("zh_hk", "zho_Hant"),
        ("zh-Hant", "zho_Hant"),
        ("cmn_Hans", "zho_Hans"),
        ("chi", "zho_Hans"),
        ("ar", "arb_Arab"),
        ("ara", "arb_Arab"),
        ("hi", "hin_Deva"),
        ("ja", "jpn_Jpan"),
        ("ko", "kor_Hang"),
        ("fa", "pes_Arab"),
        ("per", "pes_Arab"),
        ("ms", "zsm_Latn"),
        ("msa", "zsm_Latn"),
        ("no", "nob_Latn"),
        ("nb", "nob_Latn"),
        ("sw", "swh_Latn"),
        ("iw", "heb_Hebr"),
        ("jw", "jav_Latn"),
        ("ks", "kas_Arab"),
        ("ks-Deva", "kas_Deva"),
        ("yue", "yue_Hant"),
        ("Spanish", "spa_Latn"),
        (" de ", "deu_Latn"),
    ],
)
def test_aliases_resolve(code: str, flores: str) -> None:
    assert to_flores(code) == flores


def test_every_flores_code_resolves_in_any_case_and_separator() -> None:
    for code in FLORES200_CODES:
        assert to_flores(code) == code
        assert to_flores(code.upper()) == code
        assert to_flores(code.replace("_", "-")) == code
        # The bare ISO 639-3 code gives a code of the same language.
        assert to_flores(code[:3]).startswith(code[:3])
        assert to_flores(language_name(code)) == code


def test_unknown_code_is_a_language_error_with_a_fix() -> None:
    with pytest.raises(LanguageError) as caught:
        to_flores("xx")
    assert caught.value.problem == "unknown language code 'xx'"
    assert "spa_Latn" in caught.value.fix and "edge languages" in caught.value.fix


def test_typo_suggests_the_close_match_first() -> None:
    with pytest.raises(LanguageError) as caught:
        to_flores("spa_Latm")
    assert caught.value.fix.startswith("did you mean spa_Latn")


@pytest.mark.parametrize("code", ["sr-Latn", "pa-Arab"])
def test_script_without_a_flores_variant_is_refused(code: str) -> None:
    with pytest.raises(LanguageError, match="not available in"):
        to_flores(code)


def test_iso639_1() -> None:
    assert to_iso639_1("eng_Latn") == "en"
    assert to_iso639_1("zho_Hant") == "zh"
    assert to_iso639_1("arz_Arab") == "ar"  # dialect -> its macro-language
    assert to_iso639_1("ast_Latn") is None
    assert to_iso639_1("yue_Hant") is None
    for code in FLORES200_CODES:
        iso1 = to_iso639_1(code)
        if iso1 is not None:
            assert to_iso639_1(to_flores(iso1)) == iso1


def test_whisper_codes_round_trip() -> None:
    from edge.languages import _WHISPER_TO_FLORES

    assert len(_WHISPER_TO_FLORES) == 100  # 99 of the multilingual models + yue (large-v3)
    for code, flores in _WHISPER_TO_FLORES.items():
        assert from_whisper_code(code) == flores
        if flores in FLORES200_CODES:
            assert whisper_code(flores) == code
    assert whisper_code("eng_Latn") == "en"
    assert whisper_code("jav_Latn") == "jw"
    assert whisper_code("arz_Arab") == "ar"
    assert whisper_code("ace_Latn") is None


def test_whisper_language_outside_flores_cannot_be_translated() -> None:
    assert from_whisper_code("la") == "lat_Latn"
    assert language_name("lat_Latn") == "Latin"
    with pytest.raises(LanguageError, match="Latin"):
        to_flores("lat_Latn")
    with pytest.raises(LanguageError):
        from_whisper_code("xx")


def test_opus_mt_codes() -> None:
    assert opus_mt_code("spa_Latn") == "es"
    assert opus_mt_code("ast_Latn") == "ast"
    assert opus_mt_code("pes_Arab") == "fa"
    assert opus_mt_code("spa_Latn", target_token=True) == ">>spa<<"
    assert opus_mt_code("zho_Hant", target_token=True) == ">>zho_Hant<<"
