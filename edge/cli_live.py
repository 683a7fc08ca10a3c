"""`edge live` (microphone -> speaker translation) and `edge devices` (sound devices)."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from .cli import FIRST_PHRASE_HELP, number

# --flag dest -> LiveConfig field, for the flags that override the config file.
_OVERRIDES = {
    "source": "source",
    "target": "target",
    "two_way": "two_way",
    "mode": "mode",
    "duplex": "duplex",
    "input": "input",
    "output": "output",
    "input_rate": "input_rate",
    "output_rate": "output_rate",
    "volume": "volume",
    "echo_guard": "echo_guard_s",
    "max_backlog": "max_backlog_s",
    "speed": "speed",
    "simulate_echo": "simulate_echo",
    "vad_threshold": "vad_threshold",
    "min_speech": "min_speech_s",
    "hangover": "hangover_s",
    "max_utterance": "max_utterance_s",
    "speech_pad": "speech_pad_s",
    "partial_interval": "partial_interval_s",
    "first_phrase": "first_phrase_words",
    "ptt_key": "ptt_key",
    "ptt_pre_roll": "ptt_pre_roll_s",
    "ptt_tail": "ptt_tail_s",
    "ptt_script": "ptt_script",
    "asr": "asr",
    "mt": "mt",
    "tts": "tts",
    "direct": "direct",
    "lid": "lid",
    "models_dir": "models_dir",
    "prefer": "prefer",
    "device": "device",
    "threads": "threads",
    "beam_size": "beam_size",
    "json": "json",
    "max_seconds": "max_seconds",
}


def _limited(field: str, kind: type[int] | type[float] = float) -> Callable[[str], int | float]:
    """The argparse type of a numeric flag: the bounds of its LiveConfig field."""
    from .live.config import LIMITS

    return number(kind, LIMITS[field])


def add_live_parser(subparsers: Any) -> None:
    live = subparsers.add_parser(
        "live",
        help="translate a microphone to a speaker, push-to-talk or hands-free",
        description="Live translation from a microphone (or a WAV file played as one) to a "
        "speaker (or a WAV file). Every setting can also come from --config FILE (TOML); "
        "flags override it.",
    )
    live.add_argument("--config", metavar="FILE.toml", help="settings file (see docs/live.md)")
    live.add_argument("--from", dest="source", metavar="LANG", help="spoken language")
    live.add_argument("--to", dest="target", metavar="LANG", help="output language")
    live.add_argument(
        "--two-way",
        action="store_const",
        const=True,
        help="conversation: identify each utterance as --from or --to, answer in the other",
    )
    live.add_argument("--mode", choices=("ptt", "vad"), help="push-to-talk or hands-free (vad)")
    live.add_argument(
        "--first-phrase",
        type=_limited("first_phrase_words", int),
        metavar="WORDS",
        help=FIRST_PHRASE_HELP,
    )
    live.add_argument(
        "--duplex",
        choices=("half", "full"),
        help="half: mute the microphone while speaking (default); full: headsets, barge-in by voice",
    )
    audio = live.add_argument_group("audio devices")
    audio.add_argument("--input", metavar="DEVICE|FILE.wav", help="index, name part, or a file")
    audio.add_argument("--output", metavar="DEVICE|FILE.wav", help="index, name part, or a file")
    audio.add_argument(
        "--input-rate",
        type=_limited("input_rate", int),
        metavar="HZ",
        help="default: the device's own",
    )
    audio.add_argument(
        "--output-rate",
        type=_limited("output_rate", int),
        metavar="HZ",
        help="default: the device's own",
    )
    audio.add_argument("--volume", type=_limited("volume", int), metavar="0-100")
    audio.add_argument(
        "--echo-guard", type=_limited("echo_guard_s"), metavar="S", help="mute after speaking"
    )
    audio.add_argument(
        "--max-backlog", type=_limited("max_backlog_s"), metavar="S", help="audio kept when behind"
    )
    audio.add_argument("--speed", type=_limited("speed"), help="files only: faster than real time")
    audio.add_argument(
        "--simulate-echo", type=_limited("simulate_echo"), metavar="GAIN", help="files only"
    )
    vad = live.add_argument_group("hands-free (vad)")
    vad.add_argument("--vad-threshold", type=_limited("vad_threshold"))
    vad.add_argument(
        "--min-speech", type=_limited("min_speech_s"), metavar="S", help="ignore shorter sounds"
    )
    vad.add_argument(
        "--hangover",
        type=_limited("hangover_s"),
        metavar="S",
        help="silence that ends an utterance",
    )
    vad.add_argument(
        "--max-utterance", type=_limited("max_utterance_s"), metavar="S", help="split longer speech"
    )
    vad.add_argument("--speech-pad", type=_limited("speech_pad_s"), metavar="S")
    vad.add_argument(
        "--partial-interval",
        type=_limited("partial_interval_s"),
        metavar="S",
        help="re-decode while speaking (0: off)",
    )
    ptt = live.add_argument_group("push-to-talk")
    ptt.add_argument("--ptt-key", metavar="KEY", help="terminal key (default: space)")
    ptt.add_argument(
        "--ptt-pre-roll",
        type=_limited("ptt_pre_roll_s"),
        metavar="S",
        help="audio kept before a press",
    )
    ptt.add_argument(
        "--ptt-tail", type=_limited("ptt_tail_s"), metavar="S", help="audio kept after a release"
    )
    ptt.add_argument(
        "--ptt-script",
        metavar="FILE|auto",
        help="file input: presses as 'PRESS RELEASE' lines in seconds, or auto (around speech)",
    )
    models = live.add_argument_group("models (default: chosen from the installed models)")
    models.add_argument("--asr", metavar="DIR")
    models.add_argument("--mt", metavar="DIR")
    models.add_argument("--tts", metavar="DIR")
    models.add_argument("--direct", metavar="DIR", help="Whisper speech translation to English")
    models.add_argument(
        "--lid", metavar="DIR", help="two-way: multilingual Whisper for language ID"
    )
    models.add_argument("--models-dir", metavar="DIR")
    models.add_argument("--prefer", choices=("auto", "cascade", "direct"))
    run = live.add_argument_group("runtime")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"))
    run.add_argument("--threads", type=_limited("threads", int))
    run.add_argument("--beam-size", type=_limited("beam_size", int))
    run.add_argument(
        "--max-seconds", type=_limited("max_seconds"), metavar="S", help="stop after this long"
    )
    run.add_argument(
        "--json", action="store_const", const=True, help="one JSON event per line on stdout"
    )
    live.set_defaults(handler=cmd_live)

    devices = subparsers.add_parser("devices", help="list sound capture and playback devices")
    devices.add_argument("--json", action="store_true", help="JSON list")
    devices.set_defaults(handler=cmd_devices)


def cmd_live(args: argparse.Namespace) -> int:
    from .audio import audio_info, check_output_path
    from .live import LiveController, ModelLoader
    from .live.config import LiveConfig, apply, load_config
    from .live.keyboard import TerminalKeys

    config = load_config(args.config) if args.config else LiveConfig()
    config = apply(config, {field: getattr(args, dest) for dest, field in _OVERRIDES.items()})
    config.validate()
    if config.input_is_file:  # a bad input or output fails before the models load
        assert config.input is not None
        audio_info(config.input, scan=True)
    if config.output_is_file:
        assert config.output is not None
        check_output_path(config.output, source=config.input if config.input_is_file else None)
    controller = LiveController(config, ModelLoader(config).stages, on_event=_printer(config.json))
    signal.signal(signal.SIGTERM, lambda *_: controller.stop())  # systemd stop: a clean end
    keys: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if not config.input_is_file and TerminalKeys.available():
        keys = TerminalKeys(controller, config.ptt_key, config.volume)
        what = "hold" if config.mode == "ptt" else "press"
        print(
            f"edge live {controller.language_pair}: {what} {config.ptt_key} to "
            f"{'talk' if config.mode == 'ptt' else 'interrupt'}, s swaps, +/- volume, q quits",
            file=sys.stderr,
        )
    with keys:
        controller.run()
    return 0


def _printer(as_json: bool) -> Callable[[object], None]:
    from .events import AudioOut, Event, StageError, StateChanged, Transcript, Translation
    from .live.events import LiveStats, Playback, SessionStarted

    def show(event: object) -> None:
        assert isinstance(event, Event)
        if isinstance(event, AudioOut):
            return
        if as_json:
            print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
        elif isinstance(event, SessionStarted):
            print(
                f"edge live {event.language_pair} ({event.mode}): {event.input} -> {event.output}",
                file=sys.stderr,
                flush=True,
            )
        elif isinstance(event, StateChanged):
            print(f"[{event.state}]", file=sys.stderr, flush=True)
        elif isinstance(event, Transcript):
            print(f"{event.lang}: {event.text}", flush=True)
        elif isinstance(event, Translation):
            print(f"  -> {event.lang}: {event.text}", flush=True)
        elif isinstance(event, Playback) and event.end_of_speech_to_first_played_ms is not None:
            print(
                f"  ({event.end_of_speech_to_first_played_ms:.0f} ms to first sound"
                f"{', interrupted' if event.interrupted else ''})",
                file=sys.stderr,
                flush=True,
            )
        elif isinstance(event, StageError):
            print(f"edge: {event.stage}: {event.message}", file=sys.stderr, flush=True)
        elif isinstance(event, LiveStats):
            print(
                f"{event.utterances} utterances, {event.played} played, {event.barge_ins} "
                f"barge-ins, {event.overruns} overruns in {event.wall_s:.0f} s",
                file=sys.stderr,
            )

    return show


def cmd_devices(args: argparse.Namespace) -> int:
    from .live.devices import list_devices

    devices = list_devices()
    if args.json:
        print(json.dumps([d.__dict__ for d in devices], indent=2))
        return 0
    print(f"{'index':>5} {'in':>3} {'out':>3} {'rate':>6}  name")
    for d in devices:
        marks = [
            m
            for m, on in (("default in", d.is_default_input), ("default out", d.is_default_output))
            if on
        ]
        suffix = f"  ({', '.join(marks)})" if marks else ""
        print(
            f"{d.index:>5} {d.input_channels:>3} {d.output_channels:>3} {d.default_rate:>6}  "
            f"{d.name} [{d.host_api}]{suffix}"
        )
    if not devices:
        print("no sound devices found", file=sys.stderr)
    return 0
