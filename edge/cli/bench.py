"""``edge bench``: the latency benchmark's command line; the measuring is edge.bench."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from .. import bench
from .options import add_settings, build


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
    add_settings(parser, bench.BenchSettings, None)
    parser.add_argument("--models-dir", metavar="DIR")
    parser.add_argument("--cache", metavar="DIR", help="where the synthetic MT models are built")
    parser.add_argument("--output", metavar="FILE.json")
    parser.add_argument(
        "--plot", metavar="FILE.png", help="per-utterance latency CDFs (needs edge[plot])"
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    configs = list(bench.CONFIGS) if "all" in args.config else list(dict.fromkeys(args.config))
    chosen = build(args, bench.BenchSettings)
    if args.plot:
        bench.pyplot()  # fail now, not after the runs
    results = bench.run_configs(
        configs,
        threads=chosen.threads,
        low_memory=chosen.low_memory,
        models_dir=args.models_dir,
        cache=Path(args.cache or Path(tempfile.gettempdir()) / "edge-bench"),
        variants=chosen.variants,
        voice_match=chosen.voice_match,
    )
    report = bench.report(results, chosen.threads)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"machine: {report['machine']}, threads per stage: {chosen.threads}")
        print(bench.markdown_table(results))
        for r in results:
            for note in r.notes:
                print(f"note ({r.label}): {note}")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2))
    if args.plot:
        bench.plot_cdf(results, Path(args.plot))
    return 0
