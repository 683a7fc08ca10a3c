"""Offline speech-to-speech translation for edge devices."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["SpeechTranslator", "RuntimeOptions", "VadConfig", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `edge --help` and the model manager should not pay for loading the runtimes.
    if name in ("SpeechTranslator", "RuntimeOptions"):
        from . import translator

        return getattr(translator, name)
    if name == "VadConfig":
        from .vad import VadConfig

        return VadConfig
    raise AttributeError(name)
