"""Models for a live session: one direction, or both directions of a conversation.

Models are loaded once per directory and shared: Whisper that identifies the language of a
conversation also recognizes the language it covers; swapping the direction of a one-way
session reuses whatever the new direction has in common with the old one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..asr.base import SAMPLE_RATE, StreamingRecognizer
from ..asr.whisper_ct2 import WhisperCT2
from ..engine import EngineConfig, Stages
from ..errors import ModelError
from ..languages import to_flores
from ..translator import (
    RuntimeOptions,
    SpeechTranslator,
    load_espeak,
    load_mt,
    load_recognizer,
    load_voice,
)
from ..tts.espeak_tts import ESPEAK
from .config import LiveConfig


def runtime_options(config: LiveConfig) -> RuntimeOptions:
    return RuntimeOptions(
        device=config.device,
        asr_threads=config.threads,
        mt_threads=config.threads,
        beam_size=config.beam_size,
    )


def engine_config(config: LiveConfig, source: str, target: str) -> EngineConfig:
    vad = config.vad_config()  # LiveConfig inherits VadConfig's settings by name
    vad.validate()
    return EngineConfig(
        source=source,
        target=target,
        vad=vad,
        partial_interval_s=config.partial_interval_s,
        first_phrase_words=config.first_phrase_words,
        voice_match=config.voice_match,
        segmentation=config.mode,
        ptt_pre_roll_s=config.ptt_pre_roll_s,
        ptt_tail_s=config.ptt_tail_s,
        languages=(source, target) if config.two_way else None,
        behind_s=0.5,
        join_timeout_s=0.5,
    )


class ModelLoader:
    """Builds ``Stages`` for a direction; every model directory is loaded at most once."""

    def __init__(self, config: LiveConfig) -> None:
        self.config = config
        self.options = runtime_options(config)
        self._loaded: dict[tuple[str, str], Any] = {}
        self._stages: dict[tuple[str, str], Stages] = {}

    def stages(self, source: str, target: str) -> Stages:
        """The models for ``source`` -> ``target``, loaded and warmed up on first use."""
        source, target = to_flores(source), to_flores(target)
        key = (source, target)
        if key not in self._stages:
            stages = self._two_way(source, target) if self.config.two_way else self._one_way(*key)
            warm_up(stages, source, target, two_way=self.config.two_way)
            self._stages[key] = stages
        return self._stages[key]

    def _cached(self, role: str, path: str | Path, load: Callable[[], Any]) -> Any:
        key = (role, str(Path(path).resolve()))
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    def _one_way(self, source: str, target: str) -> Stages:
        cfg = self.config
        asr, tts = _single(cfg.asr, source, "asr"), _single(cfg.tts, target, "tts")
        mt = cfg.mt[0] if isinstance(cfg.mt, list) and len(cfg.mt) == 1 else cfg.mt
        if isinstance(mt, list):
            raise ModelError("a one-way session takes one MT model", "pass one --mt DIR")
        explicit = asr is not None or cfg.direct is not None
        if not explicit:
            # Let the model store choose, exactly as `edge translate` does.
            planned = SpeechTranslator.load(
                source,
                target,
                mt=mt,
                tts=tts,
                options=self.options,
                models_dir=cfg.models_dir,
                prefer=cfg.prefer,
            )
            return planned.stages
        stages = Stages()
        if cfg.direct is not None:
            stages.direct = self._cached(
                "direct",
                cfg.direct,
                lambda: load_recognizer(cfg.direct, self.options, task="translate"),
            )
        else:
            assert asr is not None
            recognizer = self._recognizer(asr)
            if isinstance(recognizer, StreamingRecognizer) and not isinstance(
                recognizer, WhisperCT2
            ):
                stages.streaming_asr = recognizer
            else:
                stages.segment_asr = recognizer
        if mt is not None and cfg.direct is None and source != target:
            stages.mt = self._cached("mt", mt, lambda: load_mt(mt, self.options))
        if tts is not None:
            stages.tts = self._cached("tts", tts, lambda: load_voice(tts, self.options))
        return stages

    def _recognizer(self, path: str) -> Any:
        return self._cached("asr", path, lambda: load_recognizer(path, self.options))

    def _two_way(self, a: str, b: str) -> Stages:
        cfg = self.config
        from ..models import ModelStore
        from ..models.plan import plan_pipeline

        store = None
        stages = Stages()
        mts: list[Any] = []
        for source, target in ((a, b), (b, a)):
            asr = _per_language(cfg.asr, source)
            voice = _per_language(cfg.tts, target)
            mt_paths = [cfg.mt] if isinstance(cfg.mt, str) else list(cfg.mt or [])
            if asr is None or voice is None or not mt_paths:
                store = store or ModelStore(Path(cfg.models_dir) if cfg.models_dir else None)
                plan = plan_pipeline(source, target, store, prefer="cascade", espeak_fallback=True)
                asr = asr or (str(plan.asr.path) if plan.asr else None)
                voice = voice or (str(plan.tts.path) if plan.tts else plan.tts_fallback)
                if not mt_paths and plan.mt is not None:
                    mt_paths = [str(plan.mt.path)]
            if asr is None:
                raise ModelError(f"no speech recognition model for {source}", "pass --asr")
            recognizer = self._recognizer(asr)
            stages.recognizers[source] = recognizer
            if voice == ESPEAK:
                # No Piper voice speaks this side's language: espeak-ng does (one warning line).
                catalog = store.catalog if store is not None else None
                stages.voices[target] = self._cached(
                    "tts",
                    f"espeak:{target}",
                    lambda t=target, c=catalog: load_espeak(t, self.options, c),
                )
            elif voice is not None:
                stages.voices[target] = self._cached(
                    "tts", voice, lambda v=voice: load_voice(v, self.options)
                )
            for path in mt_paths:
                model = self._cached("mt", path, lambda p=path: load_mt(p, self.options))
                if all(model is not m for m in mts):
                    mts.append(model)
        if mts:
            stages.mt, stages.extra_mt = mts[0], tuple(mts[1:])
        stages.language_id = self._language_id(stages, store)
        return stages

    def _language_id(self, stages: Stages, store: Any) -> WhisperCT2:
        """A multilingual Whisper: the one given, one already loaded as ASR, or installed."""
        cfg = self.config
        if cfg.lid is not None:
            model = self._recognizer(cfg.lid)
        else:
            loaded = [r for r in stages.recognizers.values() if isinstance(r, WhisperCT2)]
            model = next((r for r in loaded if r.is_multilingual), None)
            if model is None:
                from ..models import ModelStore

                store = store or ModelStore(Path(cfg.models_dir) if cfg.models_dir else None)
                found = [m for m in store.find("direct-st")]
                if not found:
                    raise ModelError(
                        "a two-way conversation needs a multilingual Whisper for language ID",
                        "run: edge models pull whisper-base-ct2 (or pass --lid DIR)",
                    )
                model = self._recognizer(str(found[0].path))
        if not isinstance(model, WhisperCT2) or not model.is_multilingual:
            raise ModelError(
                f"{cfg.lid} cannot identify languages", "pass a multilingual Whisper model"
            )
        return model


def warm_up(stages: Stages, source: str, target: str, *, two_way: bool = False) -> None:
    """Run every model once: first calls allocate, and the first utterance should not wait."""
    directions = [(source, target), (target, source)] if two_way else [(source, target)]
    quiet = np.random.default_rng(0).normal(0, 1e-3, SAMPLE_RATE // 2).astype(np.float32)
    if stages.language_id is not None:
        stages.language_id.detect_language(quiet, (source, target))
    for src, tgt in directions:
        if stages.direct is not None:
            stages.direct.recognize(quiet, src)
        recognizer = stages.recognizer_for(src)
        if recognizer is not None:
            recognizer.recognize(quiet, src)
        mt = stages.mt_for(src, tgt) if src != tgt else None
        if mt is not None:
            mt.translate(["Hello."], src, tgt)
        voice = stages.voice_for(tgt)
        if voice is not None:
            for _chunk in voice.synthesize("Hello."):
                pass


def _single(value: str | dict[str, str] | None, lang: str, what: str) -> str | None:
    if isinstance(value, dict):
        found = _per_language(value, lang)
        if found is None:
            raise ModelError(f"no {what} model given for {lang}", f"add {lang} to [models.{what}]")
        return found
    return value


def _per_language(value: str | dict[str, str] | None, lang: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    for key, path in value.items():
        if to_flores(key) == lang:
            return path
    return None
