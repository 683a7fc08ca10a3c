"""Segment recognizers through sherpa-onnx's OfflineRecognizer: Moonshine, Whisper, SenseVoice.

These models decode a whole VAD segment at once; the engine can re-run them on the growing
segment for partial results. They give no scores, so of the hallucination guards
(``edge.asr.guards``) only the text checks apply: non-speech markers, repetition loops, the
token-rate cap and the compression ratio.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sherpa_onnx

from ..errors import ModelError
from ..models.record import read_record, recognize_backend
from .base import SAMPLE_RATE, Recognition
from .guards import DEFAULT_GUARDS, GuardConfig, check_text, compression_ratio, token_key
from .model_files import pick_file, require_dir

# The backends `load` handles; the registry (edge.models.record) routes these here.
BACKENDS = ("sherpa-moonshine", "sherpa-whisper", "sherpa-sense-voice")


def _detect_backend(model_dir: Path) -> str:
    # The registry's file recognizers, in its order: Moonshine, Whisper, SenseVoice.
    backend = recognize_backend(model_dir, among=BACKENDS)
    if backend:
        return backend
    raise ModelError(
        f"{model_dir} is not a Moonshine, Whisper or SenseVoice model for sherpa-onnx",
        "check the directory, or name the backend in its model record",
    )


class SherpaSegmentRecognizer:
    """One sherpa-onnx offline model, loaded once, decoding one segment per call."""

    def __init__(
        self,
        recognizer: sherpa_onnx.OfflineRecognizer,
        backend: str,
        languages: tuple[str, ...],
        guards: GuardConfig = DEFAULT_GUARDS,
        task: str = "transcribe",
    ):
        self._recognizer = recognizer
        self.backend = backend
        self.languages = languages
        self.guards = guards
        self.task = task  # "translate": Whisper's speech -> English text

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        num_threads: int = 2,
        provider: str = "cpu",
        languages: tuple[str, ...] | None = None,
        prefer_int8: bool = True,
        guards: GuardConfig | None = None,
        task: str = "transcribe",
    ) -> SherpaSegmentRecognizer:
        """``task="translate"``: Whisper models only, speech in any of its languages -> English."""
        path = require_dir(model_dir)
        record = read_record(path)
        backend = (record.backend if record else "") or _detect_backend(path)
        files: dict[str, str] = {}
        if record is not None:
            files = {**record.options, **record.roles, **record.extra.get("files_by_role", {})}
        langs = tuple(languages or (record.languages if record else ()))
        onnx = ("*.int8.onnx", "*.onnx") if prefer_int8 else ("*.onnx",)
        tokens = str(pick_file(path, files.get("tokens"), ("tokens.txt", "*tokens.txt"), "tokens"))
        common = {"num_threads": num_threads, "provider": provider}
        if task not in ("transcribe", "translate"):
            raise ModelError(f"unknown ASR task '{task}'", "use transcribe or translate")
        if task == "translate" and backend != "sherpa-whisper":
            raise ModelError(
                f"{path} cannot translate speech directly", "use a multilingual Whisper model"
            )
        try:
            if backend == "sherpa-moonshine":
                recognizer = sherpa_onnx.OfflineRecognizer.from_moonshine_v2(
                    encoder=str(
                        pick_file(
                            path, files.get("encoder"), ("encoder*.ort", "encoder*.onnx"), "encoder"
                        )
                    ),
                    decoder=str(
                        pick_file(
                            path, files.get("decoder"), ("decoder*.ort", "decoder*.onnx"), "decoder"
                        )
                    ),
                    tokens=tokens,
                    **common,
                )
                langs = langs or ("eng_Latn",)
            elif backend == "sherpa-whisper":
                enc = tuple(p.replace("*", "*encoder") for p in onnx)
                dec = tuple(p.replace("*", "*decoder") for p in onnx)
                recognizer = sherpa_onnx.OfflineRecognizer.from_whisper(
                    encoder=str(pick_file(path, files.get("encoder"), enc, "encoder")),
                    decoder=str(pick_file(path, files.get("decoder"), dec, "decoder")),
                    tokens=tokens,
                    language=files.get("language", ""),
                    task=task,
                    **common,
                )
            elif backend == "sherpa-sense-voice":
                recognizer = sherpa_onnx.OfflineRecognizer.from_sense_voice(
                    model=str(pick_file(path, files.get("model"), onnx, "model")),
                    tokens=tokens,
                    use_itn=True,
                    **common,
                )
            else:
                raise ModelError(
                    f"unknown segment ASR backend '{backend}' in {path}",
                    f"use one of {', '.join(BACKENDS)}",
                )
        except (RuntimeError, ValueError) as exc:
            raise ModelError(
                f"sherpa-onnx cannot load {path}: {exc}", "re-download the model"
            ) from None
        return cls(recognizer, backend, langs, guards or DEFAULT_GUARDS, task)

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Recognition:
        stream = self._recognizer.create_stream()
        stream.accept_waveform(SAMPLE_RATE, audio.astype(np.float32, copy=False))
        self._recognizer.decode_stream(stream)
        result = stream.result
        text = result.text.strip()
        detected = lang or (self.languages[0] if self.languages else "und")
        if self.task == "translate":
            detected = "eng_Latn"  # the text is English whatever was spoken
        if not self.guards.enabled or not text:
            return Recognition(text=text, lang=detected)
        tokens = _tokens(result)
        count: Callable[[int], int] | None = None
        if tokens is not None:
            keys = [token_key(t) for t in tokens]

            def text_of(k: int) -> str:
                if k >= len(tokens):
                    return text  # as the recognizer wrote it (SenseVoice's ITN included)
                return "".join(tokens[:k]).replace("▁", " ").strip()
        else:
            keys, text_of, count = _words(text)
        verdict = check_text(keys, text_of, len(audio) / SAMPLE_RATE, self.guards, count)
        if verdict.rejected is not None:
            return Recognition(
                "",
                detected,
                rejected=verdict.rejected,
                rejected_text=text,
                compression_ratio=compression_ratio(text),
            )
        return Recognition(
            text=verdict.text,
            lang=detected,
            cut="repetition loop" if verdict.loop is not None else None,
            compression_ratio=compression_ratio(verdict.text),
        )


def _tokens(result: object) -> list[str] | None:
    """The decode's tokens; None when sherpa-onnx cannot give them as text (a byte-level token
    that splits a UTF-8 character, as Moonshine's "♪" does)."""
    try:
        return list(result.tokens)  # type: ignore[attr-defined]
    except UnicodeDecodeError:
        return None


def _words(text: str) -> tuple[list[str], Callable[[int], str], Callable[[int], int]]:
    """Words standing in for tokens: compared without case or punctuation, and counted as the
    tokens their UTF-8 bytes make at about 4 bytes a token (what Moonshine averages on
    English), so the rate cap still sees a run of symbols with no spaces in it."""
    words = text.split()
    keys = ["".join(c for c in w.lower() if c.isalnum()) or w for w in words]
    sizes = [max(1, math.ceil(len(w.encode("utf-8")) / 4)) for w in words]

    def text_of(k: int) -> str:
        return text if k >= len(words) else " ".join(words[:k])

    def count(k: int) -> int:
        return sum(sizes[:k])

    return keys, text_of, count
