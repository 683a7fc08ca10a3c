"""Machine translation with CTranslate2: NLLB-200 / M2M-100 and Marian (OPUS-MT) models.

A model directory is what ``ct2-transformers-converter`` (or ``ct2-opus-mt-converter``) writes
(``model.bin``, ``config.json``, the vocabulary) plus the SentencePiece model of the original:

* NLLB-200 and M2M-100: ``sentencepiece.bpe.model``; the vocabulary holds language tokens,
  ``eng_Latn`` (NLLB) or ``__en__`` (M2M-100). Source ``[src_lang] + pieces + </s>``, the
  decoder is forced to start with the target language token.
* Marian / OPUS-MT: ``source.spm`` and ``target.spm``. Multilingual-target models have
  ``>>spa<<``-style tokens that go in front of the source sentence. Which languages a model
  translates is not in its files: the model record (written by the model manager) says so.

The model record: ``{"id", "kinds": ["mt"], "backend": "ct2-nllb" | "ct2-marian",
"languages": [FLORES-200 codes], "options": {...}}``. For Marian, ``options.source_languages``
and ``options.target_languages`` give the directions; without them a two-language list means
``[source, target]``. Other ``options`` keys named like :class:`DecodingOptions` fields set
decoding defaults. ``options.use_vmap`` with a ``vmap.txt`` (``quantize vocab``) restricts the
output vocabulary to the tokens of ``options.target_languages``: decoding into those is about
twice as fast on a CPU (NLLB's 256k-row output layer dominates), other targets decode in full.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import ctranslate2
import sentencepiece as spm

from edge.errors import LanguageError, ModelError
from edge.languages import FLORES200_CODES, language_name, opus_mt_code, to_flores
from edge.models.record import RECORD_FILE, ModelRecord, read_record

from .base import DecodingOptions, TranslationStats, pieces_to_words

NLLB_TOKENIZER = "sentencepiece.bpe.model"
MARIAN_TOKENIZERS = ("source.spm", "target.spm")
BACKEND_NLLB = "ct2-nllb"
BACKEND_MARIAN = "ct2-marian"
# The backends `CTranslate2Translator.load` handles (the registry routes these here).
BACKENDS = (BACKEND_NLLB, BACKEND_MARIAN)

Flavour = Literal["nllb", "m2m", "marian"]

# Added to the length-proportional decoding bound so short inputs ("Hi.") have room.
_MIN_DECODING_HEADROOM = 16
_M2M_LANGUAGE_TOKEN = re.compile(r"^__([a-z]{2,3})__$")
_MARIAN_TARGET_TOKEN = re.compile(r"^>>([A-Za-z]{2,3}(?:_[A-Za-z]+)?)<<$")
_CONVERT_FIX = (
    "download the model again, or convert it with ct2-transformers-converter --copy_files {files}"
)


class CTranslate2Translator:
    """A :class:`edge.mt.base.TextTranslator` backed by a CTranslate2 model. Use :meth:`load`."""

    def __init__(
        self,
        translator: ctranslate2.Translator,
        *,
        flavour: Flavour,
        source_tokenizer: spm.SentencePieceProcessor,
        target_tokenizer: spm.SentencePieceProcessor,
        sources: tuple[str, ...],
        targets: tuple[str, ...],
        language_tokens: Mapping[str, str],
        append_eos: str | None,
        max_batch_size: int,
        decoding: DecodingOptions,
        vmap_targets: frozenset[str] = frozenset(),
    ) -> None:
        self._translator = translator
        self.flavour = flavour
        self._source_tokenizer = source_tokenizer
        self._target_tokenizer = target_tokenizer
        self.sources = sources
        self.targets = targets
        self.languages = tuple(dict.fromkeys(sources + targets))
        # NLLB/M2M: every language's token. Marian: target tokens of multilingual models.
        self._language_tokens = dict(language_tokens)
        self._append_eos = append_eos
        self._max_batch_size = max_batch_size
        self.decoding = decoding
        self.vmap_targets = vmap_targets
        self.last_stats: TranslationStats | None = None

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        inter_threads: int = 1,
        intra_threads: int = 0,
        max_batch_size: int = 0,
        languages: Sequence[str] | None = None,
        decoding: Mapping[str, Any] | None = None,
    ) -> CTranslate2Translator:
        """Load a converted model.

        ``languages`` restricts an NLLB/M2M model to those languages; for a Marian model it is
        ``(source, target)``, as ``languages`` in the model record. ``decoding`` overrides
        :class:`DecodingOptions` fields (over the model record's ``options``).
        """
        root = Path(model_dir)
        if not root.is_dir():
            raise ModelError(
                f"model directory {root} does not exist",
                "download the model with the model manager or give the right path",
            )
        metadata = read_record(root) or ModelRecord()
        flavour_hint = _flavour_from_files(root, metadata.backend or None)
        _require(root, ["model.bin", "config.json"], flavour_hint)
        try:
            config = json.loads((root / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelError(
                f"cannot read {root / 'config.json'}: {error}", "download the model again"
            ) from error
        vocabulary = _read_source_vocabulary(root, flavour_hint)
        options = metadata.options
        decoding_options = DecodingOptions.merged(
            {k: v for k, v in options.items() if k in DecodingOptions.field_names()}, decoding or {}
        )
        vmap_targets = _vmap_targets(root, options)

        if flavour_hint == "marian":
            flavour: Flavour = "marian"
            source_tokenizer = _load_sentencepiece(root / "source.spm")
            target_tokenizer = _load_sentencepiece(root / "target.spm")
            target_tokens = _marian_target_tokens(vocabulary)
            sources, targets = _marian_directions(root, metadata, languages, target_tokens)
            language_tokens = {t: target_tokens[t] for t in targets if t in target_tokens}
        else:
            source_tokenizer = target_tokenizer = _load_sentencepiece(root / NLLB_TOKENIZER)
            flavour, language_tokens = _multilingual_tokens(root, vocabulary)
            if languages is not None:
                wanted = [to_flores(code) for code in languages]
                missing = [code for code in wanted if code not in language_tokens]
                if missing:
                    raise LanguageError(
                        f"the model in {root} has no {language_name(missing[0])} ({missing[0]})",
                        "choose languages the model lists, or another model",
                    )
                language_tokens = {code: language_tokens[code] for code in wanted}
            sources = targets = tuple(language_tokens)
            if (options.get("output_vocabulary") or {}).get("mode") == "trim":
                # The output layer only has rows for these languages' tokens.
                kept = {to_flores(code) for code in options.get("target_languages") or ()}
                targets = tuple(code for code in targets if code in kept)

        try:
            translator = ctranslate2.Translator(
                str(root),
                device=device,
                compute_type=compute_type,
                inter_threads=inter_threads,
                intra_threads=intra_threads,
            )
        except (RuntimeError, ValueError) as error:
            raise ModelError(
                f"CTranslate2 cannot load the model in {root} on {device} ({compute_type}): "
                f"{error}",
                "check the device and compute type, or download the model again",
            ) from error

        eos = config.get("eos_token", "</s>")
        return cls(
            translator,
            flavour=flavour,
            source_tokenizer=source_tokenizer,
            target_tokenizer=target_tokenizer,
            sources=sources,
            targets=targets,
            language_tokens=language_tokens,
            append_eos=None if config.get("add_source_eos") else eos,
            max_batch_size=max_batch_size,
            decoding=decoding_options,
            vmap_targets=vmap_targets,
        )

    def supports(self, source: str, target: str) -> bool:
        try:
            source, target = to_flores(source), to_flores(target)
        except LanguageError:
            return False
        return source != target and source in self.sources and target in self.targets

    def count_tokens(self, sentence: str, source: str) -> int:
        """Number of tokens the encoder reads for ``sentence`` (language tokens included)."""
        source = to_flores(source)
        if self.flavour == "marian":
            target = self.targets[0]
        else:
            target = next((t for t in self.targets if t != source), source)
        return len(self.source_tokens(sentence, source, target))

    def source_tokens(self, sentence: str, source: str, target: str) -> list[str]:
        """The tokens the encoder reads for ``sentence`` (NLLB: ``[src_lang] + pieces + </s>``)."""
        return self._encode(sentence, *self._checked_pair(source, target))

    def translate(
        self,
        sentences: list[str],
        source: str,
        target: str,
        *,
        decode_lengths: Sequence[int] | None = None,
    ) -> list[str]:
        """Translate a batch of sentences from ``source`` to ``target``.

        ``decode_lengths`` (benchmarks) forces exactly that many output tokens per sentence,
        so a random-weight model does the decoding work of a real one.
        """
        hypotheses = self.translate_tokens(sentences, source, target, decode_lengths=decode_lengths)
        return [self._detokenize(tokens) for tokens in hypotheses]

    def translate_tokens(
        self,
        sentences: list[str],
        source: str,
        target: str,
        *,
        decode_lengths: Sequence[int] | None = None,
    ) -> list[list[str]]:
        """Like :meth:`translate` but returns the model's output tokens, language token included.

        A blank sentence gives no tokens.
        """
        source, target = self._checked_pair(source, target)
        if decode_lengths is not None and (
            len(decode_lengths) != len(sentences) or min(decode_lengths, default=1) < 1
        ):
            raise ValueError(f"need one positive decode length per sentence: {decode_lengths}")
        started = time.perf_counter()
        prefix = [self._language_tokens[target]] if self.flavour != "marian" else []
        # Blank sentences translate to nothing; models would otherwise make text up.
        batch = {
            index: self._encode(sentence, source, target)
            for index, sentence in enumerate(sentences)
            if sentence.strip()
        }

        # CTranslate2 bounds lengths per call, so forced lengths are decoded in groups.
        groups: dict[int | None, list[int]] = {}
        for index in batch:
            length = None if decode_lengths is None else decode_lengths[index]
            groups.setdefault(length, []).append(index)
        hypotheses: list[list[str]] = [[] for _ in sentences]
        for length, indices in groups.items():
            decoded = self._decode(
                [batch[i] for i in indices], prefix, length, target in self.vmap_targets
            )
            for index, tokens in zip(indices, decoded, strict=True):
                hypotheses[index] = tokens

        self.last_stats = TranslationStats(
            sentences=len(sentences),
            source_tokens=sum(map(len, batch.values())),
            decoded_tokens=sum(len(hypotheses[index]) - len(prefix) for index in batch),
            seconds=time.perf_counter() - started,
        )
        return hypotheses

    def generate(
        self, sentence: str, source: str, target: str, *, decode_length: int | None = None
    ) -> Iterator[str]:
        """The output tokens of one sentence as the decoder produces them (greedy search).

        With ``beam_size`` > 1 the hypothesis is only known at the end: it comes all at once.
        Closing the iterator stops the decode.
        """
        source, target = self._checked_pair(source, target)
        if not sentence.strip():
            return
        if self.decoding.beam_size > 1:
            lengths = None if decode_length is None else [decode_length]
            [tokens] = self.translate_tokens([sentence], source, target, decode_lengths=lengths)
            yield from tokens[1:] if self.flavour != "marian" else tokens
            return
        encoded = self._encode(sentence, source, target)
        prefix = [self._language_tokens[target]] if self.flavour != "marian" else []
        max_length, min_length = self._length_bounds([encoded], decode_length)
        options = self.decoding
        # As in translate_batch, the forced prefix counts in both bounds; it is also yielded.
        steps = self._translator.generate_tokens(
            encoded,
            prefix or None,
            max_decoding_length=max_length + len(prefix),
            min_decoding_length=min_length + len(prefix),
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
            max_input_length=options.max_input_length,
            use_vmap=target in self.vmap_targets,
        )
        try:
            for step in itertools.islice(steps, len(prefix), None):
                yield step.token
        finally:
            steps.close()

    def translate_words(self, sentence: str, source: str, target: str) -> Iterator[str]:
        """The translation of one sentence, word by word as each is complete."""
        return pieces_to_words(self.generate(sentence, source, target), self._detokenize)

    def _length_bounds(self, batch: list[list[str]], length: int | None) -> tuple[int, int]:
        """(max, min) output tokens: forced, or bounded by the source length."""
        if length is not None:
            return length, length
        options = self.decoding
        bound = math.ceil(max(map(len, batch)) * options.max_length_ratio) + _MIN_DECODING_HEADROOM
        return min(options.max_decoding_length, bound), 1

    def _decode(
        self, batch: list[list[str]], prefix: list[str], length: int | None, use_vmap: bool
    ) -> list[list[str]]:
        options = self.decoding
        max_length, min_length = self._length_bounds(batch, length)
        # CTranslate2 counts the forced prefix in both bounds.
        results = self._translator.translate_batch(
            batch,
            target_prefix=[prefix] * len(batch) if prefix else None,
            max_batch_size=self._max_batch_size,
            beam_size=options.beam_size,
            repetition_penalty=options.repetition_penalty,
            no_repeat_ngram_size=options.no_repeat_ngram_size,
            max_input_length=options.max_input_length,
            max_decoding_length=max_length + len(prefix),
            min_decoding_length=min_length + len(prefix),
            use_vmap=use_vmap,
        )
        return [result.hypotheses[0] for result in results]

    def _checked_pair(self, source: str, target: str) -> tuple[str, str]:
        source, target = to_flores(source), to_flores(target)
        if not self.supports(source, target):
            raise LanguageError(
                f"this {self.flavour} model does not translate {language_name(source)} "
                f"({source}) to {language_name(target)} ({target})",
                f"it translates {_summary(self.sources)} to {_summary(self.targets)}; "
                "choose one of those or install a model for the pair",
            )
        return source, target

    def _encode(self, sentence: str, source: str, target: str) -> list[str]:
        tokens = self._source_tokenizer.encode(sentence, out_type=str)
        if self.flavour != "marian":
            tokens = [self._language_tokens[source], *tokens]
        elif target in self._language_tokens:
            tokens = [self._language_tokens[target], *tokens]
        if self._append_eos:
            tokens.append(self._append_eos)
        return tokens

    def _detokenize(self, tokens: list[str]) -> str:
        # Language tokens, fillers and other pieces the tokenizer does not know would decode as
        # " ⁇ ": drop them.
        unknown = self._target_tokenizer.unk_id()
        pieces = [t for t in tokens if self._target_tokenizer.piece_to_id(t) != unknown]
        return self._target_tokenizer.decode(pieces)


def _vmap_targets(root: Path, options: Mapping[str, Any]) -> frozenset[str]:
    """Targets whose decoding may use the model's vocabulary map (none without one)."""
    if not options.get("use_vmap"):
        return frozenset()
    if not (root / "vmap.txt").is_file():
        raise ModelError(
            f"{root / RECORD_FILE} asks for a vocabulary map but {root / 'vmap.txt'} is missing",
            "download the model again, or rebuild the variant with `quantize vocab`",
        )
    targets = options.get("target_languages")
    if not targets:
        raise ModelError(
            f"{root / RECORD_FILE} uses a vocabulary map without saying for which target languages",
            "add options.target_languages, or rebuild the variant with `quantize vocab`",
        )
    return frozenset(to_flores(code) for code in targets)


def _summary(codes: tuple[str, ...]) -> str:
    return ", ".join(codes) if len(codes) <= 8 else f"{len(codes)} languages (see `edge languages`)"


def _flavour_from_files(root: Path, backend: Any) -> Literal["nllb", "marian"]:
    """Which tokenizer layout to expect: from the model record when it says, else from files."""
    if backend == BACKEND_NLLB:
        return "nllb"
    if backend == BACKEND_MARIAN:
        return "marian"
    if backend is not None:
        raise ModelError(
            f"{root / RECORD_FILE} names backend '{backend}', which CTranslate2 "
            "translation does not serve",
            f"use a model with backend {BACKEND_NLLB} or {BACKEND_MARIAN}",
        )
    if (root / NLLB_TOKENIZER).is_file():
        return "nllb"
    if any((root / name).is_file() for name in MARIAN_TOKENIZERS):
        return "marian"
    raise ModelError(
        f"no tokenizer in {root}: expected {NLLB_TOKENIZER} (NLLB-200, M2M-100) or "
        f"{' and '.join(MARIAN_TOKENIZERS)} (OPUS-MT / Marian)",
        "copy the SentencePiece model(s) of the original model next to model.bin",
    )


def _require(root: Path, names: list[str], flavour: Literal["nllb", "marian"]) -> None:
    tokenizers = [NLLB_TOKENIZER] if flavour == "nllb" else list(MARIAN_TOKENIZERS)
    for name in [*names, *tokenizers]:
        if not (root / name).is_file():
            raise ModelError(
                f"{root} has no {name}", _CONVERT_FIX.format(files=" ".join(tokenizers))
            )


def _read_source_vocabulary(root: Path, flavour: Literal["nllb", "marian"]) -> list[str]:
    # Older conversions wrote .txt vocabularies (one token a line), newer ones .json lists.
    for stem in ("shared_vocabulary", "source_vocabulary"):
        if (root / f"{stem}.json").is_file():
            return json.loads((root / f"{stem}.json").read_text(encoding="utf-8"))
        if (root / f"{stem}.txt").is_file():
            return (root / f"{stem}.txt").read_text(encoding="utf-8").split("\n")
    tokenizers = NLLB_TOKENIZER if flavour == "nllb" else " ".join(MARIAN_TOKENIZERS)
    raise ModelError(
        f"{root} has no shared_vocabulary.json (nor source_vocabulary.json)",
        _CONVERT_FIX.format(files=tokenizers),
    )


def _load_sentencepiece(path: Path) -> spm.SentencePieceProcessor:
    try:
        return spm.SentencePieceProcessor(model_file=str(path))
    except (OSError, RuntimeError) as error:
        raise ModelError(
            f"{path} is not a SentencePiece model: {error}", "download the model again"
        ) from error


def _multilingual_tokens(root: Path, vocabulary: list[str]) -> tuple[Flavour, dict[str, str]]:
    """FLORES code -> language token of an NLLB (``eng_Latn``) or M2M-100 (``__en__``) model."""
    present = set(vocabulary)
    nllb = {code: code for code in FLORES200_CODES if code in present}
    if nllb:
        return "nllb", nllb
    m2m: dict[str, str] = {}
    for token in vocabulary:
        match = _M2M_LANGUAGE_TOKEN.match(token)
        if match:
            try:
                m2m.setdefault(to_flores(match.group(1)), token)
            except LanguageError:
                continue  # a language FLORES-200 lacks; this model cannot be asked for it
    if m2m:
        return "m2m", m2m
    raise ModelError(
        f"the vocabulary in {root} has no language tokens (eng_Latn or __en__ style)",
        "this is not an NLLB-200 or M2M-100 model; for OPUS-MT supply source.spm and target.spm",
    )


def _marian_target_tokens(vocabulary: list[str]) -> dict[str, str]:
    """FLORES code -> ``>>xxx<<`` token of a multilingual-target Marian model."""
    tokens: dict[str, str] = {}
    for token in vocabulary:
        match = _MARIAN_TARGET_TOKEN.match(token)
        if not match:
            continue
        try:
            code = to_flores(match.group(1))
        except LanguageError:
            continue  # a language FLORES-200 lacks
        # Several tokens may name one FLORES language (>>zho<<, >>cmn_Hans<<): keep OPUS-MT's own.
        if code not in tokens or token == opus_mt_code(code, target_token=True):
            tokens[code] = token
    return tokens


def _marian_directions(
    root: Path,
    metadata: ModelRecord,
    languages: Sequence[str] | None,
    target_tokens: Mapping[str, str],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    options = metadata.options
    pair = list(languages) if languages is not None else list(metadata.languages)
    sources: list[str] = []
    targets: list[str] = []
    if languages is None and options.get("source_languages"):
        sources = list(options["source_languages"])
    elif len(pair) == 2:
        sources = pair[:1]
    if languages is None and options.get("target_languages"):
        targets = list(options["target_languages"])
    elif len(pair) == 2:
        targets = pair[1:]
    elif target_tokens:
        targets = list(target_tokens)
    if not sources or not targets:
        raise ModelError(
            f"cannot tell which languages the Marian model in {root} translates",
            f'add {RECORD_FILE} with "languages": [source, target] (FLORES-200 codes), '
            "or pass languages=(source, target)",
        )
    try:
        sources, targets = [to_flores(c) for c in sources], [to_flores(c) for c in targets]
    except LanguageError as error:
        raise ModelError(
            f"the languages given for the model in {root} are invalid: {error.problem}",
            f"use FLORES-200 codes in {RECORD_FILE}",
        ) from error
    if target_tokens:
        missing = [code for code in targets if code not in target_tokens]
        if missing:
            raise LanguageError(
                f"the multilingual model in {root} has no target token for {missing[0]}",
                f"it has tokens for {', '.join(sorted(target_tokens))}",
            )
    return tuple(sources), tuple(targets)
