"""``edge devices``: the sound devices ``edge live`` can capture from and play to."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("devices", help="list sound capture and playback devices")
    parser.add_argument("--json", action="store_true", help="JSON list")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from ..live.devices import list_devices

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
