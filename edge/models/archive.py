"""Safe extraction of model archives: tar (.bz2, .gz, .xz), zip and wheels.

Archives come from the network or from a USB stick, so every member is checked before
anything is written: no absolute paths, no ``..``, no links leading outside the target,
no device files, and limits on member count and expanded size against archive bombs.
One bad member rejects the whole archive, even a member that was not asked for.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError

TAR_SUFFIXES = (".tar.bz2", ".tbz2", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar")
ZIP_SUFFIXES = (".zip", ".whl")


class UnsafeArchiveError(ModelError):
    """An archive member would escape the target directory or expand without bound."""


# tarfile's extraction filters (and their error) exist from Python 3.10.12 / 3.11.4 on.
_TAR_FILTER_ERROR = getattr(tarfile, "FilterError", UnsafeArchiveError)


@dataclass(frozen=True)
class ExtractionLimits:
    max_total_bytes: int = 16 * 2**30
    max_members: int = 100_000
    # Model weights compress poorly (ratio < 2); a zip member above this ratio is a bomb.
    max_zip_ratio: float = 200.0


def is_archive(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(TAR_SUFFIXES + ZIP_SUFFIXES)


def archive_stem(path: str | Path) -> str:
    """File name without its archive suffix: the folder name sherpa-onnx archives unpack to."""
    name = Path(path).name
    for suffix in TAR_SUFFIXES + ZIP_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def member_path(name: str, archive: Path) -> str:
    """Normalized relative POSIX path of a member; raises on absolute paths and ``..``."""
    unified = name.replace("\\", "/")
    if unified.startswith("/") or re.match(r"^[A-Za-z]:", unified):
        raise UnsafeArchiveError(
            f"archive {archive.name} has a member with an absolute path: {name!r}",
            "refusing to extract it; get the archive from the official source",
        )
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"archive {archive.name} has a member that climbs out with '..': {name!r}",
            "refusing to extract it; get the archive from the official source",
        )
    return "/".join(parts)


def _check_link(name: str, target: str, archive: Path) -> None:
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(
            f"archive {archive.name} has a link pointing outside it: {name} -> {target}",
            "refusing to extract it; get the archive from the official source",
        )


def _check_physical(dest: Path, rel: str, member: tarfile.TarInfo, archive: Path) -> None:
    """Resolve through links already extracted: a chain of links, each harmless on paper,
    can still lead outside (``a -> ..`` then ``a/b -> ..``)."""
    root = os.path.realpath(dest)
    parent = os.path.realpath(os.path.join(root, posixpath.dirname(rel)))
    targets = [parent]
    if member.issym():
        targets.append(os.path.realpath(os.path.join(parent, member.linkname)))
    for target in targets:
        if target != root and not target.startswith(root + os.sep):
            raise UnsafeArchiveError(
                f"archive {archive.name} reaches outside through links: {member.name!r}",
                "refusing to extract it; get the archive from the official source",
            )


def _corrupt(archive: Path, exc: BaseException) -> ModelError:
    return ModelError(
        f"archive {archive.name} is truncated or corrupt ({exc})",
        "delete it and download it again",
    )


def _too_big(archive: Path, limits: ExtractionLimits) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"archive {archive.name} expands beyond {limits.max_total_bytes / 2**30:.1f} GiB "
        f"or {limits.max_members} members",
        "refusing to extract a possible archive bomb",
    )


def extract_archive(
    archive: Path,
    dest: Path,
    wanted: Collection[str] | None = None,
    limits: ExtractionLimits = ExtractionLimits(),
) -> list[str]:
    """Extract all members, or only ``wanted`` member paths, into ``dest``.

    Returns the normalized paths of the extracted regular files.
    """
    dest.mkdir(parents=True, exist_ok=True)
    wanted_set = {member_path(w, archive) for w in wanted} if wanted is not None else None
    name = archive.name.lower()
    if name.endswith(ZIP_SUFFIXES):
        return _extract_zip(archive, dest, wanted_set, limits)
    if name.endswith(TAR_SUFFIXES):
        return _extract_tar(archive, dest, wanted_set, limits)
    raise ModelError(
        f"{archive.name} is not a supported archive",
        "use .tar.bz2, .tar.gz, .tar.xz, .tar, .zip or .whl",
    )


def _extract_tar(
    archive: Path, dest: Path, wanted: set[str] | None, limits: ExtractionLimits
) -> list[str]:
    extracted: list[str] = []
    total = count = 0
    try:
        with tarfile.open(archive, "r:*") as tf:
            for member in tf:
                count += 1
                rel = member_path(member.name, archive)
                if member.issym():
                    _check_link(rel, member.linkname, archive)
                elif member.islnk():
                    member_path(member.linkname, archive)
                elif not (member.isfile() or member.isdir()):
                    raise UnsafeArchiveError(
                        f"archive {archive.name} has a device or pipe member: {member.name!r}",
                        "refusing to extract it; get the archive from the official source",
                    )
                if member.isfile():
                    total += member.size
                if total > limits.max_total_bytes or count > limits.max_members:
                    raise _too_big(archive, limits)
                if not rel or (wanted is not None and rel not in wanted):
                    continue
                _check_physical(dest, rel, member, archive)
                member.name = rel
                if member.islnk():
                    member.linkname = member_path(member.linkname, archive)
                if hasattr(tarfile, "data_filter"):
                    # The stdlib filter repeats the checks above against the real filesystem.
                    tf.extract(member, dest, filter="data")
                else:  # Python < 3.10.12 / 3.11.4: the checks above are the guard
                    tf.extract(member, dest, set_attrs=False)
                if member.isfile():
                    extracted.append(rel)
    except UnsafeArchiveError:
        raise
    except _TAR_FILTER_ERROR as exc:
        raise UnsafeArchiveError(
            f"archive {archive.name} has an unsafe member ({exc})",
            "refusing to extract it; get the archive from the official source",
        ) from None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise _corrupt(archive, exc) from None
    return extracted


def _extract_zip(
    archive: Path, dest: Path, wanted: set[str] | None, limits: ExtractionLimits
) -> list[str]:
    extracted: list[str] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_members:
                raise _too_big(archive, limits)
            plan: list[tuple[zipfile.ZipInfo, str]] = []
            total = 0
            for info in infos:
                rel = member_path(info.filename, archive)
                if stat.S_ISLNK(info.external_attr >> 16):
                    _check_link(rel, zf.read(info).decode("utf-8", "replace"), archive)
                    continue  # zipfile would write the link as a text file; nothing to use
                total += info.file_size
                ratio = info.file_size / max(info.compress_size, 1)
                if total > limits.max_total_bytes or (
                    info.file_size > 2**20 and ratio > limits.max_zip_ratio
                ):
                    raise _too_big(archive, limits)
                if rel and (wanted is None or rel in wanted):
                    plan.append((info, rel))
            for info, rel in plan:
                target = dest.joinpath(*rel.split("/"))
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                # zipfile stops at the declared size and checks the CRC, so a lying
                # header cannot write more than was counted above.
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                extracted.append(rel)
    except UnsafeArchiveError:
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise _corrupt(archive, exc) from None
    return extracted


def list_files(root: Path) -> dict[str, Path]:
    """Regular files under ``root`` by relative POSIX path; links are not followed."""
    found: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
        for filename in filenames:
            path = Path(dirpath, filename)
            if path.is_symlink() or not path.is_file():
                continue
            found[path.relative_to(root).as_posix()] = path
    return found
