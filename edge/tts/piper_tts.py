"""Piper voices through piper-tts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from ..asr.model_files import pick_file, require_dir
from ..errors import ModelError
from ..hardware import ort_session, ort_session_options
from ..languages import to_flores
from ..models.record import read_record


class PiperTTS:
    """A Piper voice; synthesizes sentence by sentence and yields each as soon as it is ready."""

    def __init__(self, voice: PiperVoice, language: str, config: SynthesisConfig) -> None:
        self._voice = voice
        self.language = language
        self.sample_rate = int(voice.config.sample_rate)
        self._config = config

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        *,
        use_cuda: bool = False,
        length_scale: float | None = None,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
        speaker_id: int | None = None,
        volume: float = 1.0,
        num_threads: int = 0,
        memory_arena: bool = True,
    ) -> PiperTTS:
        """Load a voice directory (or its .onnx file).

        ``num_threads`` are onnxruntime's intra-op threads (0: its default, one per core).
        ``noise_scale`` and ``noise_w_scale`` (None: the voice's own) set Piper's randomness
        in timbre and timing; 0 and 0 make synthesis deterministic, the same audio for the
        same text (reproducible tests, cacheable prompts) at the cost of flatter prosody.
        Without the CPU memory arena the synthesis buffers of a long sentence are freed after
        it instead of staying resident, at a cost in speed (docs/hardware.md).
        """
        path = Path(model_dir)
        if path.is_file() and path.suffix == ".onnx":
            model, directory = path, path.parent
        else:
            directory = require_dir(path)
            record = read_record(directory)
            options = record.options if record is not None else {}
            model = pick_file(directory, options.get("model"), ("*.onnx",), "Piper voice (.onnx)")
        config_path = model.with_name(model.name + ".json")
        if not config_path.is_file():
            raise ModelError(
                f"Piper voice config missing: {config_path}",
                "download the .onnx.json file that belongs to the voice",
            )
        try:
            voice_config = json.loads(config_path.read_text(encoding="utf-8"))
            options = ort_session_options(num_threads, memory_arena=memory_arena)
            session = ort_session(str(model), "cuda" if use_cuda else "cpu", options)
            voice = PiperVoice(config=PiperConfig.from_dict(voice_config), session=session)
        except Exception as exc:  # onnxruntime raises several unrelated types
            raise ModelError(
                f"cannot load Piper voice {model}: {exc}", "re-download the voice"
            ) from None
        language = to_flores(_voice_language(voice_config, directory))
        config = SynthesisConfig(
            speaker_id=speaker_id,
            length_scale=length_scale,
            noise_scale=noise_scale,
            noise_w_scale=noise_w_scale,
            volume=volume,
        )
        return cls(voice, language, config)

    def with_noise(self, noise_scale: float, noise_w_scale: float) -> PiperTTS:
        """This voice (the same loaded model) with Piper's randomness set; 0 and 0: the same
        audio for the same text every time."""
        config = dataclasses.replace(
            self._config, noise_scale=noise_scale, noise_w_scale=noise_w_scale
        )
        return PiperTTS(self._voice, self.language, config)

    @property
    def speakers(self) -> tuple[int | None, ...]:
        """The speaker ids voice matching may choose from (None: the voice's only one)."""
        count = int(getattr(self._voice.config, "num_speakers", 1) or 1)
        return tuple(range(count)) if count > 1 else (None,)

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        for chunk in self._voice.synthesize(text, syn_config=self._config):
            yield chunk.audio_float_array.astype(np.float32, copy=False)

    def synthesize_at(
        self, text: str, *, speed: float = 1.0, speaker: int | None = None
    ) -> Iterator[np.ndarray]:
        """``synthesize`` at ``speed`` times the configured rate (``length_scale`` divided by
        it), as ``speaker`` of a multi-speaker voice (None: the configured one)."""
        config = dataclasses.replace(
            self._config,
            length_scale=(self._config.length_scale or self._voice.config.length_scale) / speed,
            speaker_id=self._config.speaker_id if speaker is None else speaker,
        )
        for chunk in self._voice.synthesize(text, syn_config=config):
            yield chunk.audio_float_array.astype(np.float32, copy=False)


def _voice_language(voice_config: dict, directory: Path) -> str:
    language = voice_config.get("language", {})
    code = language.get("code") or voice_config.get("espeak", {}).get("voice")
    if not code:
        record = read_record(directory)
        meta_langs = record.languages if record is not None else ()
        if meta_langs:
            return str(meta_langs[0])
        raise ModelError(
            f"Piper voice in {directory} does not name its language", "use the voice's .onnx.json"
        )
    return str(code)
