"""Language codes: FLORES-200 (as NLLB-200 uses them), ISO 639-1/639-3, Whisper and OPUS-MT.

Every stage of the pipeline names languages by their FLORES-200 code (``spa_Latn``): it carries
the script, which matters for translation and speech synthesis. User input may be any common
form (``es``, ``spa``, ``es-MX``, ``zh_TW``, ``Spanish``) and is resolved by :func:`to_flores`.

Macro-languages resolve to the variety NLLB-200 was trained on, the standard written form:
``ar``/``ara`` -> ``arb_Arab`` (Modern Standard Arabic), ``fa``/``fas`` -> ``pes_Arab`` (Western
Persian), ``ms``/``msa`` -> ``zsm_Latn`` (Standard Malay), ``zh``/``zho``/``cmn`` -> ``zho_Hans``
(``zh-TW``/``zh-HK``/``zh-MO``/``zh-Hant`` -> ``zho_Hant``), ``az`` -> ``azj_Latn``, ``ku`` ->
``kmr_Latn``, ``lv`` -> ``lvs_Latn``, ``mn`` -> ``khk_Cyrl``, ``ne`` -> ``npi_Deva``, ``no``/``nb``
-> ``nob_Latn``, ``om`` -> ``gaz_Latn``, ``mg`` -> ``plt_Latn``, ``ps`` -> ``pbt_Arab``, ``qu`` ->
``quy_Latn``, ``sq`` -> ``als_Latn``, ``sw`` -> ``swh_Latn``, ``uz`` -> ``uzn_Latn``, ``yi`` ->
``ydd_Hebr``. Languages written in two scripts default to the more common one (``kas_Arab``,
``knc_Latn``, ``ace_Latn``, ``bjn_Latn``, ``taq_Latn``) unless a script subtag says otherwise
(``ks-Deva``).
"""

from __future__ import annotations

import difflib
import re

from edge.errors import LanguageError

# NLLB-200's language tokens in tokenizer order (transformers' NllbTokenizer
# FAIRSEQ_LANGUAGE_CODES); the order fixes their ids in the model vocabulary.
_NAMES: dict[str, str] = {
    "ace_Arab": "Acehnese (Arabic script)",
    "ace_Latn": "Acehnese (Latin script)",
    "acm_Arab": "Mesopotamian Arabic",
    "acq_Arab": "Ta'izzi-Adeni Arabic",
    "aeb_Arab": "Tunisian Arabic",
    "afr_Latn": "Afrikaans",
    "ajp_Arab": "South Levantine Arabic",
    "aka_Latn": "Akan",
    "amh_Ethi": "Amharic",
    "apc_Arab": "North Levantine Arabic",
    "arb_Arab": "Modern Standard Arabic",
    "ars_Arab": "Najdi Arabic",
    "ary_Arab": "Moroccan Arabic",
    "arz_Arab": "Egyptian Arabic",
    "asm_Beng": "Assamese",
    "ast_Latn": "Asturian",
    "awa_Deva": "Awadhi",
    "ayr_Latn": "Central Aymara",
    "azb_Arab": "South Azerbaijani",
    "azj_Latn": "North Azerbaijani",
    "bak_Cyrl": "Bashkir",
    "bam_Latn": "Bambara",
    "ban_Latn": "Balinese",
    "bel_Cyrl": "Belarusian",
    "bem_Latn": "Bemba",
    "ben_Beng": "Bengali",
    "bho_Deva": "Bhojpuri",
    "bjn_Arab": "Banjar (Arabic script)",
    "bjn_Latn": "Banjar (Latin script)",
    "bod_Tibt": "Standard Tibetan",
    "bos_Latn": "Bosnian",
    "bug_Latn": "Buginese",
    "bul_Cyrl": "Bulgarian",
    "cat_Latn": "Catalan",
    "ceb_Latn": "Cebuano",
    "ces_Latn": "Czech",
    "cjk_Latn": "Chokwe",
    "ckb_Arab": "Central Kurdish",
    "crh_Latn": "Crimean Tatar",
    "cym_Latn": "Welsh",
    "dan_Latn": "Danish",
    "deu_Latn": "German",
    "dik_Latn": "Southwestern Dinka",
    "dyu_Latn": "Dyula",
    "dzo_Tibt": "Dzongkha",
    "ell_Grek": "Greek",
    "eng_Latn": "English",
    "epo_Latn": "Esperanto",
    "est_Latn": "Estonian",
    "eus_Latn": "Basque",
    "ewe_Latn": "Ewe",
    "fao_Latn": "Faroese",
    "pes_Arab": "Western Persian",
    "fij_Latn": "Fijian",
    "fin_Latn": "Finnish",
    "fon_Latn": "Fon",
    "fra_Latn": "French",
    "fur_Latn": "Friulian",
    "fuv_Latn": "Nigerian Fulfulde",
    "gla_Latn": "Scottish Gaelic",
    "gle_Latn": "Irish",
    "glg_Latn": "Galician",
    "grn_Latn": "Guarani",
    "guj_Gujr": "Gujarati",
    "hat_Latn": "Haitian Creole",
    "hau_Latn": "Hausa",
    "heb_Hebr": "Hebrew",
    "hin_Deva": "Hindi",
    "hne_Deva": "Chhattisgarhi",
    "hrv_Latn": "Croatian",
    "hun_Latn": "Hungarian",
    "hye_Armn": "Armenian",
    "ibo_Latn": "Igbo",
    "ilo_Latn": "Ilocano",
    "ind_Latn": "Indonesian",
    "isl_Latn": "Icelandic",
    "ita_Latn": "Italian",
    "jav_Latn": "Javanese",
    "jpn_Jpan": "Japanese",
    "kab_Latn": "Kabyle",
    "kac_Latn": "Jingpho",
    "kam_Latn": "Kamba",
    "kan_Knda": "Kannada",
    "kas_Arab": "Kashmiri (Arabic script)",
    "kas_Deva": "Kashmiri (Devanagari script)",
    "kat_Geor": "Georgian",
    "knc_Arab": "Central Kanuri (Arabic script)",
    "knc_Latn": "Central Kanuri (Latin script)",
    "kaz_Cyrl": "Kazakh",
    "kbp_Latn": "Kabiyè",
    "kea_Latn": "Kabuverdianu",
    "khm_Khmr": "Khmer",
    "kik_Latn": "Kikuyu",
    "kin_Latn": "Kinyarwanda",
    "kir_Cyrl": "Kyrgyz",
    "kmb_Latn": "Kimbundu",
    "kon_Latn": "Kikongo",
    "kor_Hang": "Korean",
    "kmr_Latn": "Northern Kurdish",
    "lao_Laoo": "Lao",
    "lvs_Latn": "Standard Latvian",
    "lij_Latn": "Ligurian",
    "lim_Latn": "Limburgish",
    "lin_Latn": "Lingala",
    "lit_Latn": "Lithuanian",
    "lmo_Latn": "Lombard",
    "ltg_Latn": "Latgalian",
    "ltz_Latn": "Luxembourgish",
    "lua_Latn": "Luba-Kasai",
    "lug_Latn": "Ganda",
    "luo_Latn": "Luo",
    "lus_Latn": "Mizo",
    "mag_Deva": "Magahi",
    "mai_Deva": "Maithili",
    "mal_Mlym": "Malayalam",
    "mar_Deva": "Marathi",
    "min_Latn": "Minangkabau",
    "mkd_Cyrl": "Macedonian",
    "plt_Latn": "Plateau Malagasy",
    "mlt_Latn": "Maltese",
    "mni_Beng": "Meitei (Bengali script)",
    "khk_Cyrl": "Halh Mongolian",
    "mos_Latn": "Mossi",
    "mri_Latn": "Maori",
    "zsm_Latn": "Standard Malay",
    "mya_Mymr": "Burmese",
    "nld_Latn": "Dutch",
    "nno_Latn": "Norwegian Nynorsk",
    "nob_Latn": "Norwegian Bokmål",
    "npi_Deva": "Nepali",
    "nso_Latn": "Northern Sotho",
    "nus_Latn": "Nuer",
    "nya_Latn": "Nyanja",
    "oci_Latn": "Occitan",
    "gaz_Latn": "West Central Oromo",
    "ory_Orya": "Odia",
    "pag_Latn": "Pangasinan",
    "pan_Guru": "Eastern Panjabi",
    "pap_Latn": "Papiamento",
    "pol_Latn": "Polish",
    "por_Latn": "Portuguese",
    "prs_Arab": "Dari",
    "pbt_Arab": "Southern Pashto",
    "quy_Latn": "Ayacucho Quechua",
    "ron_Latn": "Romanian",
    "run_Latn": "Rundi",
    "rus_Cyrl": "Russian",
    "sag_Latn": "Sango",
    "san_Deva": "Sanskrit",
    "sat_Beng": "Santali (Bengali script)",
    "scn_Latn": "Sicilian",
    "shn_Mymr": "Shan",
    "sin_Sinh": "Sinhala",
    "slk_Latn": "Slovak",
    "slv_Latn": "Slovenian",
    "smo_Latn": "Samoan",
    "sna_Latn": "Shona",
    "snd_Arab": "Sindhi",
    "som_Latn": "Somali",
    "sot_Latn": "Southern Sotho",
    "spa_Latn": "Spanish",
    "als_Latn": "Tosk Albanian",
    "srd_Latn": "Sardinian",
    "srp_Cyrl": "Serbian",
    "ssw_Latn": "Swati",
    "sun_Latn": "Sundanese",
    "swe_Latn": "Swedish",
    "swh_Latn": "Swahili",
    "szl_Latn": "Silesian",
    "tam_Taml": "Tamil",
    "tat_Cyrl": "Tatar",
    "tel_Telu": "Telugu",
    "tgk_Cyrl": "Tajik",
    "tgl_Latn": "Tagalog",
    "tha_Thai": "Thai",
    "tir_Ethi": "Tigrinya",
    "taq_Latn": "Tamasheq (Latin script)",
    "taq_Tfng": "Tamasheq (Tifinagh script)",
    "tpi_Latn": "Tok Pisin",
    "tsn_Latn": "Tswana",
    "tso_Latn": "Tsonga",
    "tuk_Latn": "Turkmen",
    "tum_Latn": "Tumbuka",
    "tur_Latn": "Turkish",
    "twi_Latn": "Twi",
    "tzm_Tfng": "Central Atlas Tamazight",
    "uig_Arab": "Uyghur",
    "ukr_Cyrl": "Ukrainian",
    "umb_Latn": "Umbundu",
    "urd_Arab": "Urdu",
    "uzn_Latn": "Northern Uzbek",
    "vec_Latn": "Venetian",
    "vie_Latn": "Vietnamese",
    "war_Latn": "Waray",
    "wol_Latn": "Wolof",
    "xho_Latn": "Xhosa",
    "ydd_Hebr": "Eastern Yiddish",
    "yor_Latn": "Yoruba",
    "yue_Hant": "Yue Chinese",
    "zho_Hans": "Chinese (Simplified)",
    "zho_Hant": "Chinese (Traditional)",
    "zul_Latn": "Zulu",
}

FLORES200_CODES: tuple[str, ...] = tuple(_NAMES)

# ISO 639-1 code of each FLORES-200 language, or of the macro-language it is the standard
# variety of (Arabic dialects -> ar, Dari -> fa). Languages without a 639-1 code are absent.
_ISO639_1: dict[str, str] = {
    "acm_Arab": "ar", "acq_Arab": "ar", "aeb_Arab": "ar", "afr_Latn": "af", "ajp_Arab": "ar",
    "aka_Latn": "ak", "amh_Ethi": "am", "apc_Arab": "ar", "arb_Arab": "ar", "ars_Arab": "ar",
    "ary_Arab": "ar", "arz_Arab": "ar", "asm_Beng": "as", "ayr_Latn": "ay", "azb_Arab": "az",
    "azj_Latn": "az", "bak_Cyrl": "ba", "bam_Latn": "bm", "bel_Cyrl": "be", "ben_Beng": "bn",
    "bod_Tibt": "bo", "bos_Latn": "bs", "bul_Cyrl": "bg", "cat_Latn": "ca", "ces_Latn": "cs",
    "ckb_Arab": "ku", "cym_Latn": "cy", "dan_Latn": "da", "deu_Latn": "de", "dzo_Tibt": "dz",
    "ell_Grek": "el", "eng_Latn": "en", "epo_Latn": "eo", "est_Latn": "et", "eus_Latn": "eu",
    "ewe_Latn": "ee", "fao_Latn": "fo", "pes_Arab": "fa", "fij_Latn": "fj", "fin_Latn": "fi",
    "fra_Latn": "fr", "fuv_Latn": "ff", "gla_Latn": "gd", "gle_Latn": "ga", "glg_Latn": "gl",
    "grn_Latn": "gn", "guj_Gujr": "gu", "hat_Latn": "ht", "hau_Latn": "ha", "heb_Hebr": "he",
    "hin_Deva": "hi", "hrv_Latn": "hr", "hun_Latn": "hu", "hye_Armn": "hy", "ibo_Latn": "ig",
    "ind_Latn": "id", "isl_Latn": "is", "ita_Latn": "it", "jav_Latn": "jv", "jpn_Jpan": "ja",
    "kan_Knda": "kn", "kas_Arab": "ks", "kas_Deva": "ks", "kat_Geor": "ka", "knc_Arab": "kr",
    "knc_Latn": "kr", "kaz_Cyrl": "kk", "khm_Khmr": "km", "kik_Latn": "ki", "kin_Latn": "rw",
    "kir_Cyrl": "ky", "kon_Latn": "kg", "kor_Hang": "ko", "kmr_Latn": "ku", "lao_Laoo": "lo",
    "lvs_Latn": "lv", "lim_Latn": "li", "lin_Latn": "ln", "lit_Latn": "lt", "ltz_Latn": "lb",
    "lug_Latn": "lg", "mal_Mlym": "ml", "mar_Deva": "mr", "mkd_Cyrl": "mk", "plt_Latn": "mg",
    "mlt_Latn": "mt", "khk_Cyrl": "mn", "mri_Latn": "mi", "zsm_Latn": "ms", "mya_Mymr": "my",
    "nld_Latn": "nl", "nno_Latn": "nn", "nob_Latn": "nb", "npi_Deva": "ne", "nya_Latn": "ny",
    "oci_Latn": "oc", "gaz_Latn": "om", "ory_Orya": "or", "pan_Guru": "pa", "pol_Latn": "pl",
    "por_Latn": "pt", "prs_Arab": "fa", "pbt_Arab": "ps", "quy_Latn": "qu", "ron_Latn": "ro",
    "run_Latn": "rn", "rus_Cyrl": "ru", "sag_Latn": "sg", "san_Deva": "sa", "sin_Sinh": "si",
    "slk_Latn": "sk", "slv_Latn": "sl", "smo_Latn": "sm", "sna_Latn": "sn", "snd_Arab": "sd",
    "som_Latn": "so", "sot_Latn": "st", "spa_Latn": "es", "als_Latn": "sq", "srd_Latn": "sc",
    "srp_Cyrl": "sr", "ssw_Latn": "ss", "sun_Latn": "su", "swe_Latn": "sv", "swh_Latn": "sw",
    "tam_Taml": "ta", "tat_Cyrl": "tt", "tel_Telu": "te", "tgk_Cyrl": "tg", "tgl_Latn": "tl",
    "tha_Thai": "th", "tir_Ethi": "ti", "tsn_Latn": "tn", "tso_Latn": "ts", "tuk_Latn": "tk",
    "tur_Latn": "tr", "twi_Latn": "tw", "uig_Arab": "ug", "ukr_Cyrl": "uk", "urd_Arab": "ur",
    "uzn_Latn": "uz", "vie_Latn": "vi", "wol_Latn": "wo", "xho_Latn": "xh", "ydd_Hebr": "yi",
    "yor_Latn": "yo", "zho_Hans": "zh", "zho_Hant": "zh", "zul_Latn": "zu",
}  # fmt: skip

# Where several FLORES languages share a 639-1 code, the one the bare code means.
_ISO639_1_DEFAULTS: dict[str, str] = {
    "ar": "arb_Arab", "az": "azj_Latn", "fa": "pes_Arab", "ks": "kas_Arab", "kr": "knc_Latn",
    "ku": "kmr_Latn", "zh": "zho_Hans",
}  # fmt: skip

# Codes that are not the FLORES prefix of a language: ISO 639-3 macro-languages, ISO 639-2/B
# bibliographic codes, retired 639-1 codes and Whisper's "jw".
_EXTRA_ALIASES: dict[str, str] = {
    # macro-languages and their common members
    "ara": "arb_Arab", "aze": "azj_Latn", "fas": "pes_Arab", "kur": "kmr_Latn", "lav": "lvs_Latn",
    "mon": "khk_Cyrl", "msa": "zsm_Latn", "nep": "npi_Deva", "nor": "nob_Latn", "orm": "gaz_Latn",
    "mlg": "plt_Latn", "pus": "pbt_Arab", "que": "quy_Latn", "aym": "ayr_Latn", "ful": "fuv_Latn",
    "kau": "knc_Latn", "sqi": "als_Latn", "swa": "swh_Latn", "uzb": "uzn_Latn", "yid": "ydd_Hebr",
    "zho": "zho_Hans", "cmn": "zho_Hans", "ekk": "est_Latn", "ori": "ory_Orya", "tmh": "taq_Latn",
    "pan": "pan_Guru", "fil": "tgl_Latn", "no": "nob_Latn",
    # ISO 639-2/B
    "alb": "als_Latn", "arm": "hye_Armn", "baq": "eus_Latn", "bur": "mya_Mymr", "chi": "zho_Hans",
    "cze": "ces_Latn", "dut": "nld_Latn", "fre": "fra_Latn", "geo": "kat_Geor", "ger": "deu_Latn",
    "gre": "ell_Grek", "ice": "isl_Latn", "mac": "mkd_Cyrl", "mao": "mri_Latn", "may": "zsm_Latn",
    "per": "pes_Arab", "rum": "ron_Latn", "slo": "slk_Latn", "tib": "bod_Tibt", "wel": "cym_Latn",
    # retired ISO 639-1 codes and Whisper's code for Javanese
    "iw": "heb_Hebr", "in": "ind_Latn", "ji": "ydd_Hebr", "mo": "ron_Latn", "jw": "jav_Latn",
}  # fmt: skip

# Chinese region subtags that mean Traditional script.
_TRADITIONAL_CHINESE_REGIONS = frozenset({"tw", "hk", "mo"})

# Whisper's language codes (multilingual models; "yue" from large-v3 on). Those outside
# FLORES-200 map to codes of the same form that no translation model accepts.
_WHISPER_TO_FLORES: dict[str, str] = {
    "en": "eng_Latn", "zh": "zho_Hans", "de": "deu_Latn", "es": "spa_Latn", "ru": "rus_Cyrl",
    "ko": "kor_Hang", "fr": "fra_Latn", "ja": "jpn_Jpan", "pt": "por_Latn", "tr": "tur_Latn",
    "pl": "pol_Latn", "ca": "cat_Latn", "nl": "nld_Latn", "ar": "arb_Arab", "sv": "swe_Latn",
    "it": "ita_Latn", "id": "ind_Latn", "hi": "hin_Deva", "fi": "fin_Latn", "vi": "vie_Latn",
    "he": "heb_Hebr", "uk": "ukr_Cyrl", "el": "ell_Grek", "ms": "zsm_Latn", "cs": "ces_Latn",
    "ro": "ron_Latn", "da": "dan_Latn", "hu": "hun_Latn", "ta": "tam_Taml", "no": "nob_Latn",
    "th": "tha_Thai", "ur": "urd_Arab", "hr": "hrv_Latn", "bg": "bul_Cyrl", "lt": "lit_Latn",
    "la": "lat_Latn", "mi": "mri_Latn", "ml": "mal_Mlym", "cy": "cym_Latn", "sk": "slk_Latn",
    "te": "tel_Telu", "fa": "pes_Arab", "lv": "lvs_Latn", "bn": "ben_Beng", "sr": "srp_Cyrl",
    "az": "azj_Latn", "sl": "slv_Latn", "kn": "kan_Knda", "et": "est_Latn", "mk": "mkd_Cyrl",
    "br": "bre_Latn", "eu": "eus_Latn", "is": "isl_Latn", "hy": "hye_Armn", "ne": "npi_Deva",
    "mn": "khk_Cyrl", "bs": "bos_Latn", "kk": "kaz_Cyrl", "sq": "als_Latn", "sw": "swh_Latn",
    "gl": "glg_Latn", "mr": "mar_Deva", "pa": "pan_Guru", "si": "sin_Sinh", "km": "khm_Khmr",
    "sn": "sna_Latn", "yo": "yor_Latn", "so": "som_Latn", "af": "afr_Latn", "oc": "oci_Latn",
    "ka": "kat_Geor", "be": "bel_Cyrl", "tg": "tgk_Cyrl", "sd": "snd_Arab", "gu": "guj_Gujr",
    "am": "amh_Ethi", "yi": "ydd_Hebr", "lo": "lao_Laoo", "uz": "uzn_Latn", "fo": "fao_Latn",
    "ht": "hat_Latn", "ps": "pbt_Arab", "tk": "tuk_Latn", "nn": "nno_Latn", "mt": "mlt_Latn",
    "sa": "san_Deva", "lb": "ltz_Latn", "my": "mya_Mymr", "bo": "bod_Tibt", "tl": "tgl_Latn",
    "mg": "plt_Latn", "as": "asm_Beng", "tt": "tat_Cyrl", "haw": "haw_Latn", "ln": "lin_Latn",
    "ha": "hau_Latn", "ba": "bak_Cyrl", "jw": "jav_Latn", "su": "sun_Latn", "yue": "yue_Hant",
}  # fmt: skip

# Languages Whisper knows that FLORES-200 lacks.
_NON_FLORES_NAMES = {"lat_Latn": "Latin", "bre_Latn": "Breton", "haw_Latn": "Hawaiian"}

_FLORES_TO_WHISPER: dict[str, str] = {
    flores: code for code, flores in _WHISPER_TO_FLORES.items() if flores in _NAMES
}

# Languages written in two scripts: the script a bare language code means.
_DEFAULT_SCRIPT_OF_PREFIX = {
    "ace": "ace_Latn", "bjn": "bjn_Latn", "kas": "kas_Arab", "knc": "knc_Latn", "taq": "taq_Latn",
    "zho": "zho_Hans",
}  # fmt: skip


def _build_aliases() -> dict[str, str]:
    """Lower-case alias -> FLORES code, for every form :func:`to_flores` accepts without parsing."""
    aliases: dict[str, str] = {}
    for flores, name in _NAMES.items():
        aliases[name.lower()] = flores
        aliases.setdefault(flores.split("_")[0], flores)
    aliases.update(_DEFAULT_SCRIPT_OF_PREFIX)
    for flores, iso1 in _ISO639_1.items():
        aliases.setdefault(iso1, _ISO639_1_DEFAULTS.get(iso1, flores))
    aliases.update(_EXTRA_ALIASES)
    aliases.update({flores.lower(): flores for flores in _NAMES})
    return aliases


_ALIASES = _build_aliases()
_SCRIPTS = frozenset(flores.split("_")[1] for flores in _NAMES)
_FIX = (
    "use a FLORES-200 code such as spa_Latn or an ISO 639-1 code such as es; "
    "`edge languages` lists them"
)


def _unknown(code: str) -> LanguageError:
    close = difflib.get_close_matches(code.lower(), _ALIASES, n=3, cutoff=0.75)
    suggestions = list(dict.fromkeys(_ALIASES[match] for match in close))  # best match first
    fix = f"did you mean {' or '.join(suggestions)}? {_FIX}" if suggestions else _FIX
    return LanguageError(f"unknown language code '{code}'", fix)


def to_flores(code: str) -> str:
    """Resolve a FLORES-200, ISO 639-1/639-3 or BCP-47-style code (or English name).

    Case-insensitive; ``-`` and ``_`` both separate subtags. A script subtag selects that
    script (``zh-Hant``, ``ks-Deva``); region subtags are ignored except for Chinese, where
    TW, HK and MO mean Traditional script.
    """
    key = code.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if code in _NON_FLORES_NAMES:
        raise LanguageError(
            f"{_NON_FLORES_NAMES[code]} ({code}) is not a FLORES-200 language",
            "no translation model covers it; choose another language",
        )
    base, *subtags = re.split(r"[-_]", key)
    if base not in _ALIASES or not subtags:
        raise _unknown(code)
    flores = _ALIASES[base]
    prefix = flores.split("_")[0]
    for subtag in subtags:
        if subtag.title() in _SCRIPTS:
            scripted = f"{prefix}_{subtag.title()}"
            if scripted not in _NAMES:
                raise LanguageError(
                    f"no FLORES-200 language '{code}': {_NAMES[flores]} is not available "
                    f"in {subtag.title()} script",
                    f"use {flores} or another code from `edge languages`",
                )
            flores = scripted
        elif prefix == "zho" and subtag in _TRADITIONAL_CHINESE_REGIONS:
            flores = "zho_Hant"
        elif len(subtag) == 4:
            raise _unknown(code)  # a misspelt script, such as spa_Latm
    return flores


def to_iso639_1(flores: str) -> str | None:
    """ISO 639-1 code of a FLORES-200 language (or of its macro-language), if it has one."""
    return _ISO639_1.get(to_flores(flores))


def language_name(flores: str) -> str:
    """English name of a FLORES-200 language, or of a Whisper language outside FLORES-200."""
    if flores in _NON_FLORES_NAMES:
        return _NON_FLORES_NAMES[flores]
    return _NAMES[to_flores(flores)]


def whisper_code(flores: str) -> str | None:
    """Whisper's language code for a FLORES-200 language (``eng_Latn`` -> ``en``), if any.

    Varieties Whisper does not tell apart get their macro-language's code (``arz_Arab`` and
    ``arb_Arab`` -> ``ar``, ``zho_Hant`` -> ``zh``).
    """
    flores = to_flores(flores)
    if flores in _FLORES_TO_WHISPER:
        return _FLORES_TO_WHISPER[flores]
    iso1 = _ISO639_1.get(flores)
    return iso1 if iso1 in _WHISPER_TO_FLORES else None


def from_whisper_code(code: str) -> str:
    """FLORES-style code of a language Whisper detected or was told.

    Latin, Breton and Hawaiian, which FLORES-200 lacks, give ``lat_Latn``, ``bre_Latn`` and
    ``haw_Latn``: translation then rejects them with a LanguageError naming the language.
    """
    try:
        return _WHISPER_TO_FLORES[code.strip().lower()]
    except KeyError:
        raise LanguageError(
            f"unknown Whisper language code '{code}'",
            "Whisper codes are ISO 639-1 style such as en or es (jw for Javanese, yue, haw)",
        ) from None


def opus_mt_code(flores: str, *, target_token: bool = False) -> str:
    """The code OPUS-MT uses for a language.

    Model names (``opus-mt-en-es``) use ISO 639-1 where one exists, the ISO 639-3 code
    otherwise. With ``target_token``, the target-language token of multilingual OPUS-MT
    models (``>>spa<<``), which uses the ISO 639-3 code (with the script where the language
    has several: ``>>zho_Hant<<``).
    """
    flores = to_flores(flores)
    prefix = flores.split("_")[0]
    if target_token:
        several_scripts = prefix in _DEFAULT_SCRIPT_OF_PREFIX
        return f">>{flores if several_scripts else prefix}<<"
    return _ISO639_1.get(flores, prefix)
