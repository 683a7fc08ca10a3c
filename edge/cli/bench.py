"""``edge bench``: the latency benchmark's command line; the measuring is edge.bench."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from .. import bench
from ..voice_match import MODES as VOICE_MATCH_MODES


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench", help="measure end-of-speech -> first-audio latency and resources"
    )
    parser.add_argument(
        "--config",
        nargs="+",
        choices=(*bench.CONFIGS, "all"),
        default=["all"],
        metavar="CONFIG",
        help=f"one or more of {', '.join(bench.CONFIGS)}, or all (default)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--low-memory",
        action="store_true",
        help="run as a device under 1 GB does: no onnxruntime arenas, memory returned after use",
    )
    parser.add_argument("--models-dir", metavar="DIR")
    parser.add_argument("--cache", metavar="DIR", help="where the synthetic MT models are built")
    parser.add_argument(
        "--input",
        choices=("clean", "noisy", "both"),
        default="both",
        help="the English set clean, in cafe noise at 10 dB SNR, or both (default)",
    )
    parser.add_argument("--output", metavar="FILE.json")
    parser.add_argument(
        "--plot", metavar="FILE.png", help="per-utterance latency CDFs (needs edge[plot])"
    )
    parser.add_argument(
        "--voice-match",
        choices=VOICE_MATCH_MODES,
        default="off",
        help="the engine's voice matching, to measure what it adds (default: off; the "
        "baselines never match)",
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    configs = list(bench.CONFIGS) if "all" in args.config else list(dict.fromkeys(args.config))
    if args.plot:
        bench.pyplot()  # fail now, not after the runs
    results = bench.run_configs(
        configs,
        threads=args.threads,
        low_memory=args.low_memory,
        models_dir=args.models_dir,
        cache=Path(args.cache or Path(tempfile.gettempdir()) / "edge-bench"),
        variants=bench.VARIANTS if args.input == "both" else (args.input,),
        voice_match=args.voice_match,
    )
    report = bench.report(results, args.threads)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"machine: {report['machine']}, threads per stage: {args.threads}")
        print(bench.markdown_table(results))
        for r in results:
            for note in r.notes:
                print(f"note ({r.label}): {note}")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))
    if args.plot:
        bench.plot_cdf(results, Path(args.plot))
    return 0
