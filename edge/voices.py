"""Voices loaded when first needed and unloaded when idle: two-way mode on little memory.

A two-way conversation speaks two languages, but often only one for minutes at a time;
each Piper voice holds 60-120 MB. ``VoicePool.get(lang)`` loads a voice on first use; voices
unused for ``idle_s`` seconds are dropped at the next ``get`` or ``sweep``, and loading one
that would take the pool over ``budget_mb`` first drops the least recently used others.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import LanguageError
from .languages import language_name, to_flores
from .tts.base import Voice
from .tts.espeak_tts import ESPEAK, espeak_voice

if TYPE_CHECKING:
    from .models import ModelStore
    from .translator import RuntimeOptions

log = logging.getLogger(__name__)

DEFAULT_IDLE_S = 300.0


class VoicePool:
    """Voices by FLORES-200 language, loaded lazily, unloaded when idle or over budget.

    ``load(lang)`` builds a voice; ``size_mb(lang)`` estimates its memory (for the budget).
    Safe to call from several threads; a load happens under the pool's lock.
    """

    def __init__(
        self,
        load: Callable[[str], Voice],
        *,
        size_mb: Callable[[str], float] | None = None,
        idle_s: float | None = DEFAULT_IDLE_S,
        budget_mb: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._size_mb = size_mb or (lambda _lang: 0.0)
        self.idle_s = idle_s
        self.budget_mb = budget_mb
        self._clock = clock
        self._lock = threading.Lock()
        # language -> (voice, its size, last use); least recently used first.
        self._voices: OrderedDict[str, tuple[Voice, float, float]] = OrderedDict()

    @classmethod
    def from_store(
        cls,
        store: ModelStore,
        options: RuntimeOptions,
        *,
        voices: Mapping[str, str | Path] | None = None,
        idle_s: float | None = DEFAULT_IDLE_S,
        budget_mb: float | None = None,
    ) -> VoicePool:
        """Installed Piper voices (``voices`` maps a language to a voice directory instead).

        A language without an installed Piper voice is spoken by espeak-ng where it has the
        language (warning once which Piper voice to pull); ``"espeak"`` in ``voices`` forces it.
        """
        from .models.memory import estimated_ram_mb
        from .translator import load_espeak, load_voice

        chosen = {to_flores(lang): Path(path) for lang, path in (voices or {}).items()}

        def installed(lang: str):  # noqa: ANN202
            found = sorted(store.find("tts", lang), key=lambda m: m.id)
            if found:
                return found[0]
            if espeak_voice(lang) is not None:
                return None  # espeak-ng stands in
            raise LanguageError(
                f"no voice for {language_name(lang)} ({lang}) is installed",
                "pull one: see edge models list, then edge models pull ID",
            )

        def load(lang: str) -> Voice:
            path = chosen.get(lang)
            if path is None:
                model = installed(lang)
                if model is None:
                    return load_espeak(lang, options, store.catalog)
                path = model.path
            elif str(path) == ESPEAK and not path.exists():
                return load_espeak(lang, options, fallback=False)
            return load_voice(path, options)

        def size(lang: str) -> float:
            model = None if lang in chosen else installed(lang)
            return estimated_ram_mb(model)[0] if model is not None else 0.0

        return cls(load, size_mb=size, idle_s=idle_s, budget_mb=budget_mb)

    @property
    def loaded(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._voices)

    def get(self, language: str) -> Voice:
        """The voice for ``language``, loading it (and making room for it) if needed."""
        lang = to_flores(language)
        with self._lock:
            now = self._clock()
            dropped = self._drop_idle(now, keep=lang)
            if lang in self._voices:
                voice, size, _ = self._voices.pop(lang)
            else:
                size = self._size_mb(lang)
                dropped += self._make_room(size)
                voice = self._load(lang)
                log.info("voice for %s loaded", lang)
            self._voices[lang] = (voice, size, now)
        if dropped:
            gc.collect()  # release the onnxruntime sessions now, not at some later cycle
        return voice

    def sweep(self) -> list[str]:
        """Unload voices idle for longer than ``idle_s``; returns their languages."""
        with self._lock:
            dropped = self._drop_idle(self._clock())
        if dropped:
            gc.collect()
        return dropped

    def unload(self, language: str) -> bool:
        with self._lock:
            found = self._voices.pop(to_flores(language), None) is not None
        if found:
            gc.collect()
        return found

    def close(self) -> None:
        with self._lock:
            self._voices.clear()
        gc.collect()

    def _drop_idle(self, now: float, keep: str | None = None) -> list[str]:
        if self.idle_s is None:
            return []
        idle = [
            lang
            for lang, (_, _, used) in self._voices.items()
            if lang != keep and now - used >= self.idle_s
        ]
        for lang in idle:
            del self._voices[lang]
            log.info("voice for %s unloaded after %.0f s idle", lang, self.idle_s)
        return idle

    def _make_room(self, size: float) -> list[str]:
        if self.budget_mb is None:
            return []
        dropped = []
        while self._voices and sum(s for _, s, _ in self._voices.values()) + size > self.budget_mb:
            lang, _ = self._voices.popitem(last=False)
            dropped.append(lang)
            log.info("voice for %s unloaded to stay within %.0f MB", lang, self.budget_mb)
        return dropped
