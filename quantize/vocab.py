"""``quantize vocab``: a smaller output vocabulary for one target language (or a few).

NLLB's output layer scores all 256,206 tokens at every decoding step, which dominates CPU
decoding time, yet one language's text uses a small fraction of them. From target-language
text the user provides, this module keeps the tokens that text uses (plus the characters it is
written in, so any word can still be spelled, and the special and language tokens) and applies
the reduction in one of two ways:

* ``vmap``: the model is left as is and a CTranslate2 vocabulary map (``vmap.txt``, one line
  with an empty source n-gram: "always allowed") restricts the output; translate with
  ``use_vmap=True``. Nothing is lost for other languages: the same files serve them without it.
* ``trim``: the decoder's embedding and output projection rows are cut to the kept tokens and
  the model gets a separate, smaller target vocabulary. The encoder keeps the full source
  vocabulary, so any source language still works. CTranslate2 maps tokens by their strings,
  so the SentencePiece model needs no change: it splits source text as before and the kept
  output pieces detokenize as before.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import EdgeError, InputError, ModelError
from edge.models.record import RECORD_FILE, read_record, write_record

from .convert import _vocabulary
from .ct2_model import Ct2Model, read_model, write_model

_EMBEDDINGS = "decoder/embeddings/weight"
_PROJECTION = "decoder/projection/weight"
_PROJECTION_BIAS = "decoder/projection/bias"
_VOCABULARY_FILES = (
    "shared_vocabulary.json",
    "shared_vocabulary.txt",
    "source_vocabulary.json",
    "source_vocabulary.txt",
    "target_vocabulary.json",
    "target_vocabulary.txt",
)


def _target_spm(model_dir: Path) -> Any:
    import sentencepiece as spm

    for name in ("target.spm", "sentencepiece.bpe.model"):
        if (model_dir / name).is_file():
            return spm.SentencePieceProcessor(model_file=str(model_dir / name))
    raise ModelError(
        f"{model_dir} has no target SentencePiece model",
        "add sentencepiece.bpe.model (NLLB) or target.spm (OPUS-MT) to the model directory",
    )


def _language_tokens(vocabulary: list[str], languages: list[str]) -> list[str]:
    """NLLB's ``fra_Latn`` or OPUS-MT's ``>>fra<<`` tokens for ``languages``."""
    from edge.languages import opus_mt_code, to_flores

    present = set(vocabulary)
    tokens = []
    for code in languages:
        flores = to_flores(code)
        candidates = (flores, opus_mt_code(flores, target_token=True))
        tokens += [token for token in candidates if token in present]
    return tokens


def reduced_vocabulary(
    model_dir: str | Path,
    texts: list[Path],
    languages: list[str],
    *,
    max_tokens: int | None = None,
    min_count: int = 1,
) -> list[str]:
    """Tokens to keep, in the model's target vocabulary order."""
    model_dir = Path(model_dir)
    vocabulary = _vocabulary(model_dir, "target")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    sp = _target_spm(model_dir)
    counts: Counter[str] = Counter()
    characters: set[str] = set()
    for path in texts:
        if not path.is_file():
            raise InputError(f"target-language text not found: {path}", "check the path")
        for line in path.read_text(encoding="utf-8").splitlines():
            counts.update(sp.encode(line, out_type=str))
            characters.update(line)
    if not counts:
        raise InputError("the target-language text is empty", "pass a file with sentences")
    present = set(vocabulary)
    required = [config.get(k) for k in ("unk_token", "bos_token", "eos_token")]
    required += [config.get("decoder_start_token"), "<pad>"]
    required += _language_tokens(vocabulary, languages)
    # Every character of the text, alone and word-initial, so unseen words stay spellable.
    required += [c for c in characters if not c.isspace()]
    required += ["▁" + c for c in characters if not c.isspace()]
    keep = {t for t in required if t in present}
    ranked = [t for t, n in counts.most_common() if n >= min_count and t in present]
    if max_tokens is not None:
        if max_tokens < len(keep):
            raise InputError(
                f"--max-tokens {max_tokens} is below the {len(keep)} special, language and "
                "character tokens that must stay",
                f"use at least {len(keep)}",
            )
        ranked = [t for t in ranked if t not in keep][: max_tokens - len(keep)]
    keep.update(ranked)
    return [token for token in vocabulary if token in keep]


def _link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link large unchanged files (a 600 MB model.bin) instead of copying them."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_metadata(src: Path, out: Path, languages: list[str], mode: str, size: int) -> None:
    from edge.languages import to_flores

    previous = read_record(src)
    record: dict[str, Any] = previous.to_dict() if previous is not None else {}
    targets = [to_flores(code) for code in languages]
    record["id"] = f"{record.get('id', src.name)}-{'-'.join(targets)}-{mode}"
    options = dict(record.get("options", {}))
    options["target_languages"] = targets
    options["output_vocabulary"] = {"mode": mode, "tokens": size}
    if mode == "vmap":
        options["use_vmap"] = True
    record["options"] = options
    write_record(out, record)


def write_vmap_variant(src: Path, out: Path, tokens: list[str], languages: list[str]) -> None:
    out.mkdir(parents=True)
    for path in sorted(src.iterdir()):
        if path.is_file() and path.name not in (RECORD_FILE, "vmap.txt"):
            _link_or_copy(path, out / path.name)
    # An empty source n-gram makes its targets candidates for every input.
    (out / "vmap.txt").write_text("\t" + " ".join(tokens) + "\n", encoding="utf-8")
    _write_metadata(src, out, languages, "vmap", len(tokens))


def trim_output_layer(model: Ct2Model, keep_ids: np.ndarray) -> Ct2Model:
    """Cut the decoder embeddings and output projection to ``keep_ids`` rows.

    The three embedding tables are usually one array under aliases; the encoder keeps the
    full table, and the projection stays an alias of the (trimmed) decoder embeddings when it
    was one before.
    """
    affected = (
        _EMBEDDINGS,
        _PROJECTION,
        "encoder/embeddings_0/weight",
        "encoder/embeddings/weight",
    )
    resolved: dict[str, np.ndarray] = {}
    for name in affected + (_PROJECTION_BIAS,):
        if name in model.variables or name in model.aliases:
            resolved[name] = model.resolve(name)
            scale_source = model.aliases.get(name, name) + "_scale"
            if scale_source in model.variables:
                resolved[name + "_scale"] = model.variables[scale_source]
    if _EMBEDDINGS not in resolved or _PROJECTION not in resolved:
        raise ModelError(
            "the model has no decoder embeddings and output projection to trim",
            "use a CTranslate2 NLLB or OPUS-MT model",
        )
    tied = model.aliases.get(_PROJECTION) == _EMBEDDINGS
    variables = {k: v for k, v in model.variables.items() if k not in resolved}
    aliases = {
        alias: target
        for alias, target in model.aliases.items()
        if alias not in resolved and target not in resolved
    }
    for name, value in resolved.items():
        if name.startswith("encoder/"):
            variables[name] = value
        elif name == _PROJECTION and tied:
            aliases[_PROJECTION] = _EMBEDDINGS
        elif name == _PROJECTION + "_scale" and tied:
            continue  # the alias carries the embeddings' scale, as in converted models
        else:
            variables[name] = value[keep_ids]
    return Ct2Model(model.spec_name, model.revision, variables, aliases)


def write_trimmed_variant(src: Path, out: Path, tokens: list[str], languages: list[str]) -> None:
    source_vocabulary = _vocabulary(src, "source")
    target_vocabulary = _vocabulary(src, "target")
    index = {token: i for i, token in enumerate(target_vocabulary)}
    keep_ids = np.array([index[t] for t in tokens], dtype=np.int64)
    trimmed = trim_output_layer(read_model(src / "model.bin"), keep_ids)
    out.mkdir(parents=True)
    try:
        write_model(trimmed, out / "model.bin")
        skip = {"model.bin", RECORD_FILE, "vmap.txt", *_VOCABULARY_FILES}
        for path in sorted(src.iterdir()):
            if path.is_file() and path.name not in skip:
                shutil.copy2(path, out / path.name)
        for name, vocab in (("source", source_vocabulary), ("target", tokens)):
            (out / f"{name}_vocabulary.json").write_text(
                json.dumps(vocab, ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
            )
        _write_metadata(src, out, languages, "trim", len(tokens))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def reduce_vocabulary(
    model_dir: str | Path,
    out_dir: str | Path,
    texts: list[Path],
    languages: list[str],
    *,
    mode: str = "vmap",
    max_tokens: int | None = None,
    min_count: int = 1,
) -> dict[str, Any]:
    src, out = Path(model_dir), Path(out_dir)
    if not (src / "model.bin").is_file():
        raise ModelError(f"{src} is not a CTranslate2 model directory", "pass one made by ct2")
    if out.exists():
        raise EdgeError(f"output directory {out} already exists", "remove it or choose another")
    if mode not in ("vmap", "trim"):
        raise InputError(f"unknown mode '{mode}'", "use vmap or trim")
    if not languages:
        raise InputError("no target language given", "pass --languages, e.g. fra_Latn")
    tokens = reduced_vocabulary(src, texts, languages, max_tokens=max_tokens, min_count=min_count)
    if mode == "vmap":
        write_vmap_variant(src, out, tokens, languages)
    else:
        write_trimmed_variant(src, out, tokens, languages)
    full = len(_vocabulary(src, "target"))
    return {"output": str(out), "mode": mode, "tokens": len(tokens), "full_vocabulary": full}
