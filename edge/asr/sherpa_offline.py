"""Segment recognizers through sherpa-onnx's OfflineRecognizer: Moonshine, Whisper, SenseVoice.

These models decode a whole VAD segment at once; the engine can re-run them on the growing
segment for partial results.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sherpa_onnx

from ..errors import ModelError
from .base import SAMPLE_RATE, Recognition
from .model_files import pick_file, read_metadata, require_dir

BACKENDS = ("sherpa-moonshine", "sherpa-whisper", "sherpa-sense-voice")


def _detect_backend(model_dir: Path) -> str:
    names = {p.name for p in model_dir.iterdir()}
    if any("decoder_model_merged" in n for n in names) or any(n.endswith(".ort") for n in names):
        return "sherpa-moonshine"
    if any(n.endswith("-encoder.onnx") or n.endswith("-encoder.int8.onnx") for n in names):
        return "sherpa-whisper"
    if any(n.startswith("model") and n.endswith(".onnx") for n in names):
        return "sherpa-sense-voice"
    raise ModelError(
        f"{model_dir} is not a Moonshine, Whisper or SenseVoice model for sherpa-onnx",
        "check the directory, or name the backend in its edge_model.json",
    )


class SherpaSegmentRecognizer:
    """One sherpa-onnx offline model, loaded once, decoding one segment per call."""

    def __init__(
        self, recognizer: sherpa_onnx.OfflineRecognizer, backend: str, languages: tuple[str, ...]
    ):
        self._recognizer = recognizer
        self.backend = backend
        self.languages = languages

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        num_threads: int = 2,
        provider: str = "cpu",
        languages: tuple[str, ...] | None = None,
        prefer_int8: bool = True,
    ) -> SherpaSegmentRecognizer:
        path = require_dir(model_dir)
        meta = read_metadata(path)
        backend = meta.get("backend") or _detect_backend(path)
        files = {**meta.get("options", {}), **meta.get("files_by_role", {})}
        langs = tuple(languages or meta.get("languages") or ())
        onnx = ("*.int8.onnx", "*.onnx") if prefer_int8 else ("*.onnx",)
        tokens = str(pick_file(path, files.get("tokens"), ("tokens.txt", "*tokens.txt"), "tokens"))
        common = {"num_threads": num_threads, "provider": provider}
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
        return cls(recognizer, backend, langs)

    def recognize(self, audio: np.ndarray, lang: str | None = None) -> Recognition:
        stream = self._recognizer.create_stream()
        stream.accept_waveform(SAMPLE_RATE, audio.astype(np.float32, copy=False))
        self._recognizer.decode_stream(stream)
        text = stream.result.text.strip()
        detected = lang or (self.languages[0] if self.languages else "und")
        return Recognition(text=text, lang=detected)
