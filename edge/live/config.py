"""Every setting of a live session, from one TOML file with command-line flags on top.

```toml
from = "es"
to = "en"
mode = "vad"            # vad | ptt
two_way = false         # identify each utterance as `from` or `to`, answer in the other
duplex = "half"         # half: mute the microphone while speaking; full: headsets

[audio]
input = "USB"           # device index, name substring, or a WAV/FLAC file
output = "default"
volume = 80

[vad]
hangover_s = 0.6
```

The full list of keys is ``SECTIONS`` below; docs/live.md describes each.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cli import Bounds
from ..errors import EdgeError
from ..tts.chunking import FIRST_PHRASE_WORDS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MODES = ("vad", "ptt")
DUPLEX = ("half", "full")


# The numeric settings and the values each accepts (never NaN or infinity), for the config
# file and the flags alike (edge.cli_live builds its argparse types from this).
LIMITS: dict[str, Bounds] = {
    "input_rate": Bounds(8000, 192000),
    "output_rate": Bounds(8000, 192000),
    "volume": Bounds(0, 100),
    "echo_guard_s": Bounds(0, 60),
    "max_backlog_s": Bounds(1, 3600),
    "speed": Bounds(0, 1000, exclusive=True),
    "simulate_echo": Bounds(0, 1),
    "vad_threshold": Bounds(0, 1, exclusive=True),
    "min_speech_s": Bounds(0, 3600),
    "hangover_s": Bounds(0.05, 60),
    "max_utterance_s": Bounds(1, 3600),
    "speech_pad_s": Bounds(0, 3600),
    "partial_interval_s": Bounds(0, 3600),
    "first_phrase_words": Bounds(0, 100),
    "ptt_pre_roll_s": Bounds(0, 60),
    "ptt_tail_s": Bounds(0, 60),
    "threads": Bounds(1, 256),
    "beam_size": Bounds(1, 64),
    "max_seconds": Bounds(0, None, exclusive=True),
}


class ConfigError(EdgeError):
    """The live configuration is invalid."""

    exit_code = 2


@dataclass
class LiveConfig:
    source: str = ""
    target: str = ""
    two_way: bool = False
    mode: str = "vad"
    duplex: str = "half"
    # audio
    input: str | None = None  # None: the default capture device
    output: str | None = None  # None: the default playback device
    input_rate: int | None = None  # None: the device's native rate
    output_rate: int | None = None
    volume: int = 80
    echo_guard_s: float = 0.25  # microphone stays muted this long after playback ends
    max_backlog_s: float = 20.0  # audio kept while processing is behind; older audio dropped
    speed: float = 1.0  # file input and output only: run faster than real time
    simulate_echo: float = 0.0  # file input and output only: feed the output back, this loud
    # voice activity detection
    vad_threshold: float = 0.5
    min_speech_s: float = 0.25
    hangover_s: float = 0.6  # chosen by measurement: see docs/live.md
    max_utterance_s: float = 15.0
    speech_pad_s: float = 0.1
    partial_interval_s: float = 0.0
    # speak a first sentence from its first phrase of at least this many words (0: clauses)
    first_phrase_words: int = FIRST_PHRASE_WORDS
    # push-to-talk
    ptt_key: str = "space"
    ptt_pre_roll_s: float = 0.3
    ptt_tail_s: float = 0.2
    ptt_script: str | None = None  # file input: "PRESS RELEASE" lines, or "auto"
    # models
    asr: str | dict[str, str] | None = None  # one directory, or one per language (two-way)
    mt: str | list[str] | None = None
    tts: str | dict[str, str] | None = None
    direct: str | None = None
    lid: str | None = None  # multilingual Whisper for language ID (two-way)
    models_dir: str | None = None
    prefer: str = "auto"
    # runtime
    device: str = "auto"  # CUDA for the stages that load and run there, else CPU
    threads: int | None = None  # ASR and MT threads; None: measured per stage for the cores
    beam_size: int = 1
    json: bool = False
    max_seconds: float | None = None  # stop after this long (unattended tests)

    @property
    def input_is_file(self) -> bool:
        return is_audio_file(self.input)

    @property
    def output_is_file(self) -> bool:
        return is_audio_file(self.output)

    def validate(self) -> None:
        if not self.source or not self.target:
            raise ConfigError("the language pair is not set", "pass --from LANG --to LANG")
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}", f"use one of {', '.join(MODES)}")
        if self.duplex not in DUPLEX:
            raise ConfigError(f"unknown duplex {self.duplex!r}", f"use one of {', '.join(DUPLEX)}")
        for name, bounds in LIMITS.items():
            value = getattr(self, name)
            problem = None if value is None else bounds.problem(value)
            if problem is not None:
                raise ConfigError(f"{name} = {value} is out of range", f"it {problem}")
        if self.output_is_file and Path(str(self.output)).suffix.lower() != ".wav":
            raise ConfigError(
                f"cannot write {self.output}: the output file is WAV",
                f"name it {Path(str(self.output)).with_suffix('.wav').name}",
            )
        files_only = self.input_is_file and self.output_is_file
        if self.speed != 1.0 and not files_only:
            raise ConfigError(
                "speed other than 1 needs a file as input and as output",
                "real devices run in real time",
            )
        if self.simulate_echo and not files_only:
            raise ConfigError("simulate_echo needs file input and output", "drop it for devices")
        if self.ptt_script and not self.input_is_file:
            raise ConfigError("a push-to-talk script needs a file as input", "use --input FILE.wav")
        if self.mode == "ptt" and self.input_is_file and not self.ptt_script:
            raise ConfigError(
                "push-to-talk on a file needs the presses",
                "pass --ptt-script FILE (lines 'PRESS RELEASE' in seconds) or --ptt-script auto",
            )


def is_audio_file(spec: str | None) -> bool:
    return spec is not None and Path(spec).suffix.lower() in AUDIO_SUFFIXES


# TOML section -> {key: LiveConfig field}. Top-level keys are in the "" section.
SECTIONS: dict[str, dict[str, str]] = {
    "": {
        "from": "source",
        "to": "target",
        "two_way": "two_way",
        "mode": "mode",
        "duplex": "duplex",
        "first_phrase_words": "first_phrase_words",
    },
    "audio": {
        "input": "input",
        "output": "output",
        "input_rate": "input_rate",
        "output_rate": "output_rate",
        "volume": "volume",
        "echo_guard_s": "echo_guard_s",
        "max_backlog_s": "max_backlog_s",
        "speed": "speed",
        "simulate_echo": "simulate_echo",
    },
    "vad": {
        "threshold": "vad_threshold",
        "min_speech_s": "min_speech_s",
        "hangover_s": "hangover_s",
        "max_utterance_s": "max_utterance_s",
        "speech_pad_s": "speech_pad_s",
        "partial_interval_s": "partial_interval_s",
    },
    "ptt": {
        "key": "ptt_key",
        "pre_roll_s": "ptt_pre_roll_s",
        "tail_s": "ptt_tail_s",
        "script": "ptt_script",
    },
    "models": {
        "asr": "asr",
        "mt": "mt",
        "tts": "tts",
        "direct": "direct",
        "lid": "lid",
        "models_dir": "models_dir",
        "prefer": "prefer",
    },
    "runtime": {
        "device": "device",
        "threads": "threads",
        "beam_size": "beam_size",
        "json": "json",
        "max_seconds": "max_seconds",
    },
}
# Fields whose relative paths are relative to the config file.
PATH_FIELDS = ("ptt_script", "asr", "mt", "tts", "direct", "lid", "models_dir")
_FIELDS = {f.name: f for f in dataclasses.fields(LiveConfig)}


def load_config(path: str | Path) -> LiveConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}", "check the path given to --config")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the syntax") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in SECTIONS and key:
            for sub, item in value.items():
                values[_field(path, key, sub)] = item
        else:
            values[_field(path, "", key)] = value
    base = path.resolve().parent
    for name in ("input", "output"):
        if is_audio_file(values.get(name)):
            values[name] = _relative(base, values[name])
    for name in PATH_FIELDS:
        value = values.get(name)
        if value is not None and not (name == "ptt_script" and value == "auto"):
            values[name] = _resolve_paths(base, value)
    return apply(LiveConfig(), values, str(path))


def _field(path: Path, section: str, key: str) -> str:
    table = SECTIONS.get(section)
    if table is None or key not in table:
        where = f"[{section}] " if section else ""
        known = ", ".join(table) if table is not None else ", ".join(s for s in SECTIONS if s)
        raise ConfigError(f"{path}: unknown setting {where}{key}", f"known here: {known}")
    return table[key]


def _relative(base: Path, value: str) -> str:
    candidate = Path(value).expanduser()
    return str(candidate if candidate.is_absolute() else base / candidate)


def _resolve_paths(base: Path, value: Any) -> Any:
    if isinstance(value, str):
        return _relative(base, value)
    if isinstance(value, list):
        return [_relative(base, v) for v in value]
    if isinstance(value, dict):
        return {k: _relative(base, v) for k, v in value.items()}
    return value


def apply(config: LiveConfig, values: dict[str, Any], origin: str = "flags") -> LiveConfig:
    """``config`` with ``values`` (field -> value; None means unset) laid over it."""
    changes = {}
    for name, value in values.items():
        if value is None:
            continue
        changes[name] = _coerce(name, value, origin)
    return dataclasses.replace(config, **changes)


def _coerce(name: str, value: Any, origin: str) -> Any:
    kind = str(_FIELDS[name].type)
    bad = ConfigError(f"{origin}: {name} = {value!r} has the wrong type", f"expected {kind}")
    if isinstance(value, bool) and "bool" not in kind:
        raise bad
    if kind.startswith("bool"):
        if not isinstance(value, bool):
            raise bad
        return value
    if "float" in kind and isinstance(value, (int, float)):
        return float(value)
    if "int" in kind and isinstance(value, int):
        return value
    if "str" in kind and isinstance(value, str):
        return value
    if (
        "dict" in kind
        and isinstance(value, dict)
        and all(isinstance(v, str) for v in value.values())
    ):
        return dict(value)
    if "list" in kind and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise bad
