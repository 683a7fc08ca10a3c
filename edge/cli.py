"""The `edge` command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from . import __version__
from .errors import EdgeError
from .tts.chunking import FIRST_PHRASE_WORDS

log = logging.getLogger("edge")

EXIT_INTERRUPTED = 130
EXIT_USAGE = 2  # argparse's


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `edge translate: error: argument --threads: ...`."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _plain(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def number(kind: type[int] | type[float], bounds: Bounds) -> Callable[[str], int | float]:
    """An argparse ``type`` that refuses values outside ``bounds`` with one line."""

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        problem = bounds.problem(value)
        if problem is not None:
            raise argparse.ArgumentTypeError(f"{problem}, not {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


# Numeric options of translate and transcribe (the VAD ones as edge.vad.VadConfig checks them).
THREADS = Bounds(1, 256)
BEAM_SIZE = Bounds(1, 64)
SAMPLE_RATE = Bounds(8000, 192000)  # edge.audio.MIN_OUTPUT_RATE, MAX_OUTPUT_RATE
FIRST_PHRASE = Bounds(0, 100)
VAD_THRESHOLD = Bounds(0, 1, exclusive=True)
SECONDS = Bounds(0, 3600)
MIN_SILENCE = Bounds(0.05, 60)
MAX_SEGMENT = Bounds(1, 3600)


def _add_model_options(parser: argparse.ArgumentParser, *, translation: bool) -> None:
    group = parser.add_argument_group("models (default: chosen from the installed models)")
    group.add_argument("--asr", metavar="DIR", help="speech recognition model directory")
    if translation:
        group.add_argument("--mt", metavar="DIR", help="translation model directory")
        group.add_argument(
            "--tts",
            metavar="DIR",
            help="Piper voice directory or .onnx file, or 'espeak' for espeak-ng",
        )
        group.add_argument(
            "--direct",
            metavar="DIR",
            help="multilingual Whisper model translating speech straight to English (skips MT)",
        )
        group.add_argument(
            "--prefer",
            choices=("auto", "cascade", "direct"),
            default="auto",
            help="for X->English: cascade (ASR+MT) or direct speech translation (default: auto)",
        )
    group.add_argument(
        "--models-dir", metavar="DIR", help="installed models (default: $EDGE_MODELS_DIR)"
    )
    run = parser.add_argument_group("runtime")
    run.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto (default): CUDA for the stages that load and run there, else CPU",
    )
    run.add_argument(
        "--threads",
        type=number(int, THREADS),
        help="threads per ASR and MT stage (default: measured per stage for this many cores)",
    )
    run.add_argument(
        "--beam-size",
        type=number(int, BEAM_SIZE),
        default=1,
        help="beam size for Whisper and MT (default: 1)",
    )
    if translation:
        run.add_argument(
            "--first-phrase",
            type=number(int, FIRST_PHRASE),
            default=FIRST_PHRASE_WORDS,
            metavar="WORDS",
            help=FIRST_PHRASE_HELP,
        )
    vad = parser.add_argument_group("voice activity detection")
    vad.add_argument(
        "--vad-threshold", type=number(float, VAD_THRESHOLD), default=0.5, help="0 to 1"
    )
    vad.add_argument(
        "--min-speech",
        type=number(float, SECONDS),
        default=0.25,
        metavar="S",
        help="ignore shorter bursts",
    )
    vad.add_argument(
        "--min-silence",
        type=number(float, MIN_SILENCE),
        default=0.35,
        metavar="S",
        help="hangover ending an utterance",
    )
    vad.add_argument("--speech-pad", type=number(float, SECONDS), default=0.1, metavar="S")
    vad.add_argument(
        "--max-segment",
        type=number(float, MAX_SEGMENT),
        default=20.0,
        metavar="S",
        help="split longer speech",
    )
    parser.add_argument("--json", action="store_true", help="one JSON event per line on stdout")


def _load(args: argparse.Namespace, source: str, target: str | None):  # noqa: ANN202
    from .translator import RuntimeOptions, SpeechTranslator
    from .vad import VadConfig

    options = RuntimeOptions(
        device=args.device,
        asr_threads=args.threads,
        mt_threads=args.threads,
        beam_size=args.beam_size,
    )
    vad = VadConfig(
        threshold=args.vad_threshold,
        min_speech_s=args.min_speech,
        min_silence_s=args.min_silence,
        speech_pad_s=args.speech_pad,
        max_segment_s=args.max_segment,
    )
    translator = SpeechTranslator.load(
        source,
        target,
        asr=args.asr,
        mt=getattr(args, "mt", None),
        tts=getattr(args, "tts", None),
        direct=getattr(args, "direct", None),
        options=options,
        vad=vad,
        models_dir=args.models_dir,
        prefer=getattr(args, "prefer", "auto"),
    )
    translator.first_phrase_words = getattr(args, "first_phrase", 0)
    return translator


FIRST_PHRASE_HELP = (
    "speak an utterance's first sentence from its first phrase of at least this many words "
    f"while the rest is translated (default: {FIRST_PHRASE_WORDS}; 0: whole clauses)"
)


def _printer(as_json: bool) -> Callable[[object], None]:
    from .events import AudioOut, Event, Metrics, Rejected, Transcript, Translation

    # Direct speech translation reports the translation before the source transcript (the
    # second decode): hold translation lines until their utterance's transcript is printed.
    held: dict[int, list[str]] = {}
    last_printed = [0]  # the newest utterance whose transcript is out (ids only grow)

    def show(event: object) -> None:
        assert isinstance(event, Event)
        if as_json:
            if not isinstance(event, AudioOut):
                print(json.dumps(event.to_dict(), ensure_ascii=False), flush=True)
        elif isinstance(event, Transcript):
            print(
                f"[{event.start_s:7.2f} - {event.end_s:7.2f}] {event.lang}: {event.text}",
                flush=True,
            )
            last_printed[0] = max(last_printed[0], event.utterance_id)
            for line in held.pop(event.utterance_id, []):
                print(line, flush=True)
        elif isinstance(event, Rejected):
            heard = event.text if len(event.text) <= 60 else event.text[:57].rstrip() + " ..."
            print(
                f"[{event.start_s:7.2f} - {event.end_s:7.2f}] (not spoken: {event.reason}"
                + (f': "{heard}")' if heard else ")"),
                flush=True,
            )
        elif isinstance(event, Translation):
            line = f"{'':21}-> {event.lang}: {event.text}"
            if event.utterance_id <= last_printed[0]:
                print(line, flush=True)
            else:
                held.setdefault(event.utterance_id, []).append(line)
        elif isinstance(event, Metrics):
            for lines in held.values():
                print("\n".join(lines), flush=True)
            held.clear()
            latencies = event.end_of_speech_to_first_audio_ms
            rtf = ", ".join(f"{k} {v:.3f}" for k, v in event.real_time_factor.items())
            print(
                f"{event.utterances} utterances, {event.audio_s:.1f} s of audio in {event.wall_s:.1f} s"
                f" (real-time factor: {rtf})",
                file=sys.stderr,
            )
            if latencies:
                print(
                    f"end of speech -> first audio: median {sorted(latencies)[len(latencies) // 2]:.0f} ms",
                    file=sys.stderr,
                )

    return show


def _check_paths(source: str, output: str | None = None, *, as_json: bool = False) -> None:
    """Fail on a bad input or output path before spending seconds loading models.

    A truncated input is used as far as it goes: edge.audio warns on stderr when it reads
    it, and ``--json`` output gets a ``warning`` line here, before the other events.
    """
    from .audio import audio_info, check_output_path

    info = audio_info(source, scan=True)
    if output is not None:
        check_output_path(output, source=source)
    if info.truncated and as_json:
        warning = {
            "event": "warning",
            "kind": "truncated_input",
            "message": info.truncation_warning(),
            "audio_s": round(info.seconds, 3),
            "declared_s": round(info.declared_seconds, 3),
        }
        print(json.dumps(warning, ensure_ascii=False), flush=True)


def cmd_translate(args: argparse.Namespace) -> int:
    from .languages import to_flores

    to_flores(args.source), to_flores(args.target)
    _check_paths(args.input, args.output, as_json=args.json)
    translator = _load(args, args.source, args.target)
    if translator.stages.tts is None and args.output:
        raise EdgeError(
            f"no voice for {translator.target} is installed, so no audio can be written",
            "pull one (edge models list) or pass --tts DIR; or omit -o for text only",
        )
    result = translator.translate_file(
        args.input, args.output, sample_rate=args.sample_rate, on_event=_printer(args.json)
    )
    if args.output and not args.json:
        print(
            f"wrote {result.audio_seconds_written:.1f} s of speech to {args.output}",
            file=sys.stderr,
        )
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .languages import to_flores

    to_flores(args.lang)
    _check_paths(args.input, as_json=args.json)
    translator = _load(args, args.lang, None)
    translator.translate_file(args.input, None, on_event=_printer(args.json))
    return 0


def cmd_languages(args: argparse.Namespace) -> int:
    from .languages import FLORES200_CODES, language_name, to_iso639_1

    for code in FLORES200_CODES:
        short = to_iso639_1(code) or ""
        print(f"{code:10} {short:3} {language_name(code)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="edge",
        description="Offline speech-to-speech translation: speech in one language, speech out in another.",
    )
    parser.add_argument("--version", action="version", version=f"edge {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    translate = sub.add_parser(
        "translate", help="translate a recording into speech in another language"
    )
    translate.add_argument("input", help="WAV, FLAC or OGG file, any rate and channel count")
    translate.add_argument(
        "--from", dest="source", required=True, metavar="LANG", help="spoken language"
    )
    translate.add_argument(
        "--to", dest="target", required=True, metavar="LANG", help="output language"
    )
    translate.add_argument(
        "-o", "--output", metavar="OUT.wav", help="write the translated speech here"
    )
    translate.add_argument(
        "--sample-rate",
        type=number(int, SAMPLE_RATE),
        metavar="HZ",
        help="output rate, 8000 to 192000 (default: the voice's)",
    )
    _add_model_options(translate, translation=True)
    translate.set_defaults(handler=cmd_translate)

    transcribe = sub.add_parser("transcribe", help="speech to text only (dictation)")
    transcribe.add_argument("input", help="WAV, FLAC or OGG file")
    transcribe.add_argument("--lang", required=True, metavar="LANG", help="spoken language")
    _add_model_options(transcribe, translation=False)
    transcribe.set_defaults(handler=cmd_transcribe)

    languages = sub.add_parser("languages", help="list language codes (FLORES-200 and ISO 639-1)")
    languages.set_defaults(handler=cmd_languages)

    from .bench import add_bench_parser
    from .cli_bridge import add_bridge_parser
    from .cli_doctor import add_doctor_parser
    from .cli_live import add_live_parser
    from .cli_models import add_models_parser

    add_models_parser(sub)
    add_live_parser(sub)
    add_doctor_parser(sub)
    add_bridge_parser(sub)
    add_bench_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except EdgeError as exc:
        if args.verbose >= 2:
            log.exception("details")
        print(f"edge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
