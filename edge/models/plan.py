"""Resolve a language pair to installed models, or say exactly what to install."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LanguageError, ModelError
from ..tts.espeak_tts import espeak_voice
from .catalog import CatalogEntry, to_flores
from .memory import estimated_ram_mb
from .store import InstalledModel, ModelStore

ENGLISH = "eng_Latn"
PREFERENCES = ("auto", "cascade", "direct")


@dataclass
class PipelinePlan:
    mode: str  # cascade | direct | transcribe-only
    source: str  # FLORES-200
    target: str
    vad: InstalledModel | None = None  # None: the engine uses the Silero VAD it ships
    asr: InstalledModel | None = None
    mt: InstalledModel | None = None
    tts: InstalledModel | None = None
    direct: InstalledModel | None = None  # Whisper translating speech straight to English
    # "espeak": no Piper voice for the target is installed and espeak-ng speaks it instead.
    tts_fallback: str | None = None

    @property
    def models(self) -> list[InstalledModel]:
        chosen = (self.vad, self.asr, self.mt, self.tts, self.direct)
        return [m for m in chosen if m is not None]


def _lightest(models: list[InstalledModel]) -> list[InstalledModel]:
    return sorted(models, key=lambda m: estimated_ram_mb(m)[0])


def _asr_order(model: InstalledModel) -> tuple[int, int, float]:
    # Streaming models give partials and endpoints; among segment models a dedicated
    # recognizer beats a multilingual Whisper that is also a speech translator (slower).
    return (
        0 if model.has_kind("asr-streaming") else 1,
        1 if model.has_kind("direct-st") else 0,
        estimated_ram_mb(model)[0],
    )


def _pick_asr(store: ModelStore, language: str) -> InstalledModel | None:
    found = store.find("asr-streaming", language) + store.find("asr-segment", language)
    unique = {m.id: m for m in found}
    return min(unique.values(), key=_asr_order) if unique else None


def _pick_mt(store: ModelStore, source: str, target: str) -> InstalledModel | None:
    pairs = [m for m in store.find("mt", source) if m.translates(source, target)]
    # A dedicated pair (OPUS-MT) is smaller and faster than a many-to-many model (NLLB).
    return min(pairs, key=lambda m: (len(m.languages), estimated_ram_mb(m)[0]), default=None)


def _catalog_choice(
    store: ModelStore, kinds: tuple[str, ...], *languages: str
) -> CatalogEntry | None:
    entries = [
        e
        for kind in kinds
        for e in store.catalog.covering(kind, *languages)
        if kind != "mt" or e.translates(*languages)
    ]
    return min(entries, key=lambda e: estimated_ram_mb(e)[0], default=None)


def _missing(store: ModelStore, what: str, kinds: tuple[str, ...], *languages: str) -> ModelError:
    pair = " to ".join(languages)
    entry = _catalog_choice(store, kinds, *languages)
    if entry is None:
        return LanguageError(
            f"no installed model {what} {pair}, and no catalog model covers it",
            "import one you have: edge models import PATH --id ID",
        )
    return ModelError(
        f"no installed model {what} {pair}",
        f"run: edge models pull {entry.id}  (or edge models import PATH)",
    )


def plan_transcription(lang: str, store: ModelStore) -> PipelinePlan:
    language = to_flores(lang)
    asr = _pick_asr(store, language)
    if asr is None:
        raise _missing(store, "recognizes", ("asr-streaming", "asr-segment"), language)
    vad = next(iter(store.find("vad")), None)
    return PipelinePlan("transcribe-only", language, language, vad=vad, asr=asr)


def plan_pipeline(
    source: str,
    target: str,
    store: ModelStore,
    *,
    prefer: str = "auto",
    espeak_fallback: bool = False,
) -> PipelinePlan:
    """Choose installed models to translate speech from ``source`` to ``target``.

    ``prefer="direct"`` asks for Whisper's speech translation (target English only);
    ``"cascade"`` for ASR + MT; ``"auto"`` takes the cascade when an MT model covers the
    pair and falls back to direct translation into English. With ``espeak_fallback``, a
    target no installed Piper voice speaks gets ``tts_fallback="espeak"`` when espeak-ng
    has the language, instead of the error naming the voice to pull.
    """
    if prefer not in PREFERENCES:
        raise ModelError(f"unknown preference {prefer!r}", f"use one of {', '.join(PREFERENCES)}")
    src, tgt = to_flores(source), to_flores(target)
    if src == tgt:
        return plan_transcription(src, store)
    vad = next(iter(store.find("vad")), None)
    direct = _lightest(store.find("direct-st", src))[:1] if tgt == ENGLISH else []
    if prefer == "direct":
        if tgt != ENGLISH:
            raise LanguageError(
                f"direct speech translation only produces English, not {tgt}",
                "use --prefer cascade (speech recognition + text translation)",
            )
        if not direct:
            raise _missing(store, "translates speech from", ("direct-st",), src)
        plan = PipelinePlan("direct", src, tgt, vad=vad, direct=direct[0])
    else:
        mt = _pick_mt(store, src, tgt)
        asr = _pick_asr(store, src)
        if mt is not None and asr is not None:
            plan = PipelinePlan("cascade", src, tgt, vad=vad, asr=asr, mt=mt)
        elif direct and prefer == "auto":
            plan = PipelinePlan("direct", src, tgt, vad=vad, direct=direct[0])
        elif asr is None:
            raise _missing(store, "recognizes", ("asr-streaming", "asr-segment"), src)
        else:
            raise _missing(store, "translates", ("mt",), src, tgt)
    voices = _lightest(store.find("tts", tgt))
    if voices:
        plan.tts = voices[0]
    elif espeak_fallback and espeak_voice(tgt) is not None:
        plan.tts_fallback = "espeak"
    else:
        raise _missing(store, "speaks", ("tts",), tgt)
    return plan
