"""``quantize ct2``: Hugging Face or CTranslate2 checkpoints -> quantized CTranslate2 for edge.

Hugging Face NLLB/M2M100, Marian (OPUS-MT) and Whisper checkpoints go through CTranslate2's own
``TransformersConverter`` (transformers and torch are needed for that step only). Models that
are already in CTranslate2 format in float16/float32 (many Whisper and OPUS-MT downloads) are
re-quantized directly from their ``model.bin``. Either way the tokenizer files edge needs are
copied next to the model and a model record (``edge.models.record``) is written.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import EdgeError, ModelError
from edge.models.record import RECORD_FILE, read_record, write_record

from .ct2_model import QUANTIZATIONS, read_model, requantize, write_model

HF_ARCHITECTURES = ("m2m_100", "marian", "whisper")
WHISPER_MULTILINGUAL_VOCAB = 51865


@dataclass(frozen=True)
class Family:
    """What edge needs besides model.bin for one model family."""

    kind: str
    backend: str
    required_files: tuple[str, ...]
    optional_files: tuple[str, ...] = ()


NLLB = Family("mt", "ct2-nllb", ("sentencepiece.bpe.model",))
# edge serves M2M-100 with the NLLB backend: only the language tokens differ (__en__).
M2M100 = Family("mt", "ct2-nllb", ("sentencepiece.bpe.model",))
MARIAN = Family("mt", "ct2-marian", ("source.spm", "target.spm"))
WHISPER = Family("asr", "ct2-whisper", ("tokenizer.json",), ("preprocessor_config.json",))


def _require_files(src: Path, family: Family) -> None:
    missing = [name for name in family.required_files if not (src / name).is_file()]
    if missing:
        raise ModelError(
            f"{src} lacks the tokenizer file(s) {', '.join(missing)} that edge needs for "
            f"{family.backend}",
            "download them from the model's repository into the same directory",
        )


def _hf_config(src: Path) -> dict[str, Any]:
    try:
        return json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{src / 'config.json'} is unreadable: {exc}", "re-download it") from None


def _hf_family(src: Path, config: dict[str, Any]) -> Family:
    model_type = config.get("model_type")
    if model_type == "marian":
        return MARIAN
    if model_type == "whisper":
        return WHISPER
    if model_type == "m2m_100":
        tokenizer_config = _tokenizer_config(src)
        if "M2M100" in str(tokenizer_config.get("tokenizer_class", "")):
            return M2M100
        return NLLB
    raise ModelError(
        f"unsupported architecture '{model_type}' in {src / 'config.json'}",
        f"this tool converts {', '.join(HF_ARCHITECTURES)} (NLLB, M2M100, OPUS-MT, Whisper)",
    )


def _tokenizer_config(src: Path) -> dict[str, Any]:
    path = src / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _ct2_family(src: Path, spec_name: str) -> Family:
    if spec_name == "WhisperSpec":
        return WHISPER
    if spec_name == "TransformerSpec":
        if (src / "source.spm").is_file() or (src / "target.spm").is_file():
            return MARIAN
        if (src / "sentencepiece.bpe.model").is_file():
            return NLLB
        raise ModelError(
            f"{src} is a CTranslate2 translation model without tokenizer files",
            "add sentencepiece.bpe.model (NLLB) or source.spm and target.spm (OPUS-MT)",
        )
    raise ModelError(
        f"unsupported CTranslate2 model type {spec_name} in {src}",
        "this tool handles translation (TransformerSpec) and Whisper models",
    )


def _vocabulary(model_dir: Path, side: str) -> list[str]:
    """Tokens of the ``side`` ('source' or 'target') vocabulary of a converted model."""
    for name in (f"{side}_vocabulary", "shared_vocabulary", "vocabulary"):
        json_path = model_dir / f"{name}.json"
        if json_path.is_file():
            return json.loads(json_path.read_text(encoding="utf-8"))
        txt_path = model_dir / f"{name}.txt"
        if txt_path.is_file():
            return txt_path.read_text(encoding="utf-8").splitlines()
    raise ModelError(f"{model_dir} has no {side} vocabulary file", "reconvert the model")


def _languages(
    out: Path, family: Family, src: Path, given: list[str] | None
) -> tuple[list[str], dict[str, Any]]:
    """FLORES-200 codes the model covers, and backend options (source/target languages)."""
    from edge.languages import FLORES200_CODES, from_whisper_code, to_flores

    if given:
        return [to_flores(code) for code in given], {}
    if family in (NLLB, M2M100):
        vocabulary = set(_vocabulary(out, "target"))
        if family is NLLB:
            return [code for code in FLORES200_CODES if code in vocabulary], {}
        codes = []
        for token in sorted(vocabulary):
            if token.startswith("__") and token.endswith("__"):
                try:
                    codes.append(to_flores(token.strip("_")))
                except EdgeError:
                    continue  # an M2M100 code outside FLORES-200
        return sorted(set(codes)), {}
    if family is MARIAN:
        config = _tokenizer_config(src)
        source, target = config.get("source_lang"), config.get("target_lang")
        if not (source and target):
            raise ModelError(
                f"{src} does not name its languages (no source_lang/target_lang in "
                "tokenizer_config.json)",
                "pass them with --languages SRC TGT (FLORES-200 or ISO codes)",
            )
        source_code, target_code = to_flores(source), to_flores(target)
        options = {"source_languages": [source_code], "target_languages": [target_code]}
        return [source_code, target_code], options
    # Whisper: the language tokens named in config.json's lang_ids. English-only models have
    # one token fewer (CTranslate2's own is_multilingual test) and lang_ids that do not apply.
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    if not config.get("lang_ids") or len(_vocabulary(out, "target")) < WHISPER_MULTILINGUAL_VOCAB:
        return ["eng_Latn"], {}
    tokenizer = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    by_id = {item["id"]: item["content"] for item in tokenizer.get("added_tokens", [])}
    codes = []
    for token_id in config["lang_ids"]:
        try:
            codes.append(from_whisper_code(by_id[token_id].strip("<|>")))
        except (KeyError, EdgeError):
            continue  # a language token outside edge's table
    return codes, {}


def _previous_metadata(src: Path) -> dict[str, Any]:
    try:
        record = read_record(src)
    except ModelError:  # a broken record of the input is not carried over, not an error
        return {}
    return record.to_dict() if record is not None else {}


def _check_output(out: Path) -> None:
    if out.exists():
        raise EdgeError(
            f"output directory {out} already exists", "remove it or choose another directory"
        )


def convert_ct2(
    src: str | Path,
    out: str | Path,
    quantization: str = "int8",
    *,
    model_id: str | None = None,
    languages: list[str] | None = None,
) -> dict[str, Any]:
    """Convert ``src`` into ``out`` and return the model record written there."""
    src, out = Path(src), Path(out)
    if quantization not in QUANTIZATIONS:
        raise EdgeError(
            f"unknown quantization '{quantization}'", f"use one of {', '.join(QUANTIZATIONS)}"
        )
    if not src.is_dir():
        raise ModelError(f"model directory not found: {src}", "pass a checkpoint directory")
    _check_output(out)
    previous = _previous_metadata(src)
    if (src / "model.bin").is_file():
        model = read_model(src / "model.bin")
        family = _ct2_family(src, model.spec_name)
        _require_files(src, family)
        converted, bfloat16 = requantize(model, quantization)
        out.mkdir(parents=True)
        try:
            write_model(converted, out / "model.bin", bfloat16)
            for path in sorted(src.iterdir()):
                if path.is_file() and path.name not in ("model.bin", RECORD_FILE):
                    shutil.copy2(path, out / path.name)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
    elif (src / "config.json").is_file():
        family = _hf_family(src, _hf_config(src))
        _require_files(src, family)
        _convert_hf(src, out, quantization, family)
    else:
        raise ModelError(
            f"{src} is neither a Hugging Face checkpoint (config.json) nor a CTranslate2 model "
            "(model.bin)",
            "pass the directory that holds config.json and the weights",
        )
    try:
        if not languages and previous.get("languages"):
            codes, options = list(previous["languages"]), dict(previous.get("options", {}))
        else:
            codes, options = _languages(out, family, src, languages)
        record: dict[str, Any] = {
            "id": model_id or out.name,
            "kind": family.kind,
            "backend": family.backend,
            "languages": codes,
            "quantization": quantization,
        }
        if options:
            record["options"] = options
        write_record(out, record)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return record


def _convert_hf(src: Path, out: Path, quantization: str, family: Family) -> None:
    try:
        from ctranslate2.converters import TransformersConverter
    except ImportError as exc:  # ctranslate2 without its converter dependencies
        raise EdgeError(
            f"the CTranslate2 converter cannot be imported: {exc}",
            "pip install 'edge-translator[quantize]'",
        ) from None
    try:
        import torch  # noqa: F401  (the converter loads checkpoints with it)
        import transformers  # noqa: F401
    except ImportError:
        raise EdgeError(
            "converting Hugging Face checkpoints needs transformers and torch",
            "pip install 'edge-translator[quantize]'",
        ) from None
    copy = [
        name for name in family.required_files + family.optional_files if (src / name).is_file()
    ]
    try:
        TransformersConverter(str(src), copy_files=copy).convert(
            str(out), quantization=quantization
        )
    except (ValueError, NotImplementedError, OSError) as exc:
        shutil.rmtree(out, ignore_errors=True)
        raise ModelError(
            f"CTranslate2 cannot convert {src}: {exc}", "check the checkpoint"
        ) from None
