"""``edge translate``: a recording in one language -> speech (and text) in another."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Any

from ..errors import EdgeError
from ..settings import (
    LanguageSettings,
    ModelSettings,
    OutputSettings,
    RuntimeSettings,
    SpeechSettings,
)
from ..vad import VadConfig
from .options import (
    Bounds,
    add_language_options,
    add_model_options,
    add_output_options,
    add_runtime_options,
    add_vad_options,
    build,
    number,
)
from .printer import file_printer, print_json_line

SAMPLE_RATE = Bounds(8000, 192000)  # edge.audio.MIN_OUTPUT_RATE, MAX_OUTPUT_RATE


@dataclass
class FileSettings(
    OutputSettings, SpeechSettings, RuntimeSettings, ModelSettings, LanguageSettings
):
    """The settings of ``edge translate`` and ``edge transcribe`` besides the VAD's."""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "translate", help="translate a recording into speech in another language"
    )
    parser.add_argument("input", help="WAV, FLAC or OGG file, any rate and channel count")
    add_language_options(parser, FileSettings, required=True)
    parser.add_argument(
        "-o", "--output", metavar="OUT.wav", help="write the translated speech here"
    )
    parser.add_argument(
        "--sample-rate",
        type=number(int, SAMPLE_RATE),
        metavar="HZ",
        help="output rate, 8000 to 192000 (default: the voice's)",
    )
    add_file_options(parser, translation=True)
    parser.set_defaults(handler=run)
    return parser


def add_file_options(parser: argparse.ArgumentParser, *, translation: bool) -> None:
    """The groups ``edge translate`` shares with ``edge live``; transcription takes fewer."""
    if translation:
        add_model_options(parser, FileSettings, exclude=("lid",))
    else:
        add_model_options(parser, FileSettings, only=("asr", "models_dir"))
    add_runtime_options(parser, FileSettings, speech=translation)
    add_vad_options(parser, VadConfig)
    add_output_options(parser, FileSettings)


def load_translator(args: argparse.Namespace, source: str, target: str | None) -> Any:
    """The models for ``source`` -> ``target`` (None: transcription) as the flags choose."""
    from ..translator import RuntimeOptions, SpeechTranslator

    chosen = build(args, FileSettings)
    options = RuntimeOptions(
        device=chosen.device,
        asr_threads=chosen.threads,
        mt_threads=chosen.threads,
        beam_size=chosen.beam_size,
    )
    translator = SpeechTranslator.load(
        source,
        target,
        asr=chosen.asr,
        mt=chosen.mt,
        tts=chosen.tts,
        direct=chosen.direct,
        options=options,
        vad=build(args, VadConfig),
        models_dir=chosen.models_dir,
        prefer=chosen.prefer,
    )
    translator.first_phrase_words = chosen.first_phrase_words if target is not None else 0
    translator.voice_match = chosen.voice_match
    return translator


def check_paths(source: str, output: str | None = None, *, as_json: bool = False) -> None:
    """Fail on a bad input or output path before spending seconds loading models.

    A truncated input is used as far as it goes: edge.audio warns on stderr when it reads
    it, and ``--json`` output gets a ``warning`` line here, before the other events.
    """
    from ..audio import audio_info, check_output_path

    info = audio_info(source, scan=True)
    if output is not None:
        check_output_path(output, source=source)
    if info.truncated and as_json:
        print_json_line(
            {
                "event": "warning",
                "kind": "truncated_input",
                "message": info.truncation_warning(),
                "audio_s": round(info.seconds, 3),
                "declared_s": round(info.declared_seconds, 3),
            }
        )


def run(args: argparse.Namespace) -> int:
    from ..languages import to_flores

    to_flores(args.source), to_flores(args.target)
    as_json = bool(args.json)
    check_paths(args.input, args.output, as_json=as_json)
    translator = load_translator(args, args.source, args.target)
    if translator.stages.tts is None and args.output:
        raise EdgeError(
            f"no voice for {translator.target} is installed, so no audio can be written",
            "pull one (edge models list) or pass --tts DIR; or omit -o for text only",
        )
    result = translator.translate_file(
        args.input, args.output, sample_rate=args.sample_rate, on_event=file_printer(as_json)
    )
    if args.output and not as_json:
        print(
            f"wrote {result.audio_seconds_written:.1f} s of speech to {args.output}",
            file=sys.stderr,
        )
    return 0
