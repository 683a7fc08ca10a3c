"""espeak-ng voices: speech in about 100 languages, used where no Piper voice is installed.

espeak-ng is a formant synthesizer: intelligible and clearly robotic, with no model to
download. The pipeline speaks with it only when no Piper voice for the target language is
installed (:func:`fallback_voice`, used by ``edge.translator`` and ``edge.voices``), and says
once which Piper voice would sound natural.

The library and its data come from the ``espeakng-loader`` wheel and are driven through
ctypes in synchronous mode: ``espeak_Synth`` returns once the text is spoken, and a callback
collects the 16-bit samples. The C API holds one voice, one set of parameters and one
callback per process and is not thread-safe, so every call into it runs under one module
lock and each synthesis sets the voice and rate it needs.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import LanguageError, ModelError
from ..languages import FLORES200_CODES, language_name, to_flores, to_iso639_1
from ..text import split_sentences

if TYPE_CHECKING:
    from ..models.catalog import Catalog

log = logging.getLogger(__name__)

# ``--tts espeak`` (``SpeechTranslator.load(tts="espeak")``) forces this backend.
ESPEAK = "espeak"
DEFAULT_RATE_WPM = 175  # espeakRATE_NORMAL
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450  # espeakRATE_MINIMUM, espeakRATE_MAXIMUM

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE = 1
_EE_OK = 0

# Voices chosen by hand where espeak-ng's own default for the language is not the variety
# translations are written in or the catalog's Piper voices speak (en -> British, pt ->
# European). Its Mandarin voice also reads Traditional characters.
_PREFERRED = {"eng_Latn": "gmw/en-US", "por_Latn": "roa/pt-BR", "zho_Hant": "sit/cmn"}
# espeak-ng reads Japanese kana only and spells kanji out letter by letter; translations are
# mostly kanji, so no voice is better than that one.
_UNUSABLE = frozenset({"jpn_Jpan"})
# Appended to every language file of the private data copy (see _private_data). Pitch
# flutter and the roughness modulation follow counters that the library never resets
# between syntheses, so with them the same text sounds slightly different each time; without
# them the same text always gives the same samples, whatever was spoken before.
_STEADY = "\n// edge: reproducible output\nflutter 0\nroughness 8\n"

_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _VoiceInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, name, NUL)... then a NUL
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@dataclass
class _Engine:
    """The process's one espeak-ng instance; used only under ``_LOCK``."""

    lib: ctypes.CDLL
    sample_rate: int
    voices: dict[str, str]  # FLORES-200 code -> espeak-ng voice identifier
    steady: bool  # the reproducible private data copy is in use (_private_data)
    callback: object = None  # kept referenced: the library holds a pointer to it
    chunks: list[np.ndarray] = field(default_factory=list)
    current: tuple[str, int] | None = None  # (voice, rate) the library is set to


_LOCK = threading.Lock()
_engine: _Engine | None = None
_engine_error: ModelError | None = None
_warned: set[str] = set()


def _private_data(source: Path) -> Path:
    """A copy of espeak-ng-data whose language files make the output reproducible (_STEADY).

    Dictionaries and phoneme tables are symlinked; only the small language files are copied.
    Removed at exit. On failure (no symlinks, no temp space) the packaged data is used as is.
    """
    root = Path(tempfile.mkdtemp(prefix="edge-espeak-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    for entry in source.iterdir():
        if entry.name != "lang":
            (root / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for file in (source / "lang").rglob("*"):
        if file.is_file():
            copy = root / "lang" / file.relative_to(source / "lang")
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(file.read_bytes() + _STEADY.encode())
    return root


def _load_engine() -> _Engine:
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        source = Path(espeakng_loader.get_data_path())
    except (ImportError, OSError, RuntimeError) as exc:
        raise ModelError(
            f"cannot load espeak-ng: {exc}",
            "pip install espeakng-loader (wheels for x86_64 and aarch64)",
        ) from None
    try:
        data, steady = _private_data(source), True
    except OSError as exc:
        log.debug("espeak-ng: using its data as packaged (%s): output varies run to run", exc)
        data, steady = source, False
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceInfo))
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    rate = _initialize(lib, data)
    if rate <= 0 and steady:  # e.g. a temp path longer than espeak-ng accepts
        data, steady = source, False
        rate = _initialize(lib, data)
    if rate <= 0:
        raise ModelError(
            f"espeak-ng failed to initialize with its data in {data}",
            "reinstall espeakng-loader: pip install --force-reinstall espeakng-loader",
        )
    engine = _Engine(lib, rate, _voice_table(_list_voices(lib)), steady)

    def collect(samples, count, _events):  # noqa: ANN001, ANN202
        if samples and count > 0:
            engine.chunks.append(np.ctypeslib.as_array(samples, (count,)).copy())
        return 0  # 0: continue synthesis

    engine.callback = _SynthCallback(collect)
    lib.espeak_SetSynthCallback(engine.callback)
    return engine


def _initialize(lib: ctypes.CDLL, data: Path) -> int:
    """espeak_Initialize: the sample rate, or a negative error code."""
    return lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(data), _INITIALIZE_DONT_EXIT
    )


def _list_voices(lib: ctypes.CDLL) -> list[tuple[str, list[tuple[int, str]]]]:
    """(identifier, [(priority, language code), ...]) of every voice espeak-ng lists."""
    voices = []
    array = lib.espeak_ListVoices(None)
    for i in range(1000):
        if not array[i]:
            break
        info = array[i].contents
        languages = []
        address = info.languages
        while (priority := ctypes.c_ubyte.from_address(address).value) != 0:
            code = ctypes.string_at(address + 1)
            languages.append((priority, code.decode("ascii", "replace")))
            address += len(code) + 2
        voices.append((info.identifier.decode("ascii", "replace"), languages))
    return voices


def _voice_table(voices: list[tuple[str, list[tuple[int, str]]]]) -> dict[str, str]:
    """FLORES-200 code -> espeak-ng voice, for every language some voice speaks."""
    ranked: dict[str, tuple[tuple[int, int, int, str], str]] = {}
    for identifier, languages in voices:
        for priority, code in languages:
            try:
                flores = to_flores(code)
            except LanguageError:
                continue  # a language NLLB does not translate into (Klingon, Latin, ...)
            # A bare code beats a regional one (ru before ru-lv), then espeak-ng's priority.
            rank = (code.count("-"), priority, len(identifier), identifier)
            if flores not in ranked or rank < ranked[flores][0]:
                ranked[flores] = (rank, identifier)
    table = {flores: identifier for flores, (_, identifier) in ranked.items()}
    identifiers = {identifier for identifier, _ in voices}
    table.update({f: v for f, v in _PREFERRED.items() if v in identifiers})
    # Varieties of a language with a voice, in the same script (Egyptian Arabic -> ar, Dari ->
    # fa); a voice for another script would read nothing (Sorani in Arabic script -> ku).
    by_iso = {iso: f for f in table if (iso := to_iso639_1(f)) and to_flores(iso) == f}
    for flores in FLORES200_CODES:
        iso = to_iso639_1(flores)
        base = by_iso.get(iso) if iso else None
        if flores not in table and base and base.split("_")[1] == flores.split("_")[1]:
            table[flores] = table[base]
    return {f: v for f, v in sorted(table.items()) if f not in _UNUSABLE}


def _get_engine() -> _Engine:
    """The initialized library; call with ``_LOCK`` held."""
    global _engine, _engine_error
    if _engine is None:
        if _engine_error is not None:
            raise _engine_error
        try:
            _engine = _load_engine()
        except ModelError as exc:
            _engine_error = exc
            raise
    return _engine


def espeak_voices() -> dict[str, str]:
    """FLORES-200 code -> espeak-ng voice identifier, for every language espeak-ng speaks.

    Raises ModelError when the library cannot be loaded.
    """
    with _LOCK:
        return dict(_get_engine().voices)


def espeak_voice(language: str) -> str | None:
    """The espeak-ng voice for a language, or None (also when espeak-ng cannot be loaded)."""
    try:
        flores = to_flores(language)
        return espeak_voices().get(flores)
    except (LanguageError, ModelError):
        return None


class EspeakTTS:
    """An espeak-ng voice for one language; yields one chunk per sentence.

    Deterministic: the same text gives the same samples (see ``_STEADY``). Synthesis takes
    about a thousandth of real time on one core but is serialized: the library is
    process-global, so two voices never synthesize at once.
    """

    def __init__(self, language: str, voice: str, sample_rate: int, rate_wpm: int) -> None:
        self.language = language
        self.voice = voice  # espeak-ng voice identifier, e.g. roa/pt-BR
        self.sample_rate = sample_rate
        self.rate_wpm = rate_wpm

    @classmethod
    def load(
        cls,
        language: str,
        *,
        rate_wpm: int | None = None,
        length_scale: float | None = None,
    ) -> EspeakTTS:
        """The espeak-ng voice for ``language`` (any code ``edge.languages.to_flores`` takes).

        ``rate_wpm`` is the speaking rate in words per minute (80-450; default 175);
        ``length_scale`` sets it Piper's way instead (1.0 normal, 1.25 slower, 0.8 faster).
        Raises LanguageError when espeak-ng has no voice for the language and ModelError
        when the library cannot be loaded.
        """
        flores = to_flores(language)
        if rate_wpm is None:
            rate_wpm = round(DEFAULT_RATE_WPM / (length_scale or 1.0))
        if not MIN_RATE_WPM <= rate_wpm <= MAX_RATE_WPM:
            raise ValueError(f"rate {rate_wpm} wpm is outside {MIN_RATE_WPM}-{MAX_RATE_WPM}")
        with _LOCK:
            engine = _get_engine()
        voice = engine.voices.get(flores)
        if voice is None:
            raise LanguageError(
                f"espeak-ng has no voice for {language_name(flores)} ({flores})",
                "install a Piper voice for it: edge models list, then edge models pull ID",
            )
        return cls(flores, voice, engine.sample_rate, rate_wpm)

    def synthesize(self, text: str) -> Iterator[np.ndarray]:
        """Yield float32 mono audio at ``sample_rate``, one chunk per sentence.

        The lock is held per sentence, not across yields: a slow consumer never blocks
        other voices. Text without letters or digits yields nothing.
        """
        for sentence in split_sentences(text.replace("\0", " ")):
            if any(c.isalnum() for c in sentence):
                samples = self._speak(sentence)
                if samples.size:
                    yield samples

    speakers: tuple[int | None, ...] = (None,)

    def synthesize_at(
        self, text: str, *, speed: float = 1.0, speaker: int | None = None
    ) -> Iterator[np.ndarray]:
        """``synthesize`` at ``speed`` times the voice's rate (voice matching)."""
        rate = int(np.clip(round(self.rate_wpm * speed), MIN_RATE_WPM, MAX_RATE_WPM))
        for sentence in split_sentences(text.replace("\0", " ")):
            if any(c.isalnum() for c in sentence):
                samples = self._speak(sentence, rate)
                if samples.size:
                    yield samples

    def _speak(self, sentence: str, rate_wpm: int | None = None) -> np.ndarray:
        data = sentence.encode("utf-8") + b"\0"
        rate_wpm = self.rate_wpm if rate_wpm is None else rate_wpm
        with _LOCK:
            engine = _get_engine()
            lib = engine.lib
            if engine.current != (self.voice, rate_wpm):
                # Switching voices reloads a dictionary: done only when it changes.
                if lib.espeak_SetVoiceByName(self.voice.encode()) != _EE_OK:
                    engine.current = None
                    raise ModelError(
                        f"espeak-ng cannot load its voice {self.voice}",
                        "reinstall espeakng-loader: pip install --force-reinstall espeakng-loader",
                    )
                lib.espeak_SetParameter(_RATE, rate_wpm, 0)
                engine.current = (self.voice, rate_wpm)
            if hasattr(lib, "espeak_ng_SetRandSeed"):
                # Breath and noise sources draw from espeak-ng's own generator.
                lib.espeak_ng_SetRandSeed(ctypes.c_long(1))
            engine.chunks.clear()
            status = lib.espeak_Synth(
                data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            chunks, engine.chunks = engine.chunks, []
        if status != _EE_OK:
            raise ModelError(f"espeak-ng failed to speak (status {status})", "report this text")
        if not chunks:
            return np.zeros(0, np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0


def _piper_suggestion(catalog: Catalog, language: str) -> str | None:
    """The id of the catalog's lightest Piper voice for ``language``, if it has one."""
    from ..models.memory import estimated_ram_mb

    voices = [e for e in catalog.covering("tts", language) if e.backend == "piper"]
    return min(voices, key=lambda e: estimated_ram_mb(e)[0]).id if voices else None


def fallback_voice(
    language: str, catalog: Catalog | None = None, *, rate_wpm: int | None = None
) -> EspeakTTS:
    """The espeak-ng voice to use when no Piper voice for ``language`` is installed.

    Logs one warning per language per process naming the catalog's Piper voice to pull
    (from ``catalog``, else the built-in catalog). Raises like :meth:`EspeakTTS.load`.
    """
    voice = EspeakTTS.load(language, rate_wpm=rate_wpm)
    with _LOCK:
        first = voice.language not in _warned
        _warned.add(voice.language)
    if first:
        log.warning("%s", fallback_message(voice.language, catalog))
    return voice


def fallback_message(language: str, catalog: Catalog | None = None) -> str:
    """The one line that says espeak-ng speaks ``language`` and what would sound natural."""
    if catalog is None:
        from ..models.catalog import Catalog

        catalog = Catalog.load()
    flores = to_flores(language)
    name = language_name(flores)
    suggestion = _piper_suggestion(catalog, flores)
    if suggestion is None:
        return f"no Piper voice exists for {name}: speaking with espeak-ng (robotic)"
    return (
        f"no Piper voice for {name} is installed: speaking with espeak-ng (robotic); "
        f"for a natural voice: edge models pull {suggestion}"
    )
