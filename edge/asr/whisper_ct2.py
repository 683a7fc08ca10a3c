"""Whisper through CTranslate2: transcription, language identification and direct speech
translation into English (Whisper's translate task), the X->English first stage that skips MT.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ctranslate2
import numpy as np
import tokenizers

from ..errors import LanguageError, ModelError
from ..languages import from_whisper_code, to_flores, whisper_code
from ..models.record import read_record
from .base import SAMPLE_RATE, Recognition
from .guards import (
    DEFAULT_GUARDS,
    GuardConfig,
    check_text,
    compression_ratio,
    max_tokens,
    token_key,
)
from .model_files import require_dir

N_FFT = 400
HOP = 160
CHUNK_SAMPLES = 30 * SAMPLE_RATE  # Whisper always sees a 30 s window
MAX_NEW_TOKENS = 224  # Whisper's text context is 448; CTranslate2 decodes at most half of it


@lru_cache(maxsize=2)
def _mel_filters(n_mels: int) -> np.ndarray:
    """Slaney-style mel filterbank, as librosa (and so Whisper) builds it."""
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return np.where(
            f >= min_log_hz,
            min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep,
            f / f_sp,
        )

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(
            m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), m * f_sp
        )

    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_points = mel_to_hz(
        np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(SAMPLE_RATE / 2)), n_mels + 2)
    )
    widths = np.diff(mel_points)
    ramps = mel_points[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_points[2:] - mel_points[:-2]))[:, None]
    return weights.astype(np.float32)


def log_mel_spectrogram(audio: np.ndarray, n_mels: int = 80) -> np.ndarray:
    """Whisper's input features for one 30 s window, shape (n_mels, 3000)."""
    audio = audio[:CHUNK_SAMPLES].astype(np.float32, copy=False)
    audio = np.pad(audio, (0, CHUNK_SAMPLES - len(audio)))
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)
    padded = np.pad(audio, (N_FFT // 2, N_FFT // 2), mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP]
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    mel = _mel_filters(n_mels) @ power[:-1].T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


class WhisperCT2:
    """A Whisper model in CTranslate2 format.

    ``task="transcribe"`` makes it a segment recognizer; ``task="translate"`` makes it a
    direct speech translator whose output is always English. Every decode goes through the
    hallucination guards (``edge.asr.guards``) with temperature fallback, as faster-whisper
    does: a rejected decode comes back as an empty text with ``rejected`` saying why.
    """

    def __init__(
        self,
        model: ctranslate2.models.Whisper,
        tokenizer: tokenizers.Tokenizer,
        languages: tuple[str, ...],
        task: str,
        beam_size: int,
        with_source_transcript: bool,
        guards: GuardConfig = DEFAULT_GUARDS,
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self.languages = languages
        self.task = task
        self.beam_size = beam_size
        self.with_source_transcript = with_source_transcript
        self.guards = guards
        self._lang_tokens = {}
        for code in languages:
            try:
                self._lang_tokens[code] = f"<|{whisper_code(code)}|>"
            except LanguageError:
                continue  # a language outside FLORES-200 (e.g. Latin): never requested
        self.languages = tuple(self._lang_tokens)
        # The engine transcribes the segment it just translated: keep its encoder output.
        self._last_encoded: tuple[np.ndarray, ctranslate2.StorageView] | None = None
        self._last_transcript: tuple[ctranslate2.StorageView, str | None, Recognition] | None = None

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        task: str = "transcribe",
        device: str = "cpu",
        compute_type: str = "int8",
        num_threads: int = 2,
        beam_size: int = 1,
        with_source_transcript: bool = False,
        guards: GuardConfig | None = None,
    ) -> WhisperCT2:
        path = require_dir(model_dir)
        for name in ("model.bin", "config.json", "tokenizer.json"):
            if not (path / name).is_file():
                raise ModelError(
                    f"Whisper model file missing: {path / name}",
                    "re-download the model with `edge models pull ID`",
                )
        if task not in ("transcribe", "translate"):
            raise ModelError(f"unknown Whisper task '{task}'", "use transcribe or translate")
        try:
            model = ctranslate2.models.Whisper(
                str(path), device=device, compute_type=compute_type, intra_threads=num_threads
            )
            tokenizer = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelError(
                f"cannot load Whisper model {path}: {exc}", "re-download the model"
            ) from None
        record = read_record(path)
        if record is not None and record.languages:
            languages = record.languages
        elif model.is_multilingual:
            languages = _languages_from_config(path / "config.json", tokenizer)
        else:
            languages = ("eng_Latn",)
        if task == "translate" and not model.is_multilingual:
            raise ModelError(
                f"{path} is an English-only Whisper model",
                "use a multilingual model for translation",
            )
        return cls(
            model,
            tokenizer,
            languages,
            task,
            beam_size,
            with_source_transcript,
            guards or DEFAULT_GUARDS,
        )

    @property
    def is_multilingual(self) -> bool:
        return bool(self._model.is_multilingual)

    def detect_language(
        self, audio: np.ndarray, allowed: tuple[str, ...] | None = None
    ) -> tuple[str, float]:
        """Most likely spoken language (FLORES-200) and its probability among ``allowed``."""
        return self._detect(self._encode(audio), allowed)

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Recognition:
        encoded = self._encode(audio)
        seconds = min(len(audio), CHUNK_SAMPLES) / SAMPLE_RATE  # what the encoder sees
        if not self.is_multilingual:
            return self._decode(encoded, None, "transcribe", seconds)
        source = to_flores(lang) if lang else self._detect(encoded, None)[0]
        if source not in self._lang_tokens:
            raise LanguageError(
                f"this Whisper model does not know {source}",
                "choose a language it covers (see `edge models info ID`)",
            )
        if self.task == "transcribe":
            return self._decode(encoded, source, "transcribe", seconds)
        if source == "eng_Latn":  # English speech: its transcript is the translation
            result = self._decode(encoded, source, "transcribe", seconds)
            result.source_lang, result.source_text = source, result.text
            return result
        result = self._decode(encoded, source, "translate", seconds)
        result.source_lang = source
        if result.rejected is None and (result.failed or self._doubtful(result)):
            # A translation that is a guess, or that Whisper made while half-believing nothing
            # was said (noise becomes "THE LORD OF THE SKIES III"): the transcript, the
            # better-calibrated task, decides. Rejected as no speech, or a guess too, it
            # takes the translation with it. (The engine asks for it next anyway: it is kept.)
            check = self._transcript(encoded, source, seconds)
            reason = check.rejected or (result.failed if check.failed else None)
            if reason is not None:
                result.rejected, result.rejected_text = reason, result.text
                result.text, result.failed = "", None
                return result
        if self.with_source_transcript and result.rejected is None:
            result.source_text = self._transcript(encoded, source, seconds).text
            result.text = result.text or result.source_text
        return result

    def transcribe(self, audio: np.ndarray, lang: str) -> str:
        """Source-language transcript, whatever the task (for the transcript of a translation);
        empty when the guards reject it."""
        source = to_flores(lang) if self.is_multilingual else None
        seconds = min(len(audio), CHUNK_SAMPLES) / SAMPLE_RATE
        return self._transcript(self._encode(audio), source, seconds).text

    # --- internals -------------------------------------------------------------------

    def _encode(self, audio: np.ndarray) -> ctranslate2.StorageView:
        if self._last_encoded is not None and self._last_encoded[0] is audio:
            return self._last_encoded[1]
        features = log_mel_spectrogram(audio, self._model.n_mels)[None]
        # Encoding once lets language ID, translation and transcription share the encoder.
        encoded = self._model.encode(ctranslate2.StorageView.from_array(features), to_cpu=False)
        self._last_encoded = (audio, encoded)
        return encoded

    def _detect(
        self, encoded: ctranslate2.StorageView, allowed: tuple[str, ...] | None
    ) -> tuple[str, float]:
        results = self._model.detect_language(encoded)[0]
        allowed_tokens = (
            {self._lang_tokens[c] for c in allowed if c in self._lang_tokens} if allowed else None
        )
        for token, probability in results:
            if allowed_tokens is None or token in allowed_tokens:
                return from_whisper_code(token.strip("<|>")), probability
        raise LanguageError(
            "none of the allowed languages is known to this Whisper model",
            "check the language pair",
        )

    def _doubtful(self, result: Recognition) -> bool:
        threshold = self.guards.no_speech_threshold
        return threshold is not None and (result.no_speech_prob or 0.0) > threshold

    def _transcript(
        self, encoded: ctranslate2.StorageView, lang: str | None, seconds: float
    ) -> Recognition:
        """The transcribe decode, kept for the encoder output it was made from: the engine asks
        for the transcript of the segment it just translated."""
        last = self._last_transcript
        if last is not None and last[0] is encoded and last[1] == lang:
            return last[2]
        result = self._decode(encoded, lang, "transcribe", seconds)
        self._last_transcript = (encoded, lang, result)
        return result

    def _decode(
        self, encoded: ctranslate2.StorageView, lang: str | None, task: str, seconds: float
    ) -> Recognition:
        """One guarded decode of ``seconds`` of audio: Whisper's own temperature fallback."""
        prompt = ["<|startoftranscript|>"]
        if lang is not None:
            prompt += [self._lang_tokens[lang], f"<|{task}|>"]
        prompt.append("<|notimestamps|>")
        out_lang = "eng_Latn" if task == "translate" or lang is None else lang
        guards = self.guards
        if not guards.enabled:
            result = self._model.generate(
                encoded, [prompt], beam_size=self.beam_size, max_length=224, suppress_blank=True
            )[0]
            return Recognition(self._text(result.sequences_ids[0]), out_lang)
        # CTranslate2 decodes at most max_length // 2 new tokens for Whisper: ask for one more
        # than the cap allows, so that a decoder running away is seen (and stopped early).
        new_tokens = min(MAX_NEW_TOKENS, max_tokens(seconds, guards) + 1)
        doubt = guards.fallback_no_speech_threshold
        attempts: list[_Attempt] = []
        for temperature in guards.temperatures or (0.0,):
            if temperature > 0:
                options = {
                    "beam_size": 1,
                    "num_hypotheses": max(1, guards.best_of),
                    "sampling_topk": 0,  # the whole distribution
                    "sampling_temperature": temperature,
                }
            else:
                options = {"beam_size": self.beam_size}
            result = self._model.generate(
                encoded,
                [prompt],
                max_length=2 * new_tokens,
                return_scores=True,
                return_no_speech_prob=True,
                suppress_blank=True,
                **options,
            )[0]
            attempt = max(
                (self._check(result, i, temperature, seconds) for i in range(len(result.scores))),
                key=lambda a: a.avg_logprob,
            )
            attempts.append(attempt)
            if attempt.no_speech:
                return attempt.recognition(out_lang, "no speech")
            if attempt.failure is None and not attempt.cut:
                return attempt.recognition(out_lang)
            if doubt is not None and attempt.no_speech_prob > doubt:
                break  # Whisper leans to no speech: sampling would pick a hallucination
        # Every temperature failed (or the first did, on what Whisper takes for no speech).
        # A decode whose only fault was a short loop, now cut, is kept. Otherwise the best
        # decode (the most probable of those that are not repetitive, as faster-whisper
        # picks) is rejected, unless its only fault is a log-probability between the two
        # thresholds: then it is passed on marked failed.
        cut = [a for a in attempts if a.failure is None]
        if cut:
            return max(cut, key=lambda a: a.avg_logprob).recognition(out_lang)
        plain = [a for a in attempts if not a.repetitive] or attempts
        best = max(plain, key=lambda a: a.avg_logprob)
        if doubt is not None and best.no_speech_prob > doubt:
            return best.recognition(out_lang, "no speech")
        floor = guards.log_prob_low_threshold
        if best.unsure and (floor is None or best.avg_logprob >= floor):
            return best.recognition(out_lang, failed=best.failure)
        return best.recognition(out_lang, best.failure)

    def _check(
        self,
        result: ctranslate2.models.WhisperGenerationResult,
        index: int,
        temperature: float,
        seconds: float,
    ) -> _Attempt:
        guards = self.guards
        ids = result.sequences_ids[index]
        n_tokens = len(ids)
        # CTranslate2's score is the sum of the token log-probabilities, end of text included,
        # divided by len(ids) ** length_penalty (1 here): undo that, average over n + 1.
        avg_logprob = result.scores[index] * n_tokens / (n_tokens + 1) if n_tokens else 0.0
        keys = [token_key(token) for token in result.sequences[index]]
        verdict = check_text(keys, lambda k: self._text(ids[:k]), seconds, guards)
        failure = verdict.rejected
        low = guards.log_prob_threshold is not None and avg_logprob < guards.log_prob_threshold
        unsure = failure is None and low
        if unsure:
            failure = f"low confidence (average log-probability {avg_logprob:.2f})"
        no_speech = (
            n_tokens > 0
            and low
            and guards.no_speech_threshold is not None
            and result.no_speech_prob > guards.no_speech_threshold
        )
        full = self._text(ids)
        repetitive = verdict.loop is not None or (
            guards.compression_ratio_threshold is not None
            and compression_ratio(full) > guards.compression_ratio_threshold
        )
        return _Attempt(
            text=verdict.text if verdict.rejected is None else full,
            failure=failure,
            cut=verdict.loop is not None and verdict.rejected is None,
            no_speech=no_speech,
            unsure=unsure,
            repetitive=repetitive,
            avg_logprob=avg_logprob,
            no_speech_prob=float(result.no_speech_prob),
            compression_ratio=compression_ratio(verdict.text),
            temperature=temperature,
        )

    def _text(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True).strip()


@dataclass
class _Attempt:
    """One decode at one temperature, checked."""

    text: str  # what is kept (loop cut), or the whole decode when it failed
    failure: str | None  # why it is not to be trusted
    cut: bool  # a short loop was cut out of it
    no_speech: bool  # Whisper says nothing was said
    unsure: bool  # its only fault is a low average log-probability
    repetitive: bool  # a loop or a high compression ratio: never preferred when all fail
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float

    def recognition(
        self, lang: str, rejected: str | None = None, failed: str | None = None
    ) -> Recognition:
        scores = {
            "avg_logprob": self.avg_logprob,
            "no_speech_prob": self.no_speech_prob,
            "compression_ratio": self.compression_ratio,
            "temperature": self.temperature,
        }
        if rejected is not None:
            return Recognition("", lang, rejected=rejected, rejected_text=self.text, **scores)
        cut = "repetition loop" if self.cut else None
        return Recognition(self.text, lang, cut=cut, failed=failed, **scores)


def _languages_from_config(config_path: Path, tokenizer: tokenizers.Tokenizer) -> tuple[str, ...]:
    config = json.loads(config_path.read_text(encoding="utf-8"))
    codes = []
    for token_id in config.get("lang_ids", []):
        token = tokenizer.id_to_token(token_id)
        if token is None:
            continue
        try:
            codes.append(from_whisper_code(token.strip("<|>")))
        except LanguageError:
            continue  # a Whisper language NLLB has no code for
    return tuple(dict.fromkeys(codes))
