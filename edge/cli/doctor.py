"""``edge doctor``: check this device for edge and say what to fix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "doctor",
        help="check the CPU, memory, GPU, models and audio devices; list problems and fixes",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument(
        "--models-dir", metavar="DIR", help="installed models (default: $EDGE_MODELS_DIR)"
    )
    parser.add_argument(
        "--from", dest="source", default="eng_Latn", help="language pair for the profile advice"
    )
    parser.add_argument("--to", dest="target", default="eng_Latn")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..doctor import examine, render

    report = examine(Path(args.models_dir) if args.models_dir else None, args.source, args.target)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(render(report))
    return 0
