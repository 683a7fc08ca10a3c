"""Every setting of a live session, from one TOML file with command-line flags on top.

```toml
from = "es"
to = "en"
mode = "vad"            # vad | ptt
two_way = false         # identify each utterance as `from` or `to`, answer in the other
duplex = "auto"         # full: echo cancellation, the microphone stays open; half: muted

[audio]
input = "USB"           # device index, name substring, or a WAV/FLAC file
output = "default"
volume = 80
ready_sound = true      # full duplex: a burst of noise at the start trains the echo canceller

[vad]
min_silence_s = 0.6
```

Each setting is a field of ``LiveConfig`` (edge.settings): its TOML table and key, its flag
and its bounds are derived from the field. The VAD, model, runtime and speech settings are
inherited from the dataclasses ``edge translate`` uses, so both commands spell them alike.
``SECTIONS`` lists the keys; docs/live.md describes each.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import EdgeError
from ..settings import (
    Bounds,
    LanguageSettings,
    ModelSettings,
    OutputSettings,
    RuntimeSettings,
    SpeechSettings,
    bounds,
    label,
    redefault,
    setting,
    settings,
    toml_key,
    warn_renamed,
)
from ..vad import RENAMED, VadConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MODES = ("vad", "ptt")
DUPLEX = ("auto", "full", "half")
RATE = Bounds(8000, 192000)


class ConfigError(EdgeError):
    """The live configuration is invalid."""

    exit_code = 2


@dataclass
class LiveConfig(
    OutputSettings, SpeechSettings, RuntimeSettings, ModelSettings, VadConfig, LanguageSettings
):
    """A live session. Inherited: languages, VAD (``[vad]``), models, runtime, first phrase, json."""

    two_way: bool = setting(
        False,
        kind=bool,
        help="conversation: identify each utterance as --from or --to, answer in the other",
    )
    mode: str = setting("vad", choices=MODES, help="push-to-talk or hands-free (vad)")
    duplex: str = setting(
        "auto",
        choices=DUPLEX,
        help="full: echo cancellation keeps the microphone open, barge-in by voice; half: mute "
        "it while speaking; auto (default): full with a microphone, a speaker and the AEC",
    )
    grace_s: float = setting(  # measured: docs/live.md (Full duplex)
        1.0,
        section="vad",
        bounds=Bounds(0, 60),
        metavar="S",
        help="full duplex: speech this soon after an utterance ended holds its translation "
        "until the speaker stops, instead of barging in (0: barge in)",
    )
    # the handheld (firmware_bridge): its buttons drive the session, its LEDs follow it
    bridge: str | None = setting(
        None,
        section="bridge",
        key="port",
        metavar="PORT|VID:PID",
        help="handheld on this serial port (/dev/ttyACM0) or USB id (2E8A:000A): push-to-talk, "
        "swap and volume buttons, LEDs and display; re-attached after an unplug",
    )
    bridge_baud: int = setting(
        115200,
        section="bridge",
        key="baud",
        bounds=Bounds(1200, 4_000_000),
        kind=int,
        metavar="BAUD",
        help="UART speed (USB ignores it)",
    )
    # audio; None: the default capture and playback devices at their native rates
    input: str | None = setting(
        None, section="audio", metavar="DEVICE|FILE.wav", help="index, name part, or a file"
    )
    output: str | None = setting(
        None, section="audio", metavar="DEVICE|FILE.wav", help="index, name part, or a file"
    )
    input_rate: int | None = setting(
        None, section="audio", bounds=RATE, kind=int, metavar="HZ", help="default: the device's own"
    )
    output_rate: int | None = setting(
        None, section="audio", bounds=RATE, kind=int, metavar="HZ", help="default: the device's own"
    )
    volume: int = setting(
        80, section="audio", bounds=Bounds(0, 100), kind=int, metavar="0-100", help="0 to 100"
    )
    echo_guard_s: float = setting(
        0.25, section="audio", bounds=Bounds(0, 60), metavar="S", help="mute after speaking"
    )
    max_backlog_s: float = setting(  # older audio is dropped while processing is behind
        20.0, section="audio", bounds=Bounds(1, 3600), metavar="S", help="audio kept when behind"
    )
    speed: float = setting(
        1.0,
        section="audio",
        bounds=Bounds(0, 1000, exclusive=True),
        help="files only: faster than real time",
    )
    simulate_echo: float = setting(
        0.0,
        section="audio",
        bounds=Bounds(0, 1),
        metavar="GAIN",
        help="files only: feed the output back, this loud",
    )
    ready_sound: bool = setting(
        True,
        section="audio",
        kind=bool,
        help="full duplex: start with a short burst of noise, which teaches the echo "
        "canceller the room before the first reply (speak after it)",
    )
    room_delay_s: float = setting(
        0.04,
        section="audio",
        bounds=Bounds(0, 1),
        metavar="S",
        help="files only: with --simulate-echo, the speaker-to-microphone delay",
    )
    room_rt60_s: float = setting(
        0.3,
        section="audio",
        bounds=Bounds(0, 2),
        metavar="S",
        help="files only: with --simulate-echo, the room's reverberation time (0: none)",
    )
    # voice activity detection: VadConfig's settings, with the live defaults
    min_silence_s: float = redefault(VadConfig, "min_silence_s", 0.6)  # measured: docs/live.md
    max_segment_s: float = redefault(VadConfig, "max_segment_s", 15.0)
    partial_interval_s: float = setting(
        0.0,
        section="vad",
        bounds=Bounds(0, 3600),
        metavar="S",
        help="re-decode while speaking (0: off)",
    )
    # push-to-talk
    ptt_key: str = setting(
        "space", section="ptt", key="key", metavar="KEY", help="terminal key (default: space)"
    )
    ptt_pre_roll_s: float = setting(
        0.3,
        section="ptt",
        key="pre_roll_s",
        bounds=Bounds(0, 60),
        metavar="S",
        help="audio kept before a press",
    )
    ptt_tail_s: float = setting(
        0.2,
        section="ptt",
        key="tail_s",
        bounds=Bounds(0, 60),
        metavar="S",
        help="audio kept after a release",
    )
    ptt_script: str | None = setting(
        None,
        section="ptt",
        key="script",
        metavar="FILE|auto",
        help="file input: presses as 'PRESS RELEASE' lines in seconds, or auto (around speech)",
    )
    max_seconds: float | None = setting(  # unattended tests
        None,
        section="runtime",
        bounds=Bounds(0, None, exclusive=True),
        metavar="S",
        help="stop after this long (also while waiting for a lost device to come back)",
    )
    # the kiosk screen (edge.ui, docs/kiosk.md): [ui] enabled, port, host
    ui: bool = setting(
        False,
        section="ui",
        key="enabled",
        kind=bool,
        help="serve the kiosk screen: captions, push-to-talk button, language picker "
        "(docs/kiosk.md)",
    )
    ui_port: int = setting(
        8765,
        section="ui",
        key="port",
        bounds=Bounds(1, 65535),
        kind=int,
        metavar="PORT",
        help="the kiosk screen's port",
    )
    ui_host: str = setting(
        "127.0.0.1",
        section="ui",
        key="host",
        metavar="HOST",
        help="address the kiosk screen listens on; anything but 127.0.0.1 opens it to the "
        "network, without a password (default: 127.0.0.1)",
    )

    @property
    def input_is_file(self) -> bool:
        return is_audio_file(self.input)

    @property
    def output_is_file(self) -> bool:
        return is_audio_file(self.output)

    @property
    def vad_threshold(self) -> float:
        """``threshold`` by its setting name (``--vad-threshold``)."""
        return self.threshold

    @vad_threshold.setter
    def vad_threshold(self, value: float) -> None:
        self.threshold = value

    def validate(self) -> None:
        if not self.source or not self.target:
            raise ConfigError("the language pair is not set", "pass --from LANG --to LANG")
        if self.mode not in MODES:
            raise ConfigError(f"unknown mode {self.mode!r}", f"use one of {', '.join(MODES)}")
        if self.duplex not in DUPLEX:
            raise ConfigError(f"unknown duplex {self.duplex!r}", f"use one of {', '.join(DUPLEX)}")
        for f in settings(LiveConfig):
            value, limits = getattr(self, f.name), bounds(f)
            problem = None if value is None or limits is None else limits.problem(value)
            if problem is not None:
                raise ConfigError(f"{label(f)} = {value} is out of range", f"it {problem}")
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
        # With a handheld the presses come from its button, also on a file as input.
        if self.mode == "ptt" and self.input_is_file and not (self.ptt_script or self.bridge):
            raise ConfigError(
                "push-to-talk on a file needs the presses",
                "pass --ptt-script FILE (lines 'PRESS RELEASE' in seconds) or --ptt-script auto",
            )

    def vad_config(self) -> VadConfig:
        """The segmenter's part of these settings."""
        return VadConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(VadConfig)})


def _renamed_property(old: str, new: str) -> property:
    def get(self: LiveConfig) -> Any:
        warn_renamed(old, new)
        return getattr(self, new)

    def put(self: LiveConfig, value: Any) -> None:
        warn_renamed(old, new)
        setattr(self, new, value)

    return property(get, put, doc=f"Deprecated: {new}.")


def _accept_renamed(cls: type[LiveConfig]) -> None:
    """Let ``LiveConfig(hangover_s=...)`` and ``config.hangover_s`` keep working (warned)."""
    init = cls.__init__

    def __init__(self: LiveConfig, *args: Any, **kwargs: Any) -> None:
        for old, new in RENAMED.items():
            if old in kwargs:
                warn_renamed(old, new)
                kwargs[new] = kwargs.pop(old)
        init(self, *args, **kwargs)

    __init__.__doc__ = init.__doc__
    cls.__init__ = __init__  # type: ignore[method-assign]
    for old, new in RENAMED.items():
        setattr(cls, old, _renamed_property(old, new))


_accept_renamed(LiveConfig)


def is_audio_file(spec: str | None) -> bool:
    return spec is not None and Path(spec).suffix.lower() in AUDIO_SUFFIXES


# TOML table -> {key: LiveConfig field}, derived from the fields. Top-level keys are in "".
SECTIONS: dict[str, dict[str, str]] = {}
for _f in settings(LiveConfig):
    SECTIONS.setdefault(_f.metadata["section"], {})[toml_key(_f)] = _f.name
# The numeric settings and the values each accepts (never NaN or infinity).
LIMITS: dict[str, Bounds] = {
    f.name: limits for f in settings(LiveConfig) if (limits := bounds(f)) is not None
}
# Fields whose relative paths are relative to the config file.
PATH_FIELDS = ("ptt_script", "asr", "mt", "tts", "direct", "lid", "models_dir")
_FIELDS = {f.name: f for f in dataclasses.fields(LiveConfig)}
_QUIET_ALIASES = {"vad_threshold": "threshold"}  # the field's name before it was VadConfig's


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
                values[_field(path, key, sub, item)] = item
        else:
            values[_field(path, "", key, value)] = value
    base = path.resolve().parent
    for name in ("input", "output"):
        if is_audio_file(values.get(name)):
            values[name] = _relative(base, values[name])
    for name in PATH_FIELDS:
        value = values.get(name)
        if value is not None and not (name == "ptt_script" and value == "auto"):
            values[name] = _resolve_paths(base, value)
    return apply(LiveConfig(), values, str(path))


def _field(path: Path, section: str, key: str, value: Any) -> str:
    """The field that ``key`` of table ``[section]`` sets."""
    table = SECTIONS.get(section)
    if table is not None and key not in table and RENAMED.get(key) in table.values():
        new = RENAMED[key]
        limits = LIMITS.get(new)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        problem = limits.problem(value) if limits is not None and number else None
        if problem is not None:  # named as written: the user looks for their own key
            raise ConfigError(f"{path}: {key} = {value} is out of range", f"it {problem}")
        warn_renamed(key, new, f"{path}: [{section}]")
        return new
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
        if name in RENAMED:
            warn_renamed(name, RENAMED[name])
        name = RENAMED.get(name) or _QUIET_ALIASES.get(name, name)
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
