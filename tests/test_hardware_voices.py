"""VoicePool: voices load on first use, unload when idle or over a memory budget."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.errors import LanguageError
from edge.translator import RuntimeOptions
from edge.voices import VoicePool


class FakeVoice:
    sample_rate = 16000

    def __init__(self, language: str) -> None:
        self.language = language

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        yield np.zeros(160, np.float32)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pool(**kwargs: object) -> tuple[VoicePool, list[str], Clock]:
    loads: list[str] = []
    clock = Clock()

    def load(lang: str) -> FakeVoice:
        loads.append(lang)
        return FakeVoice(lang)

    return VoicePool(load, clock=clock, **kwargs), loads, clock  # type: ignore[arg-type]


def test_loads_on_first_use_only() -> None:
    voices, loads, _ = pool()
    assert voices.loaded == ()
    first = voices.get("es")
    assert voices.get("spa_Latn") is first
    assert loads == ["spa_Latn"] and voices.loaded == ("spa_Latn",)


def test_idle_voices_are_unloaded_and_freed() -> None:
    voices, loads, clock = pool(idle_s=60)
    spanish = weakref.ref(voices.get("es"))
    clock.now = 30
    voices.get("en")
    clock.now = 70  # Spanish idle for 70 s, English for 40 s
    assert voices.sweep() == ["spa_Latn"]
    gc.collect()
    assert spanish() is None
    assert voices.loaded == ("eng_Latn",)
    clock.now = 200  # the voice being asked for is never the one dropped
    voices.get("en")
    assert voices.loaded == ("eng_Latn",) and loads == ["spa_Latn", "eng_Latn"]


def test_budget_drops_least_recently_used() -> None:
    sizes = {"spa_Latn": 80.0, "eng_Latn": 60.0, "deu_Latn": 70.0}
    voices, loads, clock = pool(idle_s=None, budget_mb=150, size_mb=sizes.__getitem__)
    voices.get("es")
    clock.now = 1
    voices.get("en")
    clock.now = 2
    voices.get("es")  # Spanish is now the most recently used
    voices.get("de")  # 80 + 60 + 70 > 150: English goes
    assert set(voices.loaded) == {"spa_Latn", "deu_Latn"}
    assert loads == ["spa_Latn", "eng_Latn", "deu_Latn"]


def test_a_voice_larger_than_the_budget_still_loads() -> None:
    voices, _, _ = pool(budget_mb=10, size_mb=lambda lang: 50.0)
    voices.get("es")
    voices.get("en")
    assert voices.loaded == ("eng_Latn",)


def test_unload_and_close() -> None:
    voices, _, _ = pool()
    voices.get("es")
    assert voices.unload("es") and not voices.unload("es")
    voices.get("en")
    voices.close()
    assert voices.loaded == ()


def test_from_store_loads_installed_voices(store, joe_dir: Path) -> None:  # noqa: ANN001
    voices = VoicePool.from_store(store, RuntimeOptions(device="cpu", tts_threads=1))
    voice = voices.get("en")
    assert voice.language == "eng_Latn" and next(iter(voice.synthesize("Hi."))).size > 0
    with pytest.raises(LanguageError, match="no voice for"):
        voices.get("yor_Latn")


def test_from_store_with_explicit_voice_dirs(store, joe_dir: Path) -> None:  # noqa: ANN001
    voices = VoicePool.from_store(store, RuntimeOptions(device="cpu"), voices={"en": joe_dir})
    assert voices.get("eng_Latn").sample_rate == 22050
