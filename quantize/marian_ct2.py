"""``quantize marian-ct2``: a Marian transformer with a self-attention decoder -> CTranslate2.

Some Firefox Translations students (and any Marian transformer) decode with standard
self-attention (``transformer-decoder-autoreg: self-attention``), which CTranslate2 runs.
CTranslate2's own ``MarianConverter`` reads Marian's ``.npz`` checkpoints and ``.yml``
vocabularies, while the released models are Marian's binary ``model.*.bin`` (often int8
"intgemm") with a SentencePiece vocabulary. So this module:

1. reads the ``.bin`` (``quantize.marian_bin``), dequantizing int8 matrices back to float32
   in Marian's own ``[in, out]`` layout;
2. writes a temporary float32 ``.npz`` in Marian's layout, ``special:model.yml`` included (the
   YAML text and a NUL byte, as uint8), and a Marian ``.yml`` vocabulary per side from the
   SentencePiece model (``piece: id`` in id order, quoted so that CTranslate2's
   ``load_vocab`` reads every piece back exactly, which is checked);
3. runs ``ctranslate2.converters.MarianConverter`` on them, with the requested quantization.

Two details keep CTranslate2's arithmetic Marian's. The converter's sinusoids use the
timescale increment ``log(10000) / (dim/2)``, Marian's ``log(10000) / (dim/2 - 1)``
(``sinusoidalPositionEmbeddings``): models with sinusoidal positions get Marian's own table as
``Wpos``, which the converter takes instead of its own. And the layer-norm epsilon is set to
Marian's 1e-9 (CTranslate2's default is larger). The decoder starts from a zero embedding in
both (the converter sets ``start_from_zero_embedding``); the source gets ``</s>`` appended in
both (``add_source_eos``).

The output is an edge ``ct2-marian`` model directory: ``model.bin``, ``config.json``, the
vocabulary, ``source.spm``/``target.spm`` and the model record. The lexical shortlist
(``lex.*.s2t.bin``) is not used: CTranslate2 scores the full vocabulary.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

import numpy as np

from edge.errors import InputError, ModelError
from edge.models.record import write_record

from .ct2_model import QUANTIZATIONS
from .marian_bin import MarianModel, read_marian
from .marian_onnx import find_model_file

BACKEND = "ct2-marian"
# Marian's layerNorm epsilon.
LN_EPS = 1e-9
# Rows of the position table (CTranslate2's converter writes as many).
POSITIONS = 2048


def marian_positions(dim: int, count: int = POSITIONS) -> np.ndarray:
    """Marian's sinusoids, positions 0..count-1: sin in the first half, cos in the second."""
    half = dim // 2
    increment = math.log(10000.0) / (half - 1)
    # Marian computes in float32: v = p * exp(i * -increment).
    freq = np.exp(np.arange(half, dtype=np.float32) * np.float32(-increment))
    angles = np.arange(count, dtype=np.float32)[:, None] * freq[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def check_supported(model: MarianModel) -> None:
    """One clear error for Marian models CTranslate2 cannot run; the ONNX path for SSRU."""
    kind = model.text("type")
    if kind != "transformer":
        raise ModelError(
            f"{model.path} is a Marian {kind or 'unknown-type'} model, not a transformer",
            "only Marian transformers convert to CTranslate2",
        )
    autoreg = model.text("transformer-decoder-autoreg", "self-attention")
    if autoreg != "self-attention":
        cell = model.text("dec-cell", "ssru").upper()
        how = f"a recurrent {cell} cell" if autoreg == "rnn" else autoreg
        fix = (
            "convert it to ONNX for the bergamot-onnx backend with "
            "`quantize marian SRC OUT --direction SRC>TGT` instead"
            if how == "a recurrent SSRU cell"
            else "only self-attention (CTranslate2) and SSRU (`quantize marian`) decoders convert"
        )
        raise ModelError(
            f"{model.path} decodes with {how} (transformer-decoder-autoreg: {autoreg}), not "
            "self-attention, and CTranslate2 cannot run that",
            fix,
        )


def marian_arrays(model: MarianModel) -> dict[str, np.ndarray]:
    """The float32 parameters in Marian's npz layout (weights ``[in, out]``, biases ``[1, n]``)."""
    arrays: dict[str, np.ndarray] = {}
    for name, value in model.floats.items():
        if name.endswith("_QuantMultA"):
            continue  # Bergamot's activation multipliers: CTranslate2 quantizes on its own
        arrays[name] = np.asarray(value, dtype=np.float32)
    for name, matrix in model.matrices.items():
        # marian_bin gives int8 matrices [out, in]; Wemb is kept [vocab, dim], as Marian has it.
        w = matrix.dequantize()
        arrays[name] = np.ascontiguousarray(w if name == "Wemb" else w.T, dtype=np.float32)
    learned = model.text("transformer-train-position-embeddings", "false") == "true"
    if not learned and "Wpos" not in arrays:
        arrays["Wpos"] = marian_positions(model.int("dim-emb"))
    return arrays


def _typed(value: object) -> object:
    """A model.yml value back from marian_bin's strings to YAML's types (6, true, "")."""
    import yaml

    if isinstance(value, list):
        return [_typed(item) for item in value]
    text = str(value)
    if not text:
        return ""
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return parsed if isinstance(parsed, bool | int | float | str) else text


def model_yml(model: MarianModel) -> str:
    import yaml

    config = {key: _typed(value) for key, value in model.config.items()}
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _quoted(piece: str) -> str:
    """A vocabulary key that CTranslate2's ``load_vocab`` reads back as ``piece``."""
    if piece in ("\n", "\r"):
        return f'"\\x{ord(piece):02x}"'
    return "'" + piece.replace("'", "''") + "'"


def write_vocab_yml(spm_path: Path, out: Path) -> list[str]:
    """Marian's .yml vocabulary of a SentencePiece model; returns the pieces in id order."""
    import sentencepiece as spm
    from ctranslate2.converters.marian import load_vocab

    try:
        processor = spm.SentencePieceProcessor(model_file=str(spm_path))
    except (OSError, RuntimeError) as exc:
        raise ModelError(
            f"{spm_path} is not a SentencePiece model: {exc}", "download the model again"
        ) from None
    pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    bad = [p for p in pieces if not p or (len(p) > 1 and ("\n" in p or "\r" in p))]
    if bad:
        raise ModelError(
            f"{spm_path} has a piece a Marian vocabulary file cannot hold: {bad[0]!r}",
            "this vocabulary is not supported",
        )
    for special, wanted in ((processor.eos_id(), "</s>"), (processor.unk_id(), "<unk>")):
        if special < 0 or pieces[special] != wanted:
            raise ModelError(
                f"{spm_path} has no {wanted} piece (Marian's end and unknown tokens)",
                "use the vocabulary the Marian model was trained with",
            )
    text = "".join(f"{_quoted(piece)}: {i}\n" for i, piece in enumerate(pieces))
    out.write_text(text, encoding="utf-8", newline="\n")
    if load_vocab(str(out)) != pieces:
        raise ModelError(
            f"the pieces of {spm_path} do not survive a Marian vocabulary file",
            "this vocabulary is not supported",
        )
    return pieces


def _one(directory: Path, patterns: tuple[str, ...]) -> Path | None:
    for pattern in patterns:
        found = sorted(p for p in directory.glob(pattern) if p.is_file())
        if found:
            return found[0]
    return None


def find_vocabs(directory: Path) -> tuple[Path, Path]:
    """(source, target) SentencePiece models: ``srcvocab``/``trgvocab`` or one shared."""
    source = _one(directory, ("srcvocab*.spm",))
    target = _one(directory, ("trgvocab*.spm",))
    if source and target:
        return source, target
    shared = _one(directory, ("vocab*.spm", "*.spm"))
    if shared is None:
        raise ModelError(
            f"{directory} has no SentencePiece vocabulary (vocab*.spm, or srcvocab*.spm and "
            "trgvocab*.spm)",
            "copy the model's files together: model.*.bin and its vocab.*.spm",
        )
    return shared, shared


def _check_sizes(model: MarianModel, arrays: dict[str, np.ndarray], vocab: list[list[str]]) -> None:
    for scope, pieces in (("encoder", vocab[0]), ("decoder", vocab[1])):
        emb = arrays.get(f"{scope}_Wemb", arrays.get("Wemb"))
        if emb is None:
            raise ModelError(
                f"{model.path} has no embeddings (Wemb or {scope}_Wemb)",
                "this is not a Marian transformer checkpoint",
            )
        if emb.shape[0] != len(pieces):
            raise ModelError(
                f"{model.path} has {emb.shape[0]} {scope} embeddings but its vocabulary "
                f"{len(pieces)} pieces",
                "put the model next to the vocabulary it was trained with",
            )


def _marian_converter():  # noqa: ANN202
    try:
        from ctranslate2.converters import MarianConverter
    except ImportError as exc:  # ctranslate2 without PyYAML
        raise ModelError(
            f"the CTranslate2 Marian converter cannot be imported: {exc}",
            "pip install ctranslate2 pyyaml",
        ) from None

    class _Converter(MarianConverter):
        def _load(self):  # noqa: ANN202
            spec = super()._load()
            spec.config.layer_norm_epsilon = LN_EPS
            return spec

    return _Converter


def _one_line(exc: Exception) -> str:
    """CTranslate2's configuration errors list their reasons on lines of their own."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line[2:] for line in lines if line.startswith("- ")]
    return "; ".join(reasons or lines) or type(exc).__name__


def convert_dir(src: Path, stage: Path, quantization: str) -> tuple[Path, Path]:
    """Convert the model in ``src`` into the new directory ``stage``; returns the vocabularies."""
    model_file = find_model_file(src)
    source_spm, target_spm = find_vocabs(src)
    model = read_marian(model_file)
    check_supported(model)
    arrays = marian_arrays(model)
    converter_class = _marian_converter()
    with tempfile.TemporaryDirectory(prefix=".marian-ct2-", dir=stage.parent) as tmp:
        work = Path(tmp)
        vocab_files = [work / "vocab.src.yml", work / "vocab.trg.yml"]
        vocab = [write_vocab_yml(source_spm, vocab_files[0])]
        if target_spm == source_spm:
            vocab_files[1] = vocab_files[0]
            vocab.append(vocab[0])
        else:
            vocab.append(write_vocab_yml(target_spm, vocab_files[1]))
        _check_sizes(model, arrays, vocab)
        config = np.frombuffer(model_yml(model).encode("utf-8") + b"\0", dtype=np.uint8)
        npz = work / "model.npz"
        np.savez(npz, **arrays, **{"special:model.yml": config})
        del arrays
        converter = converter_class(str(npz), [str(p) for p in vocab_files])
        try:
            converter.convert(str(stage), quantization=quantization)
        except (ValueError, KeyError, NotImplementedError) as exc:
            raise ModelError(
                f"CTranslate2 cannot convert {model_file}: {_one_line(exc)}",
                "this Marian architecture is not supported by CTranslate2",
            ) from None
    return source_spm, target_spm


def convert_command(
    src: Path,
    out: Path,
    direction: str,
    model_id: str | None = None,
    quantization: str = "int8",
) -> dict:
    """``quantize marian-ct2 SRC OUT --direction en>de``: a ready edge model directory.

    Written atomically: into ``OUT.part``, renamed to ``OUT`` at the end, removed on error.
    Returns the model record.
    """
    from edge.languages import to_flores

    if quantization not in QUANTIZATIONS:
        raise InputError(
            f"unknown quantization {quantization!r}", f"use one of {', '.join(QUANTIZATIONS)}"
        )
    if not src.is_dir():
        raise InputError(f"{src} is not a directory", "give the folder with model.*.bin")
    if out.exists():
        raise InputError(f"{out} already exists", "choose a new output directory")
    source, sep, target = direction.partition(">")
    if not sep:
        raise InputError(f"bad direction {direction!r}", "write it as SRC>TGT, e.g. en>de")
    source, target = to_flores(source), to_flores(target)
    if source == target:
        raise InputError(f"direction {direction!r} has one language", "give SRC>TGT, e.g. en>de")
    stage = out.with_name(out.name + ".part")
    if stage.exists():
        shutil.rmtree(stage)
    stage.parent.mkdir(parents=True, exist_ok=True)
    try:
        source_spm, target_spm = convert_dir(src, stage, quantization)
        shutil.copyfile(source_spm, stage / "source.spm")
        shutil.copyfile(target_spm, stage / "target.spm")
        record = {
            "id": model_id or out.name,
            "kinds": ["mt"],
            "backend": BACKEND,
            "languages": [source, target],
            "directions": [f"{source}>{target}"],
            "quantization": quantization,
            "options": {
                "source_spm": "source.spm",
                "target_spm": "target.spm",
                "compute_type": "int8",
                "source_languages": [source],
                "target_languages": [target],
            },
        }
        write_record(stage, record)
        stage.replace(out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return record
