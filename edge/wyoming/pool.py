"""The models a server serves: found among the installed ones, loaded once, shared.

Voices are the installed Piper voices and, for each language a served translation model
translates into that no served Piper voice speaks, an espeak-ng voice (``espeak-ng-por_Latn``):
robotic, but it lets a translator pipeline speak every target language it can produce.

Each model runs one call at a time (its own ``asyncio.Lock``: onnxruntime, sherpa-onnx and
CTranslate2 objects are not all safe to call from several threads, and on a small CPU two
calls at once are no faster than one after the other). Calls run in a thread executor, so
the event loop keeps reading and writing other clients' events while a model works.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import EdgeError, LanguageError, ModelError
from ..languages import language_name, to_flores
from ..models import ModelStore
from ..models.store import InstalledModel
from .config import ServerConfig

T = TypeVar("T")
log = logging.getLogger(__name__)

ASR_KINDS = ("asr-streaming", "asr-segment")
ESPEAK_PREFIX = "espeak-ng-"  # + FLORES-200 code: the id of an espeak-ng voice
ESPEAK_BACKEND = "espeak-ng"
ESPEAK_LICENSE = "GPL-3.0-or-later"  # espeak-ng's (README: Licenses)
ESPEAK_URL = "https://github.com/espeak-ng/espeak-ng"


@dataclass
class Served:
    """One served model: its installed record and, once loaded, the model itself."""

    record: InstalledModel
    role: str  # "asr", "tts" or "mt"
    instance: Any = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def streaming(self) -> bool:
        return self.record.has_kind("asr-streaming")

    @property
    def espeak(self) -> bool:
        return self.record.backend == ESPEAK_BACKEND


def mt_pairs(model: InstalledModel) -> list[tuple[str, str]]:
    """(source, target) FLORES pairs an MT model translates."""
    if model.directions:
        return [tuple(d.split(">", 1)) for d in model.directions]  # type: ignore[misc]
    return [(s, t) for s in model.languages for t in model.languages if s != t]


def espeak_record(flores: str, voice: str) -> InstalledModel:
    """An espeak-ng voice as a served model: nothing on disk, the library speaks it."""
    return InstalledModel(
        id=ESPEAK_PREFIX + flores,
        kind="tts",
        backend=ESPEAK_BACKEND,
        languages=(flores,),
        path=Path(),
        license=ESPEAK_LICENSE,
        non_commercial=False,
        options={"voice": voice},
        name=f"espeak-ng {language_name(flores)} ({voice})",
        source="the espeakng-loader wheel",
    )


def _espeak_voices(
    wanted: tuple[str, ...], piper: list[InstalledModel], mt: list[InstalledModel]
) -> list[InstalledModel]:
    """The espeak-ng voices to serve: those named in ``wanted`` (``espeak-ng-<code>``), or,
    with nothing wanted, one for each language ``mt`` translates into that no ``piper`` voice
    speaks and espeak-ng does."""
    from ..tts.espeak_tts import espeak_voices

    if wanted:
        named = [v for v in wanted if v.startswith(ESPEAK_PREFIX)]
        if not named:
            return []
        try:
            languages = [to_flores(v.removeprefix(ESPEAK_PREFIX)) for v in named]
        except LanguageError as exc:
            raise EdgeError(
                f"bad espeak-ng voice in --voice: {exc}",
                "name it espeak-ng-LANG, e.g. espeak-ng-pt",
            ) from None
        voices = espeak_voices()  # raises ModelError when espeak-ng cannot be loaded
        for name, flores in zip(named, languages, strict=True):
            if flores not in voices:
                raise ModelError(
                    f"espeak-ng has no voice for {language_name(flores)} ({name})",
                    "install a Piper voice for it: edge models list, then edge models pull ID",
                )
    else:
        into = {b for m in mt for _a, b in mt_pairs(m)}
        languages = sorted(lang for lang in into if not any(p.covers(lang) for p in piper))
        if not languages:
            return []
        try:
            voices = espeak_voices()
        except ModelError as exc:
            log.warning("no espeak-ng voices: %s", exc)
            return []
    return [espeak_record(f, voices[f]) for f in dict.fromkeys(languages) if f in voices]


def _pick(
    installed: list[InstalledModel],
    wanted: tuple[str, ...],
    role: str,
    test: Callable[[InstalledModel], bool],
) -> list[InstalledModel]:
    fitting = [m for m in installed if test(m)]
    if not wanted:
        return fitting
    by_id = {m.id: m for m in fitting}
    installed_ids = {m.id for m in installed}
    for model_id in wanted:
        if model_id not in by_id:
            if model_id in installed_ids:
                raise EdgeError(
                    f"model {model_id} is not a {role} model",
                    f"pick a {role} model: {', '.join(by_id) or 'none installed'}",
                )
            raise ModelError(
                f"model '{model_id}' is not installed", f"run: edge models pull {model_id}"
            )
    return [by_id[i] for i in dict.fromkeys(wanted)]


def _asr_order(model: InstalledModel) -> tuple[int, int, float]:
    # Streaming first (partial transcripts), then a dedicated recognizer before a
    # multilingual Whisper that is also a speech translator (slower), then the lighter.
    return (
        0 if model.has_kind("asr-streaming") else 1,
        1 if model.has_kind("direct-st") else 0,
        model.ram_mb if model.ram_mb is not None else float("inf"),
    )


class ModelPool:
    """The served models of one server, by role, and the executor their calls run in."""

    def __init__(
        self,
        config: ServerConfig,
        store: ModelStore | None = None,
        loaded: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.store = store or ModelStore(config.models_dir)
        installed = self.store.installed()
        asr = _pick(
            installed,
            config.asr,
            "speech recognition",
            lambda m: any(m.has_kind(k) for k in ASR_KINDS),
        )
        self.asr = [Served(m, "asr") for m in sorted(asr, key=_asr_order)]
        self.mt = [
            Served(m, "mt") for m in _pick(installed, config.mt, "mt", lambda m: m.has_kind("mt"))
        ]
        piper_wanted = tuple(v for v in config.voices if not v.startswith(ESPEAK_PREFIX))
        piper = (
            _pick(installed, piper_wanted, "tts", lambda m: m.has_kind("tts"))
            if piper_wanted or not config.voices
            else []
        )
        espeak = _espeak_voices(config.voices, piper, [s.record for s in self.mt])
        self.tts = [Served(m, "tts") for m in [*piper, *espeak]]  # Piper first: it sounds natural
        if not (self.asr or self.tts or self.mt):
            raise ModelError(
                f"no speech recognition, voice or translation model is installed in {self.store.root}",
                "run: edge models pull demo  (or set --models-dir)",
            )
        for served in self.all():
            if loaded and served.id in loaded:
                served.instance = loaded[served.id]  # shared with the caller (tests, embedding)
        self.executor = ThreadPoolExecutor(config.workers, thread_name_prefix="edge-wyoming")
        self._vads: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def all(self) -> list[Served]:
        return [*self.asr, *self.tts, *self.mt]

    def find(self, role: str, model_id: str) -> Served | None:
        return next((s for s in getattr(self, role) if s.id == model_id), None)

    def _options(self) -> Any:
        from ..translator import RuntimeOptions

        threads = self.config.threads
        return RuntimeOptions(asr_threads=threads, mt_threads=threads, tts_threads=threads)

    def _load(self, served: Served) -> Any:
        from ..translator import load_mt, load_recognizer, load_voice

        if served.espeak:
            from ..tts.espeak_tts import EspeakTTS

            log.info("loading %s", served.id)
            return EspeakTTS.load(served.record.languages[0])
        loader = {"asr": load_recognizer, "tts": load_voice, "mt": load_mt}[served.role]
        log.info("loading %s", served.id)
        return loader(served.record.path, self._options())

    async def call(self, served: Served, work: Callable[[Any], T]) -> T:
        """``work(model)`` in the executor, one call per model at a time; loads on first use."""
        loop = asyncio.get_running_loop()
        async with served.lock:
            if served.instance is None:
                served.instance = await loop.run_in_executor(self.executor, self._load, served)
            return await loop.run_in_executor(self.executor, work, served.instance)

    async def run(self, work: Callable[[], T]) -> T:
        """Work that needs no shared model (per-request state), off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    async def preload(self) -> None:
        for served in self.all():
            await self.call(served, lambda _model: None)

    # Silero VAD instances keep recurrent state: each request borrows one of its own.
    def borrow_vad(self) -> Any:
        from ..vad import SileroVad

        try:
            vad = self._vads.get_nowait()
        except queue.Empty:
            vad = SileroVad()
        vad.reset()
        return vad

    def return_vad(self, vad: Any) -> None:
        self._vads.put(vad)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
