"""``edge models``: list, pull, sideload, verify, remove and recommend models."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import EdgeError, ModelError
from ..models import Catalog, CatalogEntry, InstalledModel, ModelStore
from ..models.catalog import catalog_files, license_unverified, mutable_urls
from ..models.memory import estimated_ram_mb, parse_size_mb
from ..models.profiles import recommend, select


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "models",
        help="list, download, sideload and check models",
        description="Models live in $EDGE_MODELS_DIR (default ~/.local/share/edge/models).",
    )
    sub = parser.add_subparsers(dest="models_command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="catalog models (or installed ones) and their status")
    p.add_argument("--installed", action="store_true", help="only installed models")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("info", help="everything about one model")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser(
        "pull",
        help="download and install models, a bundle (demo) or a profile's models",
        description="edge models pull ID... | --profile NAME --from L --to L",
    )
    p.add_argument("ids", nargs="*", metavar="ID", help="model or bundle ids (demo)")
    p.add_argument("--profile", help="install what this profile picks for --from/--to")
    p.add_argument("--from", dest="source", default="eng_Latn", help="source language")
    p.add_argument("--to", dest="target", default="eng_Latn", help="target language")
    p.add_argument("--force", action="store_true", help="reinstall even if installed")
    p.add_argument(
        "--repin",
        action="store_true",
        help="drop the local sha256 pins of files the catalog publishes no sha256 for and "
        "pin them again from a fresh download (after it loads): only when upstream changed "
        "them on purpose",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")

    p = sub.add_parser("import", help="sideload from a folder, an archive or a USB stick")
    p.add_argument("path")
    p.add_argument("--id", dest="model_id", help="catalog id of the files (when not detected)")

    p = sub.add_parser(
        "verify",
        help="recompute sha256 of installed files; says which are checked against the "
        "catalog, pinned locally on first use, or derived on the device",
    )
    p.add_argument("id", nargs="?")

    p = sub.add_parser("remove", help="delete an installed model")
    p.add_argument("id")

    p = sub.add_parser("recommend", help="the profile and models that fit a device")
    p.add_argument("--ram", required=True, help="device RAM, e.g. 512M, 1G, 4G")
    p.add_argument("--from", dest="source", default="eng_Latn", help="source language")
    p.add_argument("--to", dest="target", default="eng_Latn", help="target language")
    p.add_argument("--disk", help="free disk for models, e.g. 2G")
    p.add_argument("--json", action="store_true")

    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    store = ModelStore()
    command = args.models_command
    if command == "list":
        return _list(store, args.installed, args.json)
    if command == "info":
        return _info(store, args.id, args.json)
    if command == "pull":
        return _pull(store, args)
    if command == "import":
        models = store.import_path(args.path, model_id=args.model_id, progress=True)
        for model in models:
            print(f"imported {model.id} -> {model.path}")
        return 0
    if command == "verify":
        return _verify(store, args.id)
    if command == "remove":
        store.remove(args.id)
        print(f"removed {args.id}")
        return 0
    if command == "recommend":
        return _recommend(store.catalog, args)
    raise EdgeError(f"unknown models command {command!r}", "see: edge models --help")


def _languages(codes: tuple[str, ...]) -> str:
    if not codes:
        return "any"
    return ",".join(codes) if len(codes) <= 3 else f"{len(codes)} languages"


def _entry_row(entry: CatalogEntry, installed: bool) -> dict[str, Any]:
    ram, measured = estimated_ram_mb(entry)
    return {
        "id": entry.id,
        "name": entry.name,
        "kinds": list(entry.kinds),
        "backend": entry.backend,
        "languages": list(entry.languages),
        "disk_mb": round(entry.disk_bytes / 2**20, 1),
        "ram_mb": round(ram),
        "ram_measured": measured,
        "license": entry.license,
        "non_commercial": entry.non_commercial,
        "installed": installed,
    }


def _installed_row(model: InstalledModel) -> dict[str, Any]:
    ram, measured = estimated_ram_mb(model)
    return {
        "id": model.id,
        "name": model.name,
        "kinds": list(model.kinds),
        "backend": model.backend,
        "languages": list(model.languages),
        "disk_mb": round(model.disk_bytes / 2**20, 1),
        "ram_mb": round(ram),
        "ram_measured": measured,
        "license": model.license,
        "non_commercial": model.non_commercial,
        "installed": True,
        "path": str(model.path),
    }


def _list(store: ModelStore, only_installed: bool, as_json: bool) -> int:
    installed = {m.id: m for m in store.installed()}
    if only_installed:
        rows = [_installed_row(m) for m in installed.values()]
    else:
        rows = [_entry_row(e, e.id in installed) for e in store.catalog.entries.values()]
        rows += [_installed_row(m) for i, m in installed.items() if i not in store.catalog.entries]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no models installed in {store.root} (see: edge models list)")
        return 0
    width = max(len(r["id"]) for r in rows)
    print(f"  {'ID':{width}}  {'KIND':24} {'LANGUAGES':16} {'DISK':>8} {'RAM':>8}  LICENSE")
    for r in rows:
        mark = "*" if r["installed"] else " "
        ram = f"{'' if r['ram_measured'] else '~'}{r['ram_mb']}M"
        license_text = r["license"] + (" (non-commercial)" if r["non_commercial"] else "")
        print(
            f"{mark} {r['id']:{width}}  {'+'.join(r['kinds']):24} "
            f"{_languages(tuple(r['languages'])):16} {r['disk_mb']:>7.0f}M {ram:>8}  {license_text}"
        )
    print(f"* installed in {store.root}; ~ RAM estimated, not measured")
    return 0


def _card(entry: CatalogEntry) -> str:
    if not entry.card:
        return ""
    return (catalog_files() / "cards" / entry.card).read_text("utf-8")


def _info(store: ModelStore, model_id: str, as_json: bool) -> int:
    entry = store.catalog.entries.get(model_id)
    try:
        model: InstalledModel | None = store.get(model_id)
    except ModelError:
        model = None
    if entry is None and model is None:
        store.catalog.get(model_id)  # raises with close matches
    if as_json:
        data = _entry_row(entry, model is not None) if entry else _installed_row(model)  # type: ignore[arg-type]
        if entry:
            data["files"] = [vars(f) for f in entry.files]
            data["sources"] = [s.describe() for s in entry.sources]
            data["options"] = entry.options
        if model:
            data["path"] = str(model.path)
            data["installed_files"] = [vars(f) for f in model.files]
        print(json.dumps(data, indent=2))
        return 0
    if entry:
        ram, measured = estimated_ram_mb(entry)
        print(f"{entry.id}: {entry.name}")
        print(f"  kinds: {', '.join(entry.kinds)}   backend: {entry.backend}")
        print(f"  languages: {' '.join(entry.languages) or 'any (language-independent)'}")
        nc = " (NON-COMMERCIAL use only)" if entry.non_commercial else ""
        print(f"  license: {entry.license}{nc}")
        if entry.license_note:
            print(f"    {entry.license_note}")
        print(f"  quantization: {entry.quantization or '-'}")
        print(f"  disk: {entry.disk_bytes / 2**20:.1f} MB")
        note = entry.ram_note if measured else "estimated from the file sizes"
        print(f"  RAM: {ram:.0f} MB ({note})")
        if entry.speed_note:
            print(f"  speed: {entry.speed_note}")
        if entry.homepage:
            print(f"  homepage: {entry.homepage}")
        print("  files:")
        for f in entry.files:
            digest = f.sha256 or "(no published sha256: pinned locally on first use)"
            if f.derived:
                digest = "(derived on the device from the files above by a post step)"
            print(f"    {f.name}  {f.size or '?'} bytes  {digest}")
        if entry.checksum_note:
            print(f"    checksums: {entry.checksum_note}")
        print("  sources, in order:")
        for s in entry.sources:
            print(f"    {s.describe()}")
            for url in mutable_urls(s):
                print(f"      not pinned to a commit (its bytes can change): {url}")
    if model:
        print(f"  installed: {model.path} (from {model.source})")
        for f in model.files:
            how = {
                "catalog": "catalog sha256",
                "first-use": f"pinned locally on first use {f.pinned_at[:10]}".rstrip(),
                "pinned": f"matched the local pin of {f.pinned_at[:10] or 'an earlier download'}",
                "derived": f"derived on this device by {f.post or 'a post step'}",
            }.get(f.checksum, f.checksum)
            print(f"    {f.name}  sha256 {f.sha256}  [{how}]")
    else:
        print(f"  not installed: edge models pull {model_id}")
    if entry and entry.card:
        print()
        print(_card(entry).rstrip())
    return 0


def _pull(store: ModelStore, args: argparse.Namespace) -> int:
    if args.profile and args.ids:
        raise EdgeError("give model ids or --profile, not both", "edge models pull --help")
    if args.profile:
        selection = select(
            store.catalog, store.catalog.profile(args.profile), args.source, args.target
        )
        ids = [e.id for e in selection.models]
    elif args.ids:
        ids = [i for name in args.ids for i in store.catalog.expand(name)]
    else:
        raise EdgeError(
            "nothing to pull", "give model ids, demo, or --profile NAME --from L --to L"
        )
    models = [
        store.pull(i, progress=not args.quiet, force=args.force, repin=args.repin)
        for i in dict.fromkeys(ids)
    ]
    for model in models:
        print(f"{model.id}: {model.path}")
        if model.non_commercial:
            print(f"  note: {model.id} is licensed {model.license}: no commercial use")
        elif license_unverified(model.license):
            print(
                f"  note: {model.id}'s license is unknown ({model.license}): do not assume "
                "commercial use is allowed"
            )
        if model.backend == "piper":
            print(
                "  note: Piper voices run with piper-tts, which is GPL-3.0-or-later: see "
                "README, Licenses, before shipping a device"
            )
    return 0


def _verify(store: ModelStore, model_id: str | None) -> int:
    reports = store.verify(model_id)
    if not reports:
        print(f"no models installed in {store.root}")
        return 0
    for report in reports:
        if report.ok:
            print(f"ok    {report.id}")
            for line in report.kind_lines():
                print(f"      {line}")
            for note in report.notes:
                print(f"      {note}")
        else:
            print(f"FAIL  {report.id}: {'; '.join(report.problems)}")
    failed = [r.id for r in reports if not r.ok]
    if failed:
        print(
            f"{len(failed)} model(s) failed; reinstall with: edge models pull --force "
            + " ".join(failed),
            file=sys.stderr,
        )
        return ModelError.exit_code
    return 0


def _recommend(catalog: Catalog, args: argparse.Namespace) -> int:
    ram = parse_size_mb(args.ram)
    disk = parse_size_mb(args.disk) if args.disk else None
    selection, lines = recommend(catalog, ram, args.source, args.target, disk)
    if args.json:
        print(json.dumps({**selection.to_dict(), "explanation": lines}, indent=2))
    else:
        print("\n".join(lines))
    return 0
