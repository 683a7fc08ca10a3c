"""Bergamot / Firefox Translations students on onnxruntime (``quantize marian`` output).

A model directory holds ``encoder.onnx`` and ``decoder.onnx`` (see ``quantize/marian_onnx.py``),
the SentencePiece vocabulary shared by both sides (``vocab.*.spm``) and, optionally, the
lexical shortlist (``lex.*.s2t.bin``). The model record::

    {"kinds": ["mt"], "backend": "bergamot-onnx", "languages": [...],
     "directions": ["eng_Latn>por_Latn"],
     "options": {"encoder": ..., "decoder": ..., "vocab": ..., "shortlist": ...}}

One model translates one direction. Decoding is greedy by default (as Bergamot ships these
students: ``beam-size: 1``) or beam search; each decoder step feeds only the previous token
and the SSRU states, so a step costs the same at the 1st token and the 40th.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sentencepiece as spm

from edge.errors import LanguageError, ModelError
from edge.languages import language_name, to_flores
from edge.models.record import RECORD_FILE, ModelRecord, read_record

from .base import DecodingOptions, TranslationStats, pieces_to_words
from .shortlist import Shortlist

BACKEND = "bergamot-onnx"
EOS_ID = 0  # Marian's SentencePiece vocabularies put </s> at 0
_MIN_DECODING_HEADROOM = 16
_NEG = np.float32(-1e30)


@dataclass
class _Batch:
    """Encoder output and per-sentence decoding state for the sentences of one call."""

    ctx_k: np.ndarray  # [L, N, H, dk, S]
    ctx_v: np.ndarray  # [L, N, H, S, dk]
    mask: np.ndarray  # [N, S]
    vocab: np.ndarray  # [V] ids the decoder scores (union of the sentences' shortlists)
    allowed: np.ndarray  # [N, V] bool: each sentence's own shortlist within ``vocab``
    max_len: np.ndarray  # [N] output bound per sentence


class BergamotTranslator:
    """A :class:`edge.mt.base.WordStreamingTranslator` for one direction. Use :meth:`load`."""

    def __init__(
        self,
        encoder: Any,
        decoder: Any,
        tokenizer: spm.SentencePieceProcessor,
        *,
        source: str,
        target: str,
        shortlist: Shortlist | None,
        decoding: DecodingOptions,
        max_batch_size: int = 8,
        layers: int,
        dim: int,
    ) -> None:
        self._encoder = encoder
        self._decoder = decoder
        self._tokenizer = tokenizer
        self.sources = (source,)
        self.targets = (target,)
        self.languages = (source, target)
        self.shortlist = shortlist
        self.decoding = decoding
        self._max_batch_size = max(1, max_batch_size)
        self._layers = layers
        self._dim = dim
        self._vocab_size = tokenizer.get_piece_size()
        self.last_stats: TranslationStats | None = None

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        device: str = "cpu",
        intra_threads: int = 0,
        max_batch_size: int = 8,
        use_shortlist: bool = True,
        decoding: Mapping[str, Any] | None = None,
        compute_type: str | None = None,  # noqa: ARG003 - the graphs are int8 already
        memory_arena: bool = True,
    ) -> BergamotTranslator:
        """Load a converted directory; ``decoding`` overrides :class:`DecodingOptions` fields."""
        from edge.hardware import ort_session, ort_session_options

        root = Path(model_dir)
        metadata = read_record(root) or ModelRecord()
        options = metadata.options
        source, target = _direction(root, metadata)
        names = {
            "encoder": options.get("encoder", "encoder.onnx"),
            "decoder": options.get("decoder", "decoder.onnx"),
        }
        for role, name in names.items():
            if not (root / name).is_file():
                raise ModelError(
                    f"{root} has no {role} graph {name}",
                    "convert the model with: quantize marian SRC OUT --direction SRC>TGT",
                )
        vocab_name = options.get("vocab") or next((p.name for p in root.glob("*.spm")), None)
        if not vocab_name or not (root / vocab_name).is_file():
            raise ModelError(
                f"{root} has no SentencePiece vocabulary ({vocab_name or 'vocab.*.spm'})",
                "copy the model's vocab.*.spm next to its graphs",
            )
        try:
            tokenizer = spm.SentencePieceProcessor(model_file=str(root / vocab_name))
        except (OSError, RuntimeError) as exc:
            raise ModelError(
                f"{root / vocab_name} is not a SentencePiece model: {exc}",
                "download the model again",
            ) from None
        shortlist = None
        if use_shortlist and options.get("shortlist"):
            path = root / options["shortlist"]
            if not path.is_file():
                raise ModelError(
                    f"{root} has no shortlist {options['shortlist']}",
                    "copy the model's lex.*.s2t.bin next to its graphs, or remove "
                    f'"shortlist" from {RECORD_FILE} (slower decoding)',
                )
            shortlist = Shortlist.load(path)
        decoding_options = DecodingOptions.merged(
            {k: v for k, v in options.items() if k in DecodingOptions.field_names()}, decoding or {}
        )
        session_options = ort_session_options(intra_threads, memory_arena=memory_arena)
        try:
            encoder = ort_session(str(root / names["encoder"]), device, session_options)
            decoder = ort_session(str(root / names["decoder"]), device, session_options)
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise ModelError(
                f"onnxruntime cannot load the graphs in {root}: {exc}".splitlines()[0],
                "convert the model again with quantize marian",
            ) from None
        states = next(i for i in decoder.get_inputs() if i.name == "states")
        layers, _, dim = states.shape
        return cls(
            encoder,
            decoder,
            tokenizer,
            source=source,
            target=target,
            shortlist=shortlist,
            decoding=decoding_options,
            max_batch_size=max_batch_size,
            layers=int(layers),
            dim=int(dim),
        )

    # -- the TextTranslator protocol --------------------------------------------------

    def supports(self, source: str, target: str) -> bool:
        try:
            return (to_flores(source), to_flores(target)) == (self.sources[0], self.targets[0])
        except LanguageError:
            return False

    def count_tokens(self, sentence: str, source: str) -> int:
        """Tokens the encoder reads for ``sentence`` (</s> included)."""
        return len(self._encode(sentence))

    def translate(self, sentences: list[str], source: str, target: str) -> list[str]:
        return [self._detokenize(ids) for ids in self.translate_ids(sentences, source, target)]

    def translate_ids(self, sentences: list[str], source: str, target: str) -> list[list[int]]:
        """Output token ids per sentence (no </s>); a blank sentence gives none."""
        self._check_pair(source, target)
        started = time.perf_counter()
        results: list[list[int]] = [[] for _ in sentences]
        todo = [i for i, s in enumerate(sentences) if s.strip()]
        source_tokens = 0
        for start in range(0, len(todo), self._max_batch_size):
            chunk = todo[start : start + self._max_batch_size]
            encoded = [self._encode(sentences[i]) for i in chunk]
            source_tokens += sum(map(len, encoded))
            if self.decoding.beam_size > 1:
                for index, ids in zip(chunk, encoded, strict=True):
                    results[index] = self._beam(ids)
            else:
                for index, out in zip(chunk, self._greedy_batch(encoded), strict=True):
                    results[index] = out
        self.last_stats = TranslationStats(
            sentences=len(sentences),
            source_tokens=source_tokens,
            decoded_tokens=sum(map(len, results)),
            seconds=time.perf_counter() - started,
        )
        return results

    def generate(self, sentence: str, source: str, target: str) -> Iterator[str]:
        """Output pieces of one sentence as they are decoded (greedy); ``close()`` stops it.

        With beam search the hypothesis is only known at the end: it comes all at once.
        """
        self._check_pair(source, target)
        if not sentence.strip():
            return
        encoded = self._encode(sentence)
        if self.decoding.beam_size > 1:
            ids: Iterator[int] = iter(self._beam(encoded))
        else:
            ids = self._greedy_stream(encoded)
        for token in ids:
            yield self._tokenizer.id_to_piece(token)

    def translate_words(self, sentence: str, source: str, target: str) -> Iterator[str]:
        """The translation of one sentence, word by word as each is complete."""
        return pieces_to_words(self.generate(sentence, source, target), self._detokenize_pieces)

    # -- decoding ----------------------------------------------------------------------

    def _prepare(self, encoded: Sequence[list[int]]) -> _Batch:
        n, width = len(encoded), max(map(len, encoded))
        ids = np.zeros((n, width), dtype=np.int64)
        mask = np.zeros((n, width), dtype=np.float32)
        for row, tokens in enumerate(encoded):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        ctx_k, ctx_v = self._encoder.run(None, {"input_ids": ids, "src_mask": mask})
        if self.shortlist is None:
            vocab = np.arange(self._vocab_size, dtype=np.int64)
            allowed = np.ones((n, len(vocab)), dtype=bool)
        else:
            own = [self.shortlist.allowed(tokens, self._vocab_size) for tokens in encoded]
            vocab = np.unique(np.concatenate(own))
            allowed = np.stack([np.isin(vocab, ids_, assume_unique=True) for ids_ in own])
        lengths = np.array([len(t) for t in encoded])
        ratio = self.decoding.max_length_ratio
        max_len = np.minimum(
            self.decoding.max_decoding_length,
            np.ceil(lengths * ratio).astype(int) + _MIN_DECODING_HEADROOM,
        )
        return _Batch(ctx_k, ctx_v, mask, vocab, allowed, max_len)

    def _step(
        self, batch: _Batch, rows: np.ndarray, prev: np.ndarray, step: int, states: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities over ``batch.vocab`` for ``rows`` of the batch, and new states."""
        logits, states = self._decoder.run(
            None,
            {
                "prev_ids": prev,
                "step": np.array([step], dtype=np.int64),
                "states": states,
                "ctx_k": batch.ctx_k[:, rows],
                "ctx_v": batch.ctx_v[:, rows],
                "src_mask": batch.mask[rows],
                "vocab": batch.vocab,
            },
        )
        logits = np.where(batch.allowed[rows], logits, _NEG)
        top = logits.max(axis=-1, keepdims=True)
        logprobs = logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))
        return logprobs, states

    def _penalize(self, logprobs: np.ndarray, history: list[list[int]], vocab: np.ndarray) -> None:
        """Repetition penalty and no-repeat n-grams, in place (ids map through ``vocab``)."""
        options = self.decoding
        if options.repetition_penalty == 1.0 and options.no_repeat_ngram_size <= 0:
            return
        position = {int(token): i for i, token in enumerate(vocab)}
        size = options.no_repeat_ngram_size
        for row, tokens in enumerate(history):
            if options.repetition_penalty != 1.0:
                seen = [position[t] for t in set(tokens) if t in position]
                logprobs[row, seen] *= options.repetition_penalty
            if size > 0 and len(tokens) >= size - 1:
                prefix = tokens[len(tokens) - size + 1 :] if size > 1 else []
                for i in range(len(tokens) - size + 1):
                    if tokens[i : i + size - 1] == prefix and tokens[i + size - 1] in position:
                        logprobs[row, position[tokens[i + size - 1]]] = _NEG

    def _greedy_batch(self, encoded: Sequence[list[int]]) -> list[list[int]]:
        batch = self._prepare(encoded)
        n = len(encoded)
        outputs: list[list[int]] = [[] for _ in range(n)]
        rows = np.arange(n)
        prev = np.full(n, -1, dtype=np.int64)
        states = np.zeros((self._layers, n, self._dim), dtype=np.float32)
        step = 0
        while len(rows):
            logprobs, states = self._step(batch, rows, prev, step, states)
            self._penalize(logprobs, [outputs[r] for r in rows], batch.vocab)
            best = batch.vocab[logprobs.argmax(axis=-1)]
            keep = []
            for i, (row, token) in enumerate(zip(rows, best, strict=True)):
                if token == EOS_ID:
                    continue
                outputs[row].append(int(token))
                if len(outputs[row]) < batch.max_len[row]:
                    keep.append(i)
            # Finished sentences leave the batch: the rest decode at their own cost.
            rows, prev, states = rows[keep], best[keep], states[:, keep]
            step += 1
        return outputs

    def _greedy_stream(self, encoded: list[int]) -> Iterator[int]:
        batch = self._prepare([encoded])
        rows = np.zeros(1, dtype=np.int64)
        prev = np.full(1, -1, dtype=np.int64)
        states = np.zeros((self._layers, 1, self._dim), dtype=np.float32)
        history: list[int] = []
        for step in range(int(batch.max_len[0])):
            logprobs, states = self._step(batch, rows, prev, step, states)
            self._penalize(logprobs, [history], batch.vocab)
            token = int(batch.vocab[logprobs[0].argmax()])
            if token == EOS_ID:
                return
            history.append(token)
            yield token
            prev = np.array([token], dtype=np.int64)

    def _beam(self, encoded: list[int]) -> list[int]:
        """Beam search over one sentence, as Marian's: a hypothesis that ends leaves the beam
        and the beam shrinks; the best length-normalized finished hypothesis wins."""
        size = self.decoding.beam_size
        batch = self._prepare([encoded])
        limit = int(batch.max_len[0])
        hyps: list[list[int]] = [[]]
        scores = np.zeros(1, dtype=np.float64)
        prev = np.full(1, -1, dtype=np.int64)
        states = np.zeros((self._layers, 1, self._dim), dtype=np.float32)
        finished: list[tuple[float, list[int]]] = []
        for step in range(limit):
            logprobs, states = self._step(batch, np.zeros(len(hyps), np.int64), prev, step, states)
            self._penalize(logprobs, hyps, batch.vocab)
            total = scores[:, None] + logprobs
            best = np.argsort(-total, axis=None, kind="stable")[:size]
            next_hyps, next_scores, parents = [], [], []
            for index in best:
                parent, column = divmod(int(index), total.shape[1])
                token, score = int(batch.vocab[column]), float(total[parent, column])
                if token == EOS_ID:
                    finished.append((score / (len(hyps[parent]) + 1), hyps[parent]))
                    size -= 1
                elif score > _NEG / 2:
                    next_hyps.append([*hyps[parent], token])
                    next_scores.append(score)
                    parents.append(parent)
            if size <= 0 or not next_hyps:
                break
            hyps, scores = next_hyps, np.array(next_scores)
            prev = np.array([h[-1] for h in hyps], dtype=np.int64)
            states = states[:, parents]
        else:
            finished.extend((s / len(h), h) for s, h in zip(scores, hyps, strict=True))
        return max(finished, key=lambda item: item[0])[1] if finished else []

    # -- text ----------------------------------------------------------------------------

    def _encode(self, sentence: str) -> list[int]:
        ids = self._tokenizer.encode(sentence)[: self.decoding.max_input_length - 1]
        return [*ids, EOS_ID]

    def _detokenize(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids)

    def _detokenize_pieces(self, pieces: list[str]) -> str:
        return self._tokenizer.decode_pieces(pieces)

    def _check_pair(self, source: str, target: str) -> None:
        if not self.supports(source, target):
            raise LanguageError(
                f"this model translates {language_name(self.sources[0])} to "
                f"{language_name(self.targets[0])}, not {source} to {target}",
                "install a model for the pair (edge models list)",
            )


def _direction(root: Path, metadata: ModelRecord) -> tuple[str, str]:
    directions = list(metadata.directions)
    if not directions and len(metadata.languages) == 2:
        directions = [">".join(metadata.languages)]
    if len(directions) != 1 or ">" not in directions[0]:
        raise ModelError(
            f"cannot tell which direction the model in {root} translates",
            f'its {RECORD_FILE} needs "directions": ["SRC>TGT"] (FLORES-200 codes)',
        )
    source, target = directions[0].split(">", 1)
    try:
        return to_flores(source), to_flores(target)
    except LanguageError as exc:
        raise ModelError(
            f"bad direction in {root}: {exc.problem}", "use FLORES-200 codes"
        ) from None
