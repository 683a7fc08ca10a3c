"""Settings described once: a dataclass field with its help, bounds and TOML section.

A setting is a dataclass field made with :func:`setting`. Everything else about it is derived
from the field, so adding one is one edit:

* its **name** is the field name (``min_silence_s``), or ``name=`` where the field name alone
  is ambiguous outside its dataclass (``VadConfig.threshold`` is ``vad_threshold``);
* its **flag** is the name without a trailing ``_s`` (seconds), ``_`` -> ``-``
  (``--min-silence``), unless ``flag=`` says otherwise (``--from`` for ``source``);
* its **TOML key** is the field name in the table ``[section]`` (``[vad] min_silence_s``),
  unless ``key=`` says otherwise (``from`` at the top level);
* its **default** is the field's default, and nowhere else: flags default to "not given".

``edge.cli.options`` turns these fields into argparse option groups; ``edge.live.config``
turns them into the TOML tables of ``edge live --config``. Renamed settings keep working
under their old names through :func:`warn_renamed` (one warning line each).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Iterator, Sequence
from dataclasses import MISSING, Field, dataclass
from typing import Any

from .tts.chunking import FIRST_PHRASE_WORDS
from .voice_match import DEFAULT_MODE
from .voice_match import MODES as VOICE_MATCH_MODES


@dataclass(frozen=True)
class Bounds:
    """The values a numeric setting accepts: finite, from ``low`` to ``high``."""

    low: float | None = None
    high: float | None = None
    exclusive: bool = False  # low < value < high rather than low <= value <= high

    def problem(self, value: float) -> str | None:
        """Why ``value`` is refused ("must be 1 or more"), or None."""
        if not math.isfinite(value):
            return f"must be a finite number, {self.describe()}"
        low_bad = self.low is not None and (
            value <= self.low if self.exclusive else value < self.low
        )
        high_bad = self.high is not None and (
            value >= self.high if self.exclusive else value > self.high
        )
        return f"must be {self.describe()}" if low_bad or high_bad else None

    def describe(self) -> str:
        low, high = (_plain(v) if v is not None else None for v in (self.low, self.high))
        if low is not None and high is not None:
            return f"between {low} and {high}" + (" (exclusive)" if self.exclusive else "")
        if low is not None:
            return f"more than {low}" if self.exclusive else f"{low} or more"
        if high is not None:
            return f"less than {high}" if self.exclusive else f"{high} or less"
        return "a number"


THREADS = Bounds(1, 256)  # threads a stage may be given, wherever a flag sets them


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def setting(
    default: Any = MISSING,
    *,
    help: str,  # noqa: A002 - argparse's word, read by people adding settings
    section: str = "",
    bounds: Bounds | None = None,
    kind: type | None = None,
    metavar: str | None = None,
    choices: Sequence[str] | None = None,
    name: str | None = None,
    flag: str | None = None,
    key: str | None = None,
    default_factory: Any = MISSING,
) -> Any:
    """A dataclass field that is a user setting (see the module docstring for the rules).

    ``kind`` is the type a flag parses (``int``, ``float``, ``str``; ``bool`` makes a switch);
    it defaults to ``float`` for bounded settings and ``str`` otherwise.
    """
    metadata = {
        "help": help,
        "section": section,
        "bounds": bounds,
        "kind": kind or (float if bounds is not None else str),
        "metavar": metavar,
        "choices": tuple(choices) if choices is not None else None,
        "name": name,
        "flag": flag,
        "key": key,
    }
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def redefault(cls: type, field_name: str, default: Any) -> Any:
    """``cls``'s setting ``field_name`` with another default, for a dataclass that inherits it
    (``edge live`` waits longer for silence than ``edge translate``)."""
    original = next(f for f in dataclasses.fields(cls) if f.name == field_name)
    return dataclasses.field(default=default, metadata=original.metadata)


def settings(cls: type, section: str | None = None) -> Iterator[Field[Any]]:
    """The fields of dataclass ``cls`` that are settings, those of ``section`` if given."""
    for f in dataclasses.fields(cls):
        if "help" in f.metadata and (section is None or f.metadata["section"] == section):
            yield f


def label(f: Field[Any]) -> str:
    """The setting's name in messages: ``vad_threshold``, ``min_silence_s``."""
    return f.metadata.get("name") or f.name


def flag(f: Field[Any]) -> str:
    """The setting's command-line flag: ``--min-silence``."""
    return "--" + (f.metadata.get("flag") or flag_stem(label(f)))


def flag_stem(name: str) -> str:
    """``min_silence_s`` -> ``min-silence``: seconds are the unit of every ``_s`` flag."""
    return name.removesuffix("_s").replace("_", "-")


def dest(f: Field[Any]) -> str:
    """The attribute argparse stores the flag's value in: the flag's own (``--min-silence``:
    ``min_silence``), but the field name for a renamed flag (``--from``, ``--to``: ``source``,
    ``target``) unless it only drops a word (``--first-phrase``: ``first_phrase``)."""
    name = flag(f)[2:].replace("-", "_")
    return name if name in label(f) else f.name


def toml_key(f: Field[Any]) -> str:
    """The setting's key in its TOML table: ``min_silence_s`` in ``[vad]``."""
    return f.metadata.get("key") or f.name


def bounds(f: Field[Any]) -> Bounds | None:
    return f.metadata.get("bounds")


_warned: set[str] = set()


def warn_renamed(old: str, new: str, where: str = "") -> None:
    """One stderr line, once per process: a setting was given by its old name."""
    if old in _warned:
        return
    _warned.add(old)
    prefix = f"{where}: " if where else ""
    print(f"edge: warning: {prefix}{old} is deprecated, use {new}", file=sys.stderr, flush=True)


# --- settings shared by `edge translate`, `edge transcribe` and `edge live` ------------------

PREFER = ("auto", "cascade", "direct")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class LanguageSettings:
    """The language pair: FLORES-200 or ISO 639-1 codes."""

    source: str = setting("", flag="from", key="from", metavar="LANG", help="spoken language")
    target: str = setting("", flag="to", key="to", metavar="LANG", help="output language")


@dataclass
class ModelSettings:
    """Which installed models run; None: chosen from the installed models."""

    asr: str | dict[str, str] | None = setting(
        None, section="models", metavar="DIR", help="speech recognition model directory"
    )  # live two-way: one directory per language
    mt: str | list[str] | None = setting(
        None, section="models", metavar="DIR", help="translation model directory"
    )
    tts: str | dict[str, str] | None = setting(
        None,
        section="models",
        metavar="DIR",
        help="Piper voice directory or .onnx file, or 'espeak' for espeak-ng",
    )
    direct: str | None = setting(
        None,
        section="models",
        metavar="DIR",
        help="multilingual Whisper model translating speech straight to English (skips MT)",
    )
    lid: str | None = setting(
        None,
        section="models",
        metavar="DIR",
        help="two-way: multilingual Whisper for language ID",
    )
    models_dir: str | None = setting(
        None, section="models", metavar="DIR", help="installed models (default: $EDGE_MODELS_DIR)"
    )
    prefer: str = setting(
        "auto",
        section="models",
        choices=PREFER,
        help="for X->English: cascade (ASR+MT) or direct speech translation (default: auto)",
    )


@dataclass
class RuntimeSettings:
    """Where and how wide the models run."""

    device: str = setting(
        "auto",
        section="runtime",
        choices=DEVICES,
        help="auto (default): CUDA for the stages that load and run there, else CPU",
    )
    threads: int | None = setting(
        None,
        section="runtime",
        bounds=THREADS,
        kind=int,
        help="threads per ASR and MT stage (default: measured per stage for this many cores)",
    )
    beam_size: int = setting(
        1,
        section="runtime",
        bounds=Bounds(1, 64),
        kind=int,
        help="beam size for Whisper and MT (default: 1)",
    )


@dataclass
class SpeechSettings:
    """How translated speech is started."""

    first_phrase_words: int = setting(
        FIRST_PHRASE_WORDS,
        bounds=Bounds(0, 100),
        kind=int,
        flag="first-phrase",
        metavar="WORDS",
        help="speak an utterance's first sentence from its first phrase of at least this many "
        "words while the rest is translated (0: whole clauses)",
    )
    # Two-way live sessions may set one mode per side in the TOML file:
    # voice_match = { eng_Latn = "full", por_Latn = "rate" } (keyed by the spoken language).
    voice_match: str | dict[str, str] = setting(
        DEFAULT_MODE,
        choices=VOICE_MATCH_MODES,
        help="sound like the speaker: match the speaking rate, the pitch, or both (full); "
        "docs/voice-matching.md",
    )


@dataclass
class OutputSettings:
    """What goes to stdout."""

    json: bool = setting(
        False, section="runtime", kind=bool, help="one JSON event per line on stdout"
    )
