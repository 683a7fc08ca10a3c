"""Whisper through CTranslate2: transcription, language identification and direct speech
translation into English (Whisper's translate task), the X->English first stage that skips MT.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import ctranslate2
import numpy as np
import tokenizers

from ..errors import LanguageError, ModelError
from ..languages import from_whisper_code, to_flores, whisper_code
from .base import SAMPLE_RATE, Recognition
from .model_files import read_metadata, require_dir

N_FFT = 400
HOP = 160
CHUNK_SAMPLES = 30 * SAMPLE_RATE  # Whisper always sees a 30 s window


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
    direct speech translator whose output is always English.
    """

    def __init__(
        self,
        model: ctranslate2.models.Whisper,
        tokenizer: tokenizers.Tokenizer,
        languages: tuple[str, ...],
        task: str,
        beam_size: int,
        with_source_transcript: bool,
    ) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self.languages = languages
        self.task = task
        self.beam_size = beam_size
        self.with_source_transcript = with_source_transcript
        self._lang_tokens = {}
        for code in languages:
            try:
                self._lang_tokens[code] = f"<|{whisper_code(code)}|>"
            except LanguageError:
                continue  # a language outside FLORES-200 (e.g. Latin): never requested
        self.languages = tuple(self._lang_tokens)
        # The engine transcribes the segment it just translated: keep its encoder output.
        self._last_encoded: tuple[np.ndarray, ctranslate2.StorageView] | None = None

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
        meta = read_metadata(path)
        if meta.get("languages"):
            languages = tuple(meta["languages"])
        elif model.is_multilingual:
            languages = _languages_from_config(path / "config.json", tokenizer)
        else:
            languages = ("eng_Latn",)
        if task == "translate" and not model.is_multilingual:
            raise ModelError(
                f"{path} is an English-only Whisper model",
                "use a multilingual model for translation",
            )
        return cls(model, tokenizer, languages, task, beam_size, with_source_transcript)

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
        if not self.is_multilingual:
            return Recognition(self._generate(encoded, None, "transcribe"), "eng_Latn")
        source = to_flores(lang) if lang else self._detect(encoded, None)[0]
        if source not in self._lang_tokens:
            raise LanguageError(
                f"this Whisper model does not know {source}",
                "choose a language it covers (see `edge models info ID`)",
            )
        if self.task == "transcribe":
            return Recognition(self._generate(encoded, source, "transcribe"), source)
        text = self._generate(encoded, source, "translate") if source != "eng_Latn" else ""
        source_text = None
        if source == "eng_Latn" or self.with_source_transcript:
            source_text = self._generate(encoded, source, "transcribe")
        return Recognition(
            text or (source_text or ""), "eng_Latn", source_lang=source, source_text=source_text
        )

    def transcribe(self, audio: np.ndarray, lang: str) -> str:
        """Source-language transcript, whatever the task (for the transcript of a translation)."""
        return self._generate(
            self._encode(audio), to_flores(lang) if self.is_multilingual else None, "transcribe"
        )

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

    def _generate(self, encoded: ctranslate2.StorageView, lang: str | None, task: str) -> str:
        prompt = ["<|startoftranscript|>"]
        if lang is not None:
            prompt += [self._lang_tokens[lang], f"<|{task}|>"]
        prompt.append("<|notimestamps|>")
        result = self._model.generate(
            encoded, [prompt], beam_size=self.beam_size, max_length=224, suppress_blank=True
        )[0]
        return self._tokenizer.decode(result.sequences_ids[0], skip_special_tokens=True).strip()


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
